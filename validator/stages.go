package validator

import (
	"context"
	"log/slog"

	"github.com/cordon-gateway/cordon"
)

// Request is the request validator stage.
type Request struct {
	policy  *Policy[RequestChecker]
	forward Sender // bus 2
	reject  Sender // bus 1, to the waiting frontend
	met     *Metrics
	log     *slog.Logger
}

// NewRequest builds the request validator stage.
func NewRequest(policy *Policy[RequestChecker], forward, reject Sender, met *Metrics, log *slog.Logger) *Request {
	return &Request{policy: policy, forward: forward, reject: reject, met: met, log: log}
}

// Handle judges one request from bus 1: what passes goes to bus 2 as
// re-serialised by the policy, what fails goes back to its frontend.
// Rejected requests never reach bus 2.
func (v *Request) Handle(ctx context.Context, m *cordon.Message, _ int) error {
	if JudgeRequest(v.policy.Load(), m, v.met, v.log) {
		return v.forward.Send(ctx, m)
	}
	m.Request.Header = nil
	return v.reject.Send(ctx, m)
}

// Response is the response validator stage.
type Response struct {
	policy  *Policy[ResponseChecker]
	forward Sender // bus 4, to the waiting frontend
	met     *Metrics
	log     *slog.Logger
}

// NewResponse builds the response validator stage.
func NewResponse(policy *Policy[ResponseChecker], forward Sender, met *Metrics, log *slog.Logger) *Response {
	return &Response{policy: policy, forward: forward, met: met, log: log}
}

// Handle judges one answer from bus 3 and forwards it, or the generic error
// it became, to bus 4.
func (v *Response) Handle(ctx context.Context, m *cordon.Message, _ int) error {
	JudgeResponse(v.policy.Load(), m, v.met, v.log)
	return v.forward.Send(ctx, m)
}
