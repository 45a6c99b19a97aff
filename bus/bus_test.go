package bus_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/bus"
	"github.com/cordon-gateway/cordon/embednats"
	"github.com/cordon-gateway/cordon/envelope"
	"github.com/cordon-gateway/cordon/internal/testkit"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type harness struct {
	js   jetstream.JetStream
	nc   *nats.Conn
	subj bus.Subjects
	met  *bus.Metrics
}

// newHarness starts a bus with bus 2's stream: the request validator
// publishes, the backend consumes.
func newHarness(t *testing.T) *harness {
	t.Helper()
	srv := testkit.StartBus(t, "test-clean-req")
	nc, js := testkit.JetStream(t, srv.ClientURL())
	subj, _ := bus.NewSubjects("cordon")
	err := bus.Provision(context.Background(), js, subj, cordon.BusCleanReq, bus.StreamSpec{
		MaxBytes: 64 << 20, Timeout: 5 * time.Second, Reader: bus.ConsumerBackend, Audit: true, Ledger: true})
	if err != nil {
		t.Fatal(err)
	}
	return &harness{js: js, nc: nc, subj: subj, met: bus.NewMetrics(nil)}
}

func request(deadline time.Time) *cordon.Message {
	return &cordon.Message{
		ID: cordon.NewRequestID(time.Now()), Deadline: deadline, ReplyTo: "fe1",
		Request: cordon.RequestHead{Method: "POST", Path: "/payments"},
		Body:    []byte(`{"amount":1}`),
	}
}

// consume runs the backend's consumer until the test ends and returns what
// the handler saw.
func (h *harness) consume(t *testing.T, v *envelope.Verifier, fn bus.Handler) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = bus.Consume(ctx, h.js, bus.ConsumerConfig{
			Bus: cordon.BusCleanReq, Stream: h.subj.Stream(cordon.BusCleanReq), Consumer: bus.ConsumerBackend,
			Verifier: v, Workers: 4, Logger: quiet, Metrics: h.met,
		}, fn)
	}()
	t.Cleanup(func() { cancel(); <-done })
}

