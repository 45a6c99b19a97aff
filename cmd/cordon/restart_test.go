package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/bus"
	"github.com/cordon-gateway/cordon/deployment"
	"github.com/cordon-gateway/cordon/envelope"
	"github.com/cordon-gateway/cordon/internal/testkit"
)

// stack is the four stages as separate components over four real buses,
// each of which a test can stop and start on its own.
type stack struct {
	t      *testing.T
	cfg    *deployment.Config
	public string
	stops  map[string]func()
	start  func(name string)
}

func startStack(t *testing.T, upstreamURL string, timeout time.Duration) *stack {
	t.Helper()
	cfg := &deployment.Config{Timeout: timeout, DataDir: t.TempDir()}
	cfg.Components.Frontend.Listen = "127.0.0.1:0"
	cfg.APIs = []deployment.API{{Name: "api", Spec: "testdata/items.yaml", Upstream: upstreamURL}}
	cfg.Defaults()
	for _, b := range cordon.Buses {
		cfg.Buses.Get(b).URL = testkit.StartBus(t, "restart-"+b.String()).ClientURL()
	}
	signers := map[cordon.Stage]*envelope.Signer{}
	for _, s := range cordon.Stages {
		signers[s] = testkit.Signer(t, s)
	}
	cfg.Trust = deployment.StageLists{
		Frontend:          []string{envelope.EncodePublicKey(signers[cordon.StageFrontend].Public())},
		RequestValidator:  []string{envelope.EncodePublicKey(signers[cordon.StageRequestValidator].Public())},
		Backend:           []string{envelope.EncodePublicKey(signers[cordon.StageBackend].Public())},
		ResponseValidator: []string{envelope.EncodePublicKey(signers[cordon.StageResponseValidator].Public())},
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := provisionAll(context.Background(), cfg, false, log, func(b cordon.Bus) bus.ConnConfig {
		return bus.ConnConfig{URL: cfg.Buses.Get(b).URL, Name: "admin"}
	}); err != nil {
		t.Fatal(err)
	}
	s := &stack{t: t, cfg: cfg, stops: map[string]func(){}}
	build := func(name string) {
		w, err := newWiring(cfg, log, func(string) string { return "" })
		if err != nil {
			t.Fatal(err)
		}
		w.signers = signers
		var c *component
		switch name {
		case "frontend":
			var addr interface{ String() string }
			c, addr, err = w.buildFrontend(context.Background())
			if err == nil {
				s.public = "http://" + addr.String()
			}
		case "request-validator":
			c, err = w.buildRequestValidator(context.Background())
		case "backend":
			c, err = w.buildBackend(context.Background())
		case "response-validator":
			c, err = w.buildResponseValidator(context.Background())
		}
		if err != nil {
			t.Fatalf("build %s: %v", name, err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = c.run(ctx) }()
		var once sync.Once
		s.stops[name] = func() { once.Do(func() { c.Close(); cancel(); <-done }) }
		t.Cleanup(s.stops[name])
	}
	s.start = build
	for _, name := range []string{"frontend", "request-validator", "backend", "response-validator"} {
		build(name)
	}
	return s
}

// TestStageCrashAndRestartMidStream stops each stage abruptly (connections
// closed under in-flight work, nothing acked) while POSTs stream through,
// then starts it again: every request is answered within its deadline,
// with a response or a 5xx, and no POST reaches the upstream twice.
func TestStageCrashAndRestartMidStream(t *testing.T) {
	up := newUpstream()
	up.delay = 20 * time.Millisecond
	upSrv := httptest.NewServer(up)
	t.Cleanup(upSrv.Close)
	const timeout = 3 * time.Second
	s := startStack(t, upSrv.URL, timeout)

	for _, victim := range []string{"request-validator", "backend", "response-validator"} {
		t.Run(victim, func(t *testing.T) {
			type answer struct {
				status int
				id     string
				took   time.Duration
			}
			answers := make(chan answer, 100000)
			stopLoad := make(chan struct{})
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					for {
						select {
						case <-stopLoad:
							return
						default:
						}
						start := time.Now()
						req, _ := http.NewRequest("POST", s.public+"/items", strings.NewReader(`{"name":"x"}`))
						req.Header.Set("Content-Type", "application/json")
						resp, err := http.DefaultClient.Do(req)
						if err != nil {
							t.Errorf("client error: %v", err)
							return
						}
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						answers <- answer{resp.StatusCode, resp.Header.Get("X-Request-Id"), time.Since(start)}
					}
				})
			}
			time.Sleep(300 * time.Millisecond)
			s.stops[victim]()
			time.Sleep(500 * time.Millisecond)
			s.start(victim)
			time.Sleep(timeout + 2*time.Second) // let every stranded request meet its deadline
			close(stopLoad)
			wg.Wait()
			close(answers)

			var ok, failed int
			for a := range answers {
				switch {
				case a.status == 201:
					ok++
				case a.status >= 500:
					failed++
				default:
					t.Errorf("request %s answered %d", a.id, a.status)
				}
				if a.took > timeout+time.Second {
					t.Errorf("request %s took %s, past its %s deadline", a.id, a.took, timeout)
				}
				if n := up.callsOf(a.id); n > 1 {
					t.Errorf("POST %s reached the upstream %d times", a.id, n)
				}
			}
			if ok == 0 {
				t.Fatal("no request succeeded")
			}
			t.Logf("%s: %d ok, %d answered 5xx", victim, ok, failed)
		})
	}
}
