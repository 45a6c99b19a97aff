package audittest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/audit"
	"github.com/cordon-gateway/cordon/audit/trail"
)

// Tamperer changes a store as a superuser of its database could: around
// the append-only triggers (disabled or bypassed) and any privilege.
type Tamperer interface {
	// ReplaceRecord removes the record (b, seq) and stores r in its place.
	ReplaceRecord(t testing.TB, b cordon.Bus, seq uint64, r trail.Record)
	DeleteRecord(t testing.TB, b cordon.Bus, seq uint64)
	InsertRecord(t testing.TB, r trail.Record)
	TruncateRecords(t testing.TB)
	// DropPartition removes every record of the partition holding month.
	DropPartition(t testing.TB, month time.Time)
	// DeleteCheckpoints removes bus b's checkpoints of size >= from.
	DeleteCheckpoints(t testing.TB, b cordon.Bus, from uint64)
	InsertCheckpoint(t testing.TB, cp trail.Checkpoint)

	// The append-only guarantee: each must fail, as any role would,
	// without disabling anything.
	TryUpdate(b cordon.Bus, seq uint64) error
	TryDelete(b cordon.Bus, seq uint64) error
	TryTruncate() error
}

// Harness plugs a store into the suite.
type Harness struct {
	// Open returns a fresh, migrated, empty store and a tamperer for it;
	// both are cleaned up by the test.
	Open func(t *testing.T) (audit.Store, Tamperer)
}

// Run runs the conformance suite.
func Run(t *testing.T, h Harness) {
	fixture := func(t *testing.T) *Fixture {
		t.Helper()
		s, tm := h.Open(t)
		return NewFixture(t, s, tm)
	}
	t.Run("RoundTrip", func(t *testing.T) { testRoundTrip(t, fixture(t)) })
	t.Run("AppendOnly", func(t *testing.T) { testAppendOnly(t, fixture(t)) })
	t.Run("IdempotentRedelivery", func(t *testing.T) { testRedelivery(t, fixture(t)) })
	t.Run("ConcurrentWriters", func(t *testing.T) { testConcurrentWriters(t, fixture(t)) })
	t.Run("VerifyIntact", func(t *testing.T) { testVerifyIntact(t, fixture(t)) })
	t.Run("GapDetected", func(t *testing.T) { testGap(t, fixture(t)) })
	t.Run("Search", func(t *testing.T) { testSearch(t, fixture(t)) })
	t.Run("Retention", func(t *testing.T) { testRetention(t, fixture(t)) })
	for _, tc := range tamperCases {
		t.Run("Tamper/"+tc.name, func(t *testing.T) { testTamper(t, fixture(t), tc) })
	}
}

func ctx() context.Context { return context.Background() }

