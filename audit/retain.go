package audit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/audit/trail"
)

// RetainOptions configures Retain.
type RetainOptions struct {
	// Before: partitions that end at or before it are removed (whole
	// partitions only, so the cut is the latest partition end <= Before).
	Before time.Time
	// Signer signs the boundary checkpoints (the audit key). Required.
	Signer *trail.Signer
	// Keys and CheckpointDir are passed to the verification that runs first.
	Keys          *Keyring
	CheckpointDir string
	// Drop deletes the partitions instead of leaving them detached for archiving.
	Drop bool
}

// RetainResult says what Retain removed.
type RetainResult struct {
	Cut        time.Time          `json:"cut"`
	Partitions []string           `json:"partitions"`
	Boundaries []trail.Checkpoint `json:"-"`
}

// Retain removes whole partitions of old records. It first verifies the
// entire store (it refuses to destroy evidence of a log that does not
// verify), then signs, per bus, a boundary checkpoint that pins the tree at
// the last removed record, so what remains still verifies; the store
// commits the boundaries, removes the partitions and records the run in one
// transaction. The boundaries are then copied to the checkpoint directory.
func Retain(ctx context.Context, st Retainer, opts RetainOptions) (*RetainResult, error) {
	if opts.Signer == nil {
		return nil, errors.New("audit: retain needs the audit signing key")
	}
	parts, err := st.Partitions(ctx)
	if err != nil {
		return nil, err
	}
	res := &RetainResult{}
	for _, p := range parts {
		if !p.To.After(opts.Before) && p.To.After(res.Cut) {
			res.Cut = p.To
		}
	}
	if res.Cut.IsZero() {
		return res, nil
	}
	rep, err := Verify(ctx, st, VerifyOptions{AuditKey: opts.Signer.Public(), Keys: opts.Keys, CheckpointDir: opts.CheckpointDir})
	if err != nil {
		return nil, err
	}
	if !rep.OK() {
		return nil, fmt.Errorf("audit: refusing to remove records: the store does not verify: %s", rep.Problems[0])
	}
	logID, err := st.LogID(ctx)
	if err != nil {
		return nil, err
	}
	for _, b := range cordon.Buses {
		bd, err := boundary(ctx, st, logID, b, res.Cut)
		if err != nil {
			return nil, err
		}
		if bd == nil {
			continue
		}
		if err := opts.Signer.Sign(bd); err != nil {
			return nil, err
		}
		res.Boundaries = append(res.Boundaries, *bd)
	}
	if res.Partitions, err = st.Retain(ctx, res.Cut, res.Boundaries, opts.Drop); err != nil {
		return nil, err
	}
	if opts.CheckpointDir != "" {
		for i := range res.Boundaries {
			if err := WriteCheckpointFile(opts.CheckpointDir, &res.Boundaries[i]); err != nil {
				return res, fmt.Errorf("audit: partitions removed, but the boundary copy failed: %w", err)
			}
		}
	}
	return res, nil
}

// boundary computes bus b's boundary at cut: the tree over every record
// stored before cut, which must be a prefix of the log in stream order.
func boundary(ctx context.Context, st Reader, logID string, b cordon.Bus, cut time.Time) (*trail.Checkpoint, error) {
	var tree trail.Tree
	var prevSize uint64
	err := st.Checkpoints(ctx, b, trail.KindBoundary, func(cp *trail.Checkpoint) error {
		t, err := cp.CheckFrontier() // Verify already checked its signature
		if err != nil {
			return err
		}
		tree, prevSize = t, cp.Size
		return nil
	})
	if err != nil {
		return nil, err
	}
	var last *trail.Record
	var firstKept uint64
	err = st.Records(ctx, b, 0, 0, func(r *trail.Record) error {
		if !r.Time.Before(cut) {
			if firstKept == 0 {
				firstKept = r.Seq
			}
			return nil
		}
		if firstKept != 0 {
			return fmt.Errorf("audit: %s seq %d is older than the cut but follows seq %d: the stream's clock went back; retain to an earlier date", b, r.Seq, firstKept)
		}
		tree.Append(r.Leaf)
		rc := *r
		last = &rc
		return nil
	})
	if err != nil || last == nil {
		return nil, err
	}
	if firstKept == 0 {
		firstKept = last.Seq + 1
	}
	return &trail.Checkpoint{
		Kind: trail.KindBoundary, LogID: logID, Bus: b, Size: tree.Size(), Root: tree.Root(),
		PrevSize: prevSize, FirstSeq: firstKept, LastSeq: last.Seq, LastTime: last.Time, Before: cut,
		Frontier: tree.Frontier(),
	}, nil
}
