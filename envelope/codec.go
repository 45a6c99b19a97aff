package envelope

import (
	"crypto/ed25519"
	"crypto/hmac"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/cordon-gateway/cordon"
)

// Version is the payload version this package writes and reads.
const Version = 1

// The authentication algorithms of the alg byte.
const (
	algEd25519 = 1 // Ed25519ctx signature (the default)
	algHMAC    = 2 // HMAC-SHA-512 under a link key shared by producer and consumers

	magic0, magic1, magic2 = 'C', 'D', 'N'

	// HeaderSize is the fixed prefix before the payload.
	HeaderSize = 3 + 1 + 1 + 8 + ed25519.SignatureSize

	// Caps on counts, so a tiny message cannot make the decoder allocate
	// much. Lengths are always checked against the bytes that remain.
	maxHeaderFields = 1024
	maxHeaderValues = 1024
	maxFindings     = 4096
)

// Errors returned by Open and Parse. They are stable so callers can count
// refusals by cause.
var (
	ErrMalformed    = errors.New("envelope: malformed")
	ErrUnknownKey   = errors.New("envelope: signed by an untrusted key")
	ErrBadSignature = errors.New("envelope: bad signature")
	ErrWrongStage   = errors.New("envelope: produced by an unexpected stage")
)

// Seal encodes m, signs it with s and appends the wire form to dst. The
// producer field is set to the signer's stage.
func Seal(dst []byte, m *cordon.Message, s *Signer) ([]byte, error) {
	if err := sealable(m); err != nil {
		return dst, err
	}
	start := len(dst)
	dst = append(dst, magic0, magic1, magic2, Version, algEd25519)
	dst = append(dst, s.id[:]...)
	sigAt := len(dst)
	dst = append(dst, make([]byte, ed25519.SignatureSize)...)
	payloadAt := len(dst)
	m.Producer = s.stage
	dst = appendPayload(dst, m)
	if s.link != nil {
		dst[start+4] = algHMAC
		copy(dst[sigAt:], linkMAC(s.link, dst[payloadAt:]))
		return dst, nil
	}
	sig, err := sign(s.priv, dst[payloadAt:])
	if err != nil {
		return dst[:start], fmt.Errorf("envelope: sign: %w", err)
	}
	copy(dst[sigAt:], sig)
	return dst, nil
}

// sealable refuses what every consumer's Open would refuse, so a producer
// learns at once (and answers its client) instead of publishing a message
// that is silently dropped downstream.
func sealable(m *cordon.Message) error {
	if m.Response != nil && (m.Response.Status < 100 || m.Response.Status > 999) {
		return fmt.Errorf("envelope: status %d out of range", m.Response.Status)
	}
	if y := m.Deadline.Year(); !m.Deadline.IsZero() && (y < 1900 || y > 2200) {
		return fmt.Errorf("envelope: deadline %v out of range", m.Deadline)
	}
	if len(m.Verdict.Findings) > maxFindings {
		return fmt.Errorf("envelope: %d findings, over the cap of %d", len(m.Verdict.Findings), maxFindings)
	}
	for _, h := range []http.Header{m.Request.Header, responseHeader(m)} {
		if len(h) > maxHeaderFields {
			return fmt.Errorf("envelope: %d header fields, over the cap of %d", len(h), maxHeaderFields)
		}
		for _, vs := range h {
			if len(vs) > maxHeaderValues {
				return fmt.Errorf("envelope: %d header values, over the cap of %d", len(vs), maxHeaderValues)
			}
		}
	}
	return nil
}

func responseHeader(m *cordon.Message) http.Header {
	if m.Response == nil {
		return nil
	}
	return m.Response.Header
}

// Info is what the fixed prefix of a wire message says, before anything is
// believed.
type Info struct {
	Link      bool // authenticated with a link key (HMAC), not an Ed25519 signature
	KeyID     KeyID
	Signature []byte // aliases the wire bytes
	Payload   []byte // aliases the wire bytes
}

