package frontend_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/frontend"
	"github.com/cordon-gateway/cordon/internal/testkit"
)

// finalCount reads cordon_frontend_final_records_total{result}.
func finalCount(t *testing.T, l *loopback, result string) float64 {
	t.Helper()
	mfs, err := l.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "cordon_frontend_final_records_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "result" && lp.GetValue() == result {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no final-records metric with result %q", result)
	return 0
}

func (l *loopback) firstSent() *cordon.Message {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sent[0]
}

// checkFinal holds a terminal record to the request it ends.
func checkFinal(t *testing.T, rec, req *cordon.Message, status int, o cordon.Outcome) {
	t.Helper()
	if rec.ID != req.ID || !rec.Deadline.Equal(req.Deadline) || rec.ReplyTo != req.ReplyTo {
		t.Errorf("terminal record id %s deadline %v reply-to %q; request %s %v %q",
			rec.ID, rec.Deadline, rec.ReplyTo, req.ID, req.Deadline, req.ReplyTo)
	}
	if rec.Response == nil || rec.Response.Status != status || rec.Outcome != o {
		t.Errorf("terminal record says %+v %+v, want status %d and %+v", rec.Response, rec.Outcome, status, o)
	}
	if rec.Request.Method != req.Request.Method || rec.Request.Path != req.Request.Path ||
		rec.Request.RawQuery != req.Request.RawQuery || rec.Request.Client != req.Request.Client {
		t.Errorf("terminal record's request line %+v, want %+v", rec.Request, req.Request)
	}
	if len(rec.Request.Header) != 0 || len(rec.Body) != 0 || len(rec.Response.Header) != 0 {
		t.Errorf("terminal record carries headers or a body: %+v", rec)
	}
}

// TestDeadlineAnswerIsFollowedByATerminalRecord: the frontend that answers
// 504 on its own says so in a terminal record, with the status and rule
// the client got.
func TestDeadlineAnswerIsFollowedByATerminalRecord(t *testing.T) {
	l := &loopback{finalDone: make(chan struct{}, 1)} // never answers
	srv := newFrontend(t, l, func(c *frontend.Config) { c.Timeout = 200 * time.Millisecond }, nil)
	resp := getStatus(t, http.DefaultClient, srv.URL+"/slow?q=1", 504)
	fs := oneTerminal(t, l)
	if fs.ID.String() != resp.Header.Get("X-Request-Id") {
		t.Fatalf("terminal record for %s, client got %s", fs.ID, resp.Header.Get("X-Request-Id"))
	}
	checkFinal(t, fs, l.firstSent(), 504, cordon.Outcome{Kind: cordon.KindExpired, Rule: "deadline"})
	if ok := finalCount(t, l, "ok"); ok != 1 {
		t.Fatalf("final records ok = %v, want 1", ok)
	}
	// The publish is bounded by FinalTimeout (default: the request
	// timeout, at least 1s), not by the request's passed deadline.
	if left := l.finalCtx[0]; left <= 0 || left > time.Second {
		t.Fatalf("terminal record publish had %s left, want a bound of at most 1s", left)
	}
}

// TestBusFailureAnswerIsFollowedByATerminalRecord: a publish that failed
// (the request may still have been stored: an ack can be lost) ends in a
// terminal record too.
func TestBusFailureAnswerIsFollowedByATerminalRecord(t *testing.T) {
	l := &loopback{err: &cordon.Error{Op: "publish", Kind: cordon.KindUnavailable, Err: errors.New("timeout")},
		finalDone: make(chan struct{}, 1)}
	srv := newFrontend(t, l, nil, nil)
	getStatus(t, http.DefaultClient, srv.URL+"/x", 503)
	fs := oneTerminal(t, l)
	checkFinal(t, fs, l.firstSent(), 503, cordon.Outcome{Kind: cordon.KindUnavailable, Rule: "bus.dirty-req"})
}

// TestClientGoneIsFollowedByATerminalRecord: a client that leaves before
// its answer gets nothing, and the record says so (499, client.gone).
func TestClientGoneIsFollowedByATerminalRecord(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l := &loopback{finalDone: make(chan struct{}, 1), onSend: cancel} // never answers
	srv := newFrontend(t, l, nil, nil)
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/gone", nil)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("a client that left got %d", resp.StatusCode)
	}
	fs := oneTerminal(t, l)
	checkFinal(t, fs, l.firstSent(), 499, cordon.Outcome{Rule: "client.gone"})
}

// TestNoTerminalRecordForAnswersTheStagesGave: a request answered by the
// pipeline (an answer or a rejection) has its terminal record on a bus
// already; one refused before the bus never reached one.
func TestNoTerminalRecordForAnswersTheStagesGave(t *testing.T) {
	l := &loopback{answer: echoOK}
	srv := newFrontend(t, l, nil, nil)
	for _, path := range []string{"/ok", "/" + strings.Repeat("a", 300)} {
		resp, err := http.Get(srv.URL + path)
		if err == nil {
			resp.Body.Close()
		}
	}
	l.answer = func(m *cordon.Message) *cordon.Message {
		return &cordon.Message{ID: m.ID, ReplyTo: m.ReplyTo, Outcome: cordon.Outcome{Kind: cordon.KindInvalid, Rule: "r"}}
	}
	getStatus(t, http.DefaultClient, srv.URL+"/refused", 400)
	for _, r := range []string{"ok", "error", "dropped"} {
		if n := finalCount(t, l, r); n != 0 {
			t.Errorf("final records %s = %v, want none", r, n)
		}
	}
	if fs := l.terminal(); len(fs) != 0 {
		t.Fatalf("%d terminal records for requests the pipeline answered", len(fs))
	}
}

