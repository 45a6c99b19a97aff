package backend_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/backend"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// memLedger is an in-memory Ledger (the JetStream one is tested in bus).
type memLedger struct {
	mu    sync.Mutex
	taken map[cordon.RequestID]bool
}

func (l *memLedger) Claim(_ context.Context, id cordon.RequestID) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.taken[id] {
		return false, nil
	}
	l.taken[id] = true
	return true, nil
}

type recorder struct {
	mu    sync.Mutex
	calls []*http.Request
	body  []string
}

func newBackend(t *testing.T, h http.HandlerFunc, basePath, upstreamPath string, limit int64) (*backend.Backend, *recorder) {
	t.Helper()
	rec := &recorder{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.calls = append(rec.calls, r)
		rec.body = append(rec.body, string(b))
		rec.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL + upstreamPath)
	be, err := backend.New(backend.Config{Upstreams: []backend.Upstream{{API: "api", BasePath: basePath, URL: u}},
		MaxResponseBytes: limit}, &memLedger{taken: map[cordon.RequestID]bool{}}, nil, quiet)
	if err != nil {
		t.Fatal(err)
	}
	return be, rec
}

func msg(method, path string) *cordon.Message {
	return &cordon.Message{ID: cordon.NewRequestID(time.Now()), Deadline: time.Now().Add(5 * time.Second),
		Request: cordon.RequestHead{Method: method, Path: path, RawQuery: "a=1", Operation: "api/op",
			Header: http.Header{"Content-Type": {"application/json"}}},
		Body: []byte(`{"x":1}`)}
}

func ok(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Connection", "keep-alive")
	_, _ = io.WriteString(w, `{"ok":true}`)
}

func TestCallForwardsAndMapsPaths(t *testing.T) {
	be, rec := newBackend(t, ok, "/v1", "/api", 1<<20)
	m := msg("POST", "/v1/items/a%2Fb")
	if err := be.Call(context.Background(), m, 1); err != nil {
		t.Fatal(err)
	}
	if m.Response == nil || m.Response.Status != 200 || string(m.Body) != `{"ok":true}` || m.Request.Header != nil {
		t.Fatalf("answer %+v %q", m.Response, m.Body)
	}
	if _, hop := m.Response.Header["Connection"]; hop {
		t.Error("hop-by-hop header kept")
	}
	r := rec.calls[0]
	if r.URL.EscapedPath() != "/api/items/a%2Fb" || r.URL.RawQuery != "a=1" || rec.body[0] != `{"x":1}` {
		t.Fatalf("upstream got %s?%s %q", r.URL.EscapedPath(), r.URL.RawQuery, rec.body[0])
	}
	if r.Header.Get("X-Request-Id") != m.ID.String() || r.Header.Get("Accept-Encoding") != "identity" {
		t.Fatalf("upstream headers %v", r.Header)
	}
}

func TestAtMostOnce(t *testing.T) {
	tests := []struct {
		name     string
		method   string
		attempts []int // deliveries of the same message
		calls    int
		last     cordon.Outcome
		lastErr  bool
	}{
		{"POST redelivered after an unknown outcome is not resent", "POST", []int{1, 2}, 1,
			cordon.Outcome{Kind: cordon.KindDuplicate, Rule: "backend.at-most-once"}, false},
		{"PATCH likewise", "PATCH", []int{1, 3}, 1, cordon.Outcome{Kind: cordon.KindDuplicate, Rule: "backend.at-most-once"}, false},
		{"GET may be retried", "GET", []int{1, 2}, 2, cordon.Outcome{}, false},
		{"a first delivery of a claimed id (a replay) is never sent again, GET included", "GET", []int{1, 1}, 1,
			cordon.Outcome{Kind: cordon.KindDuplicate, Rule: "backend.at-most-once"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			be, rec := newBackend(t, ok, "/", "", 1<<20)
			m0 := msg(tt.method, "/items")
			var err error
			var m *cordon.Message
			for _, a := range tt.attempts {
				c := *m0
				m = &c
				err = be.Call(context.Background(), m, a)
			}
			if len(rec.calls) != tt.calls {
				t.Fatalf("upstream called %d times, want %d", len(rec.calls), tt.calls)
			}
			if tt.lastErr != (err != nil) {
				t.Fatalf("error %v", err)
			}
			if !tt.lastErr && m.Outcome != tt.last {
				t.Fatalf("outcome %+v, want %+v", m.Outcome, tt.last)
			}
		})
	}
}

func TestUpstreamFailuresBecomeOutcomes(t *testing.T) {
	tests := []struct {
		name string
		h    http.HandlerFunc
		rule string
	}{
		{"redirects are answers, never followed", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://169.254.169.254/latest/meta-data", http.StatusFound)
		}, ""},
		{"response over the limit", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, strings.Repeat("a", 2048))
		}, "upstream.response-too-large"},
		{"status outside HTTP's range", func(w http.ResponseWriter, _ *http.Request) {
			conn, _, err := w.(http.Hijacker).Hijack() // net/http will not write a status 042 itself
			if err == nil {
				_, _ = io.WriteString(conn, "HTTP/1.1 042 Odd\r\nContent-Length: 0\r\n\r\n")
				conn.Close()
			}
		}, "upstream.bad-status"},
		{"slow upstream hits the deadline", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(3 * time.Second):
			}
		}, "upstream.timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			be, rec := newBackend(t, tt.h, "/", "", 1024)
			m := msg("GET", "/x")
			m.Deadline = time.Now().Add(300 * time.Millisecond)
			if err := be.Call(context.Background(), m, 1); err != nil {
				t.Fatal(err)
			}
			if tt.rule == "" {
				if m.Response == nil || m.Response.Status != http.StatusFound || len(rec.calls) != 1 {
					t.Fatalf("redirect: %+v, %d calls", m.Response, len(rec.calls))
				}
				return
			}
			if m.Outcome.Kind != cordon.KindUpstream || m.Outcome.Rule != tt.rule || m.Body != nil || m.Response != nil {
				t.Fatalf("outcome %+v", m.Outcome)
			}
		})
	}
}

func TestUnreachableUpstream(t *testing.T) {
	u, _ := url.Parse("http://127.0.0.1:1")
	be, _ := backend.New(backend.Config{Upstreams: []backend.Upstream{{API: "api", BasePath: "/", URL: u}}, MaxResponseBytes: 1024},
		&memLedger{taken: map[cordon.RequestID]bool{}}, nil, quiet)
	m := msg("GET", "/x")
	if err := be.Call(context.Background(), m, 1); err != nil || m.Outcome.Rule != "upstream.unreachable" {
		t.Fatalf("err %v outcome %+v", err, m.Outcome)
	}
}
