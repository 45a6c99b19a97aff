package chaos_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cordon-gateway/cordon/bus"
	"github.com/cordon-gateway/cordon/internal/testkit"
)

// poisonExtra raises the response limit above what a bus carries in one
// message (16 MiB), so that an upstream answer between the two is read by
// the backend and then cannot be published.
const poisonExtra = "limits:\n  max_response_bytes: 32MiB\n"

// A poison message is a valid request whose processing fails the same way
// on every delivery. Three kinds:
//
//   - a request the stage reading bus 1 fails on at every delivery
//     (bus.PoisonPathSuffix: the chaosfault build of cordon these tests
//     run injects the failure, as a bug in a stage would): retried with
//     backoff until MaxDeliver, then answered 503 delivery.limit, never
//     sent upstream;
//   - from the upstream (see writePoison), an answer larger than a bus
//     message and one with more Set-Cookie fields than the envelope
//     carries: the backend cannot publish what it got, a final error
//     answered at once, the upstream reached once.
//
// What matters is that each ends after at most MaxDeliver deliveries with
// an error for its client and a terminal audit record, that the upstream
// sees a POST at most once, and that other traffic goes on.
var poisons = []struct{ name, account string }{
	{"fails every delivery", retried},
	{"oversized answer", "poison-big"},
	{"too many header values", "poison-hdr"},
}

// retried is the poison that takes the delivery-limit path.
var retried = strings.TrimPrefix(bus.PoisonPathSuffix, "/")

// TestPoison sends poison requests while steady traffic flows: each is
// answered 5xx by the stage that gave up (within its deadline, after at
// most MaxDeliver deliveries, a POST sent upstream once), the audit
// records why, the other traffic sees no error at all, and its throughput
// while a poison message is retried is compared with the windows without
// one.
func TestPoison(t *testing.T) {
	skipShort(t)
	e := startEnv(t, envOptions{Timeout: 10 * time.Second, Extra: poisonExtra, AuditDSN: testkit.OpenPostgres(t)})
	l := startLoad(t, baseLoad(e))
	client := &http.Client{Timeout: e.timeout + 10*time.Second}
	time.Sleep(time.Second)
	sendPoison := func(method, kind string) Record {
		rq := request{Method: http.MethodGet, Path: "/accounts/" + kind}
		switch {
		case method == http.MethodPost && kind == retried:
			rq = request{Method: http.MethodPost, Path: "/payments" + bus.PoisonPathSuffix, Body: paymentBody(kind)}
		case method == http.MethodPost:
			rq = request{Method: http.MethodPost, Path: "/payments", Body: paymentBody(kind)}
		}
		return send(context.Background(), client, e.d.Public, -1, nextSeq.Add(1), rq)
	}

	// Windows without (B) and with (P) a poison message in flight,
	// alternating B P B P … B, each as long as MaxDeliver deliveries take
	// (backoffs 0.1+0.4+0.9+1.6 s). Each P is compared with the mean of
	// its two neighbours, which cancels drift from whatever else the
	// machine runs. The poison is the one that is retried.
	const win = 4 * time.Second
	rounds := pick(2, 8)
	var counts []int // B0 P0 B1 P1 … Bn
	var poisoned []Record
	for i := range 2*rounds + 1 {
		poison := i%2 == 1
		from := time.Now()
		done := make(chan Record, 1)
		if poison {
			go func() { done <- sendPoison(http.MethodGet, retried) }()
		}
		time.Sleep(win)
		to := time.Now()
		if poison {
			select {
			case r := <-done:
				poisoned = append(poisoned, r)
			case <-time.After(e.timeout + margin):
				t.Fatal("the poison request was not answered within its deadline")
			}
		}
		counts = append(counts, completedIn(l.Records(), from, to))
	}
	for _, p := range poisons {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			poisoned = append(poisoned, sendPoison(method, p.account))
		}
	}
	time.Sleep(500 * time.Millisecond)
	recs := l.Stop()
	calls, noID := e.up.snapshot()

	// The other traffic: not a single error.
	assertClean(t, "steady traffic", check(recs, calls, noID, checkConfig{Deadline: e.timeout, Margin: margin, Strict: true}))

	seen := map[string]bool{}
	for _, p := range poisoned {
		n := len(calls[p.ID])
		what := p.Method + " " + p.ID
		if p.Status/100 != 5 || p.Rule == "" || frontendRules[p.Rule] {
			t.Errorf("poison %s: answered %s, want a 5xx decided by a stage", what, answerKey(p))
		}
		if p.took() > e.timeout+margin {
			t.Errorf("poison %s: answered after %s", what, p.took())
		}
		switch {
		case strings.Contains(p.Path, bus.PoisonPathSuffix):
			// Failed before the upstream, on every delivery.
			if n != 0 || answerKey(p) != "503 delivery.limit" {
				t.Errorf("poison %s: answered %s, upstream reached %d times; want 503 delivery.limit, never", what, answerKey(p), n)
			}
		case n == 0 || n > bus.MaxDeliver:
			t.Errorf("poison %s reached the upstream %d times, want 1 to %d", what, n, bus.MaxDeliver)
		case p.Method == http.MethodPost && n != 1:
			t.Errorf("poison %s reached the upstream %d times", what, n)
		}
		if line := p.Method + " " + answerKey(p); !seen[line] {
			seen[line] = true
			t.Logf("poison %s %s: answered %s after %s, upstream reached %d times", p.Method, p.Path, answerKey(p), p.took().Round(time.Millisecond), n)
		}
	}

	var with, without float64
	for i := 1; i < len(counts); i += 2 {
		with += float64(counts[i])
		without += float64(counts[i-1]+counts[i+1]) / 2
	}
	ratio := with / without
	t.Logf("throughput of the other traffic: %.0f req/s with a poison message in flight, %.0f in the windows around: ratio %.3f (2xx per %s window, B P B … B: %v)",
		with/float64(rounds)/win.Seconds(), without/float64(rounds)/win.Seconds(), ratio, win, counts)
	// The target is a drop under 10%; windows of a few seconds on a shared
	// two-core machine are noisy, so the assertion leaves a wide margin and
	// docs/faults.md reports the measured ratio.
	if ratio < 0.7 {
		t.Errorf("throughput with a poison message in flight fell to %.2f of the throughput without", ratio)
	}

	// The audit records why each poison request ended (a terminal record
	// with its rule), besides the complete trail of the other traffic.
	e.assertAudit(t, append(recs, poisoned...), time.Now())
}
