package audit

import (
	"context"
	"time"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/audit/trail"
)

// Writer is the store as the shipper sees it.
type Writer interface {
	// Head returns the latest checkpoint of bus b's log. For an empty log
	// it returns a checkpoint of Size 0 that carries only LogID and Bus.
	Head(ctx context.Context, b cordon.Bus) (trail.Checkpoint, error)
	// Append stores recs (the next leaves of the log, in stream order) and
	// cp (the signed checkpoint over them, extending the head of size
	// cp.PrevSize) in one transaction. If another writer got there first it
	// stores nothing and returns trail.ErrConflict. A redelivered record
	// can never be stored twice: (bus, seq, time) is unique.
	Append(ctx context.Context, recs []trail.Record, cp trail.Checkpoint) error
	// StoredTime returns the stream time of the record bus b's log holds
	// at seq (false: none), and nothing else of it: the shipper, which may
	// not read records, tells a redelivery from a reused sequence by it.
	StoredTime(ctx context.Context, b cordon.Bus, seq uint64) (time.Time, bool, error)
}

// Reader is the store as verify, trace, search, export and tail see it.
type Reader interface {
	// LogID names this audit database in every checkpoint.
	LogID(ctx context.Context) (string, error)
	// Records calls fn for each record of bus b with Seq > after, in stream
	// order, at most limit of them (0: all). It streams: fn may be called
	// millions of times.
	Records(ctx context.Context, b cordon.Bus, after uint64, limit int, fn func(*trail.Record) error) error
	// Checkpoints calls fn for each stored checkpoint of kind k on bus b,
	// in size order.
	Checkpoints(ctx context.Context, b cordon.Bus, k trail.Kind, fn func(*trail.Checkpoint) error) error
	// Search calls fn for each record matching f in (Time, Bus, Seq) order.
	Search(ctx context.Context, f trail.Filter, fn func(*trail.Record) error) error
}

// Retainer removes old records by whole partitions.
type Retainer interface {
	Reader
	// Partitions lists the partitions that hold records, oldest first.
	Partitions(ctx context.Context) ([]trail.Partition, error)
	// Retain stores the signed boundaries and removes every partition that
	// ends at or before cut, in one transaction, and records that it did.
	// With drop false the removed partitions are kept aside (detached) for
	// the operator to archive; with drop true they are deleted.
	Retain(ctx context.Context, cut time.Time, boundaries []trail.Checkpoint, drop bool) ([]string, error)
}

// Store is everything an audit store provides. The PostgreSQL and embedded
// stores both implement it and both pass the suite in audit/audittest.
type Store interface {
	Writer
	Retainer
	Close() error
}