func TestConsumeAcceptsOnlyTheExpectedProducer(t *testing.T) {
	h := newHarness(t)
	rv := testkit.Signer(t, cordon.StageRequestValidator)
	v, _ := envelope.NewVerifier(cordon.StageRequestValidator, rv.Public())

	var mu sync.Mutex
	var seen []cordon.RequestID
	h.consume(t, v, func(_ context.Context, m *cordon.Message, _ int) error {
		mu.Lock()
		seen = append(seen, m.ID)
		mu.Unlock()
		return nil
	})

	good := request(time.Now().Add(time.Minute))
	forger := testkit.Signer(t, cordon.StageRequestValidator) // right stage, wrong key
	frontendKey := testkit.Signer(t, cordon.StageFrontend)

	raw := func(m *cordon.Message, s *envelope.Signer) []byte {
		b, err := envelope.Seal(nil, m, s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	altered := raw(request(time.Now().Add(time.Minute)), rv)
	altered[len(altered)-2] ^= 1 // flip a body bit after signing

	forged := map[string][]byte{
		"no signature":   []byte("not an envelope at all"),
		"wrong key":      raw(request(time.Now().Add(time.Minute)), forger),
		"wrong producer": raw(request(time.Now().Add(time.Minute)), frontendKey),
		"altered body":   altered,
		"expired":        raw(request(time.Now().Add(-time.Second)), rv),
	}
	for name, data := range forged {
		if _, err := h.js.Publish(context.Background(), h.subj.In(cordon.BusCleanReq), data); err != nil {
			t.Fatalf("%s: publish: %v", name, err)
		}
	}
	pub := bus.NewInPublisher(h.js, h.subj, cordon.BusCleanReq, rv, h.met)
	if err := pub.Send(context.Background(), good); err != nil {
		t.Fatal(err)
	}

	testkit.Eventually(t, 5*time.Second, func() bool {
		refused := testutil.ToFloat64(h.met.Refused.WithLabelValues("clean-req", "unknown-key")) +
			testutil.ToFloat64(h.met.Refused.WithLabelValues("clean-req", "wrong-stage")) +
			testutil.ToFloat64(h.met.Refused.WithLabelValues("clean-req", "bad-signature")) +
			testutil.ToFloat64(h.met.Refused.WithLabelValues("clean-req", "malformed"))
		expired := testutil.ToFloat64(h.met.Expired.WithLabelValues("clean-req"))
		return refused == 4 && expired == 1
	}, "four forged messages refused and one expired")
	testkit.Eventually(t, 5*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == 1
	}, "the good message handled")
	mu.Lock()
	defer mu.Unlock()
	if seen[0] != good.ID {
		t.Fatalf("handled %s, want only the rightful message %s", seen[0], good.ID)
	}
}

func TestRedeliveryIsStoredOnceDownstream(t *testing.T) {
	h := newHarness(t)
	rv := testkit.Signer(t, cordon.StageRequestValidator)
	m := request(time.Now().Add(time.Minute))
	pub := bus.NewInPublisher(h.js, h.subj, cordon.BusCleanReq, rv, h.met)
	// The same stage publishing the same request twice (a crash between
	// its output's publish ack and its input's ack) stores one message.
	for range 2 {
		if err := pub.Send(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	st, err := h.js.Stream(context.Background(), h.subj.Stream(cordon.BusCleanReq))
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 {
		t.Fatalf("stream holds %d messages, want 1", info.State.Msgs)
	}
	if got := testutil.ToFloat64(h.met.Published.WithLabelValues("clean-req", "duplicate")); got != 1 {
		t.Fatalf("duplicates counted %v, want 1", got)
	}
}

func TestRetryableErrorsAreRedeliveredAndFinalOnesGiveUp(t *testing.T) {
	h := newHarness(t)
	rv := testkit.Signer(t, cordon.StageRequestValidator)
	v, _ := envelope.NewVerifier(cordon.StageRequestValidator, rv.Public())
	var attempts atomic.Int32
	gaveUp := make(chan cordon.RequestID, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = bus.Consume(ctx, h.js, bus.ConsumerConfig{
			Bus: cordon.BusCleanReq, Stream: h.subj.Stream(cordon.BusCleanReq), Consumer: bus.ConsumerBackend,
			Verifier: v, Workers: 2, Logger: quiet, Metrics: h.met,
			GiveUp: func(_ context.Context, m *cordon.Message, _ error) { gaveUp <- m.ID },
		}, func(_ context.Context, m *cordon.Message, attempt int) error {
			attempts.Store(int32(attempt))
			return &cordon.Error{Op: "test", Kind: cordon.KindUnavailable, Err: errors.New("poison")}
		})
	}()
	t.Cleanup(func() { cancel(); <-done })
	m := request(time.Now().Add(time.Minute))
	if err := bus.NewInPublisher(h.js, h.subj, cordon.BusCleanReq, rv, h.met).Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-gaveUp:
		if id != m.ID {
			t.Fatalf("gave up on %s, want %s", id, m.ID)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("no give-up after %d attempts", attempts.Load())
	}
	if got := attempts.Load(); got != bus.MaxDeliver {
		t.Fatalf("attempts %d, want %d", got, bus.MaxDeliver)
	}
}

func TestLedgerClaimsOnce(t *testing.T) {
	h := newHarness(t)
	l, err := bus.NewLedger(context.Background(), h.js, h.subj)
	if err != nil {
		t.Fatal(err)
	}
	id := cordon.NewRequestID(time.Now())
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			first, err := l.Claim(context.Background(), id)
			if err != nil {
				t.Error(err)
			}
			if first {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d claims won, want exactly 1", wins.Load())
	}
}

func TestTapReadsEverySubjectInOrderAndAcksAll(t *testing.T) {
	h := newHarness(t)
	rv := testkit.Signer(t, cordon.StageRequestValidator)
	pub := bus.NewInPublisher(h.js, h.subj, cordon.BusCleanReq, rv, h.met)
	var ids []cordon.RequestID
	for range 5 {
		m := request(time.Now().Add(time.Minute))
		ids = append(ids, m.ID)
		if err := pub.Send(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	tap, err := bus.NewTap(context.Background(), h.js, h.subj, cordon.BusCleanReq)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := tap.Fetch(context.Background(), 10, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 5 {
		t.Fatalf("fetched %d records, want 5", len(recs))
	}
	for i, r := range recs {
		m, _, err := envelope.Parse(r.Data)
		if err != nil || m.ID != ids[i] || r.Seq != uint64(i+1) || r.Bus != cordon.BusCleanReq {
			t.Fatalf("record %d: seq %d id %v err %v", i, r.Seq, m, err)
		}
	}
	if err := tap.Ack(context.Background(), recs[len(recs)-1]); err != nil {
		t.Fatal(err)
	}
	cons, _ := h.js.Consumer(context.Background(), h.subj.Stream(cordon.BusCleanReq), bus.ConsumerAudit)
	info, _ := cons.Info(context.Background())
	if info.AckFloor.Stream != 5 || info.NumAckPending != 0 {
		t.Fatalf("ack floor %d, pending %d; want 5 and 0", info.AckFloor.Stream, info.NumAckPending)
	}
}

func TestOversizedMessageIsAFinalError(t *testing.T) {
	h := newHarness(t)
	rv := testkit.Signer(t, cordon.StageRequestValidator)
	m := request(time.Now().Add(time.Minute))
	m.Body = make([]byte, 17<<20) // over the servers' 16 MiB max payload
	err := bus.NewInPublisher(h.js, h.subj, cordon.BusCleanReq, rv, h.met).Send(context.Background(), m)
	if cordon.KindOf(err) != cordon.KindTooLarge {
		t.Fatalf("error %v (kind %s), want too-large: retrying cannot make it fit", err, cordon.KindOf(err))
	}
}

// TestFinalRecordsReachOnlyTheAudit: the frontend's terminal record is
// stored on bus 1's final subject under its own dedupe id even though its
// deadline has passed; the request validator's durable (filtered on ".in")
// never sees it, the audit consumer does, and with interest retention it
// leaves the stream once the audit acknowledged it.
func TestFinalRecordsReachOnlyTheAudit(t *testing.T) {
	ctx := context.Background()
	srv := testkit.StartBus(t, "test-dirty-req")
	_, js := testkit.JetStream(t, srv.ClientURL())
	subj, _ := bus.NewSubjects("cordon")
	b := cordon.BusDirtyReq
	if err := bus.Provision(ctx, js, subj, b, bus.StreamSpec{MaxBytes: 64 << 20, Timeout: 5 * time.Second,
		Reader: bus.ConsumerRequestValidator, Audit: true}); err != nil {
		t.Fatal(err)
	}
	met := bus.NewMetrics(nil)
	fe := testkit.Signer(t, cordon.StageFrontend)
	pub := bus.NewInPublisher(js, subj, b, fe, met)

	m := request(time.Now().Add(time.Minute))
	if err := pub.Send(ctx, m); err != nil {
		t.Fatal(err)
	}
	final := &cordon.Message{ID: m.ID, Deadline: time.Now().Add(-time.Second), ReplyTo: "fe1",
		Request:  cordon.RequestHead{Method: m.Request.Method, Path: m.Request.Path},
		Response: &cordon.ResponseHead{Status: 504}, Outcome: cordon.Outcome{Kind: cordon.KindExpired, Rule: "deadline"}}
	for range 2 { // a retried terminal record is stored once
		if err := pub.SendFinal(ctx, final); err != nil {
			t.Fatalf("terminal record with a past deadline: %v", err)
		}
	}
	if got := testutil.ToFloat64(met.Published.WithLabelValues("dirty-req", "duplicate")); got != 1 {
		t.Fatalf("duplicate terminal records counted %v, want 1", got)
	}

	rv, err := js.Consumer(ctx, subj.Stream(b), bus.ConsumerRequestValidator)
	if err != nil {
		t.Fatal(err)
	}
	if info, err := rv.Info(ctx); err != nil || info.Config.FilterSubject != subj.In(b) || info.NumPending != 1 {
		t.Fatalf("request validator consumer: filter %q, pending %d (%v); want %q and only the request",
			info.Config.FilterSubject, info.NumPending, err, subj.In(b))
	}
	batch, err := rv.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for msg := range batch.Messages() {
		if msg.Subject() != subj.In(b) {
			t.Fatalf("request validator read %s", msg.Subject())
		}
		if err := msg.DoubleAck(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if info, _ := rv.Info(ctx); info.NumPending != 0 || info.NumAckPending != 0 {
		t.Fatalf("request validator: %d pending, %d unacked after reading the request", info.NumPending, info.NumAckPending)
	}

	tap, err := bus.NewTap(ctx, js, subj, b)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := tap.Fetch(ctx, 10, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].Subject != subj.In(b) || recs[1].Subject != subj.Final(b) {
		t.Fatalf("audit read %d records %v, want the request then its terminal record", len(recs), recs)
	}
	got, _, err := envelope.Parse(recs[1].Data)
	if err != nil || got.ID != m.ID || got.Producer != cordon.StageFrontend || got.Response == nil ||
		got.Response.Status != 504 || got.Outcome.Rule != "deadline" {
		t.Fatalf("terminal record %+v (%v)", got, err)
	}
	st, _ := js.Stream(ctx, subj.Stream(b))
	raw, err := st.GetMsg(ctx, recs[1].Seq)
	if err != nil || raw.Header.Get(bus.HeaderMsgID) != bus.FinalMsgID(m.ID, cordon.StageFrontend) ||
		raw.Header.Get(bus.HeaderMsgID) != m.ID.String()+".frontend-final" {
		t.Fatalf("terminal record's dedupe id %q (%v)", raw.Header.Get(bus.HeaderMsgID), err)
	}
	if err := tap.Ack(ctx, recs[1]); err != nil {
		t.Fatal(err)
	}
	if info, err := st.Info(ctx); err != nil || info.State.Msgs != 0 {
		t.Fatalf("stream holds %d messages after every interested consumer acked (%v), want 0", info.State.Msgs, err)
	}
}

func TestOnlyBus1HasTerminalRecords(t *testing.T) {
	h := newHarness(t)
	rv := testkit.Signer(t, cordon.StageRequestValidator)
	m := request(time.Now().Add(time.Minute))
	for name, p := range map[string]*bus.Publisher{
		"bus 2 input": bus.NewInPublisher(h.js, h.subj, cordon.BusCleanReq, rv, h.met),
		"bus 1 reply": bus.NewReplyPublisher(h.js, h.subj, cordon.BusDirtyReq, rv, h.met),
	} {
		if err := p.SendFinal(context.Background(), m); cordon.KindOf(err) != cordon.KindInternal {
			t.Errorf("%s: SendFinal = %v, want an internal error", name, err)
		}
	}
}

// A terminal record published while the frontend's connection is away
// (it buffers nothing: ReconnectBufSize -1) is retried and stored once
// the server is back within the record's time bound. Found by the chaos
// suite: "outbound buffer limit exceeded" was not retried, and every
// terminal record of a bus-1 outage was lost.
func TestFinalRecordSurvivesAServerRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	srv, err := embednats.Start(embednats.Config{Name: "test-dirty-req", StoreDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	url := srv.ClientURL()
	port, err := strconv.Atoi(url[strings.LastIndexByte(url, ':')+1:])
	if err != nil {
		t.Fatal(err)
	}
	nc, err := bus.Connect(ctx, bus.ConnConfig{URL: url, Name: "frontend@dirty-req"}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	subj, _ := bus.NewSubjects("cordon")
	b := cordon.BusDirtyReq
	if err := bus.Provision(ctx, js, subj, b, bus.StreamSpec{MaxBytes: 64 << 20, Timeout: 5 * time.Second,
		Reader: bus.ConsumerRequestValidator, Audit: true}); err != nil {
		t.Fatal(err)
	}
	pub := bus.NewInPublisher(js, subj, b, testkit.Signer(t, cordon.StageFrontend), bus.NewMetrics(nil))

	srv.Shutdown()
	testkit.Eventually(t, 5*time.Second, func() bool { return !nc.IsConnected() }, "client still connected")
	final := &cordon.Message{ID: cordon.NewRequestID(time.Now()), Deadline: time.Now(), ReplyTo: "fe1",
		Response: &cordon.ResponseHead{Status: 503}, Outcome: cordon.Outcome{Kind: cordon.KindUnavailable, Rule: "bus.dirty-req"}}
	done := make(chan error, 1)
	go func() {
		fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		done <- pub.SendFinal(fctx, final)
	}()
	time.Sleep(300 * time.Millisecond) // the record's first attempts fail: nobody is there
	srv2, err := embednats.Start(embednats.Config{Name: "test-dirty-req", StoreDir: dir, Port: port})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv2.Shutdown)
	if err := <-done; err != nil {
		t.Fatalf("terminal record lost across a restart: %v", err)
	}
	s, err := js.Stream(ctx, subj.Stream(b))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetLastMsgForSubject(ctx, subj.Final(b)); err != nil {
		t.Fatalf("terminal record not in the stream: %v", err)
	}
}

// A connection without a server URL is refused: nats.go would otherwise
// connect to whatever listens on its default, 127.0.0.1:4222.
func TestConnectWithoutURLIsRefused(t *testing.T) {
	t.Setenv("NATS_URL", "")
	nc, err := bus.Connect(context.Background(), bus.ConnConfig{Name: "frontend@dirty-req"}, quiet)
	if err == nil {
		nc.Close()
		t.Fatal("connected without a URL")
	}
	if !strings.Contains(err.Error(), "no server URL") {
		t.Fatalf("error %q does not say why", err)
	}
}

// The stream's dedupe window and the ledger's memory follow the deadline:
// long enough for every re-publish before it, no longer (each remembered
// id costs the server memory).
func TestDedupeWindowFollowsTheDeadline(t *testing.T) {
	for _, tc := range []struct{ timeout, want time.Duration }{
		{5 * time.Second, 30 * time.Second},
		{30 * time.Second, time.Minute},
		{2 * time.Minute, 4 * time.Minute},
	} {
		if got := bus.DedupeWindow(tc.timeout); got != tc.want {
			t.Errorf("DedupeWindow(%v) = %v, want %v", tc.timeout, got, tc.want)
		}
	}
	h := newHarness(t) // provisioned with a 5s deadline
	ctx := context.Background()
	st, err := h.js.Stream(ctx, h.subj.Stream(cordon.BusCleanReq))
	if err != nil {
		t.Fatal(err)
	}
	if d := st.CachedInfo().Config.Duplicates; d != 30*time.Second {
		t.Errorf("stream duplicate window %v, want 30s", d)
	}
	kv, err := h.js.KeyValue(ctx, h.subj.LedgerBucket())
	if err != nil {
		t.Fatal(err)
	}
	s, err := kv.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s.TTL() != 30*time.Second {
		t.Errorf("ledger TTL %v, want 30s", s.TTL())
	}
}