// Split reads the fixed prefix of a wire message.
func Split(wire []byte) (Info, error) {
	if len(wire) < HeaderSize || wire[0] != magic0 || wire[1] != magic1 || wire[2] != magic2 {
		return Info{}, ErrMalformed
	}
	if wire[3] != Version || (wire[4] != algEd25519 && wire[4] != algHMAC) {
		return Info{}, fmt.Errorf("%w: version %d alg %d", ErrMalformed, wire[3], wire[4])
	}
	in := Info{Link: wire[4] == algHMAC}
	copy(in.KeyID[:], wire[5:13])
	in.Signature = wire[13:HeaderSize]
	in.Payload = wire[HeaderSize:]
	return in, nil
}

// Open verifies wire against v and decodes it. The returned message's Body
// aliases wire. A message is believed only after its signature verified
// under a key v trusts and its producer field names v's stage.
func Open(wire []byte, v *Verifier) (*cordon.Message, error) {
	in, err := Split(wire)
	if err != nil {
		return nil, err
	}
	if err := v.check(in); err != nil {
		return nil, err
	}
	m, err := decodePayload(in.Payload)
	if err != nil {
		return nil, err
	}
	if m.Producer != v.stage {
		return nil, ErrWrongStage
	}
	return m, nil
}

// Parse decodes wire without verifying it, for the audit trail, which
// records refused messages too. Nothing it returns may steer processing.
func Parse(wire []byte) (*cordon.Message, Info, error) {
	in, err := Split(wire)
	if err != nil {
		return nil, Info{}, err
	}
	m, err := decodePayload(in.Payload)
	return m, in, err
}

// VerifyWith checks the signature of wire against one public key, for
// offline verification (audit verify) where the key is looked up by id.
func VerifyWith(wire []byte, pub ed25519.PublicKey) error {
	in, err := Split(wire)
	if err != nil {
		return err
	}
	if in.Link || KeyIDOf(pub) != in.KeyID {
		return ErrUnknownKey
	}
	if err := ed25519.VerifyWithOptions(pub, in.Payload, in.Signature, signOpts); err != nil {
		return ErrBadSignature
	}
	return nil
}

// VerifyLinkWith checks the HMAC of wire against one link key, for offline
// verification (audit verify) where the key is looked up by id.
func VerifyLinkWith(wire []byte, key LinkKey) error {
	in, err := Split(wire)
	if err != nil {
		return err
	}
	if !in.Link || LinkKeyIDOf(key) != in.KeyID {
		return ErrUnknownKey
	}
	if !hmac.Equal(linkMAC(key, in.Payload), in.Signature) {
		return ErrBadSignature
	}
	return nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendHeader(b []byte, h http.Header) []byte {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys) // deterministic bytes for identical messages
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		b = appendString(b, k)
		vs := h[k]
		b = binary.AppendUvarint(b, uint64(len(vs)))
		for _, v := range vs {
			b = appendString(b, v)
		}
	}
	return b
}

func appendPayload(b []byte, m *cordon.Message) []byte {
	b = append(b, byte(m.Producer))
	b = append(b, m.ID[:]...)
	var deadline int64 // the zero time encodes as 0 and reads back as already expired
	if !m.Deadline.IsZero() {
		deadline = m.Deadline.UnixNano()
	}
	b = binary.BigEndian.AppendUint64(b, uint64(deadline))
	b = appendString(b, m.ReplyTo)
	b = appendString(b, m.Trace.Parent)
	b = appendString(b, m.Trace.State)

	r := &m.Request
	b = appendString(b, r.Method)
	b = appendString(b, r.Path)
	b = appendString(b, r.RawQuery)
	b = appendString(b, r.Host)
	b = appendString(b, r.Client)
	b = appendString(b, r.Operation)
	b = appendHeader(b, r.Header)

	if m.Response == nil {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		b = binary.BigEndian.AppendUint16(b, uint16(m.Response.Status))
		b = appendHeader(b, m.Response.Header)
	}

	b = append(b, byte(m.Outcome.Kind))
	b = appendString(b, m.Outcome.Rule)
	b = appendString(b, m.Outcome.Pointer)

	b = appendString(b, m.Verdict.PolicyVersion)
	b = binary.AppendUvarint(b, uint64(len(m.Verdict.Findings)))
	for _, f := range m.Verdict.Findings {
		b = append(b, byte(f.Stage), byte(f.Action))
		b = appendString(b, f.Rule)
		b = appendString(b, f.Pointer)
		b = appendString(b, f.Detail)
	}

	b = binary.AppendUvarint(b, uint64(len(m.Body)))
	return append(b, m.Body...)
}
