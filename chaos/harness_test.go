package chaos_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cordon-gateway/cordon/bus"
	"github.com/cordon-gateway/cordon/internal/localdeploy"
)

// long reports whether the long form was asked for (CORDON_CHAOS_LONG=1).
func long() bool { return os.Getenv("CORDON_CHAOS_LONG") == "1" }

// pick returns short in the CI form and long in the long form.
func pick[T any](short, long_ T) T {
	if long() {
		return long_
	}
	return short
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	binDir    string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// cordonBinary builds ./cmd/cordon once per test run and returns its path.
func cordonBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		out, err := exec.Command("go", "env", "GOMOD").Output()
		if err != nil {
			buildErr = fmt.Errorf("go env GOMOD: %w", err)
			return
		}
		root := filepath.Dir(strings.TrimSpace(string(out)))
		if binDir, buildErr = os.MkdirTemp("", "cordon-chaos-bin-"); buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "cordon")
		// chaosfault: the poison hook of bus/fault_chaos.go (TestPoison).
		cmd := exec.Command("go", "build", "-tags", "chaosfault", "-o", binPath, "./cmd/cordon")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/cordon: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// skipShort skips the fault tests under -short: each starts a whole
// deployment and runs for tens of seconds.
func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("chaos: fault tests start a whole deployment; skipped with -short")
	}
}

// env is one deployment under test, with its upstream.
type env struct {
	t       *testing.T
	d       *localdeploy.Deployment
	up      *upstream
	timeout time.Duration
	logPath string
	bin     string
}

// envOptions are the parts of a deployment a test chooses.
type envOptions struct {
	Timeout  time.Duration
	Extra    string // YAML appended to the configuration (top-level keys at column 0)
	AuditDSN string
	Workers  int
	// Signatures "hmac" runs the deployment on link keys alone.
	Signatures string
}

// startEnv starts the upstream and a full deployment in front of it; both
// stop when the test ends. The processes' logs go to a file whose tail is
// printed if the test fails.
func startEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	bin := cordonBinary(t)
	up := newUpstream(t)
	dir := t.TempDir()
	spec, err := filepath.Abs("testdata/api.yaml")
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "deployment.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, up: up, timeout: o.Timeout, logPath: logPath, bin: bin}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if strings.HasPrefix(o.AuditDSN, "postgres://") {
		// The shippers write; the schema is an operator's step.
		if out, err := exec.CommandContext(ctx, bin, "audit", "migrate", "--audit-dsn", o.AuditDSN).CombinedOutput(); err != nil {
			t.Fatalf("audit migrate: %v\n%s", err, out)
		}
	}
	d, err := localdeploy.Start(ctx, localdeploy.Options{
		Binary: bin, Dir: dir, Mode: "full", Spec: spec, Upstream: up.URL(),
		Timeout: o.Timeout, Workers: o.Workers, AuditDSN: o.AuditDSN, Signatures: o.Signatures,
		ExtraAPIYAML: o.Extra, Log: &lockedWriter{w: logf},
	})
	if err != nil {
		logf.Close()
		e.dumpLog()
		t.Fatalf("start deployment: %v", err)
	}
	e.d = d
	t.Cleanup(func() {
		d.Stop()
		if t.Failed() {
			e.dumpLog()
		}
		logf.Close()
		if keep := os.Getenv("CORDON_CHAOS_KEEP"); keep != "" {
			// Keep the whole log for a post-mortem.
			name := filepath.Join(keep, strings.ReplaceAll(t.Name(), "/", "_")+".log")
			if b, err := os.ReadFile(logPath); err == nil && os.MkdirAll(keep, 0o755) == nil {
				_ = os.WriteFile(name, b, 0o644)
				t.Logf("deployment log kept in %s", name)
			}
		}
	})
	return e
}

// lockedWriter serialises the log lines of every process.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// dumpLog prints the last lines of the deployment's logs.
func (e *env) dumpLog() {
	b, err := os.ReadFile(e.logPath)
	if err != nil {
		return
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 80 {
		lines = lines[len(lines)-80:]
	}
	e.t.Logf("last deployment log lines:\n%s", strings.Join(lines, "\n"))
}

// ackWait is the stages' ack wait for this deployment's deadline.
func (e *env) ackWait() time.Duration { return bus.AckWait(e.timeout) }

// proc returns the named process of the deployment.
func (e *env) proc(name string) *localdeploy.Proc {
	e.t.Helper()
	p := e.d.Procs[name]
	if p == nil {
		e.t.Fatalf("no process %q (have %v)", name, e.d.Names())
	}
	return p
}

// roles are the pipeline processes, in flow order.
var roles = []string{"frontend", "request-validator", "backend", "response-validator"}

// natsProcs are the bus servers, in bus order.
var natsProcs = []string{"nats-1", "nats-2", "nats-3", "nats-4"}

// auditProcs are the audit shippers, one per bus (with an audit store).
var auditProcs = []string{"audit-1", "audit-2", "audit-3", "audit-4"}

// waitAllReady waits until every process with an admin listener answers
// /readyz (which includes its bus connections).
func (e *env) waitAllReady(timeout time.Duration) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for _, n := range e.d.Names() {
		if err := e.d.Procs[n].WaitReady(ctx, timeout); err != nil {
			e.t.Fatalf("after the fault: %v", err)
		}
	}
}

// restart starts a stopped process again and waits until the whole
// deployment is ready.
func (e *env) restart(name string) {
	e.t.Helper()
	if err := e.proc(name).Start(); err != nil {
		e.t.Fatal(err)
	}
	e.waitAllReady(60 * time.Second)
}

// terminate sends SIGTERM and waits until the process has exited.
func (e *env) terminate(name string, timeout time.Duration) {
	e.t.Helper()
	p := e.proc(name)
	pid := p.Pid()
	if err := p.Signal(syscall.SIGTERM); err != nil {
		e.t.Fatal(err)
	}
	if !waitGone(pid, timeout) {
		e.t.Fatalf("%s (pid %d) still running %s after SIGTERM", name, pid, timeout)
	}
}

// waitGone polls until pid has exited (or is a zombie).
func waitGone(pid int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if syscall.Kill(pid, 0) != nil {
			return true
		}
		if s, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err != nil || bytes.Contains(s, []byte(") Z ")) {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// rssBytes is a process's resident set size (VmRSS).
func rssBytes(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			fs := strings.Fields(v)
			if len(fs) != 2 || fs[1] != "kB" {
				return 0, fmt.Errorf("VmRSS: unexpected %q", v)
			}
			kb, err := strconv.ParseInt(fs[0], 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", pid)
}

// metrics scrapes a process's /metrics and returns the samples whose name
// (with labels, as exposed) starts with prefix, summed.
func metricSum(admin, prefix string) (float64, error) {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + admin + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return 0, fmt.Errorf("metrics: status %d", resp.StatusCode)
	}
	var sum float64
	found := false
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || !strings.HasPrefix(line, prefix) {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return 0, fmt.Errorf("metrics: %q: %v", line, err)
		}
		sum += v
		found = true
	}
	if !found {
		return 0, nil
	}
	return sum, sc.Err()
}

// eventually polls cond every interval until it holds or timeout passes.
func eventually(timeout, interval time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(interval)
	}
}
