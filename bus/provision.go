package bus

import (
	"context"
	"fmt"
	"time"

	"github.com/cordon-gateway/cordon"
	"github.com/nats-io/nats.go/jetstream"
)

// StreamSpec sizes one bus's stream.
type StreamSpec struct {
	// MaxBytes bounds the stream. With interest retention a message leaves
	// the stream once its stage and the audit have both acknowledged it;
	// when the bound is reached new publishes are refused (DiscardNew), so
	// the frontend answers 503 instead of anything being dropped unaudited.
	MaxBytes int64
	// MaxAge is a last-resort bound. Default 7 days.
	MaxAge time.Duration
	// Timeout is the request deadline; the dedupe window and ack wait are
	// derived from it.
	Timeout time.Duration
	// Reader is the durable pipeline consumer on this bus, "" for none.
	Reader string
	// Audit adds the durable audit consumer.
	Audit bool
	// Ledger creates the backend's at-most-once ledger bucket here.
	Ledger bool
	// Replicas for clustered buses. Default 1.
	Replicas int
}

// AckWait is how long a delivered pipeline message may go without an ack
// or a progress ack before JetStream redelivers it: a third of the request
// deadline, between 1s and 10s, so that work held by a crashed stage is
// retried while its client still waits. Stages send progress acks while
// they work, so a slow upstream is not mistaken for a crash.
func AckWait(timeout time.Duration) time.Duration {
	return min(max(timeout/3, time.Second), 10*time.Second)
}

// AuditAckWait is the audit consumer's ack wait: what a crashed shipper
// had fetched but not acked is redelivered to its successor after this
// long, so the trail lags by about this much after a shipper crash. It is
// longer than the shipper's bound on one commit attempt (10 s), so a slow
// but successful commit is acked before its records come back; a
// redelivery is harmless anyway (the shipper skips what its store holds).
const AuditAckWait = 15 * time.Second

// DedupeWindow is how long a bus remembers message ids (JetStream's
// duplicate window) and the ledger remembers claims, for request deadline
// timeout: twice the deadline, at least 30 seconds. Every legitimate
// re-publish under a message id (a retried publish, a redelivered input
// processed again) happens before the message's deadline, and a replay
// after it is refused as expired, so a window longer than the deadline
// plus the clock skew between hosts buys nothing. It costs memory: each
// remembered id is ~300 bytes of a NATS server's heap, and a two-minute
// floor made the dedupe state of a bus grow to ~130 MB at 4,000 requests
// per second, with the garbage collector's work growing alongside
// (sustained throughput of cordon dev fell by a third within two
// minutes).
func DedupeWindow(timeout time.Duration) time.Duration {
	return max(2*timeout, 30*time.Second)
}

// LedgerBytes bounds the ledger bucket: a claim is ~150 bytes and lives one
// dedupe window, so 64 MiB holds ~400k requests per window (6,600 requests
// per second sustained at the default 30 s deadline). A full ledger refuses
// claims, and the backend answers 503 rather than call the upstream
// unrecorded.
const LedgerBytes = 64 << 20

// ServerStore is the JetStream store a server needs for streams of the
// given sizes and, if it holds one, the ledger.
func ServerStore(streams int64, ledger bool) int64 {
	n := streams + streams/8 + 16<<20
	if ledger {
		n += LedgerBytes
	}
	return n
}

// MaxDeliver is how often a pipeline message is delivered before it is
// given up; the last attempt answers the client with an error.
const MaxDeliver = 5

// Provision creates or updates bus b's stream and consumers. It needs
// admin credentials; no component holds them at run time.
func Provision(ctx context.Context, js jetstream.JetStream, s Subjects, b cordon.Bus, spec StreamSpec) error {
	if spec.MaxAge == 0 {
		spec.MaxAge = 7 * 24 * time.Hour
	}
	if spec.Replicas == 0 {
		spec.Replicas = 1
	}
	window := DedupeWindow(spec.Timeout)
	_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        s.Stream(b),
		Description: "cordon bus " + b.String(),
		Subjects:    []string{s.All(b)},
		Retention:   jetstream.InterestPolicy,
		Discard:     jetstream.DiscardNew,
		MaxBytes:    spec.MaxBytes,
		MaxAge:      spec.MaxAge,
		Storage:     jetstream.FileStorage,
		Replicas:    spec.Replicas,
		Duplicates:  window,
		DenyDelete:  true,
		DenyPurge:   true,
		AllowRollup: false,
		MaxMsgSize:  16 << 20,
	})
	if err != nil {
		return fmt.Errorf("provision %s stream: %w", b, err)
	}
	if spec.Reader != "" {
		_, err := js.CreateOrUpdateConsumer(ctx, s.Stream(b), jetstream.ConsumerConfig{
			Durable:       spec.Reader,
			Description:   "cordon " + spec.Reader,
			FilterSubject: s.In(b),
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       AckWait(spec.Timeout),
			MaxDeliver:    MaxDeliver,
			MaxAckPending: 4096,
			DeliverPolicy: jetstream.DeliverAllPolicy,
			Replicas:      spec.Replicas,
		})
		if err != nil {
			return fmt.Errorf("provision %s consumer %s: %w", b, spec.Reader, err)
		}
	}
	if spec.Audit {
		_, err := js.CreateOrUpdateConsumer(ctx, s.Stream(b), jetstream.ConsumerConfig{
			Durable:       ConsumerAudit,
			Description:   "cordon audit shipper (read-only)",
			AckPolicy:     jetstream.AckAllPolicy,
			AckWait:       AuditAckWait,
			MaxAckPending: 20000,
			DeliverPolicy: jetstream.DeliverAllPolicy,
			Replicas:      spec.Replicas,
		})
		if err != nil {
			return fmt.Errorf("provision %s audit consumer: %w", b, err)
		}
	}
	if spec.Ledger {
		_, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:      s.LedgerBucket(),
			Description: "cordon backend at-most-once ledger",
			TTL:         window,
			MaxBytes:    LedgerBytes,
			Storage:     jetstream.FileStorage,
			Replicas:    spec.Replicas,
		})
		if err != nil {
			return fmt.Errorf("provision %s ledger: %w", b, err)
		}
	}
	return nil
}
