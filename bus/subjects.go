package bus

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/cordon-gateway/cordon"
)

// Every subject, stream, consumer and NATS header name cordon uses lives in
// this file.
//
// With prefix P (default "cordon") each bus has one stream capturing P.<bus>.>:
//
//	bus 1 dirty-req   P.dirty-req.in               frontend -> request validator
//	                  P.dirty-req.reply.<frontend> request validator -> frontend (rejections)
//	                  P.dirty-req.final            frontend -> audit (terminal records)
//	bus 2 clean-req   P.clean-req.in               request validator -> backend
//	bus 3 dirty-resp  P.dirty-resp.in              backend -> response validator
//	                  P.dirty-resp.reply.<frontend> backend -> frontend (single validation)
//	bus 4 clean-resp  P.clean-resp.reply.<frontend> response validator -> frontend
//
// Pipeline inputs (".in") are read by one durable pull consumer per stage;
// replies are read by the waiting frontend with a core subscription on its
// own reply subject (the stream still stores them, for the audit). Every
// stream also has a durable "audit" consumer that sees every subject.
//
// A terminal record ("final") is the frontend's signed statement of how it
// answered a request on its own after handing it to bus 1 (504 deadline,
// 503 bus.dirty-req, or a client that went away): no stage reads it, the
// pipeline readers' consumers filter on ".in", so only the audit consumer
// has interest in it, and it ends the request's audit trail explicitly.

// DefaultPrefix is the subject prefix when the configuration names none.
const DefaultPrefix = "cordon"

// Consumer names. One durable per reading role, shared by its replicas.
const (
	ConsumerRequestValidator  = "request-validator"
	ConsumerBackend           = "backend"
	ConsumerResponseValidator = "response-validator"
	ConsumerAudit             = "audit"
)

// NATS header names cordon sets. Client-controlled values never become NATS
// headers: client headers travel inside the signed envelope.
const (
	HeaderMsgID = "Nats-Msg-Id" // JetStream dedupe, derived from the request id
)

var tokenRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// ValidToken reports whether s may be used as a prefix or a frontend id: it
// becomes a subject token, so it is restricted to a safe alphabet.
func ValidToken(s string) bool { return tokenRE.MatchString(s) }

// Subjects derives every name from a prefix.
type Subjects struct {
	prefix string
}

// NewSubjects checks prefix and returns the names derived from it.
func NewSubjects(prefix string) (Subjects, error) {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if !ValidToken(prefix) {
		return Subjects{}, fmt.Errorf("bus: prefix %q: want lower-case letters, digits, '-' or '_'", prefix)
	}
	return Subjects{prefix: prefix}, nil
}

// Prefix is the subject prefix.
func (s Subjects) Prefix() string { return s.prefix }

// Stream is the name of bus b's stream, e.g. CORDON_DIRTY_REQ.
func (s Subjects) Stream(b cordon.Bus) string {
	return strings.ToUpper(strings.NewReplacer("-", "_").Replace(s.prefix + "_" + b.String()))
}

// All is the wildcard subject bus b's stream captures.
func (s Subjects) All(b cordon.Bus) string { return s.prefix + "." + b.String() + ".>" }

// In is the pipeline input subject on bus b.
func (s Subjects) In(b cordon.Bus) string { return s.prefix + "." + b.String() + ".in" }

// Reply is the subject on bus b where frontend id receives its answers.
func (s Subjects) Reply(b cordon.Bus, frontend string) string {
	return s.prefix + "." + b.String() + ".reply." + frontend
}

// Final is the subject on bus b of the frontend's terminal records. Only
// bus 1 carries them (the frontend's one output bus).
func (s Subjects) Final(b cordon.Bus) string { return s.prefix + "." + b.String() + ".final" }

// Replies is the wildcard of every frontend's reply subject on bus b.
func (s Subjects) Replies(b cordon.Bus) string { return s.prefix + "." + b.String() + ".reply.*" }

// LedgerBucket is the key-value bucket (on bus 2) where the backend records
// which requests it has sent upstream, for at-most-once delivery.
func (s Subjects) LedgerBucket() string {
	return strings.ToUpper(strings.NewReplacer("-", "_").Replace(s.prefix)) + "_BACKEND_LEDGER"
}

// MsgID is the JetStream dedupe id of the message stage publishes for
// request id: a redelivered input produces the same id, so JetStream
// stores its output once.
func MsgID(id cordon.RequestID, stage cordon.Stage) string {
	return id.String() + "." + stage.String()
}

// FinalMsgID is the JetStream dedupe id of stage's terminal record of
// request id, e.g. "<id>.frontend-final": distinct from the id of the
// request itself (MsgID), and the same on every attempt, so a retried
// terminal record is stored once.
func FinalMsgID(id cordon.RequestID, stage cordon.Stage) string {
	return id.String() + "." + stage.String() + "-final"
}
