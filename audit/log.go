package audit

import (
	"errors"
	"fmt"

	"github.com/cordon-gateway/cordon/audit/trail"
)

// Log extends one bus's verifiable log: it appends leaves to the tree and
// signs the checkpoint over them. It changes nothing until Advance, which
// the caller invokes only after the store committed, so a failed write
// leaves it where the store is.
type Log struct {
	signer *trail.Signer
	head   trail.Checkpoint
	tree   trail.Tree
}

// NewLog continues the log whose latest stored checkpoint is head. The
// head's frontier must fold to its root (the root is what was signed).
func NewLog(head trail.Checkpoint, signer *trail.Signer) (*Log, error) {
	if signer == nil {
		return nil, errors.New("audit: log needs the audit signing key")
	}
	l := &Log{signer: signer, head: head}
	if head.Size > 0 {
		if len(head.Note) > 0 {
			v, err := trail.NewVerifier(signer.Public())
			if err != nil {
				return nil, err
			}
			n, err := v.Open(head.Note)
			if err != nil || !n.Same(&head) || n.Root != head.Root {
				return nil, fmt.Errorf("audit: %s head at size %d is not signed by this audit key", head.Bus, head.Size)
			}
		}
		t, err := head.CheckFrontier()
		if err != nil {
			return nil, fmt.Errorf("audit: %s head at size %d: %w", head.Bus, head.Size, err)
		}
		l.tree = t
	}
	return l, nil
}

// Head is the latest committed checkpoint.
func (l *Log) Head() trail.Checkpoint { return l.head }

// Next returns the signed checkpoint that appending recs (in stream order,
// after the head) would produce. recs must carry their leaves.
func (l *Log) Next(recs []trail.Record) (trail.Checkpoint, error) {
	if len(recs) == 0 {
		return trail.Checkpoint{}, errors.New("audit: empty batch")
	}
	t := l.tree.Clone()
	last := l.head.LastSeq
	for i := range recs {
		r := &recs[i]
		if r.Bus != l.head.Bus {
			return trail.Checkpoint{}, fmt.Errorf("audit: record for %s in the %s log", r.Bus, l.head.Bus)
		}
		if r.Seq <= last {
			return trail.Checkpoint{}, fmt.Errorf("audit: %s seq %d does not follow seq %d", r.Bus, r.Seq, last)
		}
		last = r.Seq
		t.Append(r.Leaf)
	}
	cp := trail.Checkpoint{
		Kind: trail.KindCheckpoint, LogID: l.head.LogID, Bus: l.head.Bus,
		Size: t.Size(), Root: t.Root(), PrevSize: l.head.Size,
		FirstSeq: l.head.FirstSeq, LastSeq: last, LastTime: recs[len(recs)-1].Time,
		Frontier: t.Frontier(),
	}
	if l.head.Size == 0 {
		cp.FirstSeq = recs[0].Seq
	}
	if err := l.signer.Sign(&cp); err != nil {
		return trail.Checkpoint{}, err
	}
	return cp, nil
}

// Advance moves the head to cp, which the store has committed.
func (l *Log) Advance(cp trail.Checkpoint) error {
	t, err := cp.CheckFrontier()
	if err != nil {
		return err
	}
	l.head, l.tree = cp, t
	return nil
}
