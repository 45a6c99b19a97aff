package audit_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/audit"
	"github.com/cordon-gateway/cordon/audit/audittest"
	"github.com/cordon-gateway/cordon/audit/trail"
	"github.com/cordon-gateway/cordon/internal/testkit"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// startJetStream runs an embedded nats-server with JetStream on a random
// port and a temporary store, with one stream for bus b.
func startJetStream(t testing.TB, b cordon.Bus) (url string, js jetstream.JetStream) {
	t.Helper()
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true,
		StoreDir: t.TempDir(), NoSigs: true, NoLog: true, JetStreamMaxMemory: 64 << 20, JetStreamMaxStore: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(srv.Shutdown)
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	_, js = testkit.JetStream(t, srv.ClientURL())
	_, err = js.CreateStream(context.Background(), jetstream.StreamConfig{Name: "AUDIT_TEST",
		Subjects: []string{"cordon." + b.String() + ".>"}, Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatal(err)
	}
	return srv.ClientURL(), js
}

// jsSource implements audit.Source on a durable pull consumer with
// AckPolicy All, as the bus adapter does: it owns its connection, so
// closing it is the process dying.
type jsSource struct {
	bus  cordon.Bus
	nc   *nats.Conn
	cons jetstream.Consumer

	mu   sync.Mutex
	msgs map[uint64]jetstream.Msg // delivered, not yet acked, by stream sequence
}

func newJSSource(t testing.TB, url string, b cordon.Bus, ackWait time.Duration) *jsSource {
	t.Helper()
	nc, js := testkit.JetStream(t, url)
	cons, err := js.CreateOrUpdateConsumer(context.Background(), "AUDIT_TEST", jetstream.ConsumerConfig{
		Durable: "audit", AckPolicy: jetstream.AckAllPolicy, AckWait: ackWait, MaxDeliver: -1,
		DeliverPolicy: jetstream.DeliverAllPolicy, MaxAckPending: 10_000,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &jsSource{bus: b, nc: nc, cons: cons, msgs: map[uint64]jetstream.Msg{}}
}

func (s *jsSource) Bus() cordon.Bus { return s.bus }

func (s *jsSource) Fetch(ctx context.Context, max int, wait time.Duration) ([]cordon.BusRecord, error) {
	batch, err := s.cons.Fetch(max, jetstream.FetchMaxWait(wait))
	if err != nil {
		return nil, err
	}
	var out []cordon.BusRecord
	for m := range batch.Messages() {
		md, err := m.Metadata()
		if err != nil {
			return out, err
		}
		s.mu.Lock()
		s.msgs[md.Sequence.Stream] = m
		s.mu.Unlock()
		out = append(out, cordon.BusRecord{Bus: s.bus, Seq: md.Sequence.Stream, Subject: m.Subject(),
			Time: md.Timestamp, Data: m.Data()})
	}
	if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
		return out, err
	}
	return out, ctx.Err()
}

func (s *jsSource) Ack(ctx context.Context, last cordon.BusRecord) error {
	s.mu.Lock()
	m := s.msgs[last.Seq]
	for seq := range s.msgs {
		if seq <= last.Seq {
			delete(s.msgs, seq)
		}
	}
	s.mu.Unlock()
	if m == nil {
		return fmt.Errorf("ack of seq %d: not delivered here", last.Seq)
	}
	return m.DoubleAck(ctx) // AckAll: everything up to it
}

func publish(t testing.TB, js jetstream.JetStream, brs ...cordon.BusRecord) {
	t.Helper()
	for _, br := range brs {
		if _, err := js.Publish(context.Background(), br.Subject, br.Data); err != nil {
			t.Fatal(err)
		}
	}
}

// crashStore kills the shipper on the n-th write: before its commit
// (afterCommit false) or between commit and ack (true).
type crashStore struct {
	audit.Store
	n           int
	afterCommit bool
	kill        func()

	mu     sync.Mutex
	writes int
}

func (s *crashStore) Append(ctx context.Context, recs []trail.Record, cp trail.Checkpoint) error {
	s.mu.Lock()
	s.writes++
	crash := s.writes == s.n
	s.mu.Unlock()
	if !crash {
		return s.Store.Append(ctx, recs, cp)
	}
	if s.afterCommit {
		if err := s.Store.Append(ctx, recs, cp); err != nil {
			return err
		}
	}
	s.kill()
	return errors.New("killed")
}

// TestShipperOnJetStream kills the shipper mid-batch against a real
// JetStream consumer, before and after a commit, and restarts it on the
// same durable: JetStream redelivers, nothing is lost or doubled.
func TestShipperOnJetStream(t *testing.T) {
	for _, afterCommit := range []bool{false, true} {
		t.Run(fmt.Sprintf("killed after commit %v", afterCommit), func(t *testing.T) {
			b := cordon.BusDirtyReq
			url, js := startJetStream(t, b)
			store := openSQLite(t)
			f := audittest.NewFixture(t, store, nil)
			for range 300 {
				publish(t, js, f.Message(b, nil))
			}
			publish(t, js, f.Message(b, audittest.WithSecret))

			// First life: dies on its third write.
			src := newJSSource(t, url, b, time.Second)
			ctx, cancel := context.WithCancel(context.Background())
			cs := &crashStore{Store: store, n: 3, afterCommit: afterCommit, kill: func() { cancel(); src.nc.Close() }}
			sh, err := audit.NewShipper(audit.ShipperConfig{Source: src, Store: cs, Capturer: f.Capturer,
				Signer: f.Signer, CheckpointDir: f.Dir, BatchSize: 50, FetchWait: 50 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			if err := sh.Run(ctx); err != nil {
				t.Fatal(err)
			}
			want := 100
			if afterCommit {
				want = 150
			}
			if n, _ := count(t, store, b); n != want {
				t.Fatalf("first life stored %d, want %d", n, want)
			}

			// Second life, new connection, same durable; traffic goes on.
			for range 50 {
				publish(t, js, f.Message(b, nil))
			}
			src2 := newJSSource(t, url, b, time.Second)
			_, sh2 := startShipper(t, f, src2, store, func(c *audit.ShipperConfig) { c.FetchWait = 50 * time.Millisecond })
			eventually(t, 30*time.Second, "second life caught up", func() bool { return sh2.Stats().LastSeq == 351 })
			if n, d := count(t, store, b); n != 351 || d != 0 {
				t.Fatalf("%d records (%d duplicates), want 351", n, d)
			}
			info, err := src2.cons.Info(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			eventually(t, 10*time.Second, "consumer fully acked", func() bool {
				info, err = src2.cons.Info(context.Background())
				return err == nil && info.AckFloor.Stream == 351
			})
			if rep := f.Verify(); !rep.OK() {
				t.Fatalf("verify: %v", rep.Problems)
			}
		})
	}
}

// A stream deleted and created again under the same name, seconds later,
// numbers its messages from 1 again. The shipper's log already holds those
// sequences, for other messages: it must stop (ErrStreamReset) rather than
// skip the new ones as redeliveries, within the five minutes of clock slack
// too. The same happens when a server loses messages it had acknowledged.
func TestShipperStopsWhenTheStreamIsRecreated(t *testing.T) {
	b := cordon.BusDirtyReq
	url, js := startJetStream(t, b)
	store := openSQLite(t)
	f := audittest.NewFixture(t, store, nil)
	for range 20 {
		publish(t, js, f.Message(b, nil))
	}
	stop, sh := startShipper(t, f, newJSSource(t, url, b, time.Second), store,
		func(c *audit.ShipperConfig) { c.FetchWait = 50 * time.Millisecond })
	eventually(t, 10*time.Second, "first stream shipped", func() bool { return sh.Stats().LastSeq == 20 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	ctx := context.Background()
	cfg, err := js.Stream(ctx, "AUDIT_TEST")
	if err != nil {
		t.Fatal(err)
	}
	if err := js.DeleteStream(ctx, "AUDIT_TEST"); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, cfg.CachedInfo().Config); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		publish(t, js, f.Message(b, nil))
	}
	wantStreamReset(t, f, newJSSource(t, url, b, time.Second), store)
	if n, _ := count(t, store, b); n != 20 {
		t.Fatalf("store holds %d records, want the first stream's 20", n)
	}
}