// TestTerminalRecordFailureLeavesTheAnswerAlone: the client's 504 arrives
// while the terminal record's publish is still held up (it does not wait
// for it), and a publish that then fails changes nothing for the client:
// it is counted and logged.
func TestTerminalRecordFailureLeavesTheAnswerAlone(t *testing.T) {
	gate := make(chan struct{})
	l := &loopback{finalGate: gate, finalErr: errors.New("bus 1 refused the terminal record"),
		finalDone: make(chan struct{}, 1)}
	srv := newFrontend(t, l, func(c *frontend.Config) { c.Timeout = 200 * time.Millisecond; c.FinalTimeout = time.Minute }, nil)
	resp := getStatus(t, http.DefaultClient, srv.URL+"/slow", 504)
	if p := problemOfHeaders(resp); p != "" {
		t.Fatal(p)
	}
	// The answer is complete while the publish still waits at the gate.
	if n := finalCount(t, l, "ok") + finalCount(t, l, "error"); n != 0 {
		t.Fatalf("terminal record finished (%v) before it was let through: the client waited for it", n)
	}
	close(gate)
	<-l.finalDone
	if n := finalCount(t, l, "error"); n != 1 {
		t.Fatalf("final records error = %v, want 1", n)
	}
	if fs := l.terminal(); len(fs) != 0 {
		t.Fatalf("%d terminal records stored by a failing bus", len(fs))
	}
}

// problemOfHeaders checks what the client got is the frontend's own 504.
func problemOfHeaders(resp *http.Response) string {
	if resp.Header.Get("Content-Type") != "application/problem+json" || resp.Header.Get("X-Request-Id") == "" {
		return "the 504 is not the frontend's problem answer"
	}
	return ""
}

// TestTerminalRecordsAreBounded: no more terminal records are in flight
// than MaxInflight; one more is dropped, counted, and the answer stands.
func TestTerminalRecordsAreBounded(t *testing.T) {
	gate := make(chan struct{})
	l := &loopback{finalGate: gate, finalDone: make(chan struct{}, 2)}
	srv := newFrontend(t, l, func(c *frontend.Config) {
		c.Timeout, c.MaxInflight, c.FinalTimeout = 100*time.Millisecond, 1, time.Minute
	}, nil)
	for range 2 {
		getStatus(t, http.DefaultClient, srv.URL+"/slow", 504)
	}
	if n := finalCount(t, l, "dropped"); n != 1 {
		t.Fatalf("final records dropped = %v, want 1", n)
	}
	close(gate)
	<-l.finalDone
	if n := finalCount(t, l, "ok"); n != 1 {
		t.Fatalf("final records ok = %v, want 1", n)
	}
}

// TestServeWaitsForTerminalRecords: a graceful stop returns only after the
// terminal records of the requests it drained were published.
func TestServeWaitsForTerminalRecords(t *testing.T) {
	gate := make(chan struct{})
	l := &loopback{finalGate: gate}
	fe, err := frontend.New(frontend.Config{ID: "fe1", Timeout: 100 * time.Millisecond, MaxBodyBytes: 1024,
		MaxHeaderBytes: 2048, MaxURLBytes: 256, MaxInflight: 4, FinalTimeout: time.Minute}, l, nil, nil, quiet, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := frontend.NewServer(fe, frontend.ServerConfig{ReadHeaderTimeout: time.Second, ReadTimeout: time.Second,
		WriteTimeout: time.Second, IdleTimeout: time.Second}, quiet)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- frontend.Serve(ctx, srv, ln, 5*time.Second) }()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	getStatus(t, client, "http://"+ln.Addr().String()+"/slow", 504)
	cancel()
	// Serve cannot return while the record waits at the gate; let it
	// through from here once the test is certain Serve is stopping.
	testkit.Eventually(t, 10*time.Second, func() bool {
		_, err := net.Dial("tcp", ln.Addr().String())
		return err != nil
	}, "the listener did not close")
	select {
	case err := <-served:
		t.Fatalf("Serve returned (%v) with a terminal record still unpublished", err)
	default:
	}
	close(gate)
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	if fs := l.terminal(); len(fs) != 1 {
		t.Fatalf("%d terminal records after a graceful stop, want 1", len(fs))
	}
}

// getStatus GETs url with client, closes the body and fails the test
// unless the status is want.
func getStatus(t *testing.T, client *http.Client, url string, want int) *http.Response {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != want {
		t.Fatalf("status %d, want %d", resp.StatusCode, want)
	}
	return resp
}

// oneTerminal waits for l's terminal-record publish and returns the one
// record it stored.
func oneTerminal(t *testing.T, l *loopback) *cordon.Message {
	t.Helper()
	<-l.finalDone
	fs := l.terminal()
	if len(fs) != 1 {
		t.Fatalf("%d terminal records, want 1", len(fs))
	}
	return fs[0]
}
