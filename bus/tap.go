package bus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cordon-gateway/cordon"
	"github.com/nats-io/nats.go/jetstream"
)

// Tap is one bus's audit consumer: durable, read-only, AckPolicy All. It
// implements audit.Source.
type Tap struct {
	bus  cordon.Bus
	cons jetstream.Consumer

	mu      sync.Mutex
	pending map[uint64]jetstream.Msg // fetched, not yet acked, by stream sequence
}

// NewTap binds the audit consumer of bus b.
func NewTap(ctx context.Context, js jetstream.JetStream, s Subjects, b cordon.Bus) (*Tap, error) {
	cons, err := js.Consumer(ctx, s.Stream(b), ConsumerAudit)
	if err != nil {
		return nil, fmt.Errorf("audit tap %s: %w", b, err)
	}
	return &Tap{bus: b, cons: cons, pending: map[uint64]jetstream.Msg{}}, nil
}

// Bus is the bus this tap reads.
func (t *Tap) Bus() cordon.Bus { return t.bus }

// Fetch waits up to wait for up to max records, in stream order.
func (t *Tap) Fetch(ctx context.Context, max int, wait time.Duration) ([]cordon.BusRecord, error) {
	batch, err := t.cons.Fetch(max, jetstream.FetchMaxWait(wait))
	if err != nil {
		return nil, err
	}
	var recs []cordon.BusRecord
	t.mu.Lock()
	defer t.mu.Unlock()
	for msg := range batch.Messages() {
		md, err := msg.Metadata()
		if err != nil {
			return nil, err
		}
		recs = append(recs, cordon.BusRecord{
			Bus: t.bus, Seq: md.Sequence.Stream, Subject: msg.Subject(),
			Time: md.Timestamp, Data: msg.Data(),
		})
		t.pending[md.Sequence.Stream] = msg
	}
	if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && len(recs) == 0 {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	return recs, nil
}

// Ack acknowledges everything up to and including last (AckPolicy All),
// waiting for the server's confirmation. last may come from any earlier
// fetch whose messages are not yet acked.
func (t *Tap) Ack(ctx context.Context, last cordon.BusRecord) error {
	t.mu.Lock()
	msg, ok := t.pending[last.Seq]
	t.mu.Unlock()
	if !ok {
		return fmt.Errorf("audit tap: seq %d was not fetched or is already acked", last.Seq)
	}
	if err := msg.DoubleAck(ctx); err != nil {
		return err
	}
	t.mu.Lock()
	for seq := range t.pending {
		if seq <= last.Seq {
			delete(t.pending, seq)
		}
	}
	t.mu.Unlock()
	return nil
}
