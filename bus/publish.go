package bus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/envelope"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Publisher signs messages and stores them on one bus. It implements the
// roles' one-method Sender interfaces.
type Publisher struct {
	js      jetstream.JetStream
	bus     cordon.Bus
	signer  *envelope.Signer
	subject func(*cordon.Message) (string, error)
	final   string // the terminal-record subject, "" where there is none
	metrics *Metrics
	retry   bool
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// AttemptTimeout bounds one publish attempt of a retrying publisher. A
// server that died after receiving a message but before acknowledging it
// costs this long, not the rest of the deadline.
const AttemptTimeout = time.Second

// Retrying makes p retry a publish that was not acknowledged (timeout, no
// responders, connection down) until the message's deadline, with the same
// message id, so the stream stores it once. Stages use it: the message is
// already in flight and retrying is its best chance. The frontend does
// not: while its bus is down it answers 503 at once instead.
func (p *Publisher) Retrying() *Publisher {
	p.retry = true
	return p
}

// publish stores msg before deadline (none if zero; ctx bounds it too).
// msg carries its Nats-Msg-Id already. One context per attempt, the only
// one: the publish path made two, and contexts with timers were a tenth of
// what a stage allocated.
func (p *Publisher) publish(ctx context.Context, msg *nats.Msg, retry bool, deadline time.Time) (pubAck, error) {
	if !retry {
		if !deadline.IsZero() {
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, deadline)
			defer cancel()
		}
		return p.request(ctx, msg)
	}
	wait := 20 * time.Millisecond
	for {
		attempt := time.Now().Add(AttemptTimeout)
		if !deadline.IsZero() && deadline.Before(attempt) {
			attempt = deadline
		}
		actx, cancel := context.WithDeadline(ctx, attempt)
		ack, err := p.request(actx, msg)
		cancel()
		if err == nil || errors.Is(err, nats.ErrMaxPayload) || ctx.Err() != nil || !transient(err) || passed(deadline) {
			return ack, err
		}
		pause := wait
		if !deadline.IsZero() {
			pause = min(pause, time.Until(deadline))
		}
		select {
		case <-ctx.Done():
			return pubAck{}, err
		case <-time.After(pause):
		}
		wait = min(2*wait, 250*time.Millisecond)
	}
}

// request publishes msg and reads the stream's acknowledgement. It is
// jetstream.PublishMsg without its option handling and its reflective
// decoding of every acknowledgement (4 % of cordon dev's CPU at 64
// clients): parsePubAck reads the usual form itself and hands anything
// else to encoding/json. Unlike PublishMsg it does not retry a missing
// stream (no responders) on its own: the retrying publisher does, and the
// frontend answers 503 at once.
func (p *Publisher) request(ctx context.Context, msg *nats.Msg) (pubAck, error) {
	resp, err := p.js.Conn().RequestMsgWithContext(ctx, msg)
	if err != nil {
		return pubAck{}, err
	}
	return parsePubAck(resp.Data)
}

// passed reports whether deadline is set and has passed.
func passed(deadline time.Time) bool { return !deadline.IsZero() && !time.Now().Before(deadline) }

// transient reports whether a publish error may pass on its own: a lost
// or late acknowledgement, a server restarting, a reconnecting client.
func transient(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return false // the server answered and refused: retrying changes nothing
	}
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, nats.ErrConnectionReconnecting) || errors.Is(err, nats.ErrConnectionClosed) ||
		errors.Is(err, nats.ErrDisconnected) ||
		// A reconnecting connection buffers nothing (ReconnectBufSize -1):
		// a publish meanwhile fails with this, and is worth another try.
		errors.Is(err, nats.ErrReconnectBufExceeded)
}

