package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/audit/trail"
)

// Source is one bus's audit consumer: durable, read-only, AckAll.
type Source interface {
	Bus() cordon.Bus
	// Fetch waits up to wait for up to max records, in stream order.
	Fetch(ctx context.Context, max int, wait time.Duration) ([]cordon.BusRecord, error)
	// Ack acknowledges everything up to and including the last record (called only after the database commit).
	Ack(ctx context.Context, last cordon.BusRecord) error
}

// ShipperConfig is everything a shipper needs; constructors of the
// dependencies live with them (NewCapturer, trail.NewSigner, a store).
type ShipperConfig struct {
	Source   Source
	Store    Writer
	Capturer *Capturer
	Signer   *trail.Signer // the audit key
	// CheckpointDir receives a copy of the head checkpoint every
	// CheckpointInterval and at shutdown. Empty: no copies (verify can then
	// not catch a superuser who also holds the audit key).
	CheckpointDir      string
	CheckpointInterval time.Duration // default 1m
	BatchSize          int           // default 1000
	FetchWait          time.Duration // default 200ms
	GapTimeout         time.Duration // default 2m
	// RetryMax caps the backoff between attempts to reach the store (default 5s).
	RetryMax time.Duration
	Logger   *slog.Logger
}

// Shipper copies one bus into the audit store. It appends records in
// stream order only, acks only what the store committed, and never waits
// on anything the request path waits on.
type Shipper struct {
	cfg   ShipperConfig
	bus   cordon.Bus
	log   *slog.Logger
	stats stats
}

type stats struct {
	records, batches, redelivered, gaps, storeErrors, conflicts, copies, lastSeq atomic.Uint64
	lagNanos, lastCommit                                                         atomic.Int64
}

// Stats is a snapshot of a shipper's counters, for metrics.
type Stats struct {
	Records     uint64        // records committed
	Batches     uint64        // transactions committed
	Redelivered uint64        // records skipped because already committed
	Gaps        uint64        // stream sequences given up on (lost from the stream)
	StoreErrors uint64        // failed attempts to write
	Conflicts   uint64        // another writer was ahead
	Copies      uint64        // checkpoints copied to the checkpoint directory
	LastSeq     uint64        // stream sequence of the last committed record
	Lag         time.Duration // at the last commit, how long its oldest record had waited since the stream stored it
	LastCommit  time.Time     // when the last batch was committed (zero: none yet)
}

// NewShipper checks cfg and fills defaults.
func NewShipper(cfg ShipperConfig) (*Shipper, error) {
	switch {
	case cfg.Source == nil:
		return nil, errors.New("audit: shipper needs a source")
	case cfg.Store == nil:
		return nil, errors.New("audit: shipper needs a store")
	case cfg.Capturer == nil:
		return nil, errors.New("audit: shipper needs a capturer")
	case cfg.Signer == nil:
		return nil, errors.New("audit: shipper needs the audit signing key")
	case !cfg.Source.Bus().Valid():
		return nil, fmt.Errorf("audit: source bus %d is not one of the four", cfg.Source.Bus())
	case cfg.BatchSize < 0 || cfg.BatchSize > 100_000:
		return nil, fmt.Errorf("audit: batch size %d: want 1-100000", cfg.BatchSize)
	}
	cfg.CheckpointInterval = orDuration(cfg.CheckpointInterval, DefaultCheckpointInterval)
	cfg.BatchSize = orInt(cfg.BatchSize, DefaultBatchSize)
	cfg.FetchWait = orDuration(cfg.FetchWait, DefaultFetchWait)
	cfg.GapTimeout = orDuration(cfg.GapTimeout, DefaultGapTimeout)
	cfg.RetryMax = orDuration(cfg.RetryMax, 5*time.Second)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	b := cfg.Source.Bus()
	return &Shipper{cfg: cfg, bus: b, log: cfg.Logger.With("role", "audit", "bus", b.String())}, nil
}

