package isolation_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// helperEnv makes the test binary, re-executed inside a namespace, play a
// helper process instead of running tests: "upstream" is the protected API.
const helperEnv = "CDN_ISOLATION_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
	case "upstream":
		if err := serveUpstream(os.Getenv("CDN_UPSTREAM_LISTEN"), os.Getenv("CDN_UPSTREAM_LOG")); err != nil {
			fmt.Fprintln(os.Stderr, "upstream:", err)
			os.Exit(1)
		}
		os.Exit(0)
	default:
		fmt.Fprintln(os.Stderr, "unknown helper", os.Getenv(helperEnv))
		os.Exit(2)
	}
	code := m.Run()
	binary.cleanup()
	os.Exit(code)
}

// serveUpstream is the API behind cordon, as a process in its own
// namespace. It appends "<X-Request-Id> <method> <path>" to logPath for
// every request before answering, so the test counts exactly what reached
// it (and learns the id of a request it is still holding). Paths under
// /items/slow are held for slowHold, long enough to race a forged answer.
func serveUpstream(listen, logPath string) error {
	f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	var mu sync.Mutex
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		mu.Lock()
		_, _ = fmt.Fprintf(f, "%s %s %s\n", r.Header.Get("X-Request-Id"), r.Method, r.URL.Path)
		mu.Unlock()
		if strings.HasPrefix(r.URL.Path, "/items/slow") {
			time.Sleep(slowHold)
		}
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/items":
			var in struct {
				Name string `json:"name"`
			}
			_ = json.Unmarshal(body, &in)
			out, _ := json.Marshal(map[string]string{"id": "i1", "name": in.Name})
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write(out)
		case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/items/"):
			id := strings.TrimPrefix(r.URL.Path, "/items/")
			out, _ := json.Marshal(map[string]any{"id": id, "name": "widget", "price": 2.5})
			_, _ = w.Write(out)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	})
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		return err
	}
	return nil
}

// slowHold is how long the upstream holds a /items/slow… request.
const slowHold = 1500 * time.Millisecond

// binary is the cordon binary, built once per test run.
var binary builtBinary

type builtBinary struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// get builds ./cmd/cordon into a temporary directory on first use.
func (b *builtBinary) get(t *testing.T) string {
	t.Helper()
	b.once.Do(func() {
		b.dir, b.err = os.MkdirTemp("", "cdn-bin-")
		if b.err != nil {
			return
		}
		b.path = filepath.Join(b.dir, "cordon")
		cmd := exec.Command("go", "build", "-o", b.path, "./cmd/cordon")
		cmd.Dir = ".." // the module root
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build ./cmd/cordon: %v\n%s", err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

func (b *builtBinary) cleanup() {
	if b.dir != "" {
		_ = os.RemoveAll(b.dir)
	}
}
