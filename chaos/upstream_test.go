package chaos_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Poison answers. Requests for account "poison-big" (or payments with
// that reference) are answered with a body larger than what a bus accepts
// in one message (max_payload 16 MiB) but smaller than the raised
// response limit the poison test configures; "poison-hdr" with more
// Set-Cookie fields than the envelope codec carries (1024 values of one
// header).
const (
	poisonBytes   = 17 << 20
	poisonCookies = 1100
)

// upstream is the API behind the gateway: the chaos bank of
// testdata/api.yaml. It records every request it receives by X-Request-Id
// (which the backend sets) and echoes the client's X-Client-Seq in every
// answer body.
type upstream struct {
	srv *httptest.Server

	mu     sync.Mutex
	calls  map[string][]call // by X-Request-Id
	noID   int               // requests without X-Request-Id
	poison []byte
}

// call is one request the upstream received.
type call struct {
	Method string
	Seq    int64 // X-Client-Seq, -1 if absent or malformed
}

func newUpstream(t *testing.T) *upstream {
	t.Helper()
	u := &upstream{calls: map[string][]call{}}
	u.srv = httptest.NewServer(u)
	t.Cleanup(u.srv.Close)
	return u
}

// URL is the upstream's base URL.
func (u *upstream) URL() string { return u.srv.URL }

// Calls returns what the upstream received for request id.
func (u *upstream) Calls(id string) []call {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]call(nil), u.calls[id]...)
}

// snapshot copies the whole record.
func (u *upstream) snapshot() (map[string][]call, int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	m := make(map[string][]call, len(u.calls))
	for k, v := range u.calls {
		m[k] = append([]call(nil), v...)
	}
	return m, u.noID
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := r.Header.Get("X-Request-Id")
	seq, err := strconv.ParseInt(r.Header.Get("X-Client-Seq"), 10, 64)
	if err != nil {
		seq = -1
	}
	u.mu.Lock()
	if id == "" {
		u.noID++
	} else {
		u.calls[id] = append(u.calls[id], call{Method: r.Method, Seq: seq})
	}
	u.mu.Unlock()

	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/accounts/"):
		acct := strings.TrimPrefix(r.URL.Path, "/accounts/")
		if strings.HasPrefix(acct, "poison") {
			u.writePoison(w, acct)
			return
		}
		fmt.Fprintf(w, `{"id":%q,"owner":"chaos","balance":12.5,"currency":"EUR","seq":%d}`, acct, seq)
	case r.Method == http.MethodPost && r.URL.Path == "/payments":
		var p struct {
			Amount    float64 `json:"amount"`
			Currency  string  `json:"currency"`
			Reference string  `json:"reference"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&p); err != nil {
			http.Error(w, `{"error":"bad body"}`, http.StatusBadRequest)
			return
		}
		if strings.HasPrefix(p.Reference, "poison") {
			u.writePoison(w, p.Reference)
			return
		}
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"id":"pay-%s","status":"accepted","amount":%g,"currency":%q,"seq":%d}`, id, p.Amount, p.Currency, seq)
	default:
		http.NotFound(w, r)
	}
}

// writePoison answers with a valid account that no bus can carry: for
// "poison-hdr" one with poisonCookies Set-Cookie fields, otherwise one
// whose owner is poisonBytes long (the backend may read it: its limit is
// raised).
func (u *upstream) writePoison(w http.ResponseWriter, kind string) {
	if kind == "poison-hdr" {
		for i := range poisonCookies {
			w.Header().Add("Set-Cookie", fmt.Sprintf("c%d=1", i))
		}
		fmt.Fprint(w, `{"id":"poison","owner":"chaos","balance":0,"currency":"EUR","seq":0}`)
		return
	}
	u.mu.Lock()
	if u.poison == nil {
		b := make([]byte, 0, poisonBytes+128)
		b = append(b, `{"id":"poison","owner":"`...)
		for len(b) < poisonBytes {
			b = append(b, "xxxxxxxxxxxxxxxx"...)
		}
		b = append(b, `","balance":0,"currency":"EUR","seq":0}`...)
		u.poison = b
	}
	p := u.poison
	u.mu.Unlock()
	w.Header().Set("Content-Length", strconv.Itoa(len(p)))
	_, _ = w.Write(p)
}
