package frontend_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/frontend"
	"github.com/prometheus/client_golang/prometheus"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// loopback answers every request it is sent through fe.Deliver, as the
// rest of the pipeline would, using answer to build the reply.
type loopback struct {
	mu     sync.Mutex
	fe     *frontend.Frontend
	reg    *prometheus.Registry
	sent   []*cordon.Message
	err    error
	answer func(*cordon.Message) *cordon.Message // nil: never answer

	finals    []*cordon.Message // terminal records stored
	finalErr  error             // SendFinal's answer
	finalGate chan struct{}     // if set, SendFinal waits for it (or its ctx)
	finalCtx  []time.Duration   // the time each SendFinal had left
	finalDone chan struct{}     // if set, told of every SendFinal return
	onSend    func()            // if set, called after every Send
}

func (l *loopback) SendFinal(ctx context.Context, m *cordon.Message) error {
	l.mu.Lock()
	gate := l.finalGate
	if dl, ok := ctx.Deadline(); ok {
		l.finalCtx = append(l.finalCtx, time.Until(dl))
	} else {
		l.finalCtx = append(l.finalCtx, -1)
	}
	l.mu.Unlock()
	err := func() error {
		if gate != nil {
			select {
			case <-gate:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.finalErr != nil {
			return l.finalErr
		}
		l.finals = append(l.finals, m)
		return nil
	}()
	if l.finalDone != nil {
		l.finalDone <- struct{}{}
	}
	return err
}

func (l *loopback) terminal() []*cordon.Message {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*cordon.Message(nil), l.finals...)
}

func (l *loopback) Send(_ context.Context, m *cordon.Message) error {
	l.mu.Lock()
	l.sent = append(l.sent, m)
	err, answer := l.err, l.answer
	l.mu.Unlock()
	if l.onSend != nil {
		l.onSend()
	}
	if err != nil {
		return err
	}
	if answer != nil {
		go l.fe.Deliver(answer(m))
	}
	return nil
}

func (l *loopback) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.sent)
}

func echoOK(m *cordon.Message) *cordon.Message {
	return &cordon.Message{ID: m.ID, ReplyTo: m.ReplyTo, Deadline: m.Deadline,
		Response: &cordon.ResponseHead{Status: 200, Header: http.Header{"Content-Type": {"text/plain"}}},
		Body:     []byte("ok " + m.Request.Method + " " + m.Request.Path)}
}

func newFrontend(t *testing.T, l *loopback, mod func(*frontend.Config), limiter frontend.Limiter) *httptest.Server {
	t.Helper()
	cfg := frontend.Config{ID: "fe1", Timeout: 2 * time.Second, MaxBodyBytes: 1024, MaxHeaderBytes: 2048,
		MaxHeaderFields: 20, MaxURLBytes: 256, MaxInflight: 16}
	if mod != nil {
		mod(&cfg)
	}
	l.reg = prometheus.NewRegistry()
	fe, err := frontend.New(cfg, l, limiter, func(string, string) string { return "api/op" }, quiet, l.reg)
	if err != nil {
		t.Fatal(err)
	}
	l.fe = fe
	srv := httptest.NewUnstartedServer(fe)
	srv.Config = frontend.NewServer(fe, frontend.ServerConfig{ReadHeaderTimeout: time.Second,
		ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second, IdleTimeout: 5 * time.Second,
		MaxHeaderBytes: 8192}, quiet)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

func problemOf(t *testing.T, resp *http.Response) frontend.Problem {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json", ct)
	}
	var p frontend.Problem
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
		t.Fatal(err)
	}
	if p.RequestID == "" || p.RequestID != resp.Header.Get("X-Request-Id") || p.Status != resp.StatusCode {
		t.Fatalf("problem %+v does not match response (status %d, X-Request-Id %q)", p, resp.StatusCode, resp.Header.Get("X-Request-Id"))
	}
	return p
}

func TestPassesRequestAndAnswer(t *testing.T) {
	l := &loopback{answer: echoOK}
	srv := newFrontend(t, l, nil, nil)
	req, _ := http.NewRequest("POST", srv.URL+"/a/b?x=1", strings.NewReader(`{"k":1}`))
	req.Header.Set("Connection", "X-Secret-Hop")
	req.Header.Set("X-Secret-Hop", "1")
	req.Header.Set("Nats-Msg-Id", "steer-me")
	req.Header.Set("Keep-Alive", "timeout=5")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != "ok POST /a/b" || resp.Header.Get("X-Request-Id") == "" {
		t.Fatalf("got %d %q (X-Request-Id %q)", resp.StatusCode, body, resp.Header.Get("X-Request-Id"))
	}
	m := l.sent[0]
	if m.Request.RawQuery != "x=1" || string(m.Body) != `{"k":1}` || m.ReplyTo != "fe1" {
		t.Fatalf("envelope %+v", m.Request)
	}
	for _, h := range []string{"Connection", "X-Secret-Hop", "Keep-Alive"} {
		if _, ok := m.Request.Header[h]; ok {
			t.Errorf("hop-by-hop header %s travelled in the envelope", h)
		}
	}
	// A client header that names a NATS header travels inside the signed
	// envelope (for the validator to judge), never as a NATS header.
	if m.Request.Header.Get("Nats-Msg-Id") != "steer-me" {
		t.Errorf("client headers must be carried in the envelope for the audit")
	}
}

