package bus

import (
	"context"
	"errors"

	"github.com/cordon-gateway/cordon"
	"github.com/nats-io/nats.go/jetstream"
)

// Ledger records which requests the backend has sent upstream. A claim is
// an atomic create of the request id's key: the first claim wins, and every
// later one (a redelivery, another replica, a replay) learns that the
// request was already taken. Keys expire after the dedupe window.
type Ledger struct {
	kv jetstream.KeyValue
}

// NewLedger binds the ledger bucket (created by Provision).
func NewLedger(ctx context.Context, js jetstream.JetStream, s Subjects) (*Ledger, error) {
	kv, err := js.KeyValue(ctx, s.LedgerBucket())
	if err != nil {
		return nil, err
	}
	return &Ledger{kv: kv}, nil
}

// Claim reports whether this is the first claim of id.
func (l *Ledger) Claim(ctx context.Context, id cordon.RequestID) (bool, error) {
	_, err := l.kv.Create(ctx, id.String(), []byte{1})
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, jetstream.ErrKeyExists):
		return false, nil
	default:
		return false, &cordon.Error{Op: "ledger claim", Kind: cordon.KindUnavailable, Err: err}
	}
}
