package audit_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/audit"
	"github.com/cordon-gateway/cordon/audit/audittest"
	"github.com/cordon-gateway/cordon/audit/trail"
	"github.com/cordon-gateway/cordon/internal/testkit"
	"github.com/cordon-gateway/cordon/postgres"
)

func openPostgres(t testing.TB, dsn, rolePrefix string) *postgres.Store {
	t.Helper()
	roles, _ := postgres.RolesWithPrefix(rolePrefix)
	if _, err := postgres.Migrate(context.Background(), dsn, postgres.MigrateOptions{Roles: roles}); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	s, err := postgres.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestShipperSurvivesPostgresRestart stops a private PostgreSQL cluster
// while messages keep flowing into JetStream, starts it again, and checks
// that the shipper caught up with nothing lost or doubled.
func TestShipperSurvivesPostgresRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a private PostgreSQL cluster")
	}
	cluster := testkit.StartPostgresCluster(t)
	store := openPostgres(t, cluster.DSN("postgres"), "cordon_audit")
	b := cordon.BusCleanReq
	url, js := startJetStream(t, b)
	f := audittest.NewFixture(t, store, nil)
	src := newJSSource(t, url, b, 2*time.Second)
	_, sh := startShipper(t, f, src, store, func(c *audit.ShipperConfig) {
		c.BatchSize, c.FetchWait, c.RetryMax = 100, 50*time.Millisecond, 500*time.Millisecond
	})

	// Load: a steady publisher (~2000 messages/s), as the pipeline would be.
	// Only this goroutine uses the fixture until the load stops.
	var published atomic.Int64
	ctx, stopLoad := context.WithCancel(context.Background())
	defer stopLoad()
	loadDone := make(chan struct{})
	go func() {
		defer close(loadDone)
		for ctx.Err() == nil {
			br := f.Message(b, nil)
			if _, err := js.Publish(context.Background(), br.Subject, br.Data); err != nil {
				return
			}
			if published.Add(1)%100 == 0 {
				time.Sleep(50 * time.Millisecond) // pacing, not polling
			}
		}
	}()
	more := func(n int64, what string) {
		t.Helper()
		from := published.Load()
		eventually(t, 30*time.Second, what, func() bool { return published.Load() >= from+n })
	}

	eventually(t, 30*time.Second, "shipping under load", func() bool { return sh.Stats().Records >= 1000 })
	cluster.Stop(t)
	errsBefore := sh.Stats().StoreErrors
	eventually(t, 30*time.Second, "shipper notices the outage", func() bool { return sh.Stats().StoreErrors > errsBefore+2 })
	more(1000, "traffic flows during the outage")
	cluster.Start(t)
	more(500, "traffic flows after the outage")
	stopLoad()
	<-loadDone
	stream, err := js.Stream(context.Background(), "AUDIT_TEST")
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	total := info.State.LastSeq
	if total != uint64(published.Load()) {
		t.Fatalf("stream holds %d messages, publisher sent %d", total, published.Load())
	}
	eventually(t, 60*time.Second, "caught up after the restart", func() bool { return sh.Stats().LastSeq == total })

	if n, d := count(t, store, b); uint64(n) != total || d != 0 {
		t.Fatalf("%d records (%d duplicates), want %d", n, d, total)
	}
	if rep := f.Verify(); !rep.OK() {
		t.Fatalf("verify: %v", rep.Problems)
	}
	t.Logf("published %d, store errors %d, conflicts %d", total, sh.Stats().StoreErrors, sh.Stats().Conflicts)
}

// BenchmarkShipperBatchPostgres measures the shipper's batch path into
// PostgreSQL: capture (parse, verify the producer signature, mask, DLP),
// tree and signed checkpoint, COPY into the staging table, INSERT … ON
// CONFLICT, commit. rows/s is what one shipper sustains.
func BenchmarkShipperBatchPostgres(b *testing.B) {
	for _, size := range []int{100, 1000, 5000} {
		b.Run("batch="+strconv.Itoa(size), func(b *testing.B) {
			prefix := testkit.PostgresRolePrefix(b)
			store := openPostgres(b, testkit.OpenPostgres(b), prefix)
			benchBatches(b, store, size, false)
		})
		b.Run("append-only/batch="+strconv.Itoa(size), func(b *testing.B) {
			prefix := testkit.PostgresRolePrefix(b)
			store := openPostgres(b, testkit.OpenPostgres(b), prefix)
			benchBatches(b, store, size, true)
		})
	}
}