func testRoundTrip(t *testing.T, f *Fixture) {
	brs := []cordon.BusRecord{
		f.Message(cordon.BusDirtyReq, nil),
		f.Message(cordon.BusDirtyReq, WithSecret),
		f.Message(cordon.BusDirtyReq, func(m *cordon.Message) { m.Body = nil }),
		f.Message(cordon.BusDirtyReq, func(m *cordon.Message) { m.Request.Path = "/a\x00b\xff"; m.Request.RawQuery = "api_key=abc&x=1" }),
		f.Message(cordon.BusDirtyReq, func(m *cordon.Message) { m.Deadline = time.Unix(0, 0) }),
		f.Message(cordon.BusDirtyReq, func(m *cordon.Message) {
			m.Outcome = cordon.Outcome{Kind: cordon.KindDenied, Rule: "request.auth", Pointer: "/h"}
			m.Verdict = cordon.Verdict{PolicyVersion: "v7", Findings: []cordon.Finding{{Stage: cordon.StageRequestValidator,
				Rule: "request.auth", Action: cordon.ActionBlock, Detail: "no key"}}}
		}),
		f.Message(cordon.BusDirtyReq, func(m *cordon.Message) { m.Body = []byte("card 4111 1111 1111 1111 end") }),
		f.Raw(cordon.BusDirtyReq, "cordon.dirty-req.in", []byte("garbage, not an envelope")),
	}
	// A message signed by the wrong stage's key (injected by a peer).
	forged := f.Message(cordon.BusDirtyReq, nil)
	f.seqs[cordon.BusDirtyReq]--
	f.Now = f.Now.Add(-time.Second)
	forged = f.Raw(cordon.BusDirtyReq, "cordon.dirty-req.in", sealAs(t, f, cordon.StageBackend))
	brs = append(brs, forged)
	f.Ship(brs...)

	got := f.All(cordon.BusDirtyReq)
	want := f.Records(brs...)
	if len(got) != len(want) {
		t.Fatalf("stored %d records, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Leaf != want[i].ComputeLeaf() || got[i].ComputeLeaf() != got[i].Leaf {
			t.Errorf("record %d does not read back byte for byte", want[i].Seq)
		}
	}
	checks := []struct {
		name string
		ok   bool
	}{
		{"plain message verified, envelope kept", got[0].Sig == trail.SigVerified && got[0].Envelope != nil},
		{"credential masked, envelope dropped", !strings.Contains(got[1].ReqHeader, "s3cr3t") && got[1].Masked > 0 && got[1].Envelope == nil},
		{"empty body stored empty", got[2].Body != nil && len(got[2].Body) == 0 && got[2].BodyLen == 0},
		{"NUL and invalid UTF-8 stored", strings.Contains(got[3].Path, "\uFFFD")},
		{"credential parameter masked", !strings.Contains(got[3].Query, "abc") && strings.Contains(got[3].Query, "x=1")},
		{"expired recorded", got[4].Expired},
		{"outcome and findings recorded", got[5].Outcome == cordon.KindDenied && strings.Contains(got[5].Findings, "request.auth")},
		{"card number redacted", !bytes.Contains(got[6].Body, []byte("4111 1111 1111 1111")) && got[6].Envelope == nil},
		{"garbage recorded as malformed", got[7].Sig == trail.SigMalformed && got[7].EnvelopeLen > 0},
		{"wrong producer recorded as refused", got[8].Sig.Refused()},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: failed", c.name)
		}
	}
	if rep := f.Verify(); !rep.OK() {
		t.Fatalf("verify after round trip: %v", rep.Problems)
	}
}

// sealAs seals a dirty-req message with another stage's key.
func sealAs(t *testing.T, f *Fixture, st cordon.Stage) []byte {
	t.Helper()
	saved := f.Stages[cordon.StageFrontend]
	f.Stages[cordon.StageFrontend] = f.Stages[st]
	defer func() { f.Stages[cordon.StageFrontend] = saved }()
	br := f.Message(cordon.BusDirtyReq, nil)
	f.seqs[cordon.BusDirtyReq]--
	f.Now = f.Now.Add(-time.Second)
	return br.Data
}

func testAppendOnly(t *testing.T, f *Fixture) {
	f.Ship(f.Message(cordon.BusCleanReq, nil), f.Message(cordon.BusCleanReq, nil))
	tries := []struct {
		name string
		err  error
	}{
		{"update", f.Tamper.TryUpdate(cordon.BusCleanReq, 1)},
		{"delete", f.Tamper.TryDelete(cordon.BusCleanReq, 1)},
		{"truncate", f.Tamper.TryTruncate()},
	}
	for _, tr := range tries {
		if tr.err == nil {
			t.Errorf("%s succeeded on an append-only store", tr.name)
		}
	}
	if n := len(f.All(cordon.BusCleanReq)); n != 2 {
		t.Fatalf("%d records after refused changes, want 2", n)
	}
}

