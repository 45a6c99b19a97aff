package audit

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"time"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/audit/trail"
	"golang.org/x/sync/errgroup"
)

// VerifyOptions configures Verify.
type VerifyOptions struct {
	// AuditKey is the audit public key that signs checkpoints. Required.
	AuditKey ed25519.PublicKey
	// Keys are the producer keys; with none, envelope signatures are not
	// checked again (a warning says so).
	Keys *Keyring
	// CheckpointDir holds the external copies; empty: none checked (a
	// warning says so: without them a superuser who also holds the audit
	// key, or who cut the end of the log, goes unnoticed).
	CheckpointDir string
	// Buses to verify; default all four.
	Buses []cordon.Bus
	// MaxProblems per bus listed in the report (default 100).
	MaxProblems int
	// Progress, if set, is called now and then with records checked so far.
	Progress func(b cordon.Bus, records uint64)
}

// Problem is one thing verify found wrong. Seq names the first bad record
// when one can be named.
type Problem struct {
	Bus    cordon.Bus `json:"bus"`
	Seq    uint64     `json:"seq,omitempty"`
	Kind   string     `json:"kind"`
	Detail string     `json:"detail"`
}

func (p Problem) String() string {
	if p.Seq != 0 {
		return fmt.Sprintf("%s seq %d: %s: %s", p.Bus, p.Seq, p.Kind, p.Detail)
	}
	return fmt.Sprintf("%s: %s: %s", p.Bus, p.Kind, p.Detail)
}

// BusReport is what verify checked on one bus.
type BusReport struct {
	Bus             cordon.Bus `json:"bus"`
	Records         uint64     `json:"records"`
	FirstSeq        uint64     `json:"first_seq"`
	LastSeq         uint64     `json:"last_seq"`
	Checkpoints     int        `json:"checkpoints"`      // signed database checkpoints checked
	External        int        `json:"external"`         // external copies checked
	BoundarySize    uint64     `json:"boundary_size"`    // leaves removed by retention
	Reverified      uint64     `json:"reverified"`       // envelope signatures checked again
	Attested        uint64     `json:"attested"`         // verified at ingest, envelope not kept: key id checked
	Refused         uint64     `json:"refused"`          // messages a consumer refused, recorded as such
	ProblemsOmitted int        `json:"problems_omitted"` // beyond MaxProblems
}

// Report is the outcome of Verify.
type Report struct {
	LogID    string      `json:"log_id"`
	Buses    []BusReport `json:"buses"`
	Problems []Problem   `json:"problems"`
	Warnings []string    `json:"warnings"`
}

// OK reports whether nothing was wrong.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