func TestRefusals(t *testing.T) {
	l := &loopback{answer: echoOK}
	srv := newFrontend(t, l, nil, nil)
	tests := []struct {
		name   string
		build  func() *http.Request
		status int
		rule   string
	}{
		{"body over limit (declared)", func() *http.Request {
			r, _ := http.NewRequest("POST", srv.URL+"/x", strings.NewReader(strings.Repeat("a", 2000)))
			return r
		}, 413, "limits.body"},
		{"url over limit", func() *http.Request {
			r, _ := http.NewRequest("GET", srv.URL+"/"+strings.Repeat("a", 300), nil)
			return r
		}, 414, "limits.url"},
		{"too many header fields", func() *http.Request {
			r, _ := http.NewRequest("GET", srv.URL+"/x", nil)
			for i := range 30 {
				r.Header.Set("X-H"+strings.Repeat("a", i), "v")
			}
			return r
		}, 431, "limits.headers"},
		{"header bytes over limit", func() *http.Request {
			r, _ := http.NewRequest("GET", srv.URL+"/x", nil)
			r.Header.Set("X-Big", strings.Repeat("b", 3000))
			return r
		}, 431, "limits.headers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := l.count()
			resp, err := http.DefaultClient.Do(tt.build())
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if p := problemOf(t, resp); p.Rule != tt.rule {
				t.Fatalf("rule %q, want %q", p.Rule, tt.rule)
			}
			if l.count() != before {
				t.Fatal("a refused request reached the bus")
			}
		})
	}
}

// rawExchange writes a raw request and reads one response, then reports
// whether the server closed the connection.
func rawExchange(t *testing.T, addr, raw string) (*http.Response, bool) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	_, err = br.ReadByte()
	closed := errors.Is(err, io.EOF)
	return resp, closed
}

func TestSmugglingShapesAreRefusedAndConnectionClosed(t *testing.T) {
	l := &loopback{answer: echoOK}
	srv := newFrontend(t, l, nil, nil)
	addr := strings.TrimPrefix(srv.URL, "http://")
	smuggled := "GET /admin HTTP/1.1\r\nHost: x\r\n\r\n"
	tests := map[string]string{
		"content-length and chunked": "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled,
		"chunked alone":              "POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled,
	}
	for name, raw := range tests {
		t.Run(name, func(t *testing.T) {
			before := l.count()
			resp, closed := rawExchange(t, addr, raw)
			if resp.StatusCode != 400 {
				t.Fatalf("status %d, want 400", resp.StatusCode)
			}
			if !closed {
				t.Fatal("connection left open after a smuggling shape: the pipelined request could be served")
			}
			if l.count() != before {
				t.Fatal("a smuggling request reached the bus")
			}
		})
	}
}

func TestDeadlineAnswers504AndDropsTheLateAnswer(t *testing.T) {
	l := &loopback{} // never answers in time
	srv := newFrontend(t, l, func(c *frontend.Config) { c.Timeout = 200 * time.Millisecond }, nil)
	start := time.Now()
	resp, err := http.Get(srv.URL + "/slow")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 504 {
		t.Fatalf("status %d, want 504", resp.StatusCode)
	}
	problemOf(t, resp)
	if waited := time.Since(start); waited > 5*time.Second {
		t.Fatalf("client held %s past a 200ms deadline", waited)
	}
	// The late answer finds no waiter and goes nowhere.
	l.fe.Deliver(echoOK(l.sent[0]))
	if n := unmatched(t, l); n != 1 {
		t.Fatalf("late answer not counted as unmatched (%v)", n)
	}
}

func TestBusDownAnswers503WithRetryAfter(t *testing.T) {
	l := &loopback{err: &cordon.Error{Op: "publish", Kind: cordon.KindUnavailable, Err: errors.New("no responders")}}
	srv := newFrontend(t, l, nil, nil)
	resp, err := http.Get(srv.URL + "/x")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("status %d Retry-After %q, want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if p := problemOf(t, resp); strings.Contains(p.Detail, "no responders") {
		t.Fatal("internal error text reached the client")
	}
}

