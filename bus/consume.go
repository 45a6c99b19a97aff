package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/envelope"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Handler processes one verified, unexpired message. attempt counts
// deliveries, starting at 1. The handler publishes its output before it
// returns; its input is acked only after it returned nil, so the output's
// publish ack always precedes the input's ack.
//
// A returned error of kind KindUnavailable (or any error that is not a
// *cordon.Error) is retried with backoff up to MaxDeliver deliveries; any
// other kind is final and the message is terminated.
type Handler func(ctx context.Context, m *cordon.Message, attempt int) error

// GiveUp is called once for a message whose handling ended in an error
// (its last delivery failed, or the error is final), so the stage can
// answer the waiting client instead of leaving it to its deadline.
type GiveUp func(ctx context.Context, m *cordon.Message, err error)

// ConsumerConfig configures a stage's consumer loop.
type ConsumerConfig struct {
	Bus      cordon.Bus
	Stream   string
	Consumer string
	Verifier *envelope.Verifier
	Workers  int
	Logger   *slog.Logger
	Metrics  *Metrics
	GiveUp   GiveUp
	// Now is the clock for expiry; default time.Now.
	Now func() time.Time
}

// Consume runs cfg's durable pull consumer until ctx is cancelled, then
// stops pulling, finishes what it holds, and returns.
func Consume(ctx context.Context, js jetstream.JetStream, cfg ConsumerConfig, h Handler) error {
	if cfg.Workers <= 0 {
		cfg.Workers = 1
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger.With("bus", cfg.Bus.String(), "consumer", cfg.Consumer)
	var cons jetstream.Consumer
	for {
		var err error
		cons, err = js.Consumer(ctx, cfg.Stream, cfg.Consumer)
		if err == nil {
			break
		}
		log.Warn("consumer not available yet", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(cfg.Workers), jetstream.PullExpiry(5*time.Second))
	if err != nil {
		return fmt.Errorf("consume %s/%s: %w", cfg.Stream, cfg.Consumer, err)
	}
	stop := context.AfterFunc(ctx, it.Drain)
	defer stop()

	// While a handler works (an upstream may take up to the deadline), the
	// message is kept ours with progress acks; a crashed stage stops
	// sending them and JetStream redelivers after one ack wait.
	ackWait := 30 * time.Second
	if info := cons.CachedInfo(); info != nil && info.Config.AckWait > 0 {
		ackWait = info.Config.AckWait
	}
	work := make(chan jetstream.Msg)
	var wg sync.WaitGroup
	// In-flight work finishes after ctx is cancelled: its own deadline
	// bounds it.
	hctx := context.WithoutCancel(ctx)
	for range cfg.Workers {
		wg.Go(func() {
			for msg := range work {
				handleOne(hctx, msg, cfg, h, log, ackWait)
			}
		})
	}
	for {
		msg, err := it.Next()
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) || errors.Is(err, nats.ErrConnectionClosed) || ctx.Err() != nil {
				break
			}
			log.Warn("pull failed", "err", err)
			continue
		}
		work <- msg
	}
	close(work)
	wg.Wait()
	return nil
}

func handleOne(ctx context.Context, msg jetstream.Msg, cfg ConsumerConfig, h Handler, log *slog.Logger, ackWait time.Duration) {
	start := time.Now()
	bus := cfg.Bus.String()
	attempt := 1
	if md, err := msg.Metadata(); err == nil {
		attempt = int(md.NumDelivered)
	}
	m, err := envelope.Open(msg.Data(), cfg.Verifier)
	if err != nil {
		cfg.Metrics.Refused.WithLabelValues(bus, refusalReason(err)).Inc()
		log.Warn("refused message", "reason", refusalReason(err), "subject", msg.Subject())
		_ = msg.Term()
		return
	}
	rid := m.ID.String
	if m.Expired(cfg.Now()) {
		cfg.Metrics.Expired.WithLabelValues(bus).Inc()
		log.Info("dropped expired message", "request_id", rid(), "deadline", m.Deadline)
		_ = msg.Term()
		return
	}
	handled := make(chan struct{})
	progress := time.AfterFunc(ackWait/2, func() { keepAlive(msg, ackWait/2, handled) })
	herr := injectedFault(cfg.Bus, m)
	if herr == nil {
		herr = h(ctx, m, attempt)
	}
	close(handled)
	progress.Stop()
	switch {
	case herr == nil:
		if err := msg.Ack(); err != nil {
			log.Warn("ack failed", "request_id", rid(), "err", err)
		}
		cfg.Metrics.Handled.WithLabelValues(bus, "ack").Inc()
		cfg.Metrics.Latency.WithLabelValues(bus).Observe(time.Since(start).Seconds())
	case retryable(herr) && attempt < MaxDeliver:
		log.Warn("handler failed, will retry", "request_id", rid(), "attempt", attempt, "err", herr)
		_ = msg.NakWithDelay(backoff(attempt))
		cfg.Metrics.Handled.WithLabelValues(bus, "nak").Inc()
	default:
		log.Warn("message terminated", "request_id", rid(), "attempt", attempt, "err", herr)
		// The waiting client gets an answer, except for a replay: an
		// injected message must not produce one.
		if cfg.GiveUp != nil && cordon.KindOf(herr) != cordon.KindDuplicate {
			cfg.GiveUp(ctx, m, herr)
		}
		_ = msg.Term()
		cfg.Metrics.Handled.WithLabelValues(bus, "term").Inc()
	}
}

// keepAlive sends a progress ack now and every period until handled is
// closed. It only starts for handlers slower than half an ack wait, so the
// common fast path costs one stopped timer.
func keepAlive(msg jetstream.Msg, period time.Duration, handled <-chan struct{}) {
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		_ = msg.InProgress()
		select {
		case <-handled:
			return
		case <-tick.C:
		}
	}
}

func retryable(err error) bool {
	var e *cordon.Error
	if !errors.As(err, &e) {
		return true
	}
	return e.Kind == cordon.KindUnavailable || e.Kind == cordon.KindInternal
}

func backoff(attempt int) time.Duration {
	return time.Duration(attempt*attempt) * 100 * time.Millisecond
}

func refusalReason(err error) string {
	switch {
	case errors.Is(err, envelope.ErrUnknownKey):
		return "unknown-key"
	case errors.Is(err, envelope.ErrBadSignature):
		return "bad-signature"
	case errors.Is(err, envelope.ErrWrongStage):
		return "wrong-stage"
	default:
		return "malformed"
	}
}