// Verify recomputes every bus's log from the stored records and checks it
// against the signed checkpoints in the store and in the external
// directory: leaf hashes, tree roots, stream sequence gaps, order, the
// checkpoint chain and signatures, retention boundaries, and every recorded
// envelope signature against the producer keys. It returns an error only
// when it could not read; what it found wrong is in the report.
func Verify(ctx context.Context, rd Reader, opts VerifyOptions) (*Report, error) {
	if len(opts.AuditKey) != ed25519.PublicKeySize {
		return nil, errors.New("audit: verify needs the audit public key")
	}
	v, err := trail.NewVerifier(opts.AuditKey)
	if err != nil {
		return nil, err
	}
	if opts.MaxProblems <= 0 {
		opts.MaxProblems = 100
	}
	buses := opts.Buses
	if len(buses) == 0 {
		buses = cordon.Buses
	}
	logID, err := rd.LogID(ctx)
	if err != nil {
		return nil, err
	}
	rep := &Report{LogID: logID}
	if opts.Keys.Empty() {
		rep.Warnings = append(rep.Warnings, "no producer keys given: envelope signatures were not checked again")
	}
	if opts.CheckpointDir == "" {
		rep.Warnings = append(rep.Warnings, "no checkpoint directory given: external copies were not checked")
	}
	results := make([]*busVerifier, len(buses))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(2)
	for i, b := range buses {
		bv := &busVerifier{rd: rd, v: v, opts: &opts, logID: logID, rep: BusReport{Bus: b}}
		results[i] = bv
		g.Go(func() error { return bv.run(gctx) })
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for _, bv := range results {
		rep.Buses = append(rep.Buses, bv.rep)
		rep.Problems = append(rep.Problems, bv.problems...)
		rep.Warnings = append(rep.Warnings, bv.warnings...)
	}
	return rep, nil
}

// expectation is a signed statement the recomputed tree must meet.
type expectation struct {
	size, lastSeq uint64
	root          [32]byte
	source        string
}

type busVerifier struct {
	rd       Reader
	v        *trail.Verifier
	opts     *VerifyOptions
	logID    string
	rep      BusReport
	problems []Problem
	warnings []string
}

func (bv *busVerifier) problem(seq uint64, kind, format string, args ...any) {
	if len(bv.problems) >= bv.opts.MaxProblems {
		bv.rep.ProblemsOmitted++
		return
	}
	bv.problems = append(bv.problems, Problem{Bus: bv.rep.Bus, Seq: seq, Kind: kind, Detail: fmt.Sprintf(format, args...)})
}

// open verifies a stored checkpoint's note and that its columns say what
// the note says.
func (bv *busVerifier) open(cp *trail.Checkpoint, what string) (*trail.Checkpoint, bool) {
	n, err := bv.v.Open(cp.Note)
	if err != nil {
		bv.problem(0, "checkpoint", "%s: %v", what, err)
		return nil, false
	}
	if n.LogID != bv.logID || n.Bus != bv.rep.Bus || n.Kind != cp.Kind {
		bv.problem(0, "checkpoint", "%s: signed for log %s bus %s, not this one", what, n.LogID, n.Bus)
		return nil, false
	}
	cp.LogID = bv.logID
	if !n.Same(cp) || n.Root != cp.Root {
		bv.problem(0, "checkpoint", "%s: stored columns differ from the signed note", what)
		return nil, false
	}
	return n, true
}

func (bv *busVerifier) run(ctx context.Context) error {
	b := bv.rep.Bus
	// Retention boundaries: the latest one is where the records start.
	var boundaries []*trail.Checkpoint
	err := bv.rd.Checkpoints(ctx, b, trail.KindBoundary, func(cp *trail.Checkpoint) error {
		if n, ok := bv.open(cp, fmt.Sprintf("boundary at size %d", cp.Size)); ok {
			n.Frontier = cp.Frontier
			boundaries = append(boundaries, n)
		}
		return nil
	})
	if err != nil {
		return err
	}
	var tree trail.Tree
	var start *trail.Checkpoint
	if len(boundaries) > 0 {
		start = boundaries[len(boundaries)-1]
		t, err := start.CheckFrontier()
		if err != nil {
			bv.problem(0, "boundary", "boundary at size %d: its frontier does not match its signed root", start.Size)
		} else {
			tree = t
		}
		bv.rep.BoundarySize = start.Size
	}

	// Database checkpoints: signed, consistent, one chain.
	var exps []expectation
	dbSizes := map[uint64]*trail.Checkpoint{}
	var prev uint64
	var headSize, headSeq uint64
	var firstSeq uint64
	err = bv.rd.Checkpoints(ctx, b, trail.KindCheckpoint, func(cp *trail.Checkpoint) error {
		bv.rep.Checkpoints++
		what := fmt.Sprintf("checkpoint at size %d", cp.Size)
		if cp.PrevSize != prev {
			bv.problem(0, "chain", "%s extends size %d, but the previous checkpoint has size %d (a checkpoint was removed)", what, cp.PrevSize, prev)
		}
		prev = cp.Size
		n, ok := bv.open(cp, what)
		if !ok {
			return nil
		}
		if firstSeq == 0 {
			firstSeq = n.FirstSeq
		}
		headSize, headSeq = n.Size, n.LastSeq
		dbSizes[n.Size] = n
		exps = append(exps, expectation{size: n.Size, lastSeq: n.LastSeq, root: n.Root, source: what})
		return nil
	})
	if err != nil {
		return err
	}

	if err := bv.external(boundaries, dbSizes, &exps); err != nil {
		return err
	}
	sort.SliceStable(exps, func(i, j int) bool { return exps[i].size < exps[j].size })

	expectFirst := firstSeq
	if start != nil {
		expectFirst = start.FirstSeq
	}
	// Statements about the removed part of the log cannot be recomputed.
	for len(exps) > 0 && exps[0].size <= tree.Size() {
		if exps[0].size == tree.Size() && exps[0].root != tree.Root() {
			bv.problem(0, "boundary", "%s does not match the retention boundary", exps[0].source)
		}
		exps = exps[1:]
	}

	var prevSeq uint64
	diverged := false
	lastGood := tree.Size()
	lastGoodSeq := uint64(0)
	if start != nil {
		lastGoodSeq = start.LastSeq
	}
	check := func(e expectation, atSeq uint64) {
		if diverged {
			return
		}
		if e.size == tree.Size() && e.root == tree.Root() {
			lastGood, lastGoodSeq = e.size, e.lastSeq
			return
		}
		diverged = true
		bv.problem(lastGoodSeq+1, "tree", "%s (size %d, up to seq %d) does not match the records: the first bad record is among seq %d..%d (the tree matched at size %d)",
			e.source, e.size, e.lastSeq, lastGoodSeq+1, max(e.lastSeq, atSeq), lastGood)
	}
	err = bv.rd.Records(ctx, b, 0, 0, func(r *trail.Record) error {
		bv.rep.Records++
		if bv.rep.Records == 1 {
			bv.rep.FirstSeq = r.Seq
			if expectFirst != 0 && r.Seq != expectFirst {
				bv.problem(r.Seq, "gap", "the records begin at seq %d but the signed checkpoints say the log begins at seq %d", r.Seq, expectFirst)
			}
		} else if r.Seq <= prevSeq {
			bv.problem(r.Seq, "order", "seq %d comes after seq %d: a duplicate or reordered record", r.Seq, prevSeq)
		} else if r.Seq > prevSeq+1 {
			bv.problem(prevSeq+1, "gap", "seq %d..%d missing", prevSeq+1, r.Seq-1)
		}
		bv.rep.LastSeq = r.Seq
		leaf := r.ComputeLeaf()
		if leaf != r.Leaf {
			bv.problem(r.Seq, "record", "its fields do not hash to its stored leaf: the row was altered")
		}
		bv.envelope(r)
		// A statement whose last record is missing is checked before this one joins the tree.
		for len(exps) > 0 && exps[0].lastSeq < r.Seq {
			check(exps[0], r.Seq)
			exps = exps[1:]
		}
		tree.Append(leaf)
		for len(exps) > 0 && exps[0].lastSeq == r.Seq {
			check(exps[0], r.Seq)
			exps = exps[1:]
		}
		prevSeq = r.Seq
		if bv.opts.Progress != nil && bv.rep.Records%10000 == 0 {
			bv.opts.Progress(b, bv.rep.Records)
		}
		return ctx.Err()
	})
	if err != nil {
		return err
	}
	for _, e := range exps {
		bv.problem(prevSeq+1, "truncated", "%s says the log holds %d records up to seq %d; the store ends at seq %d with %d",
			e.source, e.size, e.lastSeq, prevSeq, tree.Size())
		break
	}
	if tree.Size() > headSize && tree.Size() > bv.rep.BoundarySize {
		bv.problem(headSeq+1, "unsigned", "%d records after seq %d are covered by no signed checkpoint (inserted, or their checkpoints deleted)",
			tree.Size()-max(headSize, bv.rep.BoundarySize), headSeq)
	}
	return nil
}

// external checks the copies in the checkpoint directory and adds them to
// the statements the tree must meet: a copy the database lacks is evidence
// the database was rewritten.
func (bv *busVerifier) external(boundaries []*trail.Checkpoint, dbSizes map[uint64]*trail.Checkpoint, exps *[]expectation) error {
	if bv.opts.CheckpointDir == "" {
		return nil
	}
	files, err := readCheckpointFiles(bv.opts.CheckpointDir, bv.logID, bv.rep.Bus)
	if err != nil {
		return err
	}
	dbBoundaries := map[uint64]*trail.Checkpoint{}
	for _, cp := range boundaries {
		dbBoundaries[cp.Size] = cp
	}
	for _, f := range files {
		bv.rep.External++
		n, err := bv.v.Open(f.note)
		if err != nil {
			bv.problem(0, "external", "%s: %v", f.path, err)
			continue
		}
		if n.LogID != bv.logID || n.Bus != bv.rep.Bus || n.Kind != f.kind {
			bv.problem(0, "external", "%s: signed for log %s bus %s, not this one", f.path, n.LogID, n.Bus)
			continue
		}
		if f.kind == trail.KindBoundary {
			if db := dbBoundaries[n.Size]; db == nil || !db.Same(n) {
				bv.problem(0, "external", "%s: this retention boundary is missing from the database or differs", f.path)
			}
			continue
		}
		if db := dbSizes[n.Size]; db == nil || !db.Same(n) {
			bv.problem(n.LastSeq, "external", "%s: the database has no matching checkpoint at size %d (it was removed or rewritten)", f.path, n.Size)
		}
		*exps = append(*exps, expectation{size: n.Size, lastSeq: n.LastSeq, root: n.Root, source: "external copy " + f.path})
	}
	return nil
}

// envelope checks a record against its producer's signature: fully when
// the envelope was kept, by key id when only the verdict was.
func (bv *busVerifier) envelope(r *trail.Record) {
	if r.Sig.Refused() {
		bv.rep.Refused++
	}
	if bv.opts.Keys.Empty() {
		return
	}
	if r.Envelope == nil {
		if r.Sig == trail.SigVerified {
			bv.rep.Attested++
			if !bv.opts.Keys.Trusts(r.Expected, r.KeyID) {
				bv.problem(r.Seq, "signature", "recorded as verified, but key %x is not trusted for %s", r.KeyID, r.Expected)
			}
		}
		return
	}
	bv.rep.Reverified++
	d := rederive(r, bv.opts.Keys)
	switch {
	case d.Sig == r.Sig:
	case r.Sig == trail.SigUnchecked:
		if d.Sig.Refused() {
			bv.warnings = append(bv.warnings, fmt.Sprintf("%s seq %d: recorded unchecked (no key at ingest); its signature is %s", r.Bus, r.Seq, d.Sig))
		}
	default:
		bv.problem(r.Seq, "signature", "recorded as %s, but the kept envelope's signature is %s", r.Sig, d.Sig)
	}
	d.Sig = r.Sig
	if f := firstDiff(&d, r); f != "" {
		bv.problem(r.Seq, "record", "column %s differs from the kept envelope", f)
	}
}

// firstDiff names the first stored field in which a and b differ.
func firstDiff(a, b *trail.Record) string {
	va, vb := reflect.ValueOf(a).Elem(), reflect.ValueOf(b).Elem()
	for i := range va.NumField() {
		name := va.Type().Field(i).Name
		if name == "Leaf" {
			continue
		}
		fa, fb := va.Field(i).Interface(), vb.Field(i).Interface()
		if ta, ok := fa.(time.Time); ok {
			if !ta.Equal(fb.(time.Time)) {
				return name
			}
			continue
		}
		if ba, ok := fa.([]byte); ok {
			bb := fb.([]byte)
			if (ba == nil) != (bb == nil) || string(ba) != string(bb) {
				return name
			}
			continue
		}
		if !reflect.DeepEqual(fa, fb) {
			return name
		}
	}
	return ""
}
