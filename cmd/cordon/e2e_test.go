package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/envelope"
	"github.com/cordon-gateway/cordon/internal/freeport"
	"github.com/cordon-gateway/cordon/internal/testkit"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// upstream is a real HTTP API behind cordon that records what reaches it.
type upstream struct {
	mu    sync.Mutex
	calls map[string]int // by X-Request-Id
	last  *http.Request
	body  []byte
	delay time.Duration
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	u.mu.Lock()
	u.calls[r.Header.Get("X-Request-Id")]++
	u.last, u.body = r, body
	delay := u.delay
	u.mu.Unlock()
	if delay > 0 {
		time.Sleep(delay)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Powered-By", "upstream/1.0")
	switch {
	case r.Method == "POST" && r.URL.Path == "/items":
		w.WriteHeader(201)
		var in map[string]any
		_ = json.Unmarshal(body, &in)
		_, _ = io.WriteString(w, `{"id":"i1","name":`+mustJSON(in["name"])+`}`)
	case r.Method == "GET" && strings.HasPrefix(r.URL.Path, "/items/"):
		_, _ = io.WriteString(w, `{"id":"`+strings.TrimPrefix(r.URL.Path, "/items/")+`","name":"widget","price":2.5}`)
	default:
		w.WriteHeader(404)
	}
}

func mustJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

func (u *upstream) total() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	n := 0
	for _, c := range u.calls {
		n += c
	}
	return n
}

func (u *upstream) callsOf(id string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.calls[id]
}

// startDev runs `cordon dev` in-process against up and returns it running.
func startDev(t testing.TB, up http.Handler, timeout time.Duration, mode string) *devGateway {
	t.Helper()
	return startDevWith(t, up, timeout, mode, "testdata/items.yaml")
}

// startDevSpec is startDev with another API document.
func startDevSpec(t testing.TB, up http.Handler, spec string) *devGateway {
	t.Helper()
	return startDevWith(t, up, 5*time.Second, "full", spec)
}

func startDevWith(t testing.TB, up http.Handler, timeout time.Duration, mode, spec string, opts ...func(*devOptions)) *devGateway {
	t.Helper()
	upSrv := httptest.NewServer(up)
	t.Cleanup(upSrv.Close)
	o := devOptions{upstream: upSrv.URL, spec: spec, data: t.TempDir(), timeout: timeout, mode: mode}
	for _, opt := range opts {
		opt(&o)
	}
	g, _ := devForTest(t, o)
	return g
}

// devForTest runs `cordon dev` in-process with o (on loopback ports of its
// choosing) until stop is called or the test ends; stop returns what dev
// returned, and the test fails if that was an error it did not collect.
func devForTest(t testing.TB, o devOptions) (g *devGateway, stop func() error) {
	t.Helper()
	o.listen, o.admin = "127.0.0.1:0", "127.0.0.1:0"
	ready := make(chan *devGateway, 1)
	o.ready = func(g *devGateway) { ready <- g }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- dev(ctx, o, func(string) string { return "" }, io.Discard, io.Discard) }()
	var once sync.Once
	var exited error
	stopped := false // by the test, which then reports the error itself
	stop = func() error {
		once.Do(func() { cancel(); exited = <-done })
		stopped = true
		return exited
	}
	t.Cleanup(func() {
		if !stopped {
			if err := stop(); err != nil {
				t.Errorf("cordon dev: %v", err)
			}
		}
	})
	select {
	case g = <-ready:
		return g, stop
	case err := <-done:
		once.Do(cancel)
		t.Fatalf("cordon dev failed to start: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("cordon dev did not start")
	}
	return nil, stop
}

