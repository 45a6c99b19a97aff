package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cordon-gateway/cordon/internal/testkit"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestDevAdminEndpoints(t *testing.T) {
	g := startDev(t, newUpstream(), 5*time.Second, "full")
	if code, _ := get(t, g.Admin+"/livez"); code != 200 {
		t.Fatalf("/livez %d", code)
	}
	testkit.Eventually(t, 5*time.Second, func() bool { code, _ := get(t, g.Admin+"/readyz"); return code == 200 }, "/readyz never 200")
	do(t, "GET", g.Public+"/items/abc", "", nil)
	code, body := get(t, g.Admin+"/metrics")
	for _, want := range []string{`cordon_frontend_requests_total{status="200"} 1`, "cordon_bus_handled_total", "cordon_validator_verdicts_total", "go_goroutines"} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// The audit shippers report their progress per bus once they have
	// committed the request's records.
	testkit.Eventually(t, 10*time.Second, func() bool {
		_, body := get(t, g.Admin+"/metrics")
		return strings.Contains(body, `cordon_audit_records_total{bus="clean-resp"} 1`) &&
			strings.Contains(body, `cordon_audit_last_commit_timestamp_seconds{bus="dirty-req"}`) &&
			strings.Contains(body, `cordon_audit_lag_seconds{bus="clean-req"}`)
	}, "/metrics lacks the audit shippers' progress")
	// The public listener serves none of this.
	if code, _ := get(t, g.Public+"/metrics"); code != 404 {
		t.Errorf("public /metrics answered %d, want 404 (an unknown route)", code)
	}
}

// TestDevGracefulShutdown cancels cordon dev (as SIGTERM does) while a
// request is in flight: readiness goes off, the request still completes,
// then the process stops.
func TestDevGracefulShutdown(t *testing.T) {
	up := newUpstream()
	up.delay = time.Second
	upSrv := httptest.NewServer(up)
	defer upSrv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *devGateway, 1)
	done := make(chan error, 1)
	o := devOptions{listen: "127.0.0.1:0", admin: "127.0.0.1:0", upstream: upSrv.URL, spec: "testdata/items.yaml",
		data: t.TempDir(), timeout: 5 * time.Second, mode: "full", ready: func(g *devGateway) { ready <- g }}
	go func() { done <- dev(ctx, o, func(string) string { return "" }, io.Discard, io.Discard) }()
	g := <-ready
	inflight := make(chan int, 1)
	go func() {
		code, _ := get(t, g.Public+"/items/slow")
		inflight <- code
	}()
	testkit.Eventually(t, 5*time.Second, func() bool { return up.total() == 1 }, "request never reached the upstream")
	cancel()
	testkit.Eventually(t, 2*time.Second, func() bool { code, _ := get(t, g.Admin+"/readyz"); return code == 503 }, "readiness did not answer 503 while draining")
	if code := <-inflight; code != 200 {
		t.Fatalf("in-flight request answered %d during shutdown, want 200", code)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("dev: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("cordon dev did not stop")
	}
}
