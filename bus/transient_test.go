package bus

import (
	"context"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// A publish that failed because the connection was away is retried; one
// the server answered and refused is not.
func TestTransient(t *testing.T) {
	for _, err := range []error{context.DeadlineExceeded, nats.ErrTimeout, nats.ErrNoResponders,
		jetstream.ErrNoStreamResponse, nats.ErrConnectionReconnecting, nats.ErrConnectionClosed,
		nats.ErrDisconnected, nats.ErrReconnectBufExceeded, fmt.Errorf("wrapped: %w", nats.ErrReconnectBufExceeded)} {
		if !transient(err) {
			t.Errorf("%v: not retried", err)
		}
	}
	for _, err := range []error{&jetstream.APIError{Code: 503, ErrorCode: 10077, Description: "maximum messages exceeded"},
		nats.ErrMaxPayload, nats.ErrBadSubject} {
		if transient(err) {
			t.Errorf("%v: retried", err)
		}
	}
}
