package trail

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/cordon-gateway/cordon"
	"golang.org/x/mod/sumdb/tlog"
)

// SigStatus is what the shipper found when it checked a message's envelope
// signature against the key of the stage that must have produced it.
// Values are stored, so the list is append-only.
type SigStatus uint8

// Signature statuses, append-only.
const (
	SigNone       SigStatus = iota // never stored
	SigVerified                    // signed by a trusted key of the expected stage
	SigMalformed                   // not a well-formed envelope
	SigUnknownKey                  // signed by a key not trusted for the expected stage
	SigBad                         // key trusted, signature wrong
	SigWrongStage                  // signature fine, but the envelope names another producer
	SigUnchecked                   // no key was configured for the expected stage
)

var sigNames = [...]string{"none", "verified", "malformed", "unknown-key", "bad-signature", "wrong-stage", "unchecked"}

func (s SigStatus) String() string {
	if int(s) < len(sigNames) {
		return sigNames[s]
	}
	return fmt.Sprintf("sig(%d)", uint8(s))
}

// Refused reports whether a consumer would have refused the message.
func (s SigStatus) Refused() bool { return s != SigVerified && s != SigUnchecked }

// Capture says how much of a body was kept. Values are stored: append-only.
type Capture uint8

// Capture modes, append-only.
const (
	CaptureNone   Capture = iota // never stored
	CaptureFull                  // the body as it was on the bus
	CaptureHash                  // only its SHA-256 and length
	CaptureRedact                // the body with what the data-loss detectors found masked
)

var captureNames = [...]string{"none", "full", "hash", "redact"}

func (c Capture) String() string {
	if int(c) < len(captureNames) {
		return captureNames[c]
	}
	return fmt.Sprintf("capture(%d)", uint8(c))
}

// ParseCapture reads "full", "hash" or "redact".
func ParseCapture(s string) (Capture, error) {
	for i, n := range captureNames[1:] {
		if s == n {
			return Capture(i + 1), nil
		}
	}
	return CaptureNone, fmt.Errorf("unknown capture mode %q (want full, hash or redact)", s)
}

// Record is one bus message as the audit stores it. Every field is part of
// the record's leaf in the bus's Merkle log, so a change to any stored
// column changes the tree. Strings are valid UTF-8 without NUL (see Clean)
// so that every store keeps them byte for byte; times have microsecond
// precision for the same reason.
type Record struct {
	Bus     cordon.Bus
	Seq     uint64    // stream sequence: the record's place in the log
	Time    time.Time // when the stream stored the message (not insert time): the partition key
	Subject string

	// What the envelope claims, believed only as far as Sig says.
	RequestID cordon.RequestID // zero if the envelope could not be parsed
	Producer  cordon.Stage     // stage named in the envelope
	Expected  cordon.Stage     // stage whose key must have signed it
	Sig       SigStatus
	KeyID     []byte // 8 bytes, or empty for a malformed envelope
	Signature []byte // 64 bytes, or empty for a malformed envelope
	// EnvelopeSHA256 is the digest of the message bytes exactly as received.
	EnvelopeSHA256 [32]byte
	EnvelopeLen    int64
	// Envelope is the message bytes verbatim, kept only when nothing in it
	// must be masked (capture full, no credential header or parameter), so
	// that verify can check the producer's signature again. Otherwise nil.
	Envelope []byte

	Deadline time.Time // zero if unparsed
	Expired  bool      // the deadline had passed when the stream stored it

	Method    string
	Path      string
	Query     string // credential-like parameters masked
	Host      string
	Client    string
	Operation string
	Status    int    // response status, 0 on request messages
	ReqHeader string // JSON object, credential headers masked
	// RespHeader is the response head's headers as JSON, credentials masked.
	RespHeader     string
	Outcome        cordon.ErrorKind
	OutcomeRule    string
	OutcomePointer string
	PolicyVersion  string
	Findings       string // JSON array of findings
	TraceParent    string

	Capture    Capture
	Body       []byte // nil when Capture is CaptureHash
	BodySHA256 [32]byte
	BodyLen    int64
	Masked     int32 // how many values were masked (headers, parameters, detector matches)

	// Leaf is the record's leaf hash as the shipper computed it. Verify
	// recomputes it from the other fields; a mismatch names the record.
	Leaf tlog.Hash
}

