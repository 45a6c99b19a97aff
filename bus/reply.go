package bus

import (
	"log/slog"
	"time"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/envelope"
	"github.com/nats-io/nats.go"
)

// SubscribeReplies delivers the verified answers addressed to one frontend
// on one bus. Answers are read with a core subscription: the stream still
// stores them for the audit, and a frontend that is gone has no client to
// answer anyway. Expired answers are dropped here, counted.
func SubscribeReplies(nc *nats.Conn, subject string, b cordon.Bus, v *envelope.Verifier,
	met *Metrics, log *slog.Logger, deliver func(*cordon.Message)) (*nats.Subscription, error) {
	log = log.With("bus", b.String(), "subject", subject)
	sub, err := nc.Subscribe(subject, func(msg *nats.Msg) {
		m, err := envelope.Open(msg.Data, v)
		if err != nil {
			met.Refused.WithLabelValues(b.String(), refusalReason(err)).Inc()
			log.Warn("refused reply", "reason", refusalReason(err))
			return
		}
		if m.Expired(time.Now()) {
			met.Expired.WithLabelValues(b.String()).Inc()
			log.Info("dropped expired reply", "request_id", m.ID.String())
			return
		}
		deliver(m)
	})
	if err != nil {
		return nil, err
	}
	// Answers must never be dropped by a slow consumer limit before the
	// frontend saw them; the frontend bounds in-flight requests instead.
	_ = sub.SetPendingLimits(-1, -1)
	return sub, nil
}
