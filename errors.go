package cordon

import (
	"errors"
	"fmt"
)

// ErrorKind classifies a failure. Kinds travel in envelopes and audit rows,
// so the list is append-only. The frontend maps each to an HTTP status in
// one table (frontend/problem.go).
type ErrorKind uint8

// Error kinds, append-only.
const (
	KindNone             ErrorKind = iota
	KindInternal                   // a bug or unexpected state: 500
	KindInvalid                    // malformed request: 400
	KindUnauthorized               // missing or bad credentials: 401
	KindDenied                     // authenticated but not allowed: 403
	KindNotFound                   // no such route: 404
	KindMethodNotAllowed           // route known, method not: 405
	KindTooLarge                   // body over a limit: 413
	KindURITooLong                 // URL over a limit: 414
	KindUnsupportedMedia           // content type not declared: 415
	KindHeadersTooLarge            // header count or size over a limit: 431
	KindRateLimited                // 429
	KindExpired                    // deadline passed: 504
	KindUpstream                   // upstream failed or misbehaved: 502
	KindUnavailable                // a bus or stage is down or saturated: 503
	KindBlocked                    // the response validator blocked the answer: 502
	KindDuplicate                  // redelivered with unknown outcome, not resent: 502
)

var kindNames = [...]string{"none", "internal", "invalid", "unauthorized", "denied",
	"not-found", "method-not-allowed", "too-large", "uri-too-long", "unsupported-media",
	"headers-too-large", "rate-limited", "expired", "upstream", "unavailable", "blocked", "duplicate"}

func (k ErrorKind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Error is cordon's one error type: an operation, a kind, and the rule and
// location that failed. Err holds internal detail for logs only.
type Error struct {
	Op      string
	Kind    ErrorKind
	Rule    string
	Pointer string
	Err     error
}

func (e *Error) Error() string {
	s := e.Op + ": " + e.Kind.String()
	if e.Rule != "" {
		s += " (" + e.Rule
		if e.Pointer != "" {
			s += " at " + e.Pointer
		}
		s += ")"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the kind of the first *Error in err's chain, KindInternal
// for any other non-nil error, and KindNone for nil.
func KindOf(err error) ErrorKind {
	if err == nil {
		return KindNone
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}

// OutcomeOf turns an error into the Outcome that travels to the frontend:
// the kind, rule and pointer, and nothing of the internal cause.
func OutcomeOf(err error) Outcome {
	var e *Error
	if errors.As(err, &e) {
		return Outcome{Kind: e.Kind, Rule: e.Rule, Pointer: e.Pointer}
	}
	return Outcome{Kind: KindOf(err)}
}
