package chaos_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Record is one client request and what came back: the history the
// checker judges.
type Record struct {
	Client int
	Seq    int64 // the client's own number, sent as X-Client-Seq
	Method string
	Path   string
	Start  time.Time
	End    time.Time
	Status int    // 0: no HTTP answer (transport error)
	Err    string // the transport error
	ID     string // X-Request-Id of the answer
	Echo   int64  // the seq a 2xx body echoed; -1 if none
	Rule   string // the problem's rule, for error answers
	// ProblemID is the request_id of a problem body; it must equal ID.
	ProblemID string
}

func (r Record) took() time.Duration { return r.End.Sub(r.Start) }

// nextSeq numbers every client request of the test process.
var nextSeq atomic.Int64

// request is what a client sends.
type request struct {
	Method string
	Path   string
	Body   []byte
	Header http.Header
}

// paymentBody is a valid payment whose reference names the client seq.
func paymentBody(ref string) []byte {
	return []byte(`{"from":"acc-1","to":"acc-2","amount":12.5,"currency":"EUR","reference":"` + ref + `"}`)
}

// send performs one request with its X-Client-Seq and records the answer.
func send(ctx context.Context, c *http.Client, base string, client int, seq int64, rq request) Record {
	rec := Record{Client: client, Seq: seq, Method: rq.Method, Path: rq.Path, Echo: -1}
	var body io.Reader
	if rq.Body != nil {
		body = bytes.NewReader(rq.Body)
	}
	req, err := http.NewRequestWithContext(ctx, rq.Method, base+rq.Path, body)
	if err != nil {
		panic(err)
	}
	for k, vs := range rq.Header {
		req.Header[k] = vs
	}
	req.Header.Set("X-Client-Seq", strconv.FormatInt(seq, 10))
	if rq.Body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	rec.Start = time.Now()
	resp, err := c.Do(req)
	if err != nil {
		rec.End = time.Now()
		rec.Err = err.Error()
		return rec
	}
	b, rerr := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	rec.End = time.Now()
	rec.Status = resp.StatusCode
	rec.ID = resp.Header.Get("X-Request-Id")
	if rerr != nil {
		rec.Err = "reading body: " + rerr.Error()
	}
	if resp.StatusCode/100 == 2 {
		var v struct {
			Seq *int64 `json:"seq"`
		}
		if json.Unmarshal(b, &v) == nil && v.Seq != nil {
			rec.Echo = *v.Seq
		}
	} else {
		var p struct {
			Rule      string `json:"rule"`
			RequestID string `json:"request_id"`
		}
		if json.Unmarshal(b, &p) == nil {
			rec.Rule, rec.ProblemID = p.Rule, p.RequestID
		}
	}
	return rec
}

// loadConfig shapes a load.
type loadConfig struct {
	Base    string
	Clients int
	// PostEvery makes every n-th request a POST /payments; the others are
	// GET /accounts/{id}. 0: GETs only.
	PostEvery int
	// Pace is the pause between a client's requests; 0 is a closed loop.
	Pace time.Duration
	// Timeout caps one request at the client; it is longer than the
	// gateway's deadline, so a request that hangs past it is caught.
	Timeout time.Duration
	// SourceIP gives client i its own loopback address ("" for the
	// default), so that a per-client rate limit tells clients apart.
	SourceIP func(i int) string
}

// load is a running set of clients with its history.
type load struct {
	cfg  loadConfig
	stop chan struct{}
	wg   sync.WaitGroup

	mu       sync.Mutex
	recs     []Record
	inflight map[int64]time.Time
	stopped  bool
}

// startLoad starts cfg.Clients clients; Stop ends them and returns the
// history.
func startLoad(t *testing.T, cfg loadConfig) *load {
	t.Helper()
	l := &load{cfg: cfg, stop: make(chan struct{}), inflight: map[int64]time.Time{}}
	for i := range cfg.Clients {
		c := newClient(cfg, i)
		l.wg.Go(func() {
			defer c.CloseIdleConnections()
			for n := 1; ; n++ {
				select {
				case <-l.stop:
					return
				default:
				}
				seq := nextSeq.Add(1)
				rq := request{Method: http.MethodGet, Path: fmt.Sprintf("/accounts/acc-%d", i)}
				if cfg.PostEvery > 0 && n%cfg.PostEvery == 0 {
					rq = request{Method: http.MethodPost, Path: "/payments", Body: paymentBody("seq-" + strconv.FormatInt(seq, 10))}
				}
				l.begin(seq)
				rec := send(context.Background(), c, cfg.Base, i, seq, rq)
				l.end(rec)
				if rec.Status == 0 {
					// The frontend is away: do not spin.
					select {
					case <-l.stop:
						return
					case <-time.After(50 * time.Millisecond):
					}
				}
				if cfg.Pace > 0 {
					select {
					case <-l.stop:
						return
					case <-time.After(cfg.Pace):
					}
				}
			}
		})
	}
	t.Cleanup(func() { l.Stop() })
	return l
}

func newClient(cfg loadConfig, i int) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	if cfg.SourceIP != nil {
		if ip := cfg.SourceIP(i); ip != "" {
			d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(ip)}
		}
	}
	return &http.Client{Timeout: cfg.Timeout, Transport: &http.Transport{
		DialContext: d.DialContext, MaxIdleConnsPerHost: 4, IdleConnTimeout: 30 * time.Second,
	}}
}

func (l *load) begin(seq int64) {
	l.mu.Lock()
	l.inflight[seq] = time.Now()
	l.mu.Unlock()
}

func (l *load) end(r Record) {
	l.mu.Lock()
	delete(l.inflight, r.Seq)
	l.recs = append(l.recs, r)
	l.mu.Unlock()
}

// Stop ends the clients (each finishes its current request) and returns
// the history.
func (l *load) Stop() []Record {
	l.mu.Lock()
	if !l.stopped {
		l.stopped = true
		close(l.stop)
	}
	l.mu.Unlock()
	l.wg.Wait()
	return l.Records()
}

// Records returns a copy of the history so far.
func (l *load) Records() []Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.recs)
}

// settle waits until no request that started before since is still in
// flight: each ends within its deadline, so the wait is bounded.
func (l *load) settle(t *testing.T, since time.Time, bound time.Duration) {
	t.Helper()
	ok := eventually(bound, 50*time.Millisecond, func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, s := range l.inflight {
			if s.Before(since) {
				return false
			}
		}
		return true
	})
	if !ok {
		t.Errorf("requests started before %s still in flight after %s", since.Format("15:04:05.000"), bound)
	}
}

// completedIn counts the 2xx answers that ended in [from, to).
func completedIn(recs []Record, from, to time.Time) int {
	n := 0
	for _, r := range recs {
		if r.Status/100 == 2 && !r.End.Before(from) && r.End.Before(to) {
			n++
		}
	}
	return n
}

// latencies returns p50 and p99 of the 2xx answers among recs.
func latencies(recs []Record) (p50, p99 time.Duration) {
	var ls []time.Duration
	for _, r := range recs {
		if r.Status/100 == 2 {
			ls = append(ls, r.took())
		}
	}
	if len(ls) == 0 {
		return 0, 0
	}
	slices.Sort(ls)
	return ls[len(ls)/2], ls[min(len(ls)-1, len(ls)*99/100)]
}
