package chaos_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// exhaustExtra tightens the frontend's connection timeouts (the defaults
// are 5 s, 30 s and 60 s; shorter ones keep the test short), turns on the
// per-client rate limit (per client and operation: 20/s is above what a
// legitimate client below sends and well below the pipeline's capacity,
// which is what lets it protect the others), and lets the API accept gzip bodies so that a
// gzip bomb reaches the request validator's decompression limits.
const exhaustExtra = `    policy:
      request: {content_encodings: [gzip]}
limits:
  read_header_timeout: 2s
  read_timeout: 4s
  idle_timeout: 4s
  rate_limit: {per_client: 20, burst: 40}
`

// Bounds stated by docs/faults.md: the frontend's resident memory under
// the attacks below, and the slack over the idle goroutine count.
const (
	memoryLimit       = "192MiB"
	frontendRSSBound  = 256 << 20
	validatorRSSBound = 256 << 20
	goroutineSlack    = 10
)

// attackers: every attack runs from its own loopback address, so the
// per-client rate limit tells it from the legitimate clients.
const (
	ipSlowloris = "127.0.0.50"
	ipSlowBody  = "127.0.0.51"
	ipFlood     = "127.0.0.52"
	ipBomb      = "127.0.0.53"
)

// TestFrontendExhaustion attacks the frontend with slowloris connections,
// slow bodies, a flood from one client and gzip bombs while legitimate
// clients keep working: they see no error at all, the frontend's (and the
// request validator's) memory stays under its bound, and once the
// attackers stop sending — without closing their sockets — the frontend's
// own timeouts bring its goroutine count back to the idle baseline.
func TestFrontendExhaustion(t *testing.T) {
	skipShort(t)
	// The configured memory bound of every process: the Go runtime's soft
	// limit, under the resident-memory bounds checked below.
	t.Setenv("GOMEMLIMIT", memoryLimit)
	e := startEnv(t, envOptions{Timeout: faultTimeout, Extra: exhaustExtra})
	fe := e.proc("frontend")
	legit := loadConfig{Base: e.d.Public, Clients: 4, PostEvery: 3, Pace: 50 * time.Millisecond,
		Timeout: e.timeout + 10*time.Second, SourceIP: func(i int) string { return fmt.Sprintf("127.0.0.%d", 10+i) }}

	// Idle baseline, after a warm-up has started every lazy goroutine.
	warm := startLoad(t, legit)
	time.Sleep(time.Second)
	warm.Stop()
	baseline := settledGoroutines(t, fe.Admin())
	rss0, _ := rssBytes(fe.Pid())

	// Legitimate traffic alone, then under attack.
	l := startLoad(t, legit)
	phase := pick(4*time.Second, 15*time.Second)
	time.Sleep(phase)
	attackFrom := time.Now()
	a := &attack{base: strings.TrimPrefix(e.d.Public, "http://"), stop: make(chan struct{})}
	a.slowloris(pick(200, 1000))
	a.slowBodies(pick(100, 400))
	a.flood(e.d.Public, pick(16, 64))
	a.gzipBombs(t, e.d.Public, 200*time.Millisecond)
	peakFE, peakRV := int64(0), int64(0)
	rv := e.proc("request-validator")
	deadline := time.Now().Add(phase)
	for time.Now().Before(deadline) {
		if n, err := rssBytes(fe.Pid()); err == nil {
			peakFE = max(peakFE, n)
		}
		if n, err := rssBytes(rv.Pid()); err == nil {
			peakRV = max(peakRV, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	underAttack, _ := metricSum(fe.Admin(), "go_goroutines")
	attackTo := time.Now()
	a.halt() // stop sending; the sockets stay open
	recs := l.Stop()

	calls, noID := e.up.snapshot()
	assertClean(t, "legitimate clients", check(recs, calls, noID,
		checkConfig{Deadline: e.timeout, Margin: margin, Strict: true}))
	var before, during []Record
	for _, r := range recs {
		if r.End.Before(attackFrom) {
			before = append(before, r)
		} else if r.Start.After(attackFrom) && r.End.Before(attackTo) {
			during = append(during, r)
		}
	}
	b50, b99 := latencies(before)
	d50, d99 := latencies(during)
	t.Logf("legitimate latency p50/p99: %s/%s alone, %s/%s under attack (%d and %d requests)",
		b50.Round(time.Microsecond), b99.Round(time.Microsecond), d50.Round(time.Microsecond), d99.Round(time.Microsecond), len(before), len(during))
	if len(during) == 0 {
		t.Error("no legitimate request completed during the attack")
	}
	t.Logf("attacks: %s", a)
	if a.floodLimited.Load() == 0 {
		t.Error("the flood was never rate limited")
	}
	for _, c := range a.bombAnswers() {
		if c != "413 request.body.too-large" && c != "413 request.body.compression-ratio" && c != "429 ratelimit" {
			t.Errorf("gzip bomb answered %q, want 413", c)
		}
	}
	t.Logf("frontend VmRSS %d MiB idle, peak %d MiB under attack (bound %d MiB); request validator peak %d MiB (bound %d MiB)",
		rss0>>20, peakFE>>20, frontendRSSBound>>20, peakRV>>20, validatorRSSBound>>20)
	if peakFE > frontendRSSBound {
		t.Errorf("frontend VmRSS peaked at %d MiB, over its %d MiB bound", peakFE>>20, frontendRSSBound>>20)
	}
	if peakRV > validatorRSSBound {
		t.Errorf("request validator VmRSS peaked at %d MiB, over its %d MiB bound", peakRV>>20, validatorRSSBound>>20)
	}

	// The attackers hold their sockets open and send nothing: the
	// frontend's read-header, read and idle timeouts must free them.
	back := time.Now()
	var g float64
	ok := eventually(30*time.Second, 250*time.Millisecond, func() bool {
		v, err := metricSum(fe.Admin(), "go_goroutines")
		g = v
		return err == nil && v <= baseline+goroutineSlack
	})
	t.Logf("frontend goroutines: %v idle, %v under attack, %v after %s with the attackers' sockets still open",
		baseline, underAttack, g, time.Since(back).Round(100*time.Millisecond))
	if !ok {
		t.Errorf("frontend goroutines stayed at %v, baseline %v", g, baseline)
	}
	a.close()
}

// settledGoroutines reads go_goroutines until two readings a second apart
// agree.
func settledGoroutines(t *testing.T, admin string) float64 {
	t.Helper()
	var last float64 = -1
	var v float64
	ok := eventually(20*time.Second, time.Second, func() bool {
		var err error
		v, err = metricSum(admin, "go_goroutines")
		if err != nil {
			t.Fatal(err)
		}
		same := v == last
		last = v
		return same
	})
	if !ok {
		t.Logf("goroutine count did not settle; using %v", v)
	}
	return v
}

// attack runs the hostile clients.
type attack struct {
	base string // host:port
	stop chan struct{}
	wg   sync.WaitGroup

	mu    sync.Mutex
	conns []net.Conn
	bombs []string

	loris, bodies, floodN, floodOK atomic.Int64
	floodLimited, cut              atomic.Int64
}

func (a *attack) String() string {
	return fmt.Sprintf("%d slowloris and %d slow-body connections opened (%d cut by the server), flood %d requests (%d answered 429, %d 2xx), %d gzip bombs",
		a.loris.Load(), a.bodies.Load(), a.cut.Load(), a.floodN.Load(), a.floodLimited.Load(), a.floodOK.Load(), len(a.bombAnswers()))
}

func (a *attack) stopped() bool {
	select {
	case <-a.stop:
		return true
	default:
		return false
	}
}

// halt stops every attacker from sending; connections stay open.
func (a *attack) halt() {
	close(a.stop)
	a.wg.Wait()
}

// close closes every attacker socket.
func (a *attack) close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, c := range a.conns {
		c.Close()
	}
}

func (a *attack) dial(ip string) (net.Conn, error) {
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	c, err := d.Dial("tcp", a.base)
	if err == nil {
		a.mu.Lock()
		a.conns = append(a.conns, c)
		a.mu.Unlock()
	}
	return c, err
}

// trickle opens a connection, writes head, then one byte of drip every
// half second until the server cuts it (then it reconnects) or the attack
// halts (then it leaves the socket open and idle).
func (a *attack) trickle(ip, head, drip string, count *atomic.Int64) {
	a.wg.Go(func() {
		for !a.stopped() {
			c, err := a.dial(ip)
			if err != nil {
				time.Sleep(100 * time.Millisecond)
				continue
			}
			count.Add(1)
			if _, err := io.WriteString(c, head); err != nil {
				a.cut.Add(1)
				continue
			}
			for i := 0; ; i++ {
				select {
				case <-a.stop:
					return
				case <-time.After(500 * time.Millisecond):
				}
				if _, err := io.WriteString(c, drip[i%len(drip):i%len(drip)+1]); err != nil {
					a.cut.Add(1)
					break
				}
			}
		}
	})
}

// slowloris sends a request head one byte at a time and never ends it.
func (a *attack) slowloris(n int) {
	for range n {
		a.trickle(ipSlowloris, "GET /accounts/acc-1 HTTP/1.1\r\nHost: x\r\n", "X-Padding: aaaaaaaaaaaaaaaaaaaaaaaa\r\n", &a.loris)
	}
}

// slowBodies sends a complete head announcing a body, then the body one
// byte at a time.
func (a *attack) slowBodies(n int) {
	head := "POST /payments HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Client-Seq: 1\r\nContent-Length: 100000\r\n\r\n"
	for range n {
		a.trickle(ipSlowBody, head, `{"from":"acc-1","to":"acc-2","amount":1,"currency":"EUR","reference":"`, &a.bodies)
	}
}

// flood sends as fast as it can from one client address over keep-alive
// connections.
func (a *attack) flood(base string, workers int) {
	c := newClient(loadConfig{Timeout: 20 * time.Second, SourceIP: func(int) string { return ipFlood }}, 0)
	for range workers {
		a.wg.Go(func() {
			defer c.CloseIdleConnections()
			for !a.stopped() {
				a.floodN.Add(1)
				r := send(context.Background(), c, base, -2, nextSeq.Add(1), request{Method: http.MethodGet, Path: "/accounts/acc-1"})
				switch {
				case r.Status == http.StatusTooManyRequests:
					a.floodLimited.Add(1)
				case r.Status/100 == 2:
					a.floodOK.Add(1)
				}
			}
		})
	}
}

// gzipBombs posts, every pause, a body just under the frontend's 1 MiB
// limit that inflates to 1 GiB: 64 concatenated gzip members of 16 MiB of
// zeros each.
func (a *attack) gzipBombs(t *testing.T, base string, pause time.Duration) {
	var member bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&member, gzip.BestCompression)
	zero := make([]byte, 1<<20)
	for range 16 {
		_, _ = zw.Write(zero)
	}
	_ = zw.Close()
	bomb := bytes.Repeat(member.Bytes(), 64)
	if len(bomb) >= 1<<20 {
		t.Fatalf("gzip bomb is %d bytes, over the body limit", len(bomb))
	}
	c := newClient(loadConfig{Timeout: 20 * time.Second, SourceIP: func(int) string { return ipBomb }}, 0)
	a.wg.Go(func() {
		defer c.CloseIdleConnections()
		for !a.stopped() {
			r := send(context.Background(), c, base, -3, nextSeq.Add(1), request{Method: http.MethodPost, Path: "/payments",
				Body: bomb, Header: http.Header{"Content-Encoding": {"gzip"}}})
			a.mu.Lock()
			a.bombs = append(a.bombs, answerKey(r))
			a.mu.Unlock()
			select {
			case <-a.stop:
			case <-time.After(pause):
			}
		}
	})
}

func (a *attack) bombAnswers() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.bombs...)
}