func testRedelivery(t *testing.T, f *Fixture) {
	b := cordon.BusDirtyResp
	batch := []cordon.BusRecord{f.Message(b, nil), f.Message(b, nil), f.Message(b, nil)}
	head0, _ := f.Store.Head(ctx(), b)
	f.Ship(batch...)
	// The same batch again, as a restarted shipper that missed the commit would build it.
	l, err := audit.NewLog(head0, f.Signer)
	if err != nil {
		t.Fatal(err)
	}
	recs := f.Records(batch...)
	cp, err := l.Next(recs)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Store.Append(ctx(), recs, cp); !errors.Is(err, trail.ErrConflict) {
		t.Fatalf("redelivered batch: err %v, want ErrConflict", err)
	}
	// Overlapping: one old record and one new.
	next := f.Message(b, nil)
	recs = f.Records(batch[2], next)
	l2, _ := audit.NewLog(mustHead(t, f, b), f.Signer)
	if _, err := l2.Next(recs); err == nil {
		t.Fatal("a log accepted a sequence at or below its head")
	}
	if err := f.Store.Append(ctx(), recs[1:], mustNext(t, l, recs[1:])); !errors.Is(err, trail.ErrConflict) {
		t.Fatalf("stale head: err %v, want ErrConflict", err)
	}
	f.Ship(next)
	if n := len(f.All(b)); n != 4 {
		t.Fatalf("%d records, want 4: a redelivery doubled or lost something", n)
	}
	if rep := f.Verify(); !rep.OK() {
		t.Fatalf("verify: %v", rep.Problems)
	}
}

func mustHead(t *testing.T, f *Fixture, b cordon.Bus) trail.Checkpoint {
	t.Helper()
	h, err := f.Store.Head(ctx(), b)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func mustNext(t *testing.T, l *audit.Log, recs []trail.Record) trail.Checkpoint {
	t.Helper()
	cp, err := l.Next(recs)
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

func testConcurrentWriters(t *testing.T, f *Fixture) {
	b := cordon.BusCleanResp
	f.Ship(f.Message(b, nil))
	head := mustHead(t, f, b)
	// Two writers on the same head with different next records: one wins.
	m1, m2 := f.Message(b, nil), f.Message(b, nil)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, batch := range [][]cordon.BusRecord{{m1}, {m1, m2}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := audit.NewLog(head, f.Signer)
			if err != nil {
				errs[i] = err
				return
			}
			recs := f.Records(batch...)
			cp, err := l.Next(recs)
			if err != nil {
				errs[i] = err
				return
			}
			errs[i] = f.Store.Append(ctx(), recs, cp)
		}()
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case errors.Is(err, trail.ErrConflict):
		default:
			t.Fatalf("writer failed: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d writers won, want exactly 1 (errors %v)", won, errs)
	}
	if rep := f.VerifyWith(audit.VerifyOptions{}); !rep.OK() {
		t.Fatalf("verify: %v", rep.Problems)
	}
}

func testVerifyIntact(t *testing.T, f *Fixture) {
	for _, b := range cordon.Buses {
		for range 3 {
			f.Ship(f.Message(b, nil), f.Message(b, WithSecret), f.Message(b, nil))
		}
	}
	rep := f.Verify()
	if !rep.OK() {
		t.Fatalf("intact store fails verification: %v", rep.Problems)
	}
	for _, br := range rep.Buses {
		if br.Records != 9 || br.Checkpoints != 3 || br.External != 3 || br.Reverified != 6 || br.Attested != 3 {
			t.Errorf("%s: report %+v", br.Bus, br)
		}
	}
	// The wrong audit key is noticed.
	other := NewFixture(t, f.Store, f.Tamper)
	rep = other.VerifyWith(audit.VerifyOptions{})
	if rep.OK() {
		t.Fatal("checkpoints verified under another audit key")
	}
}

func testGap(t *testing.T, f *Fixture) {
	b := cordon.BusDirtyReq
	f.Ship(f.Message(b, nil), f.Message(b, nil), f.Message(b, nil))
	f.SkipSeq(b) // seq 4 never reached the audit (removed from the stream)
	f.Ship(f.Message(b, nil), f.Message(b, nil))
	rep := f.Verify()
	p := firstProblem(t, rep)
	if p.Kind != "gap" || p.Seq != 4 {
		t.Fatalf("first problem %v, want a gap at seq 4", p)
	}
}

func firstProblem(t *testing.T, rep *audit.Report) audit.Problem {
	t.Helper()
	if rep.OK() {
		t.Fatal("verify found nothing wrong")
	}
	return rep.Problems[0]
}

func testSearch(t *testing.T, f *Fixture) {
	var id cordon.RequestID
	f.Ship(f.Message(cordon.BusDirtyReq, func(m *cordon.Message) { id = m.ID }), f.Message(cordon.BusDirtyReq, nil))
	f.Ship(f.Message(cordon.BusDirtyReq, func(m *cordon.Message) {
		m.ID = id
		m.Request.Operation = "shop/createOrder"
		m.Outcome = cordon.Outcome{Kind: cordon.KindInvalid, Rule: "request.body.schema"}
		m.Verdict.Findings = []cordon.Finding{{Stage: cordon.StageRequestValidator, Rule: "request.body_schema%", Action: cordon.ActionBlock}}
	}))
	f.Ship(f.Message(cordon.BusCleanResp, func(m *cordon.Message) { m.ID = id; m.Response.Status = 404; m.Request.Path = "/orders/7" }))
	yes, no := true, false
	invalid := cordon.KindInvalid
	cases := []struct {
		name string
		f    trail.Filter
		want int
	}{
		{"all", trail.Filter{}, 4},
		{"request id", trail.Filter{RequestID: id}, 3},
		{"bus", trail.Filter{Bus: cordon.BusCleanResp}, 1},
		{"operation", trail.Filter{Operation: "shop/createOrder"}, 1},
		{"path exact", trail.Filter{Path: "/orders"}, 3},
		{"path prefix", trail.Filter{Path: "/orders/*"}, 1},
		{"status", trail.Filter{Status: 404}, 1},
		{"rejected", trail.Filter{Rejected: &yes}, 1},
		{"passed", trail.Filter{Rejected: &no}, 3},
		{"outcome kind", trail.Filter{Outcome: &invalid}, 1},
		{"outcome rule", trail.Filter{Rule: "request.body.schema"}, 1},
		{"finding rule with LIKE characters", trail.Filter{Rule: "request.body_schema%"}, 1},
		{"LIKE characters do not wildcard", trail.Filter{Rule: "request.body_schema"}, 0},
		{"client", trail.Filter{Client: "192.0.2.7"}, 4},
		{"time range", trail.Filter{From: f.Now.Add(-2 * time.Second), To: f.Now}, 2},
		{"limit", trail.Filter{Limit: 2}, 2},
		{"refused", trail.Filter{Refused: true}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []trail.Record
			err := f.Store.Search(ctx(), tc.f, func(r *trail.Record) error { got = append(got, *r); return nil })
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.want {
				t.Fatalf("%d records, want %d", len(got), tc.want)
			}
			for i := 1; i < len(got); i++ {
				if got[i].Time.Before(got[i-1].Time) {
					t.Fatal("results not in time order")
				}
			}
		})
	}
}

