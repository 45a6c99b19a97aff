package cordon

import (
	"net/http"
	"time"
)

// Message is what crosses every bus: one envelope type for all four. The
// producing stage signs its encoding (see package envelope), request id and
// deadline included, and every consumer accepts it only from the one
// producer key it expects.
type Message struct {
	ID       RequestID
	Producer Stage     // the stage that produced and signed this message
	Deadline time.Time // after it, every stage drops the message
	// ReplyTo names the frontend instance waiting for the answer. It is a
	// cordon-chosen token, never client input.
	ReplyTo string
	Trace   Trace

	// Request is the HTTP head of the client request. On the response buses
	// it keeps method, path and query (so the response validator knows the
	// operation) and drops the headers.
	Request RequestHead
	// Response is set on messages that carry an upstream response.
	Response *ResponseHead
	// Outcome is set when a stage ended the request: a rejection by the
	// request validator, an upstream failure, a blocked response.
	Outcome Outcome
	// Verdict is what the validators decided, for the audit trail.
	Verdict Verdict
	// Body is the body of whichever direction this message carries, raw.
	Body []byte
}

// Expired reports whether the deadline has passed at now.
func (m *Message) Expired(now time.Time) bool { return !m.Deadline.After(now) }

// Trace is W3C trace context, carried verbatim.
type Trace struct {
	Parent string // traceparent
	State  string // tracestate
}

// RequestHead is the HTTP head of a client request as the frontend received
// it. Header keys are canonical (net/http form); hop-by-hop headers are
// already removed.
type RequestHead struct {
	Method   string
	Path     string // escaped path exactly as received
	RawQuery string
	Host     string
	Header   http.Header
	Client   string // client IP address, as the frontend saw or trusted it
	// Operation is the API operation the request validator matched
	// ("api/operationId"); empty before validation.
	Operation string
}

// ResponseHead is the HTTP head of an upstream response.
type ResponseHead struct {
	Status int
	Header http.Header
}

// Outcome is a terminal decision by some stage. The frontend turns it into
// an RFC 9457 problem; Rule and Pointer say which rule failed and where,
// never why in internal terms.
type Outcome struct {
	Kind    ErrorKind
	Rule    string // e.g. "request.body.schema"
	Pointer string // JSON pointer or parameter location, e.g. "/items/0/price"
}

// Action is what a rule does when it fires.
type Action uint8

// Actions, append-only.
const (
	ActionReport Action = iota // record only (monitor mode)
	ActionBlock                // refuse the message
	ActionRedact               // mask the offending bytes, pass the rest
	ActionDrop                 // remove the offending part (header, field)
)

var actionNames = [...]string{"report", "block", "redact", "drop"}

func (a Action) String() string {
	if int(a) < len(actionNames) {
		return actionNames[a]
	}
	return "unknown"
}

// Finding is one structured decision by a validator.
type Finding struct {
	Stage   Stage
	Rule    string
	Action  Action
	Pointer string
	// Detail is for logs and the audit trail only, never for clients.
	Detail string
}

// Verdict is every finding of the validators that judged a message, and the
// version of the policy that judged it.
type Verdict struct {
	PolicyVersion string
	Findings      []Finding
}

// BusRecord is one message exactly as it sat on a bus, for the audit trail:
// where it was (bus, stream sequence, subject), when the stream stored it,
// and the signed envelope bytes, verbatim. Nothing in Data is believed
// until verified.
type BusRecord struct {
	Bus     Bus
	Seq     uint64
	Subject string
	Time    time.Time
	Data    []byte
}
