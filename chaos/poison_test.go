package chaos_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/cordon-gateway/cordon/bus"
)

// poisonExtra raises the response limit above what a bus carries in one
// message (16 MiB): an upstream answer between the two is read by the
// backend and then cannot be published. That is the poison message: a
// valid request whose processing fails the same way on every delivery.
const poisonExtra = "limits:\n  max_response_bytes: 32MiB\n"

// TestPoison sends requests whose answers no bus can carry while steady
// traffic flows. A GET (idempotent, so re-sent) fails its publish on every
// delivery, is terminated after MaxDeliver deliveries, and its client gets
// 503 "delivery.limit"; a POST is sent upstream once, and its redelivery,
// whose outcome is unknown, is answered 502 "backend.at-most-once". The
// other traffic sees no error at all, and its throughput while a poison
// message is being retried is compared with the windows without one.
func TestPoison(t *testing.T) {
	skipShort(t)
	e := startEnv(t, envOptions{Timeout: 10 * time.Second, Extra: poisonExtra})
	l := startLoad(t, baseLoad(e))
	client := &http.Client{Timeout: e.timeout + 10*time.Second}
	time.Sleep(time.Second)

	// Windows without (B) and with (P) a poison message in flight,
	// alternating B P B P … B, each as long as the poison's retries
	// (backoffs 0.1+0.4+0.9+1.6 s). Each P is compared with the mean of
	// its two neighbours, which cancels drift from whatever else the
	// machine runs.
	const win = 4 * time.Second
	rounds := pick(3, 8)
	var counts []int // B0 P0 B1 P1 … Bn
	var poisons []Record
	for i := range 2*rounds + 1 {
		poison := i%2 == 1
		from := time.Now()
		done := make(chan Record, 1)
		if poison {
			go func() {
				done <- send(context.Background(), client, e.d.Public, -1, nextSeq.Add(1),
					request{Method: http.MethodGet, Path: "/accounts/poison"})
			}()
		}
		time.Sleep(win)
		to := time.Now()
		if poison {
			select {
			case r := <-done:
				poisons = append(poisons, r)
			case <-time.After(e.timeout + margin):
				t.Fatal("the poison request was not answered within its deadline")
			}
		}
		counts = append(counts, completedIn(l.Records(), from, to))
	}
	// A POST poison: sent once, then answered as unknown outcome.
	postPoison := send(context.Background(), client, e.d.Public, -1, nextSeq.Add(1),
		request{Method: http.MethodPost, Path: "/payments", Body: paymentBody("poison")})
	time.Sleep(500 * time.Millisecond)
	recs := l.Stop()
	calls, noID := e.up.snapshot()

	// The other traffic: not a single error.
	assertClean(t, "steady traffic", check(recs, calls, noID, checkConfig{Deadline: e.timeout, Margin: margin, Strict: true}))

	for _, p := range poisons {
		if p.Status != http.StatusServiceUnavailable || p.Rule != "delivery.limit" {
			t.Errorf("poison GET %s: answered %s, want 503 delivery.limit", p.ID, answerKey(p))
		}
		if p.took() > e.timeout+margin {
			t.Errorf("poison GET %s: answered after %s", p.ID, p.took())
		}
		if n := len(calls[p.ID]); n != bus.MaxDeliver {
			t.Errorf("poison GET %s reached the upstream %d times, want one per delivery (%d)", p.ID, n, bus.MaxDeliver)
		}
	}
	t.Logf("poison GET answers: %s after %s", answerKey(poisons[0]), poisons[0].took().Round(time.Millisecond))
	if postPoison.Status != http.StatusBadGateway || postPoison.Rule != "backend.at-most-once" {
		t.Errorf("poison POST %s: answered %s, want 502 backend.at-most-once", postPoison.ID, answerKey(postPoison))
	}
	if n := len(calls[postPoison.ID]); n != 1 {
		t.Errorf("poison POST %s reached the upstream %d times, want 1", postPoison.ID, n)
	}
	t.Logf("poison POST answer: %s after %s", answerKey(postPoison), postPoison.took().Round(time.Millisecond))

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
}
