package audit_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/audit"
	"github.com/cordon-gateway/cordon/audit/audittest"
	"github.com/cordon-gateway/cordon/audit/trail"
	"github.com/cordon-gateway/cordon/internal/testkit"
	"github.com/cordon-gateway/cordon/sqlite"
)

// memSource is a test double of audit.Source with JetStream's semantics
// for an AckAll consumer: messages delivered and not acked within ackWait
// are delivered again, in stream order, before anything new.
type memSource struct {
	bus     cordon.Bus
	ackWait time.Duration

	mu        sync.Mutex
	stream    []cordon.BusRecord // in sequence order; a removed message is simply absent
	ackFloor  uint64             // highest acked sequence
	delivered int                // index in stream of the next message never delivered
	sentAt    time.Time          // when the oldest unacked delivery was made
	dropAcks  bool               // the process "dies" between commit and ack
	fetchErr  error
}

func (m *memSource) Bus() cordon.Bus { return m.bus }

func (m *memSource) publish(brs ...cordon.BusRecord) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stream = append(m.stream, brs...)
}

func (m *memSource) Fetch(ctx context.Context, max int, wait time.Duration) ([]cordon.BusRecord, error) {
	deadline := time.Now().Add(wait)
	for {
		m.mu.Lock()
		if m.fetchErr != nil {
			err := m.fetchErr
			m.mu.Unlock()
			return nil, err
		}
		// Redeliver everything above the ack floor once ackWait has passed.
		if !m.sentAt.IsZero() && time.Since(m.sentAt) > m.ackWait {
			m.delivered = 0
			for m.delivered < len(m.stream) && m.stream[m.delivered].Seq <= m.ackFloor {
				m.delivered++
			}
			m.sentAt = time.Time{}
		}
		if m.delivered < len(m.stream) {
			n := min(max, len(m.stream)-m.delivered)
			out := append([]cordon.BusRecord(nil), m.stream[m.delivered:m.delivered+n]...)
			m.delivered += n
			if m.sentAt.IsZero() {
				m.sentAt = time.Now()
			}
			m.mu.Unlock()
			return out, nil
		}
		m.mu.Unlock()
		if time.Now().After(deadline) {
			return nil, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func (m *memSource) Ack(_ context.Context, last cordon.BusRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.dropAcks {
		return errors.New("connection lost")
	}
	if last.Seq > m.ackFloor {
		m.ackFloor = last.Seq
	}
	idx := m.index(m.ackFloor)
	if idx > m.delivered {
		m.delivered = idx
	}
	// Deliveries above the new floor stay unacked: their timer restarts.
	m.sentAt = time.Time{}
	if m.delivered > idx {
		m.sentAt = time.Now()
	}
	return nil
}

func (m *memSource) index(seq uint64) int {
	for i, br := range m.stream {
		if br.Seq > seq {
			return i
		}
	}
	return len(m.stream)
}

func (m *memSource) acked() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ackFloor
}

func openSQLite(t testing.TB) audit.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "audit.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// startShipper runs a shipper until the test ends or stop is called.
func startShipper(t testing.TB, f *audittest.Fixture, src audit.Source, store audit.Writer, mod func(*audit.ShipperConfig)) (stop func() error, sh *audit.Shipper) {
	t.Helper()
	cfg := audit.ShipperConfig{Source: src, Store: store, Capturer: f.Capturer, Signer: f.Signer,
		CheckpointDir: f.Dir, BatchSize: 50, FetchWait: 20 * time.Millisecond, GapTimeout: time.Minute,
		CheckpointInterval: 50 * time.Millisecond, RetryMax: 200 * time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	sh, err := audit.NewShipper(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sh.Run(ctx) }()
	var once sync.Once
	var runErr error
	stop = func() error {
		once.Do(func() { cancel(); runErr = <-done })
		return runErr
	}
	t.Cleanup(func() { _ = stop() })
	return stop, sh
}

// eventually polls cond until it holds or the bound passes.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func count(t testing.TB, s audit.Reader, b cordon.Bus) (n int, dupes int) {
	t.Helper()
	seen := map[uint64]bool{}
	err := s.Records(context.Background(), b, 0, 0, func(r *trail.Record) error {
		n++
		if seen[r.Seq] {
			dupes++
		}
		seen[r.Seq] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n, dupes
}

func TestShipperShipsEveryMessage(t *testing.T) {
	store := openSQLite(t)
	f := audittest.NewFixture(t, store, nil)
	src := &memSource{bus: cordon.BusDirtyReq, ackWait: time.Minute}
	for range 120 {
		src.publish(f.Message(cordon.BusDirtyReq, nil))
	}
	src.publish(f.Raw(cordon.BusDirtyReq, "cordon.dirty-req.in", []byte("injected garbage")))
	stop, sh := startShipper(t, f, src, store, nil)
	eventually(t, 10*time.Second, "all acked", func() bool { return src.acked() == 121 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if n, d := count(t, store, cordon.BusDirtyReq); n != 121 || d != 0 {
		t.Fatalf("%d records (%d duplicates), want 121", n, d)
	}
	st := sh.Stats()
	if st.Records != 121 || st.LastSeq != 121 || st.Copies == 0 {
		t.Fatalf("stats %+v", st)
	}
	if rep := f.Verify(); !rep.OK() {
		t.Fatalf("verify: %v", rep.Problems)
	}
}

// The process dies after the commit and before the ack: the restarted
// shipper gets the whole batch again and stores none of it twice.
func TestShipperKilledBetweenCommitAndAck(t *testing.T) {
	store := openSQLite(t)
	f := audittest.NewFixture(t, store, nil)
	src := &memSource{bus: cordon.BusCleanReq, ackWait: 100 * time.Millisecond, dropAcks: true}
	for range 75 {
		src.publish(f.Message(cordon.BusCleanReq, nil))
	}
	stop, _ := startShipper(t, f, src, store, nil)
	eventually(t, 10*time.Second, "first batches committed", func() bool { n, _ := count(t, store, cordon.BusCleanReq); return n == 75 })
	_ = stop()
	if src.acked() != 0 {
		t.Fatal("acks were supposed to be lost")
	}
	// Restart: everything is redelivered, skipped, and acked.
	src.mu.Lock()
	src.dropAcks = false
	src.mu.Unlock()
	_, sh := startShipper(t, f, src, store, nil)
	eventually(t, 10*time.Second, "redelivered batch acked", func() bool { return src.acked() == 75 })
	if sh.Stats().Redelivered == 0 || sh.Stats().Records != 0 {
		t.Fatalf("restarted shipper: %+v, want only redeliveries", sh.Stats())
	}
	// New traffic continues the log.
	for range 30 {
		src.publish(f.Message(cordon.BusCleanReq, nil))
	}
	eventually(t, 10*time.Second, "all acked after restart", func() bool { return src.acked() == 105 })
	if n, d := count(t, store, cordon.BusCleanReq); n != 105 || d != 0 {
		t.Fatalf("%d records (%d duplicates), want 105", n, d)
	}
	if rep := f.Verify(); !rep.OK() {
		t.Fatalf("verify: %v", rep.Problems)
	}
}

// flakyStore fails every write while down is set, like a database that is away.
type flakyStore struct {
	audit.Store
	mu   sync.Mutex
	down bool
	hits int
}

func (s *flakyStore) set(down bool) { s.mu.Lock(); s.down = down; s.mu.Unlock() }

// refused counts and returns the error of a store that is down (nil: up).
func (s *flakyStore) refused() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.down {
		return nil
	}
	s.hits++
	return errors.New("connection refused")
}

func (s *flakyStore) Append(ctx context.Context, recs []trail.Record, cp trail.Checkpoint) error {
	if err := s.refused(); err != nil {
		return err
	}
	return s.Store.Append(ctx, recs, cp)
}

// StoredTime fails while down as well: the shipper reads back what a
// redelivery claims to be.
func (s *flakyStore) StoredTime(ctx context.Context, b cordon.Bus, seq uint64) (time.Time, bool, error) {
	if err := s.refused(); err != nil {
		return time.Time{}, false, err
	}
	return s.Store.StoredTime(ctx, b, seq)
}

func (s *flakyStore) failures() int { s.mu.Lock(); defer s.mu.Unlock(); return s.hits }

func TestShipperRidesOutStoreOutage(t *testing.T) {
	base := openSQLite(t)
	store := &flakyStore{Store: base}
	f := audittest.NewFixture(t, base, nil)
	src := &memSource{bus: cordon.BusDirtyResp, ackWait: 50 * time.Millisecond}
	for range 40 {
		src.publish(f.Message(cordon.BusDirtyResp, nil))
	}
	store.set(true)
	_, sh := startShipper(t, f, src, store, nil)
	eventually(t, 10*time.Second, "retries while the store is down", func() bool { return store.failures() >= 3 })
	for range 40 { // traffic keeps flowing into the stream meanwhile
		src.publish(f.Message(cordon.BusDirtyResp, nil))
	}
	if src.acked() != 0 {
		t.Fatal("acked while nothing was committed")
	}
	store.set(false)
	eventually(t, 10*time.Second, "caught up", func() bool { return src.acked() == 80 })
	if n, d := count(t, base, cordon.BusDirtyResp); n != 80 || d != 0 {
		t.Fatalf("%d records (%d duplicates), want 80", n, d)
	}
	if sh.Stats().StoreErrors == 0 {
		t.Fatal("no store errors counted")
	}
	if rep := f.Verify(); !rep.OK() {
		t.Fatalf("verify: %v", rep.Problems)
	}
}

// Redeliveries that arrive while the store is away can be neither checked
// nor skipped: the shipper takes none of them, acks nothing, keeps running,
// and skips and acks them once the store is back.
func TestShipperChecksRedeliveriesAfterStoreOutage(t *testing.T) {
	base := openSQLite(t)
	store := &flakyStore{Store: base}
	f := audittest.NewFixture(t, base, nil)
	src := &memSource{bus: cordon.BusCleanReq, ackWait: 50 * time.Millisecond}
	var brs []cordon.BusRecord
	for range 5 {
		brs = append(brs, f.Message(cordon.BusCleanReq, nil))
	}
	f.Ship(brs...) // committed by a shipper that died before its ack
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sh, err := audit.NewShipper(audit.ShipperConfig{Source: src, Store: store, Capturer: f.Capturer, Signer: f.Signer})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- sh.Run(ctx) }()
	eventually(t, 10*time.Second, "started", func() bool { return sh.Stats().LastSeq == 5 })
	store.set(true)
	src.publish(brs...) // the redeliveries come while the store is away
	eventually(t, 10*time.Second, "read-backs refused", func() bool { return store.failures() >= 2 })
	if src.acked() != 0 {
		t.Fatal("acked redeliveries it could not check")
	}
	store.set(false)
	eventually(t, 10*time.Second, "redeliveries acked", func() bool { return src.acked() == 5 })
	select {
	case err := <-done:
		t.Fatalf("shipper stopped: %v", err)
	default:
	}
	if n, d := count(t, base, cordon.BusCleanReq); n != 5 || d != 0 {
		t.Fatalf("%d records (%d duplicates), want 5", n, d)
	}
	if sh.Stats().StoreErrors == 0 {
		t.Fatal("the refused read-backs were not counted as store errors")
	}
}

// A message removed from the stream never comes: after GapTimeout the
// shipper records the rest, and verify names the gap.
func TestShipperMovesOnAfterGap(t *testing.T) {
	store := openSQLite(t)
	f := audittest.NewFixture(t, store, nil)
	src := &memSource{bus: cordon.BusCleanResp, ackWait: time.Minute}
	for i := range 10 {
		if i == 4 {
			f.SkipSeq(cordon.BusCleanResp)
		}
		src.publish(f.Message(cordon.BusCleanResp, nil))
	}
	_, sh := startShipper(t, f, src, store, func(c *audit.ShipperConfig) { c.GapTimeout = 100 * time.Millisecond })
	eventually(t, 10*time.Second, "shipped past the gap", func() bool { return src.acked() == 11 })
	if sh.Stats().Gaps != 1 {
		t.Fatalf("gaps %d, want 1", sh.Stats().Gaps)
	}
	rep := f.Verify()
	if rep.OK() || rep.Problems[0].Kind != "gap" || rep.Problems[0].Seq != 5 {
		t.Fatalf("verify: %v, want the gap at seq 5", rep.Problems)
	}
}

// Two shippers on one bus (a misconfigured replica) never double a record.
func TestTwoShippersOneLog(t *testing.T) {
	store := openSQLite(t)
	f := audittest.NewFixture(t, store, nil)
	a := &memSource{bus: cordon.BusDirtyReq, ackWait: 100 * time.Millisecond}
	b := &memSource{bus: cordon.BusDirtyReq, ackWait: 100 * time.Millisecond}
	for range 200 {
		br := f.Message(cordon.BusDirtyReq, nil)
		a.publish(br)
		b.publish(br)
	}
	_, sa := startShipper(t, f, a, store, nil)
	_, sb := startShipper(t, f, b, store, func(c *audit.ShipperConfig) { c.BatchSize = 7 })
	deadline := time.Now().Add(20 * time.Second)
	for a.acked() != 200 || b.acked() != 200 {
		if time.Now().After(deadline) {
			t.Fatalf("not caught up: acked %d and %d; stats %+v and %+v", a.acked(), b.acked(), sa.Stats(), sb.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n, d := count(t, store, cordon.BusDirtyReq); n != 200 || d != 0 {
		t.Fatalf("%d records (%d duplicates), want 200", n, d)
	}
	if rep := f.Verify(); !rep.OK() {
		t.Fatalf("verify: %v", rep.Problems)
	}
}

func TestNewShipperChecksConfig(t *testing.T) {
	store := openSQLite(t)
	f := audittest.NewFixture(t, store, nil)
	src := &memSource{bus: cordon.BusDirtyReq}
	good := audit.ShipperConfig{Source: src, Store: store, Capturer: f.Capturer, Signer: f.Signer}
	cases := []struct {
		name string
		mod  func(*audit.ShipperConfig)
	}{
		{"no source", func(c *audit.ShipperConfig) { c.Source = nil }},
		{"no store", func(c *audit.ShipperConfig) { c.Store = nil }},
		{"no capturer", func(c *audit.ShipperConfig) { c.Capturer = nil }},
		{"no key", func(c *audit.ShipperConfig) { c.Signer = nil }},
		{"bad bus", func(c *audit.ShipperConfig) { c.Source = &memSource{bus: 9} }},
		{"huge batch", func(c *audit.ShipperConfig) { c.BatchSize = 1 << 20 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			tc.mod(&c)
			if _, err := audit.NewShipper(c); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	if _, err := audit.NewShipper(good); err != nil {
		t.Fatal(err)
	}
}

// A head signed by another audit key is not extended: someone swapped keys
// or rewrote the database, and a human must look.
func TestShipperRefusesForeignHead(t *testing.T) {
	store := openSQLite(t)
	f := audittest.NewFixture(t, store, nil)
	f.Ship(f.Message(cordon.BusDirtyReq, nil))
	other := audittest.NewFixture(t, store, nil)
	sh, err := audit.NewShipper(audit.ShipperConfig{Source: &memSource{bus: cordon.BusDirtyReq}, Store: store,
		Capturer: other.Capturer, Signer: other.Signer})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := sh.Run(ctx); err == nil || ctx.Err() != nil {
		t.Fatalf("shipper extended a head signed by another key (err %v)", err)
	}
}

// A stream that lost messages it had acknowledged (its host crashed before
// they reached the disk) hands their sequences to new messages, seconds
// later, within the clock slack: those are not redeliveries either, and
// the stored record's stream time tells them apart, in either store, while
// true redeliveries are still skipped and acked.
func TestShipperTellsRedeliveriesFromReusedSequences(t *testing.T) {
	stores := []struct {
		name string
		open func(t *testing.T) audit.Store
	}{
		{"sqlite", func(t *testing.T) audit.Store { return openSQLite(t) }},
		{"postgres", func(t *testing.T) audit.Store {
			prefix := testkit.PostgresRolePrefix(t) // dropped after the database
			return openPostgres(t, testkit.OpenPostgres(t), prefix)
		}},
	}
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			store := st.open(t)
			f := audittest.NewFixture(t, store, nil)
			first, second := f.Message(cordon.BusDirtyReq, nil), f.Message(cordon.BusDirtyReq, nil)
			f.Ship(first, second)

			redelivered := &memSource{bus: cordon.BusDirtyReq, ackWait: time.Minute}
			redelivered.publish(first, second)
			stop, sh := startShipper(t, f, redelivered, store, nil)
			eventually(t, 10*time.Second, "redeliveries acked", func() bool { return redelivered.acked() == 2 })
			if err := stop(); err != nil {
				t.Fatalf("true redeliveries: %v", err)
			}
			if st := sh.Stats(); st.Redelivered != 2 || st.Records != 0 {
				t.Fatalf("stats %+v, want 2 redeliveries and nothing stored", st)
			}

			reused := f.Message(cordon.BusDirtyReq, nil)
			reused.Seq, reused.Time = second.Seq, second.Time.Add(time.Second)
			src := &memSource{bus: cordon.BusDirtyReq, ackWait: time.Minute}
			src.publish(first, reused) // first is a true redelivery
			wantStreamReset(t, f, src, store)
			if src.acked() != 0 {
				t.Fatal("acked a message it did not store")
			}
		})
	}
}

// A stream recreated under the shipper starts its sequences again; those
// messages are not redeliveries and must not be skipped as such.
func TestShipperStopsOnStreamReset(t *testing.T) {
	store := openSQLite(t)
	f := audittest.NewFixture(t, store, nil)
	f.Ship(f.Message(cordon.BusDirtyReq, nil), f.Message(cordon.BusDirtyReq, nil))
	br := f.Message(cordon.BusDirtyReq, nil)
	br.Seq, br.Time = 1, br.Time.Add(time.Hour)
	src := &memSource{bus: cordon.BusDirtyReq, ackWait: time.Minute}
	src.publish(br)
	wantStreamReset(t, f, src, store)
	if src.acked() != 0 {
		t.Fatal("acked a message it did not store")
	}
}

// wantStreamReset runs a shipper on src until it stops, which must be with
// ErrStreamReset.
func wantStreamReset(t *testing.T, f *audittest.Fixture, src audit.Source, store audit.Writer) {
	t.Helper()
	sh, err := audit.NewShipper(audit.ShipperConfig{Source: src, Store: store, Capturer: f.Capturer, Signer: f.Signer,
		FetchWait: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = sh.Run(ctx)
	if !errors.Is(err, audit.ErrStreamReset) {
		t.Fatalf("Run: %v, want ErrStreamReset", err)
	}
	t.Logf("stopped: %v", err)
}