func unixNanoTime(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// Bus is the bus this shipper records.
func (s *Shipper) Bus() cordon.Bus { return s.bus }

// Stats returns the counters so far.
func (s *Shipper) Stats() Stats {
	return Stats{Records: s.stats.records.Load(), Batches: s.stats.batches.Load(),
		Redelivered: s.stats.redelivered.Load(), Gaps: s.stats.gaps.Load(),
		StoreErrors: s.stats.storeErrors.Load(), Conflicts: s.stats.conflicts.Load(),
		Copies: s.stats.copies.Load(), LastSeq: s.stats.lastSeq.Load(), Lag: time.Duration(s.stats.lagNanos.Load()),
		LastCommit: unixNanoTime(s.stats.lastCommit.Load())}
}

// grace bounds the work done after cancellation: finishing a commit that
// is under way and acking it, and copying the last checkpoint.
const grace = 10 * time.Second

// Run ships until ctx is cancelled. It returns nil then, after acking what
// it committed; it returns an error only for what retrying cannot fix (the
// stored head is not signed by this audit key).
func (s *Shipper) Run(ctx context.Context) error {
	log, err := s.open(ctx)
	if err != nil || log == nil {
		return err
	}
	r := &run{Shipper: s, l: log, pending: map[uint64]cordon.BusRecord{}, copied: log.Head().Size}
	r.next = log.Head().LastSeq + 1
	defer r.copyHead(true)
	ticker := time.NewTicker(s.cfg.CheckpointInterval)
	defer ticker.Stop()
	for ctx.Err() == nil {
		select {
		case <-ticker.C:
			r.copyHead(false)
		default:
		}
		recs, err := s.cfg.Source.Fetch(ctx, s.cfg.BatchSize, s.cfg.FetchWait)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			s.log.Warn("audit fetch failed", "err", err)
			sleep(ctx, time.Second)
			continue
		}
		if err := r.checkRedelivered(ctx, recs); err != nil {
			if errors.Is(err, ErrStreamReset) {
				s.log.Error("audit shipper stopped", "err", err)
				return err
			}
			// Nothing of this fetch is taken or acked: it all comes
			// back after the ack wait.
			s.stats.storeErrors.Add(1)
			s.log.Warn("audit store unreachable", "err", err)
			sleep(ctx, time.Second)
			continue
		}
		if err := r.take(recs); err != nil {
			s.log.Error("audit shipper stopped", "err", err)
			return err
		}
		for ctx.Err() == nil {
			batch := r.batch()
			if len(batch) == 0 {
				break
			}
			if !r.commit(ctx, batch) {
				return nil // cancelled while the store was away; nothing acked, all redelivered later
			}
		}
		r.ackRedelivered(ctx)
	}
	return nil
}

// open reads the head, retrying while the store is unreachable.
func (s *Shipper) open(ctx context.Context) (*Log, error) {
	backoff := 100 * time.Millisecond
	for {
		head, err := s.cfg.Store.Head(ctx, s.bus)
		if err == nil {
			l, err := NewLog(head, s.cfg.Signer)
			if err != nil {
				return nil, err // a head we cannot extend is for a human to look at
			}
			s.stats.lastSeq.Store(head.LastSeq)
			s.log.Info("audit shipper started", "size", head.Size, "last_seq", head.LastSeq)
			return l, nil
		}
		s.stats.storeErrors.Add(1)
		s.log.Warn("audit store unreachable", "err", err)
		if !sleep(ctx, backoff) {
			return nil, nil
		}
		backoff = min(backoff*2, s.cfg.RetryMax)
	}
}

// run is the state of one Run.
type run struct {
	*Shipper
	l       *Log
	next    uint64                      // stream sequence the log needs next
	pending map[uint64]cordon.BusRecord // fetched ahead of next, in a bounded window
	gapAt   time.Time                   // since when next has been missing
	redo    *cordon.BusRecord           // highest redelivered, already committed record, to ack
	copied  uint64                      // head size last copied to the checkpoint directory
}

// window bounds the records held ahead of a missing one; records beyond it
// are left unacked and come back with the redelivery.
func (r *run) window() uint64 { return uint64(r.cfg.BatchSize) * 16 }