func do(t *testing.T, method, url, body string, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func newUpstream() *upstream { return &upstream{calls: map[string]int{}} }

func TestDevPassesRequestsThroughAllFourBuses(t *testing.T) {
	for _, mode := range []string{"full", "single-nats", "single-validation"} {
		t.Run(mode, func(t *testing.T) {
			up := newUpstream()
			g := startDev(t, up, 5*time.Second, mode)

			resp, body := do(t, "GET", g.Public+"/items/abc", "", map[string]string{
				"X-Tag": "blue", "X-Undeclared": "nope", "Authorization": "Bearer secret"})
			if resp.StatusCode != 200 || !strings.Contains(string(body), `"widget"`) {
				t.Fatalf("GET: %d %s", resp.StatusCode, body)
			}
			id := resp.Header.Get("X-Request-Id")
			if up.callsOf(id) != 1 {
				t.Fatalf("upstream saw request %s %d times", id, up.callsOf(id))
			}
			up.mu.Lock()
			last := up.last
			up.mu.Unlock()
			if last.Header.Get("X-Tag") != "blue" {
				t.Error("a declared header parameter was not forwarded")
			}
			for _, h := range []string{"X-Undeclared", "Authorization"} {
				if last.Header.Get(h) != "" {
					t.Errorf("undeclared header %s reached the upstream", h)
				}
			}
			if resp.Header.Get("X-Powered-By") != "" {
				t.Error("X-Powered-By leaked to the client")
			}

			resp, body = do(t, "POST", g.Public+"/items", `{ "price": 2,  "name":"a" }`,
				map[string]string{"Content-Type": "application/json"})
			if resp.StatusCode != 201 || !strings.Contains(string(body), `"name":"a"`) {
				t.Fatalf("POST: %d %s", resp.StatusCode, body)
			}
			up.mu.Lock()
			got := string(up.body)
			up.mu.Unlock()
			if got != `{"name":"a","price":2}` {
				t.Fatalf("upstream got %q, want the canonical re-serialisation", got)
			}

			resp, body = do(t, "GET", g.Public+"/nowhere", "", nil)
			if resp.StatusCode != 404 || resp.Header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("unknown route: %d %s", resp.StatusCode, body)
			}
			if up.callsOf(resp.Header.Get("X-Request-Id")) != 0 {
				t.Fatal("a rejected request reached the upstream")
			}
		})
	}
}

func TestDevDeadlineAnswers504(t *testing.T) {
	up := newUpstream()
	up.delay = 2 * time.Second
	g := startDev(t, up, time.Second, "full")
	start := time.Now()
	resp, body := do(t, "GET", g.Public+"/items/slow", "", nil)
	if resp.StatusCode != 504 {
		t.Fatalf("status %d %s, want 504", resp.StatusCode, body)
	}
	if waited := time.Since(start); waited > 1900*time.Millisecond {
		t.Fatalf("client waited %s past a 1s deadline", waited)
	}
}

// busClient connects to one bus of a running dev gateway from outside,
// as an attacker on that network would.
func busClient(t *testing.T, g *devGateway, b cordon.Bus) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	return testkit.JetStream(t, g.Buses[b])
}