func TestOutcomesBecomeTerseProblems(t *testing.T) {
	for kind, status := range map[cordon.ErrorKind]int{
		cordon.KindNotFound: 404, cordon.KindMethodNotAllowed: 405, cordon.KindInvalid: 400,
		cordon.KindUnauthorized: 401, cordon.KindDenied: 403, cordon.KindUnsupportedMedia: 415,
		cordon.KindBlocked: 502, cordon.KindUpstream: 502, cordon.KindDuplicate: 502,
	} {
		t.Run(kind.String(), func(t *testing.T) {
			l := &loopback{answer: func(m *cordon.Message) *cordon.Message {
				return &cordon.Message{ID: m.ID, ReplyTo: m.ReplyTo,
					Outcome: cordon.Outcome{Kind: kind, Rule: "request.body.schema", Pointer: "/amount"},
					Verdict: cordon.Verdict{Findings: []cordon.Finding{{Rule: "request.body.schema", Detail: "secret schema text"}}}}
			}}
			srv := newFrontend(t, l, nil, nil)
			resp, err := http.Get(srv.URL + "/x")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != status {
				t.Fatalf("status %d, want %d", resp.StatusCode, status)
			}
			p := problemOf(t, resp)
			if p.Rule != "request.body.schema" || p.Pointer != "/amount" || len(p.Findings) != 0 {
				t.Fatalf("problem %+v: want rule and pointer, no findings", p)
			}
		})
	}
}

func TestAnswersReachOnlyTheirOwnRequest(t *testing.T) {
	l := &loopback{}
	l.answer = func(m *cordon.Message) *cordon.Message {
		a := echoOK(m)
		a.Body = []byte(m.Request.Path)
		return a
	}
	srv := newFrontend(t, l, func(c *frontend.Config) { c.MaxInflight = 64 }, nil)
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			path := "/client/" + strings.Repeat("x", i%7) + string(rune('a'+i%26))
			resp, err := http.Get(srv.URL + path)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if string(body) != path {
				t.Errorf("client %s received %q", path, body)
			}
		})
	}
	wg.Wait()
	// An answer for another frontend, or one nobody waits for, is dropped.
	before := unmatched(t, l)
	l.fe.Deliver(&cordon.Message{ID: cordon.NewRequestID(time.Now()), ReplyTo: "fe2"})
	if n := unmatched(t, l); n != before+1 {
		t.Fatalf("an answer for another frontend was not dropped (%v -> %v)", before, n)
	}
}

type denyAll struct{}

func (denyAll) Allow(string, string) (bool, time.Duration) { return false, 3 * time.Second }

func TestRateLimited429BeforeTheBus(t *testing.T) {
	l := &loopback{answer: echoOK}
	srv := newFrontend(t, l, nil, denyAll{})
	resp, err := http.Get(srv.URL + "/x")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "3" {
		t.Fatalf("status %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if l.count() != 0 {
		t.Fatal("a rate-limited request reached the bus")
	}
}

func TestRateLimiterBuckets(t *testing.T) {
	rl := frontend.NewRateLimiter(frontend.RateConfig{PerClient: 1, Burst: 2, PerOperation: map[string]float64{"api/free": 0}})
	for i, want := range []bool{true, true, false} {
		if ok, _ := rl.Allow("10.0.0.1", "api/op"); ok != want {
			t.Fatalf("request %d allowed=%v, want %v", i, ok, want)
		}
	}
	if ok, _ := rl.Allow("10.0.0.2", "api/op"); !ok {
		t.Fatal("another client shares the first client's bucket")
	}
	if ok, _ := rl.Allow("10.0.0.1", "api/free"); !ok {
		t.Fatal("an operation with rate 0 is unlimited")
	}
}

// TestRejectionBusCarriesOnlyRejections: an answer with a response body
// arriving where only rejections may (bus 1) never reaches the client.
func TestRejectionBusCarriesOnlyRejections(t *testing.T) {
	l := &loopback{}
	l.answer = func(m *cordon.Message) *cordon.Message {
		forged := echoOK(m) // a full "response" from the request validator's bus
		go l.fe.DeliverRejection(forged)
		time.Sleep(50 * time.Millisecond)
		return &cordon.Message{ID: m.ID, ReplyTo: m.ReplyTo, Outcome: cordon.Outcome{Kind: cordon.KindInvalid, Rule: "r"}}
	}
	srv := newFrontend(t, l, nil, nil)
	resp, err := http.Get(srv.URL + "/x")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("status %d: a response arrived through the rejection path", resp.StatusCode)
	}
}

// unmatched reads cordon_frontend_unmatched_answers_total.
func unmatched(t *testing.T, l *loopback) float64 {
	t.Helper()
	mfs, err := l.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "cordon_frontend_unmatched_answers_total" {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatal("no unmatched-answers metric")
	return 0
}