func testRetention(t *testing.T, f *Fixture) {
	b := cordon.BusDirtyReq
	months := []time.Time{
		time.Date(2025, 1, 10, 0, 0, 0, 0, time.UTC),
		time.Date(2025, 2, 10, 0, 0, 0, 0, time.UTC),
		time.Date(2025, 3, 10, 0, 0, 0, 0, time.UTC),
	}
	for _, m := range months {
		f.Now = m
		f.Ship(f.Message(b, nil), f.Message(b, nil))
		f.Ship(f.Message(cordon.BusCleanReq, nil))
	}
	res, err := audit.Retain(ctx(), f.Store, audit.RetainOptions{
		Before: time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC), Signer: f.Signer, Keys: f.Keys, CheckpointDir: f.Dir,
	})
	if err != nil {
		t.Fatalf("retain: %v", err)
	}
	if len(res.Partitions) != 2 {
		t.Fatalf("removed partitions %v, want two", res.Partitions)
	}
	if n := len(f.All(b)); n != 2 {
		t.Fatalf("%d records left on %s, want 2", n, b)
	}
	rep := f.Verify()
	if !rep.OK() {
		t.Fatalf("verify after retention: %v", rep.Problems)
	}
	if rep.Buses[0].BoundarySize != 4 {
		t.Fatalf("boundary size %d, want 4", rep.Buses[0].BoundarySize)
	}
	// The log keeps growing after retention.
	f.Now = months[2].Add(time.Hour)
	f.Ship(f.Message(b, nil))
	if rep := f.Verify(); !rep.OK() {
		t.Fatalf("verify after retention and more traffic: %v", rep.Problems)
	}
	// A cut before every remaining partition removes nothing.
	res, err = audit.Retain(ctx(), f.Store, audit.RetainOptions{Before: months[0], Signer: f.Signer, Keys: f.Keys})
	if err != nil || len(res.Partitions) != 0 {
		t.Fatalf("retain of nothing: %v %v", res, err)
	}
}