// NewInPublisher publishes to bus b's pipeline input subject. On bus 1 it
// also publishes the frontend's terminal records (SendFinal).
func NewInPublisher(js jetstream.JetStream, s Subjects, b cordon.Bus, signer *envelope.Signer, m *Metrics) *Publisher {
	subj := s.In(b)
	p := &Publisher{js: js, bus: b, signer: signer, metrics: m,
		subject: func(*cordon.Message) (string, error) { return subj, nil }}
	if b == cordon.BusDirtyReq {
		p.final = s.Final(b)
	}
	return p
}

// NewReplyPublisher publishes to the reply subject of the frontend named in
// each message's ReplyTo.
func NewReplyPublisher(js jetstream.JetStream, s Subjects, b cordon.Bus, signer *envelope.Signer, m *Metrics) *Publisher {
	return &Publisher{js: js, bus: b, signer: signer, metrics: m,
		subject: func(msg *cordon.Message) (string, error) {
			// ReplyTo came in a verified message, but it becomes a subject
			// token: check it anyway.
			if !ValidToken(msg.ReplyTo) {
				return "", fmt.Errorf("reply target %q is not a valid token", msg.ReplyTo)
			}
			return s.Reply(b, msg.ReplyTo), nil
		}}
}

// Send signs m and waits until the bus has stored it (publish ack). The
// JetStream message id is derived from the request id and this stage, so a
// redelivered input that is processed again is stored once.
func (p *Publisher) Send(ctx context.Context, m *cordon.Message) error {
	subj, err := p.subject(m)
	if err != nil {
		return &cordon.Error{Op: "publish " + p.bus.String(), Kind: cordon.KindInternal, Err: err}
	}
	return p.send(ctx, m, subj, MsgID(m.ID, p.signer.Stage()), p.retry, m.Deadline)
}

// SendFinal signs m and stores it on the bus's terminal-record subject
// (Subjects.Final) under FinalMsgID: the frontend's statement of how it
// answered a request on its own. Unlike Send it ignores m's deadline (a
// terminal record is often written because the deadline passed): ctx alone
// bounds it, and within ctx an unacknowledged publish is retried as by a
// Retrying publisher, under the same message id.
func (p *Publisher) SendFinal(ctx context.Context, m *cordon.Message) error {
	if p.final == "" {
		return &cordon.Error{Op: "publish " + p.bus.String(), Kind: cordon.KindInternal,
			Err: errors.New("this publisher has no terminal-record subject")}
	}
	return p.send(ctx, m, p.final, FinalMsgID(m.ID, p.signer.Stage()), true, time.Time{})
}

func (p *Publisher) send(ctx context.Context, m *cordon.Message, subj, msgID string, retry bool, deadline time.Time) error {
	bp := bufPool.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= 1<<20 {
			bufPool.Put(bp)
		}
	}()
	data, err := envelope.Seal((*bp)[:0], m, p.signer)
	if err != nil {
		// More than an envelope carries (header counts, status range):
		// as final as an oversized message, so not retried.
		return &cordon.Error{Op: "publish " + p.bus.String(), Kind: cordon.KindTooLarge, Err: err}
	}
	*bp = data
	msg := &nats.Msg{Subject: subj, Data: data, Header: nats.Header{jetstream.MsgIDHeader: []string{msgID}}}
	ack, err := p.publish(ctx, msg, retry, deadline)
	if err != nil {
		p.metrics.Published.WithLabelValues(p.bus.String(), "error").Inc()
		kind := cordon.KindUnavailable
		switch {
		case errors.Is(err, nats.ErrMaxPayload):
			kind = cordon.KindTooLarge // final: retrying cannot make it fit
		case errors.Is(err, context.DeadlineExceeded) && passed(deadline):
			kind = cordon.KindExpired
		}
		return &cordon.Error{Op: "publish " + p.bus.String(), Kind: kind, Err: err}
	}
	result := "ok"
	if ack.duplicate {
		result = "duplicate"
	}
	p.metrics.Published.WithLabelValues(p.bus.String(), result).Inc()
	return nil
}
