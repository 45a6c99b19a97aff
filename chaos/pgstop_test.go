package chaos_test

import (
	"testing"
	"time"

	"github.com/cordon-gateway/cordon/internal/testkit"
)

// TestAuditDatabaseOutage stops the audit database (a private PostgreSQL
// cluster, not the shared one) under load for 10 s (a minute in the long
// form), then starts it again. The request path never waits for the
// audit, so clients see no error at all; the streams hold what the
// shippers could not write, and once the database is back every request
// has its complete record set, nothing is recorded twice, and verify
// finds no gap.
func TestAuditDatabaseOutage(t *testing.T) {
	skipShort(t)
	pg := testkit.StartPostgresCluster(t)
	e := startEnv(t, envOptions{Timeout: faultTimeout, AuditDSN: pg.DSN("postgres")})
	l := startLoad(t, baseLoad(e))
	time.Sleep(2 * time.Second)
	outage := pick(10*time.Second, time.Minute)
	from := time.Now()
	pg.Stop(t)
	time.Sleep(outage)
	pg.Start(t)
	back := time.Now()
	time.Sleep(2 * time.Second)
	recs := l.Stop()

	calls, noID := e.up.snapshot()
	assertClean(t, "clients", check(recs, calls, noID, checkConfig{Deadline: e.timeout, Margin: margin, Strict: true}))
	before := completedIn(recs, from.Add(-2*time.Second), from)
	during := completedIn(recs, from, back)
	t.Logf("database down %s: %d requests answered meanwhile (%.0f/s; %.0f/s in the 2 s before)",
		back.Sub(from).Round(100*time.Millisecond), during, float64(during)/back.Sub(from).Seconds(), float64(before)/2)

	// The shippers retry with backoff up to 5 s, then drain the backlog.
	rep := e.assertAudit(t, recs, time.Now().Add(pick(30*time.Second, 2*time.Minute)))
	if !rep.CaughtUp.IsZero() {
		t.Logf("audit caught up at most %s after the database came back (polled every 2 s)", rep.CaughtUp.Sub(back).Round(100*time.Millisecond))
	}
	if len(rep.Gaps) > 0 && !t.Failed() {
		// Nothing here strands a request: a gap means loss.
		t.Errorf("audit: %d request ids incomplete after a database outage", len(rep.Gaps))
	}
}