// BenchmarkShipperBatchSQLite is the same path into the embedded store.
func BenchmarkShipperBatchSQLite(b *testing.B) {
	b.Run("batch=1000", func(b *testing.B) { benchBatches(b, openSQLite(b), 1000, false) })
	b.Run("append-only/batch=1000", func(b *testing.B) { benchBatches(b, openSQLite(b), 1000, true) })
	b.Run("append-only/batch=64", func(b *testing.B) { benchBatches(b, openSQLite(b), 64, true) })
}

// benchBatches appends b.N batches; with precaptured the records are built
// before the timer starts, which isolates the store.
func benchBatches(b *testing.B, store audit.Store, size int, precaptured bool) {
	f := audittest.NewFixture(b, store, nil)
	bus := cordon.BusDirtyReq
	// Pre-build enough distinct messages (they are consumed once each).
	batches := make([][]cordon.BusRecord, b.N)
	for i := range batches {
		batches[i] = make([]cordon.BusRecord, size)
		for j := range batches[i] {
			batches[i][j] = f.Message(bus, nil)
		}
	}
	var ready [][]trail.Record
	if precaptured {
		for _, batch := range batches {
			ready = append(ready, f.Capturer.Records(batch))
		}
	}
	head, err := store.Head(context.Background(), bus)
	if err != nil {
		b.Fatal(err)
	}
	l, err := audit.NewLog(head, f.Signer)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		var recs []trail.Record
		if precaptured {
			recs = ready[i]
		} else {
			recs = f.Capturer.Records(batches[i])
		}
		cp, err := l.Next(recs)
		if err != nil {
			b.Fatal(err)
		}
		if err := store.Append(context.Background(), recs, cp); err != nil {
			b.Fatal(err)
		}
		if err := l.Advance(cp); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*size)/time.Since(start).Seconds(), "rows/s")
}

// BenchmarkShipperRunPostgres runs the whole shipper (fetch, order,
// capture, append, ack) into PostgreSQL.
//
//   - drain: a backlog of b.N messages (as after an outage); rows/s is the
//     catch-up rate.
//   - paced: b.N messages arriving at a steady 2000/s per bus (the
//     pipeline's peak on this machine is well under that); max-lag-ms is the
//     longest a committed record waited after the stream stored it.
func BenchmarkShipperRunPostgres(b *testing.B) {
	b.Run("drain", func(b *testing.B) { benchRun(b, 0) })
	b.Run("paced=2000/s", func(b *testing.B) { benchRun(b, 2000) })
}

func benchRun(b *testing.B, rate int) {
	prefix := testkit.PostgresRolePrefix(b)
	store := openPostgres(b, testkit.OpenPostgres(b), prefix)
	f := audittest.NewFixture(b, store, nil)
	bus := cordon.BusDirtyResp
	msgs := make([]cordon.BusRecord, b.N)
	for i := range msgs {
		msgs[i] = f.Message(bus, nil)
	}
	src := &memSource{bus: bus, ackWait: time.Minute}
	if rate == 0 {
		src.publish(msgs...)
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	_, sh := startShipper(b, f, src, store, func(c *audit.ShipperConfig) {
		c.BatchSize, c.FetchWait, c.CheckpointInterval = 1000, 20*time.Millisecond, time.Minute
	})
	var maxLag time.Duration
	if rate > 0 {
		tick := time.NewTicker(10 * time.Millisecond)
		per := rate / 100
		for i := 0; i < len(msgs); {
			<-tick.C
			now := time.Now()
			for j := 0; j < per && i < len(msgs); j, i = j+1, i+1 {
				msgs[i].Time = now
				src.publish(msgs[i])
			}
			maxLag = max(maxLag, sh.Stats().Lag)
		}
		tick.Stop()
	}
	for src.acked() < uint64(b.N) {
		maxLag = max(maxLag, sh.Stats().Lag)
		time.Sleep(time.Millisecond)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "rows/s")
	if rate > 0 {
		b.ReportMetric(float64(maxLag.Microseconds())/1000, "max-lag-ms")
	}
}