// resetSlack tolerates stream clocks that step back: a redelivered message
// was stored before the head's last record, give or take this.
const resetSlack = 5 * time.Minute

// ErrStreamReset means a message's sequence is at or below the log's head
// but it is not the message the log holds there (stored after the head, or
// at another time than the stored record): the stream was recreated, or
// lost acknowledged messages in a crash, and handed out their sequences
// again. Skipping it as a redelivery would lose it, so
// the shipper stops (the stream then holds the traffic, and the gateway
// refuses new requests when it is full).
var ErrStreamReset = errors.New("audit: stream sequence restarted below the log's head")

// checkRedelivered reads back the stream time of the stored record at the
// highest sequence of recs that the log already holds and compares. A true
// redelivery carries the time the stream stored the message with; a
// different time means the stream handed that sequence to another message:
// it lost messages it had acknowledged (a server host crashed before
// syncing them to disk) or was recreated. Skipping such a message as a
// redelivery would lose it, so the shipper stops with ErrStreamReset. The
// highest such sequence is enough: a stream that reuses sequences reuses
// every one from its loss onwards, so if any message of recs is affected,
// the highest of them is.
func (r *run) checkRedelivered(ctx context.Context, recs []cordon.BusRecord) error {
	held := min(r.next-1, r.l.Head().LastSeq)
	var last *cordon.BusRecord
	for i := range recs {
		if recs[i].Seq <= held && (last == nil || recs[i].Seq > last.Seq) {
			last = &recs[i]
		}
	}
	if last == nil {
		return nil
	}
	stored, ok, err := r.cfg.Store.StoredTime(ctx, r.bus, last.Seq)
	if err != nil {
		return fmt.Errorf("audit: read back %s seq %d: %w", r.bus, last.Seq, err)
	}
	// Not stored (a sequence the log passed as a gap): a late message,
	// skipped as before.
	if ok && !stored.Equal(trail.Micro(last.Time)) {
		return fmt.Errorf("%w: %s seq %d came again stored at %s, but the log holds it as stored at %s",
			ErrStreamReset, r.bus, last.Seq, last.Time.UTC().Format(time.RFC3339Nano), stored.Format(time.RFC3339Nano))
	}
	return nil
}

func (r *run) take(recs []cordon.BusRecord) error {
	head := r.l.Head()
	for _, br := range recs {
		switch {
		case br.Seq <= head.LastSeq && br.Time.After(head.LastTime.Add(resetSlack)):
			return fmt.Errorf("%w: %s seq %d was stored at %s, after the head (seq %d at %s)", ErrStreamReset,
				r.bus, br.Seq, br.Time.UTC().Format(time.RFC3339), head.LastSeq, head.LastTime.Format(time.RFC3339))
		case br.Seq < r.next:
			r.stats.redelivered.Add(1)
			if r.redo == nil || br.Seq > r.redo.Seq {
				b := br
				r.redo = &b
			}
		case br.Seq >= r.next+r.window():
		default:
			r.pending[br.Seq] = br
		}
	}
	return nil
}

// batch takes the records that follow the log without a hole. When the next
// one stays missing past GapTimeout it was removed from the stream (limits,
// purge): the gap is logged, counted, left for verify to report, and the
// log moves on.
func (r *run) batch() []cordon.BusRecord {
	for seq := range r.pending {
		if seq < r.next { // stored meanwhile by another writer
			delete(r.pending, seq)
		}
	}
	var out []cordon.BusRecord
	for len(out) < r.cfg.BatchSize {
		br, ok := r.pending[r.next]
		if !ok {
			break
		}
		out = append(out, br)
		delete(r.pending, r.next)
		r.next++
	}
	if len(out) > 0 || len(r.pending) == 0 {
		r.gapAt = time.Time{}
		return out
	}
	if r.gapAt.IsZero() {
		r.gapAt = time.Now()
		return nil
	}
	if time.Since(r.gapAt) < r.cfg.GapTimeout {
		return nil
	}
	lowest := uint64(0)
	for seq := range r.pending {
		if lowest == 0 || seq < lowest {
			lowest = seq
		}
	}
	r.stats.gaps.Add(lowest - r.next)
	r.log.Error("audit gap: stream sequences never arrived; the stream no longer holds them",
		"from_seq", r.next, "to_seq", lowest-1)
	r.next, r.gapAt = lowest, time.Time{}
	return r.batch()
}