// leafVersion separates leaf encodings; bump it and keep the old one to change the layout.
const leafVersion = "cordon/audit/leaf/v1\n"

// LeafData is the canonical encoding of every stored field of r, the input
// of its leaf hash.
func (r *Record) LeafData() []byte {
	return r.appendLeafData(make([]byte, 0, 256+len(r.Body)+len(r.Envelope)+len(r.ReqHeader)+len(r.RespHeader)+len(r.Findings)))
}

func (r *Record) appendLeafData(b []byte) []byte {
	b = append(b, leafVersion...)
	b = append(b, byte(r.Bus))
	b = binary.BigEndian.AppendUint64(b, r.Seq)
	b = appendTime(b, r.Time)
	b = appendStr(b, r.Subject)
	b = append(b, r.RequestID[:]...)
	b = append(b, byte(r.Producer), byte(r.Expected), byte(r.Sig))
	b = appendBytes(b, r.KeyID)
	b = appendBytes(b, r.Signature)
	b = append(b, r.EnvelopeSHA256[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(r.EnvelopeLen))
	b = appendOptBytes(b, r.Envelope)
	b = appendTime(b, r.Deadline)
	b = appendBool(b, r.Expired)
	for _, s := range []string{r.Method, r.Path, r.Query, r.Host, r.Client, r.Operation} {
		b = appendStr(b, s)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(r.Status))
	b = appendStr(b, r.ReqHeader)
	b = appendStr(b, r.RespHeader)
	b = append(b, byte(r.Outcome))
	b = appendStr(b, r.OutcomeRule)
	b = appendStr(b, r.OutcomePointer)
	b = appendStr(b, r.PolicyVersion)
	b = appendStr(b, r.Findings)
	b = appendStr(b, r.TraceParent)
	b = append(b, byte(r.Capture))
	b = appendOptBytes(b, r.Body)
	b = append(b, r.BodySHA256[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(r.BodyLen))
	b = binary.BigEndian.AppendUint32(b, uint32(r.Masked))
	return b
}

// leafBufs holds LeafData buffers for ComputeLeaf: the encoding holds the
// body and the envelope, and was the audit's largest allocation.
var leafBufs = sync.Pool{New: func() any { return new([]byte) }}

// ComputeLeaf returns the leaf hash of r's stored fields.
func (r *Record) ComputeLeaf() tlog.Hash {
	bp := leafBufs.Get().(*[]byte)
	b := r.appendLeafData((*bp)[:0])
	h := tlog.RecordHash(b)
	if cap(b) <= 1<<20 {
		*bp = b
		leafBufs.Put(bp)
	}
	return h
}

// Key identifies r in its log.
func (r *Record) Key() string { return fmt.Sprintf("%s#%d", r.Bus, r.Seq) }

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendBytes(b, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

// appendOptBytes separates nil (not kept) from empty (kept, zero length).
func appendOptBytes(b, v []byte) []byte {
	if v == nil {
		return append(b, 0)
	}
	return appendBytes(append(b, 1), v)
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// appendTime writes microseconds since the epoch, or a zero marker.
func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, 0)
	}
	return binary.BigEndian.AppendUint64(append(b, 1), uint64(t.UnixMicro()))
}

// Clean makes s storable byte for byte in every store: invalid UTF-8 and
// NUL (which PostgreSQL text refuses) become U+FFFD. Attacker-chosen bytes
// must never make a batch unwritable.
func Clean(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// Micro truncates t to the microsecond precision every store keeps, in UTC.
func Micro(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return time.UnixMicro(t.UnixMicro()).UTC()
}

// Sum is SHA-256, named for the record fields it fills.
func Sum(b []byte) [32]byte { return sha256.Sum256(b) }
