package chaos_test

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cordon-gateway/cordon/bus"
	"github.com/cordon-gateway/cordon/internal/testkit"
)

// faultTimeout is the request deadline of the fault tests: short, so that
// requests stranded by a fault end quickly, and long enough for a process
// to restart within it. The ack wait is a third of it.
const faultTimeout = 5 * time.Second

// margin is the scheduling slack the checker allows past a deadline on a
// loaded two-core machine.
const margin = 1500 * time.Millisecond

// baseLoad is the steady load of the fault tests: closed-loop clients,
// every third request a POST.
func baseLoad(e *env) loadConfig {
	return loadConfig{Base: e.d.Public, Clients: pick(8, 16), PostEvery: 3, Timeout: e.timeout + 10*time.Second}
}

// recovered checks that every request that started after since was
// answered 2xx: the deployment is whole again.
func recovered(t *testing.T, name string, recs []Record, since time.Time) {
	t.Helper()
	n := 0
	for _, r := range recs {
		if r.Start.Before(since) {
			continue
		}
		n++
		if r.Status/100 != 2 {
			t.Errorf("%s: after recovery, seq %d answered %s", name, r.Seq, answerKey(r))
		}
	}
	if n == 0 {
		t.Errorf("%s: no request after recovery", name)
	}
}

// TestKill9 kills each process of the deployment in turn with SIGKILL
// under load and starts it again (a NATS server on its store): every
// request is answered within its deadline, no POST reaches the upstream
// twice, no client gets another's answer, and afterwards every request
// succeeds again. At the end the audit trail (PostgreSQL, one shipper per
// bus, each also killed in turn) holds every request id completely or
// with a terminal record, nothing twice, and verifies.
func TestKill9(t *testing.T) {
	skipShort(t)
	e := startEnv(t, envOptions{Timeout: faultTimeout, AuditDSN: testkit.OpenPostgres(t)})
	var all []Record // every subtest's history, for the audit check
	// lastTapKill is when a shipper or a NATS server was last killed:
	// what a shipper had fetched and not acked then comes back to it after
	// the audit consumer's ack wait, so the trail catches up by that time.
	var lastTapKill time.Time
	t.Run("no-fault", func(t *testing.T) {
		// The control: the same load without a fault sees no error at all.
		l := startLoad(t, baseLoad(e))
		time.Sleep(pick(2*time.Second, 10*time.Second))
		recs := l.Stop()
		all = append(all, recs...)
		calls, noID := e.up.snapshot()
		assertClean(t, "no-fault", check(recs, calls, noID, checkConfig{Deadline: e.timeout, Margin: margin, Strict: true}))
	})
	// The shippers first: what a killed shipper held is redelivered to it
	// only after the audit consumer's ack wait (bus.AuditAckWait), which
	// then passes while the other processes are killed.
	victims := append(append(append([]string{}, auditProcs...), roles...), natsProcs...)
	for _, victim := range victims {
		t.Run(victim, func(t *testing.T) {
			l := startLoad(t, baseLoad(e))
			var windows []window
			for round := range pick(1, 3) {
				time.Sleep(500 * time.Millisecond)
				from := time.Now()
				if err := e.proc(victim).Kill(); err != nil {
					t.Fatal(err)
				}
				if strings.HasPrefix(victim, "audit-") || strings.HasPrefix(victim, "nats-") {
					lastTapKill = time.Now()
				}
				// A supervisor restarts a crashed process after a moment.
				time.Sleep(300 * time.Millisecond)
				e.restart(victim)
				to := time.Now()
				windows = append(windows, window{Name: fmt.Sprintf("%s round %d", victim, round), From: from,
					To: to.Add(time.Second), Transport: victim == "frontend"})
				t.Logf("round %d: %s down and back in %s", round, victim, to.Sub(from).Round(time.Millisecond))
				l.settle(t, to, e.timeout+margin+5*time.Second)
			}
			since := time.Now()
			time.Sleep(pick(time.Second, 3*time.Second))
			recs := l.Stop()
			all = append(all, recs...)
			calls, noID := e.up.snapshot()
			assertClean(t, victim, check(recs, calls, noID, checkConfig{Deadline: e.timeout, Margin: margin, Windows: windows}))
			recovered(t, victim, recs, since)
		})
	}
	t.Run("audit", func(t *testing.T) {
		rep := e.assertAudit(t, all, lastTapKill.Add(bus.AuditAckWait+5*time.Second))
		if !rep.CaughtUp.IsZero() {
			t.Logf("audit: caught up %s after the last kill of a shipper or a NATS server (audit ack wait %s)",
				rep.CaughtUp.Sub(lastTapKill).Round(100*time.Millisecond), bus.AuditAckWait)
		}
	})
}

// TestStopValidator freezes a validator with SIGSTOP for longer than its
// ack wait, so JetStream redelivers what it held, then lets it continue:
// the redelivered messages are processed once downstream (the republished
// copies are dropped by the next bus's dedupe: the validator counts them
// as duplicate publishes), no request of any method reaches the upstream
// twice, and every client gets exactly one answer within its deadline.
// (Bus 4's answers also reach the frontend's core subscription, which
// drops a second copy as an answer with no waiting request.)
//
// The deployment runs on link keys alone (signatures: hmac, no Ed25519 key
// trusted): the other fault tests cover the default.
func TestStopValidator(t *testing.T) {
	skipShort(t)
	e := startEnv(t, envOptions{Timeout: faultTimeout, Signatures: "hmac"})
	for _, v := range []struct{ name, out string }{
		{"request-validator", "clean-req"},
		{"response-validator", "clean-resp"},
	} {
		t.Run(v.name, func(t *testing.T) {
			p := e.proc(v.name)
			dupMetric := fmt.Sprintf(`cordon_bus_published_total{bus=%q,result="duplicate"}`, v.out)
			dupBefore, err := metricSum(p.Admin(), dupMetric)
			if err != nil {
				t.Fatal(err)
			}
			l := startLoad(t, baseLoad(e))
			var windows []window
			for round := range pick(1, 3) {
				time.Sleep(500 * time.Millisecond)
				from := time.Now()
				if err := p.Signal(syscall.SIGSTOP); err != nil {
					t.Fatal(err)
				}
				time.Sleep(e.ackWait() + time.Second)
				if err := p.Signal(syscall.SIGCONT); err != nil {
					t.Fatal(err)
				}
				to := time.Now()
				windows = append(windows, window{Name: fmt.Sprintf("%s stopped, round %d", v.name, round), From: from, To: to})
				l.settle(t, to, e.timeout+margin+5*time.Second)
			}
			since := time.Now()
			time.Sleep(pick(time.Second, 3*time.Second))
			recs := l.Stop()
			calls, noID := e.up.snapshot()
			assertClean(t, v.name, check(recs, calls, noID, checkConfig{Deadline: e.timeout, Margin: margin,
				Windows: windows, OnceUpstream: true}))
			recovered(t, v.name, recs, since)
			unmatched, err := metricSum(e.proc("frontend").Admin(), "cordon_frontend_unmatched_answers_total")
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("frontend: %v answers with no waiting request dropped so far", unmatched)
			dupAfter, err := metricSum(p.Admin(), dupMetric)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %v redelivered messages republished and deduplicated by bus %s", v.name, dupAfter-dupBefore, v.out)
			if dupAfter <= dupBefore {
				t.Errorf("%s: no duplicate publish after SIGCONT: nothing was redelivered (%s %v -> %v)", v.name, dupMetric, dupBefore, dupAfter)
			}
		})
	}
}