// commit writes one batch, retrying until the store takes it, and acks it.
// It returns false if ctx was cancelled before the commit.
func (r *run) commit(ctx context.Context, batch []cordon.BusRecord) bool {
	recs := r.cfg.Capturer.Records(batch)
	backoff := 100 * time.Millisecond
	for {
		if len(recs) == 0 {
			return true
		}
		cp, err := r.l.Next(recs)
		if err != nil {
			// Only a bug can get here: records out of order.
			r.log.Error("audit batch refused", "err", err)
			return false
		}
		// A commit under way finishes even if ctx is cancelled now: a half
		// done transaction is rolled back anyway, a finished one is acked.
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
		err = r.cfg.Store.Append(wctx, recs, cp)
		cancel()
		switch {
		case err == nil:
			if err := r.l.Advance(cp); err != nil {
				r.log.Error("audit head", "err", err)
				return false
			}
			r.stats.records.Add(uint64(len(recs)))
			r.stats.batches.Add(1)
			r.stats.lastSeq.Store(cp.LastSeq)
			now := time.Now()
			r.stats.lagNanos.Store(int64(now.Sub(batch[0].Time)))
			r.stats.lastCommit.Store(now.UnixNano())
			r.ack(ctx, batch[len(batch)-1])
			return true
		case errors.Is(err, trail.ErrConflict):
			// Another writer is ahead: continue from its head, minus what it stored.
			r.stats.conflicts.Add(1)
			head, herr := r.cfg.Store.Head(ctx, r.bus)
			if herr == nil {
				l, lerr := NewLog(head, r.cfg.Signer)
				if lerr != nil {
					r.log.Error("audit head not extendable", "err", lerr)
					return false
				}
				r.l = l
				for len(recs) > 0 && recs[0].Seq <= head.LastSeq {
					recs, batch = recs[1:], batch[1:]
				}
				if r.next <= head.LastSeq {
					r.next = head.LastSeq + 1
				}
				r.log.Warn("audit: another writer extended the log", "size", head.Size, "last_seq", head.LastSeq)
				if len(recs) == 0 {
					return true
				}
				continue
			}
			err = herr
		}
		r.stats.storeErrors.Add(1)
		r.log.Warn("audit store write failed; retrying", "err", err, "records", len(recs), "backoff", backoff)
		if !sleep(ctx, backoff) {
			return false
		}
		backoff = min(backoff*2, r.cfg.RetryMax)
	}
}

func (r *run) ack(ctx context.Context, last cordon.BusRecord) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	if err := r.cfg.Source.Ack(actx, last); err != nil {
		// Not fatal: the messages come back and are skipped as already committed.
		r.log.Warn("audit ack failed", "err", err, "seq", last.Seq)
	}
	if r.redo != nil && r.redo.Seq <= last.Seq {
		r.redo = nil
	}
}

// ackRedelivered acks a redelivered record, never beyond what is committed.
func (r *run) ackRedelivered(ctx context.Context) {
	if r.redo != nil && r.redo.Seq <= r.l.Head().LastSeq {
		r.ack(ctx, *r.redo)
	}
}

// copyHead writes the head checkpoint to the checkpoint directory if it
// moved since the last copy.
func (r *run) copyHead(final bool) {
	head := r.l.Head()
	if r.cfg.CheckpointDir == "" || head.Size == r.copied {
		return
	}
	if err := WriteCheckpointFile(r.cfg.CheckpointDir, &head); err != nil {
		r.log.Error("audit checkpoint copy failed", "err", err, "size", head.Size)
		return
	}
	r.copied = head.Size
	r.stats.copies.Add(1)
	if final {
		r.log.Info("audit shipper stopped", "size", head.Size, "last_seq", head.LastSeq)
	}
}

// sleep waits d or until ctx is done; it reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