func TestDevRefusesForgedApprovals(t *testing.T) {
	up := newUpstream()
	g := startDev(t, up, 5*time.Second, "full")
	nc2, js2 := busClient(t, g, cordon.BusCleanReq)

	// Capture a rightful clean request on its way to the backend.
	captured := make(chan []byte, 4)
	sub, err := nc2.Subscribe("cordon.clean-req.in", func(m *nats.Msg) { captured <- m.Data })
	if err != nil {
		t.Fatal(err)
	}
	resp, _ := do(t, "POST", g.Public+"/items", `{"name":"a"}`, map[string]string{"Content-Type": "application/json"})
	if resp.StatusCode != 201 {
		t.Fatalf("rightful POST: %d", resp.StatusCode)
	}
	realID := resp.Header.Get("X-Request-Id")
	replay := <-captured
	_ = sub.Unsubscribe()
	before := up.total()

	forger := testkit.Signer(t, cordon.StageRequestValidator)
	impostor := testkit.Signer(t, cordon.StageFrontend)
	mk := func(deadline time.Time) *cordon.Message {
		return &cordon.Message{ID: cordon.NewRequestID(time.Now()), Deadline: deadline, ReplyTo: "fe1",
			Request: cordon.RequestHead{Method: "POST", Path: "/items", Operation: "api/createItem",
				Header: http.Header{"Content-Type": {"application/json"}}},
			Body: []byte(`{"name":"forged"}`)}
	}
	seal := func(m *cordon.Message, s *envelope.Signer) []byte {
		b, err := envelope.Seal(nil, m, s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	rightful := g.Signers[cordon.StageRequestValidator]
	otherBody := seal(mk(time.Now().Add(time.Minute)), rightful)
	otherBody[len(otherBody)-3] ^= 0x20 // signature over another body
	forgeries := map[string][]byte{
		"no signature":        []byte(`{"method":"POST","path":"/items","body":"forged"}`),
		"wrong key":           seal(mk(time.Now().Add(time.Minute)), forger),
		"another stage's key": seal(mk(time.Now().Add(time.Minute)), impostor),
		"altered body":        otherBody,
		"expired":             seal(mk(time.Now().Add(-time.Second)), rightful),
		"replayed":            replay,
	}
	for name, data := range forgeries {
		if _, err := js2.Publish(context.Background(), "cordon.clean-req.in", data, jetstream.WithMsgID("forged-"+name)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	// Wait until the backend consumer has dealt with every forgery.
	testkit.Eventually(t, 10*time.Second, func() bool {
		c, err := js2.Consumer(context.Background(), "CORDON_CLEAN_REQ", "backend")
		if err != nil {
			return false
		}
		info, err := c.Info(context.Background())
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0
	}, "backend consumer drained")
	if up.total() != before {
		t.Fatalf("forged or replayed messages reached the upstream (%d calls, want %d)", up.total(), before)
	}
	if up.callsOf(realID) != 1 {
		t.Fatalf("replayed request reached the upstream %d times", up.callsOf(realID))
	}
}

func TestDevRefusesForgedAnswers(t *testing.T) {
	up := newUpstream()
	up.delay = 500 * time.Millisecond
	g := startDev(t, up, 5*time.Second, "full")
	nc1, _ := busClient(t, g, cordon.BusDirtyReq)
	_, js4 := busClient(t, g, cordon.BusCleanResp)

	// Learn the in-flight request's id from bus 1, then race a forged
	// answer onto bus 4 while the upstream is still working.
	ids := make(chan cordon.RequestID, 1)
	sub, _ := nc1.Subscribe("cordon.dirty-req.in", func(m *nats.Msg) {
		if msg, _, err := envelope.Parse(m.Data); err == nil {
			ids <- msg.ID
		}
	})
	defer sub.Unsubscribe()
	type result struct {
		status int
		body   string
	}
	res := make(chan result, 1)
	go func() {
		resp, body := do(t, "GET", g.Public+"/items/genuine", "", nil)
		res <- result{resp.StatusCode, string(body)}
	}()
	id := <-ids
	forger := testkit.Signer(t, cordon.StageResponseValidator)
	fake := &cordon.Message{ID: id, Deadline: time.Now().Add(time.Minute), ReplyTo: "fe1",
		Response: &cordon.ResponseHead{Status: 200, Header: http.Header{"Content-Type": {"application/json"}}},
		Body:     []byte(`{"id":"forged","name":"attacker"}`)}
	data, _ := envelope.Seal(nil, fake, forger)
	if _, err := js4.Publish(context.Background(), "cordon.clean-resp.reply.fe1", data); err != nil {
		t.Fatal(err)
	}
	r := <-res
	if r.status != 200 || !strings.Contains(r.body, `"genuine"`) {
		t.Fatalf("client got %d %s; want the genuine answer", r.status, r.body)
	}
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// freePort returns a TCP port free on 127.0.0.1 at the time of the call
// (freeport.Pick: outside the ephemeral range, never the same twice).
func freePort(t testing.TB) int {
	t.Helper()
	p, err := freeport.Pick()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestDevBusDownAnswers503 stops bus 1 under a running gateway: requests
// are refused at once with 503 and Retry-After, and readiness goes off.
func TestDevBusDownAnswers503(t *testing.T) {
	g := startDev(t, newUpstream(), 5*time.Second, "full")
	resp, _ := do(t, "GET", g.Public+"/items/abc", "", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("before: %d", resp.StatusCode)
	}
	g.Servers[cordon.BusDirtyReq].Shutdown()
	resp, body := do(t, "GET", g.Public+"/items/abc", "", nil)
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("with bus 1 down: %d %s (Retry-After %q), want 503 with Retry-After", resp.StatusCode, body, resp.Header.Get("Retry-After"))
	}
	testkit.Eventually(t, 10*time.Second, func() bool { code, _ := get(t, g.Admin+"/readyz"); return code == 503 },
		"readiness stayed on with a bus down")
}
