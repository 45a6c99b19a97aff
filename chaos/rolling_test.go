package chaos_test

import (
	"testing"
	"time"
)

// restartErrors are the only errors a client may see while a process is
// restarted gracefully (SIGTERM, exit, start, ready), as docs/faults.md
// explains: a single-instance bus is unavailable while its server
// restarts, and a single frontend refuses connections while it is down.
// The pipeline stages drain and lose nothing.
var restartErrors = map[string][]string{
	"frontend":           nil, // transport errors only: connection refused while down
	"request-validator":  nil,
	"backend":            nil,
	"response-validator": nil,
	// Bus 1: the frontend cannot store the request (publishes are never
	// buffered while disconnected) and answers 503 at once, or 504 if the
	// store did not answer before the deadline.
	"nats-1": {"503 bus.dirty-req", "504 bus.dirty-req", "504 deadline"},
	// Bus 2: the request validator and the backend's ledger retry; a
	// request whose last delivery fails is answered 503 delivery.limit; a
	// publish whose ack was lost with the server waits until the deadline
	// (504); a POST whose ledger claim was stored but not acknowledged is
	// not sent on redelivery (502 at-most-once).
	"nats-2": {"502 backend.at-most-once", "503 delivery.limit", "504 deadline"},
	// Bus 3: the backend cannot store an answer it already has; a POST is
	// not sent again on redelivery and is answered 502 at-most-once.
	"nats-3": {"502 backend.at-most-once", "503 delivery.limit", "504 deadline"},
	// Bus 4: an answer published while the frontend's reply subscription
	// is reconnecting is not seen by it: 504 at the deadline.
	"nats-4": {"503 delivery.limit", "504 deadline"},
}

// TestRollingRestart restarts every process in turn gracefully under load
// and holds the clients to the documented errors of each restart.
func TestRollingRestart(t *testing.T) {
	skipShort(t)
	e := startEnv(t, envOptions{Timeout: faultTimeout})
	l := startLoad(t, baseLoad(e))
	var windows []window
	order := append(append([]string{}, natsProcs...), "request-validator", "backend", "response-validator", "frontend")
	for round := range pick(1, 3) {
		for _, name := range order {
			time.Sleep(500 * time.Millisecond)
			from := time.Now()
			// A draining frontend holds requests up to the deadline; the
			// others exit within a second or two.
			e.terminate(name, e.timeout+10*time.Second)
			stopped := time.Since(from)
			e.restart(name)
			to := time.Now()
			t.Logf("round %d: %s stopped in %s, back in %s", round, name, stopped.Round(time.Millisecond), to.Sub(from).Round(time.Millisecond))
			// The window lasts until every request that met the restart
			// has ended (within its deadline), so the next restart's window
			// starts after it and each error is attributed to one restart.
			l.settle(t, to, e.timeout+margin+5*time.Second)
			windows = append(windows, window{Name: name, From: from, To: time.Now(),
				Transport: name == "frontend", Errors: restartErrors[name]})
		}
	}
	since := time.Now()
	time.Sleep(time.Second)
	recs := l.Stop()
	calls, noID := e.up.snapshot()
	rep := check(recs, calls, noID, checkConfig{Deadline: e.timeout, Margin: margin, Windows: windows, Strict: true})
	assertClean(t, "rolling restart", rep)
	recovered(t, "rolling restart", recs, since)
	// Which restart each error answer met, for docs/faults.md.
	for _, w := range windows {
		n := map[string]int{}
		for _, r := range recs {
			if r.Status/100 != 2 && w.overlaps(r) {
				n[answerKey(r)]++
			}
		}
		if len(n) > 0 {
			t.Logf("errors overlapping the restart of %s: %v", w.Name, n)
		}
	}
}