// tamperCase edits a 12-record log on bus dirty-req (batches seq 1-4 in
// February, 5-8 and 9-12 in March; seq 6 carries a credential, so only its
// digest and verdict are kept) and says what verify must report first.
type tamperCase struct {
	name     string
	external bool // verify with the external copies
	allBuses bool // the edit touches every bus
	edit     func(t *testing.T, f *Fixture, recs []trail.Record)
	kind     string
	seq      uint64 // the first bad record verify must name (0: any)
}

var tamperCases = []tamperCase{
	{name: "edit", kind: "record", seq: 6, edit: func(t *testing.T, f *Fixture, recs []trail.Record) {
		r := recs[5]
		r.Body = []byte(`{"item":"nothing"}`)
		f.Tamper.ReplaceRecord(t, r.Bus, r.Seq, r)
	}},
	{name: "edit kept envelope with recomputed leaf", kind: "record", seq: 7, edit: func(t *testing.T, f *Fixture, recs []trail.Record) {
		r := recs[6]
		r.Path = "/innocent"
		r.Leaf = r.ComputeLeaf()
		f.Tamper.ReplaceRecord(t, r.Bus, r.Seq, r)
	}},
	{name: "edit with recomputed leaf", kind: "tree", seq: 5, edit: func(t *testing.T, f *Fixture, recs []trail.Record) {
		r := recs[5]
		r.Client = "203.0.113.66"
		r.Leaf = r.ComputeLeaf()
		f.Tamper.ReplaceRecord(t, r.Bus, r.Seq, r)
	}},
	{name: "edit with recomputed leaf and checkpoints resigned with a stolen key", external: true, kind: "external", edit: func(t *testing.T, f *Fixture, recs []trail.Record) {
		r := recs[5]
		r.Client = "203.0.113.66"
		r.Leaf = r.ComputeLeaf()
		f.Tamper.ReplaceRecord(t, r.Bus, r.Seq, r)
		recs[5] = r
		resign(t, f, recs, 4)
	}},
	{name: "delete", kind: "gap", seq: 6, edit: func(t *testing.T, f *Fixture, recs []trail.Record) {
		f.Tamper.DeleteRecord(t, cordon.BusDirtyReq, 6)
	}},
	{name: "insert after the end", kind: "unsigned", seq: 13, edit: func(t *testing.T, f *Fixture, recs []trail.Record) {
		r := recs[11]
		r.Seq, r.Time = 13, r.Time.Add(time.Second)
		r.Leaf = r.ComputeLeaf()
		f.Tamper.InsertRecord(t, r)
	}},
	{name: "insert a duplicate", kind: "order", seq: 6, edit: func(t *testing.T, f *Fixture, recs []trail.Record) {
		r := recs[5]
		r.Time = r.Time.Add(time.Millisecond)
		r.Client = "203.0.113.66"
		r.Leaf = r.ComputeLeaf()
		f.Tamper.InsertRecord(t, r)
	}},
	{name: "reorder", kind: "tree", seq: 5, edit: func(t *testing.T, f *Fixture, recs []trail.Record) {
		a, b := recs[5], recs[6]
		a.Seq, b.Seq = b.Seq, a.Seq
		a.Leaf, b.Leaf = a.ComputeLeaf(), b.ComputeLeaf()
		f.Tamper.ReplaceRecord(t, cordon.BusDirtyReq, 6, b)
		f.Tamper.ReplaceRecord(t, cordon.BusDirtyReq, 7, a)
	}},
	{name: "truncate", kind: "truncated", seq: 1, allBuses: true, edit: func(t *testing.T, f *Fixture, recs []trail.Record) {
		f.Tamper.TruncateRecords(t)
	}},
	{name: "partition drop", kind: "gap", seq: 5, edit: func(t *testing.T, f *Fixture, recs []trail.Record) {
		f.Tamper.DropPartition(t, recs[0].Time)
	}},
	{name: "checkpoint deleted", kind: "chain", edit: func(t *testing.T, f *Fixture, recs []trail.Record) {
		last := f.Head(cordon.BusDirtyReq)
		f.Tamper.DeleteCheckpoints(t, cordon.BusDirtyReq, 8)
		f.Tamper.InsertCheckpoint(t, last) // the chain now skips size 8
	}},
	{name: "tail cut with its checkpoints", external: true, kind: "external", edit: func(t *testing.T, f *Fixture, recs []trail.Record) {
		for seq := uint64(9); seq <= 12; seq++ {
			f.Tamper.DeleteRecord(t, cordon.BusDirtyReq, seq)
		}
		f.Tamper.DeleteCheckpoints(t, cordon.BusDirtyReq, 12)
	}},
}

