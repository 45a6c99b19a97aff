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

	mu   sync.Mutex
	last jetstream.Msg // last message of the last batch, acked to ack all
}

// NewTap binds the audit consumer of bus b.
func NewTap(ctx context.Context, js jetstream.JetStream, s Subjects, b cordon.Bus) (*Tap, error) {
	cons, err := js.Consumer(ctx, s.Stream(b), ConsumerAudit)
	if err != nil {
		return nil, fmt.Errorf("audit tap %s: %w", b, err)
	}
	return &Tap{bus: b, cons: cons}, nil
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
	var last jetstream.Msg
	for msg := range batch.Messages() {
		md, err := msg.Metadata()
		if err != nil {
			return nil, err
		}
		recs = append(recs, cordon.BusRecord{
			Bus: t.bus, Seq: md.Sequence.Stream, Subject: msg.Subject(),
			Time: md.Timestamp, Data: msg.Data(),
		})
		last = msg
	}
	if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && len(recs) == 0 {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	t.mu.Lock()
	t.last = last
	t.mu.Unlock()
	return recs, nil
}

// Ack acknowledges everything up to and including last, waiting for the
// server's confirmation.
func (t *Tap) Ack(ctx context.Context, last cordon.BusRecord) error {
	t.mu.Lock()
	msg := t.last
	t.mu.Unlock()
	if msg == nil {
		return errors.New("audit tap: nothing fetched to ack")
	}
	md, err := msg.Metadata()
	if err != nil {
		return err
	}
	if md.Sequence.Stream != last.Seq {
		return fmt.Errorf("audit tap: ack of seq %d, last fetched was %d", last.Seq, md.Sequence.Stream)
	}
	return msg.DoubleAck(ctx)
}
