// Package audittest is the conformance suite every audit store passes
// (package postgres and package sqlite run it), and the fixture it is built
// on: producer keys, sealed envelopes, an audit key, and a writer that
// extends each bus's log as the shipper does.
//
// It imports the audit role and its vocabulary, envelope and testing; never
// a store. Stores plug in through Harness.
package audittest

import (
	"context"
	"crypto/ed25519"
	"net/http"
	"testing"
	"time"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/audit"
	"github.com/cordon-gateway/cordon/audit/trail"
	"github.com/cordon-gateway/cordon/envelope"
)

// Fixture is a store under test with everything needed to fill it.
type Fixture struct {
	T        testing.TB
	Store    audit.Store
	Tamper   Tamperer
	AuditKey ed25519.PrivateKey
	Signer   *trail.Signer
	Keys     *audit.Keyring
	Stages   map[cordon.Stage]*envelope.Signer
	Capturer *audit.Capturer
	Dir      string // external checkpoint directory
	// Now is the stream time of the next message; it advances a second per message.
	Now time.Time

	seqs map[cordon.Bus]uint64
	logs map[cordon.Bus]*audit.Log
}

// NewFixture wraps a fresh store.
func NewFixture(t testing.TB, s audit.Store, tm Tamperer) *Fixture {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := trail.NewSigner(priv)
	if err != nil {
		t.Fatal(err)
	}
	f := &Fixture{T: t, Store: s, Tamper: tm, AuditKey: priv, Signer: signer, Dir: t.TempDir(),
		Stages: map[cordon.Stage]*envelope.Signer{}, seqs: map[cordon.Bus]uint64{}, logs: map[cordon.Bus]*audit.Log{},
		Now: time.Date(2025, 3, 30, 12, 0, 0, 0, time.UTC)}
	trust := map[cordon.Stage][]ed25519.PublicKey{}
	for _, st := range cordon.Stages {
		pub, sp, err := ed25519.GenerateKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		if f.Stages[st], err = envelope.NewSigner(st, sp); err != nil {
			t.Fatal(err)
		}
		trust[st] = []ed25519.PublicKey{pub}
	}
	if f.Keys, err = audit.NewKeyring(trust); err != nil {
		t.Fatal(err)
	}
	if f.Capturer, err = audit.NewCapturer(audit.CaptureConfig{}, f.Keys, audit.MaskKey(priv)); err != nil {
		t.Fatal(err)
	}
	return f
}

// Message returns the next message on bus b as the stream would deliver it,
// sealed by the bus's producer. edit may change the message before sealing.
func (f *Fixture) Message(b cordon.Bus, edit func(*cordon.Message)) cordon.BusRecord {
	f.T.Helper()
	m := &cordon.Message{
		ID: cordon.NewRequestID(f.Now), Deadline: f.Now.Add(30 * time.Second), ReplyTo: "fe1",
		Request: cordon.RequestHead{Method: "POST", Path: "/orders", RawQuery: "page=2", Host: "api.example",
			Client: "192.0.2.7", Header: http.Header{"Content-Type": {"application/json"}}},
		Body: []byte(`{"item":"book","qty":1}`),
	}
	subject := "cordon." + b.String() + ".in"
	if b == cordon.BusCleanResp {
		subject = "cordon." + b.String() + ".reply.fe1"
	}
	if b >= cordon.BusDirtyResp {
		m.Request.Header = nil
		m.Response = &cordon.ResponseHead{Status: 201, Header: http.Header{"Content-Type": {"application/json"}}}
		m.Body = []byte(`{"id":42}`)
	}
	if edit != nil {
		edit(m)
	}
	data, err := envelope.Seal(nil, m, f.Stages[ExpectedStage(b, subject)])
	if err != nil {
		f.T.Fatal(err)
	}
	return f.Raw(b, subject, data)
}

// Raw returns the next stream message on bus b carrying data verbatim.
func (f *Fixture) Raw(b cordon.Bus, subject string, data []byte) cordon.BusRecord {
	f.seqs[b]++
	br := cordon.BusRecord{Bus: b, Seq: f.seqs[b], Subject: subject, Time: f.Now, Data: data}
	f.Now = f.Now.Add(time.Second)
	return br
}

// SkipSeq makes the stream lose the next sequence number on bus b.
func (f *Fixture) SkipSeq(b cordon.Bus) { f.seqs[b]++ }

// ExpectedStage is audit.ExpectedProducer, for building subjects.
func ExpectedStage(b cordon.Bus, subject string) cordon.Stage {
	return audit.ExpectedProducer(b, subject)
}

func (f *Fixture) log(b cordon.Bus) *audit.Log {
	f.T.Helper()
	if l := f.logs[b]; l != nil {
		return l
	}
	head, err := f.Store.Head(context.Background(), b)
	if err != nil {
		f.T.Fatalf("head: %v", err)
	}
	l, err := audit.NewLog(head, f.Signer)
	if err != nil {
		f.T.Fatal(err)
	}
	f.logs[b] = l
	return l
}

// Head is the latest checkpoint the fixture committed on bus b.
func (f *Fixture) Head(b cordon.Bus) trail.Checkpoint { return f.log(b).Head() }

// Records captures bus messages as the shipper would.
func (f *Fixture) Records(brs ...cordon.BusRecord) []trail.Record {
	out := make([]trail.Record, len(brs))
	for i, br := range brs {
		out[i] = f.Capturer.Record(br)
	}
	return out
}

// Ship appends one batch (all on one bus) as the shipper does, and copies
// its checkpoint to the external directory.
func (f *Fixture) Ship(brs ...cordon.BusRecord) trail.Checkpoint {
	f.T.Helper()
	recs := f.Records(brs...)
	l := f.log(recs[0].Bus)
	cp, err := l.Next(recs)
	if err != nil {
		f.T.Fatal(err)
	}
	if err := f.Store.Append(context.Background(), recs, cp); err != nil {
		f.T.Fatalf("append: %v", err)
	}
	if err := l.Advance(cp); err != nil {
		f.T.Fatal(err)
	}
	if err := audit.WriteCheckpointFile(f.Dir, &cp); err != nil {
		f.T.Fatal(err)
	}
	return cp
}

// Verify runs audit.Verify with the fixture's keys and external copies.
func (f *Fixture) Verify() *audit.Report {
	f.T.Helper()
	return f.VerifyWith(audit.VerifyOptions{CheckpointDir: f.Dir})
}

// VerifyWith runs audit.Verify; the audit and producer keys are filled in.
func (f *Fixture) VerifyWith(opts audit.VerifyOptions) *audit.Report {
	f.T.Helper()
	opts.AuditKey = f.Signer.Public()
	if opts.Keys == nil {
		opts.Keys = f.Keys
	}
	rep, err := audit.Verify(context.Background(), f.Store, opts)
	if err != nil {
		f.T.Fatalf("verify: %v", err)
	}
	return rep
}

// All reads every record of bus b.
func (f *Fixture) All(b cordon.Bus) []trail.Record {
	f.T.Helper()
	var out []trail.Record
	err := f.Store.Records(context.Background(), b, 0, 0, func(r *trail.Record) error {
		out = append(out, *r)
		return nil
	})
	if err != nil {
		f.T.Fatal(err)
	}
	return out
}

// Secret is a header a record must never store in clear.
const Secret = "Bearer s3cr3t-token-value"

// WithSecret gives a message a credential, so its envelope is not kept.
func WithSecret(m *cordon.Message) {
	if m.Request.Header == nil {
		m.Request.Header = http.Header{}
	}
	m.Request.Header.Set("Authorization", Secret)
}