// resign rewrites every checkpoint from size from on as an attacker holding
// the audit key would: recomputed over the edited records.
func resign(t *testing.T, f *Fixture, recs []trail.Record, from uint64) {
	t.Helper()
	b := recs[0].Bus
	f.Tamper.DeleteCheckpoints(t, b, from+1)
	var tree trail.Tree
	prev := uint64(0)
	for i := range recs {
		tree.Append(recs[i].Leaf)
		if (i+1)%4 != 0 {
			continue
		}
		size := uint64(i + 1)
		cp := trail.Checkpoint{Kind: trail.KindCheckpoint, LogID: f.Head(b).LogID, Bus: b, Size: size,
			Root: tree.Root(), PrevSize: prev, FirstSeq: 1, LastSeq: recs[i].Seq, LastTime: recs[i].Time, Frontier: tree.Frontier()}
		prev = size
		if size <= from {
			continue
		}
		if err := f.Signer.Sign(&cp); err != nil {
			t.Fatal(err)
		}
		f.Tamper.InsertCheckpoint(t, cp)
	}
}

func testTamper(t *testing.T, f *Fixture, tc tamperCase) {
	b := cordon.BusDirtyReq
	f.Now = time.Date(2025, 2, 27, 0, 0, 0, 0, time.UTC)
	for batch := range 3 {
		if batch == 1 {
			f.Now = time.Date(2025, 3, 2, 0, 0, 0, 0, time.UTC)
		}
		var brs []cordon.BusRecord
		for i := range 4 {
			if batch == 1 && i == 1 {
				brs = append(brs, f.Message(b, WithSecret))
				continue
			}
			brs = append(brs, f.Message(b, nil))
		}
		f.Ship(brs...)
	}
	// Other buses are untouched and must stay clean.
	f.Ship(f.Message(cordon.BusCleanReq, nil))
	if rep := f.Verify(); !rep.OK() {
		t.Fatalf("before tampering: %v", rep.Problems)
	}
	recs := f.All(b)
	tc.edit(t, f, recs)
	opts := audit.VerifyOptions{}
	if tc.external {
		opts.CheckpointDir = f.Dir
	}
	rep := f.VerifyWith(opts)
	p := firstProblem(t, rep)
	if p.Kind != tc.kind || (tc.seq != 0 && p.Seq != tc.seq) || (p.Bus != b && !tc.allBuses) {
		t.Fatalf("first problem %q, want kind %s at seq %d\nall: %v", p, tc.kind, tc.seq, rep.Problems)
	}
	for _, q := range rep.Problems {
		if q.Bus != b && !tc.allBuses {
			t.Errorf("problem reported on an untouched bus: %v", q)
		}
	}
	t.Logf("verify: %s", fmt.Sprint(p))
}
