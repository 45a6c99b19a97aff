package envelope_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/envelope"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current encoder")

// Deterministic keys: Ed25519 signatures are deterministic too, so a sealed
// message is byte-for-byte reproducible (the golden files rely on it).
var (
	frontendKey  = keyFromSeed(1)
	frontendKey2 = keyFromSeed(2) // the frontend's next key, during a rotation
	validatorKey = keyFromSeed(3) // the request validator's key
	strangerKey  = keyFromSeed(4) // trusted by nobody
)

func keyFromSeed(n byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{n}, ed25519.SeedSize))
}

func pub(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

func newSigner(t testing.TB, st cordon.Stage, k ed25519.PrivateKey) *envelope.Signer {
	t.Helper()
	s, err := envelope.NewSigner(st, k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newVerifier(t testing.TB, st cordon.Stage, keys ...ed25519.PrivateKey) *envelope.Verifier {
	t.Helper()
	pubs := make([]ed25519.PublicKey, len(keys))
	for i, k := range keys {
		pubs[i] = pub(k)
	}
	v, err := envelope.NewVerifier(st, pubs...)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func seal(t testing.TB, m *cordon.Message, s *envelope.Signer) []byte {
	t.Helper()
	w, err := envelope.Seal(nil, m, s)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

var (
	fixedID       = mustID("01943b6e-2c00-7abc-8def-0123456789ab")
	fixedDeadline = time.Date(2025, 1, 2, 3, 4, 35, 123456789, time.UTC)
)

func mustID(s string) cordon.RequestID {
	id, err := cordon.ParseRequestID(s)
	if err != nil {
		panic(err)
	}
	return id
}

// requestMessage is a typical message on bus 1: every request field set.
func requestMessage() *cordon.Message {
	return &cordon.Message{
		ID:       fixedID,
		Producer: cordon.StageFrontend,
		Deadline: fixedDeadline,
		ReplyTo:  "fe-1",
		Trace: cordon.Trace{
			Parent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
			State:  "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7",
		},
		Request: cordon.RequestHead{
			Method:   http.MethodGet,
			Path:     "/v1/items/42%2Fa",
			RawQuery: "q=a+b&x=%00",
			Host:     "api.example.com",
			Client:   "192.0.2.7",
			Header: http.Header{
				"Accept":     {"application/json"},
				"User-Agent": {"curl/8.5.0"},
				"X-Multi":    {"one", "two", ""},
			},
		},
	}
}

// responseMessage is a typical message on bus 3 or 4: a response head,
// verdict findings and a JSON body.
func responseMessage() *cordon.Message {
	m := requestMessage()
	m.Request.Header = nil
	m.Request.Operation = "items/getItem"
	m.Response = &cordon.ResponseHead{
		Status: http.StatusOK,
		Header: http.Header{"Content-Type": {"application/json"}, "Cache-Control": {"no-store"}},
	}
	m.Verdict = cordon.Verdict{
		PolicyVersion: "sha256:0f1e2d",
		Findings: []cordon.Finding{
			{Stage: cordon.StageRequestValidator, Rule: "request.header.deny", Action: cordon.ActionDrop, Pointer: "header/X-Debug", Detail: "dropped"},
			{Stage: cordon.StageResponseValidator, Rule: "dlp.card", Action: cordon.ActionRedact, Pointer: "/card", Detail: "luhn match"},
		},
	}
	m.Body = []byte(`{"id":42,"card":"****************"}`)
	return m
}

func TestSealOpenRoundTrip(t *testing.T) {
	allBytes := make([]byte, 256)
	for i := range allBytes {
		allBytes[i] = byte(i)
	}
	manyHeaders := http.Header{}
	for i := range envelope.MaxHeaderFields {
		manyHeaders[fmt.Sprintf("X-H%04d", i)] = []string{"v"}
	}
	manyValues := http.Header{"X-Many": make([]string, envelope.MaxHeaderValues)}
	manyFindings := make([]cordon.Finding, envelope.MaxFindings)

	tests := []struct {
		name string
		in   func(m *cordon.Message)
		// want adjusts the expected decoded message where the codec
		// normalises (nil for identity).
		want func(m *cordon.Message)
	}{
		{name: "request head", in: func(m *cordon.Message) {}},
		{name: "minimal", in: func(m *cordon.Message) { *m = cordon.Message{ID: fixedID, Deadline: fixedDeadline} }},
		{name: "nil body stays nil", in: func(m *cordon.Message) { m.Body = nil }},
		{
			name: "empty body decodes as nil",
			in:   func(m *cordon.Message) { m.Body = []byte{} },
			want: func(m *cordon.Message) { m.Body = nil },
		},
		{name: "binary body", in: func(m *cordon.Message) { m.Body = allBytes }},
		{
			name: "empty header map decodes as nil",
			in:   func(m *cordon.Message) { m.Request.Header = http.Header{} },
			want: func(m *cordon.Message) { m.Request.Header = nil },
		},
		{
			name: "header name without values keeps an empty list",
			in:   func(m *cordon.Message) { m.Request.Header = http.Header{"X-Empty": nil} },
			want: func(m *cordon.Message) { m.Request.Header = http.Header{"X-Empty": {}} },
		},
		{name: "non-canonical and odd header names verbatim", in: func(m *cordon.Message) {
			m.Request.Header = http.Header{"traceparent": {"x"}, "": {"empty name"}, "X-Nul\x00": {"\xff\xfe"}}
		}},
		{name: "strings with NUL and invalid UTF-8 verbatim", in: func(m *cordon.Message) {
			m.Request.Path = "/a\x00b\xff"
			m.ReplyTo = "\xc3\x28"
		}},
		{name: "response head", in: func(m *cordon.Message) { *m = *responseMessage() }},
		{name: "response without headers", in: func(m *cordon.Message) {
			m.Response = &cordon.ResponseHead{Status: http.StatusNoContent}
		}},
		{name: "lowest status", in: func(m *cordon.Message) { m.Response = &cordon.ResponseHead{Status: 100} }},
		{name: "highest status", in: func(m *cordon.Message) { m.Response = &cordon.ResponseHead{Status: 999} }},
		{name: "outcome", in: func(m *cordon.Message) {
			m.Outcome = cordon.Outcome{Kind: cordon.KindBlocked, Rule: "response.body.schema", Pointer: "/items/0/price"}
		}},
		{name: "outcome kind unknown to this build", in: func(m *cordon.Message) { m.Outcome.Kind = 200 }},
		{name: "findings", in: func(m *cordon.Message) {
			m.Verdict = responseMessage().Verdict
			m.Verdict.Findings = append(m.Verdict.Findings, cordon.Finding{Stage: cordon.StageBackend, Action: cordon.ActionBlock})
		}},
		{name: "trace", in: func(m *cordon.Message) { m.Trace = cordon.Trace{Parent: "00-abc-def-01"} }},
		{name: "deadline before 1970", in: func(m *cordon.Message) { m.Deadline = time.Date(1969, 7, 20, 20, 17, 40, 1, time.UTC) }},
		{name: "deadline keeps nanoseconds", in: func(m *cordon.Message) { m.Deadline = fixedDeadline.Add(1) }},
		{name: "header fields at the cap", in: func(m *cordon.Message) { m.Request.Header = manyHeaders }},
		{name: "header values at the cap", in: func(m *cordon.Message) { m.Request.Header = manyValues }},
		{name: "findings at the cap", in: func(m *cordon.Message) { m.Verdict.Findings = manyFindings }},
	}
	s := newSigner(t, cordon.StageFrontend, frontendKey)
	v := newVerifier(t, cordon.StageFrontend, frontendKey)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := requestMessage()
			tc.in(in)
			in.Producer = cordon.StageFrontend
			want := *in
			if in.Response != nil {
				r := *in.Response
				want.Response = &r
			}
			if tc.want != nil {
				tc.want(&want)
			}

			wire := seal(t, in, s)
			got, err := envelope.Open(wire, v)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if diff := cmp.Diff(&want, got); diff != "" {
				t.Errorf("Open(Seal(m)) mismatch (-want +got):\n%s", diff)
			}

			// Parse, the audit's unverified view, reads the same message.
			parsed, info, err := envelope.Parse(wire)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if diff := cmp.Diff(&want, parsed); diff != "" {
				t.Errorf("Parse(Seal(m)) mismatch (-want +got):\n%s", diff)
			}
			if info.KeyID != s.KeyID() {
				t.Errorf("Parse key id = %v, want %v", info.KeyID, s.KeyID())
			}

			// Encoding is deterministic, so re-sealing what was opened
			// reproduces the wire bytes exactly.
			if again := seal(t, got, s); !bytes.Equal(again, wire) {
				t.Error("Seal(Open(w)) != w")
			}
		})
	}
}

func TestSealSetsProducerToSignerStage(t *testing.T) {
	m := requestMessage()
	m.Producer = cordon.StageBackend // a lie the signer must overwrite
	wire := seal(t, m, newSigner(t, cordon.StageFrontend, frontendKey))
	if m.Producer != cordon.StageFrontend {
		t.Errorf("Seal left m.Producer = %v, want frontend", m.Producer)
	}
	got, err := envelope.Open(wire, newVerifier(t, cordon.StageFrontend, frontendKey))
	if err != nil {
		t.Fatal(err)
	}
	if got.Producer != cordon.StageFrontend {
		t.Errorf("opened producer = %v, want frontend", got.Producer)
	}
}

func TestSealAppendsToDst(t *testing.T) {
	s := newSigner(t, cordon.StageFrontend, frontendKey)
	prefix := []byte("keep me")
	out, err := envelope.Seal(bytes.Clone(prefix), requestMessage(), s)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(out, prefix) {
		t.Fatalf("Seal overwrote dst: %q", out[:len(prefix)])
	}
	if want := seal(t, requestMessage(), s); !bytes.Equal(out[len(prefix):], want) {
		t.Error("Seal after a prefix differs from Seal into nil")
	}
}

func TestOpenBodyAliasesWire(t *testing.T) {
	// Documented contract: callers must not reuse the wire buffer while
	// the message is in use.
	wire := seal(t, responseMessage(), newSigner(t, cordon.StageFrontend, frontendKey))
	m, err := envelope.Open(wire, newVerifier(t, cordon.StageFrontend, frontendKey))
	if err != nil {
		t.Fatal(err)
	}
	wire[len(wire)-1] ^= 0xff
	if m.Body[len(m.Body)-1] != wire[len(wire)-1] {
		t.Error("Body does not alias the wire bytes")
	}
}

// resign replaces the signature of wire by key's signature over payload, so
// a hand-crafted payload reaches the decoder through Open.
func resign(key ed25519.PrivateKey, payload []byte) []byte {
	w := []byte{'C', 'D', 'N', envelope.Version, 1}
	id := envelope.KeyIDOf(pub(key))
	w = append(w, id[:]...)
	w = append(w, envelope.SignPayload(key, payload)...)
	return append(w, payload...)
}

// markerMessage has unique markers, so tests can find fields in a payload.
func markerMessage() *cordon.Message {
	m := requestMessage()
	m.Request.Operation = "op-marker"
	m.Request.Header = nil // the header count (0) follows the operation
	return m
}

// at returns the index of marker in p, failing the test if absent.
func at(t testing.TB, p []byte, marker string) int {
	t.Helper()
	i := bytes.Index(p, []byte(marker))
	if i < 0 {
		t.Fatalf("marker %q not in payload", marker)
	}
	return i
}

// splice replaces p[i:j] by with.
func splice(p []byte, i, j int, with []byte) []byte {
	return append(append(append([]byte{}, p[:i]...), with...), p[j:]...)
}

// malformedPayloads are signed by the trusted key but must be refused by
// the decoder: Open and Parse both answer ErrMalformed.
func malformedPayloads(t testing.TB) map[string][]byte {
	t.Helper()
	payload := func(m *cordon.Message) []byte { return envelope.AppendPayload(nil, m) }
	base := payload(markerMessage())
	op := at(t, base, "op-marker")
	flag := op + len("op-marker") + 1 // after the operation and header count 0

	withStatus := func(status int) []byte {
		m := markerMessage()
		m.Response = &cordon.ResponseHead{Status: status}
		return payload(m)
	}
	over := map[string]func(m *cordon.Message){
		"header fields over the cap": func(m *cordon.Message) {
			m.Request.Header = http.Header{}
			for i := range envelope.MaxHeaderFields + 1 {
				m.Request.Header[fmt.Sprint(i)] = nil
			}
		},
		"header values over the cap": func(m *cordon.Message) {
			m.Request.Header = http.Header{"X": make([]string, envelope.MaxHeaderValues+1)}
		},
		"findings over the cap": func(m *cordon.Message) {
			m.Verdict.Findings = make([]cordon.Finding, envelope.MaxFindings+1)
		},
	}

	dup := func() []byte {
		m := markerMessage()
		m.Request.Header = http.Header{"X-Dup-A": {"1"}, "X-Dup-B": {"2"}}
		p := payload(m)
		return bytes.Replace(p, []byte("X-Dup-B"), []byte("X-Dup-A"), 1)
	}

	cases := map[string][]byte{
		"empty payload":               {},
		"producer only":               base[:1],
		"trailing byte":               append(bytes.Clone(base), 0),
		"trailing body":               append(bytes.Clone(base), "extra"...),
		"response flag 2":             splice(base, flag, flag+1, []byte{2}),
		"response flag 255":           splice(base, flag, flag+1, []byte{255}),
		"string length past the end":  splice(base, op-1, op, binary.AppendUvarint(nil, 1<<40)),
		"string length max uint64":    splice(base, op-1, op, binary.AppendUvarint(nil, ^uint64(0))),
		"overlong varint":             splice(base, op-1, op, bytes.Repeat([]byte{0xff}, 11)),
		"body length past the end":    splice(base, len(base)-1, len(base), []byte{5}),
		"header count past the end":   splice(base, flag-1, flag, binary.AppendUvarint(nil, 3)),
		"duplicate header name":       dup(),
		"status 0":                    withStatus(0),
		"status 99":                   withStatus(99),
		"status 1000":                 withStatus(1000),
		"status 65535 (from -1)":      withStatus(-1),
		"status truncated":            withStatus(200)[:flag+2],
		"header count over the cap 1": splice(base, flag-1, flag, binary.AppendUvarint(nil, envelope.MaxHeaderFields+1)),
	}
	for name, edit := range over {
		m := markerMessage()
		edit(m)
		cases[name] = payload(m)
	}
	// Every strict prefix of a valid payload is malformed.
	full := payload(responseMessage())
	for n := range len(full) {
		cases[fmt.Sprintf("prefix %d of %d", n, len(full))] = full[:n]
	}
	return cases
}

func TestOpenRefusesMalformedPayload(t *testing.T) {
	v := newVerifier(t, cordon.StageFrontend, frontendKey)
	for name, p := range malformedPayloads(t) {
		t.Run(name, func(t *testing.T) {
			wire := resign(frontendKey, p)
			if m, err := envelope.Open(wire, v); !errors.Is(err, envelope.ErrMalformed) {
				t.Errorf("Open = %v, %v; want ErrMalformed", m, err)
			}
			if m, _, err := envelope.Parse(wire); !errors.Is(err, envelope.ErrMalformed) {
				t.Errorf("Parse = %v, %v; want ErrMalformed", m, err)
			}
		})
	}
}

func TestOpenRefuses(t *testing.T) {
	good := seal(t, requestMessage(), newSigner(t, cordon.StageFrontend, frontendKey))
	edit := func(f func(w []byte) []byte) []byte { return f(bytes.Clone(good)) }
	byStranger := seal(t, requestMessage(), newSigner(t, cordon.StageFrontend, strangerKey))
	trustedID := envelope.KeyIDOf(pub(frontendKey))

	tests := []struct {
		name    string
		wire    []byte
		trusted []ed25519.PrivateKey // frontend keys the verifier trusts; default frontendKey
		want    error
	}{
		{name: "nil", wire: nil, want: envelope.ErrMalformed},
		{name: "payload without prefix (no signature)", wire: envelope.AppendPayload(nil, requestMessage()), want: envelope.ErrMalformed},
		{name: "prefix one byte short", wire: good[:envelope.HeaderSize-1], want: envelope.ErrMalformed},
		{name: "magic only", wire: good[:3], want: envelope.ErrMalformed},
		{name: "bad magic", wire: edit(func(w []byte) []byte { w[0] = 'X'; return w }), want: envelope.ErrMalformed},
		{name: "lower-case magic", wire: edit(func(w []byte) []byte { w[2] = 'n'; return w }), want: envelope.ErrMalformed},
		{name: "version 0", wire: edit(func(w []byte) []byte { w[3] = 0; return w }), want: envelope.ErrMalformed},
		{name: "version 2", wire: edit(func(w []byte) []byte { w[3] = 2; return w }), want: envelope.ErrMalformed},
		{name: "unknown algorithm", wire: edit(func(w []byte) []byte { w[4] = 3; return w }), want: envelope.ErrMalformed},
		{name: "signature relabelled as a MAC", wire: edit(func(w []byte) []byte { w[4] = 2; return w }), want: envelope.ErrUnknownKey},
		{
			name: "signature removed",
			wire: append(bytes.Clone(good[:envelope.HeaderSize-ed25519.SignatureSize]), good[envelope.HeaderSize:]...),
			want: envelope.ErrBadSignature,
		},
		{
			name: "signature zeroed",
			wire: edit(func(w []byte) []byte {
				clear(w[envelope.HeaderSize-ed25519.SignatureSize : envelope.HeaderSize])
				return w
			}),
			want: envelope.ErrBadSignature,
		},
		{name: "payload truncated", wire: good[:len(good)-1], want: envelope.ErrBadSignature},
		{name: "trailing byte after the signed payload", wire: append(bytes.Clone(good), 0), want: envelope.ErrBadSignature},
		{name: "unknown key", wire: byStranger, want: envelope.ErrUnknownKey},
		{
			name: "trusted key id, stranger's signature",
			wire: func() []byte { w := bytes.Clone(byStranger); copy(w[5:13], trustedID[:]); return w }(),
			want: envelope.ErrBadSignature,
		},
		{
			name: "valid key of another stage",
			wire: seal(t, requestMessage(), newSigner(t, cordon.StageRequestValidator, validatorKey)),
			want: envelope.ErrUnknownKey,
		},
		{
			name: "trusted key signing for another stage",
			wire: seal(t, requestMessage(), newSigner(t, cordon.StageRequestValidator, frontendKey)),
			want: envelope.ErrWrongStage,
		},
		{
			name: "producer byte forged, re-signed by its real producer",
			wire: func() []byte {
				p := envelope.AppendPayload(nil, requestMessage()) // producer byte says frontend
				return resign(validatorKey, p)
			}(),
			trusted: []ed25519.PrivateKey{frontendKey},
			want:    envelope.ErrUnknownKey,
		},
		{
			name:    "old key after the rotation ended",
			wire:    good,
			trusted: []ed25519.PrivateKey{frontendKey2},
			want:    envelope.ErrUnknownKey,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			trusted := tc.trusted
			if trusted == nil {
				trusted = []ed25519.PrivateKey{frontendKey}
			}
			v := newVerifier(t, cordon.StageFrontend, trusted...)
			m, err := envelope.Open(tc.wire, v)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Open = %v, %v; want %v", m, err, tc.want)
			}
			if m != nil {
				t.Errorf("Open returned a message with error %v", err)
			}
		})
	}
}

func isSentinel(err error) bool {
	for _, s := range []error{envelope.ErrMalformed, envelope.ErrUnknownKey, envelope.ErrBadSignature, envelope.ErrWrongStage} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

func TestOpenRefusesEverySingleBitFlip(t *testing.T) {
	for name, m := range map[string]*cordon.Message{"request": requestMessage(), "response": responseMessage()} {
		t.Run(name, func(t *testing.T) {
			wire := seal(t, m, newSigner(t, cordon.StageFrontend, frontendKey))
			v := newVerifier(t, cordon.StageFrontend, frontendKey)
			for i := range len(wire) * 8 {
				w := bytes.Clone(wire)
				w[i/8] ^= 1 << (i % 8)
				got, err := envelope.Open(w, v)
				if err == nil || got != nil {
					t.Fatalf("flip of bit %d (byte %d) accepted", i%8, i/8)
				}
				if !isSentinel(err) {
					t.Fatalf("flip of byte %d: unclassified error %v", i/8, err)
				}
				// VerifyWith shares Split and the signature check; one
				// bit per byte is enough for it.
				if i%8 == 0 {
					if err := envelope.VerifyWith(w, pub(frontendKey)); err == nil {
						t.Fatalf("VerifyWith accepted flip of byte %d", i/8)
					}
				}
			}
		})
	}
}

func TestKeyRotation(t *testing.T) {
	both := newVerifier(t, cordon.StageFrontend, frontendKey, frontendKey2)
	for name, k := range map[string]ed25519.PrivateKey{"old key": frontendKey, "new key": frontendKey2} {
		t.Run(name, func(t *testing.T) {
			wire := seal(t, requestMessage(), newSigner(t, cordon.StageFrontend, k))
			if _, err := envelope.Open(wire, both); err != nil {
				t.Errorf("verifier trusting both keys refused the %s: %v", name, err)
			}
			info, err := envelope.Split(wire)
			if err != nil {
				t.Fatal(err)
			}
			if info.KeyID != envelope.KeyIDOf(pub(k)) {
				t.Errorf("wire names key %v, want %v", info.KeyID, envelope.KeyIDOf(pub(k)))
			}
		})
	}
	// A stranger is still refused while two keys are trusted.
	wire := seal(t, requestMessage(), newSigner(t, cordon.StageFrontend, strangerKey))
	if _, err := envelope.Open(wire, both); !errors.Is(err, envelope.ErrUnknownKey) {
		t.Errorf("stranger during rotation: %v, want ErrUnknownKey", err)
	}
}

func TestVerifyWith(t *testing.T) {
	good := seal(t, responseMessage(), newSigner(t, cordon.StageFrontend, frontendKey))
	flipped := bytes.Clone(good)
	flipped[len(flipped)-1] ^= 1
	// VerifyWith checks the key only, not the producer stage: audit verify
	// looks the key up by stage itself.
	otherStage := seal(t, responseMessage(), newSigner(t, cordon.StageBackend, frontendKey))
	tests := []struct {
		name string
		wire []byte
		key  ed25519.PublicKey
		want error
	}{
		{name: "right key", wire: good, key: pub(frontendKey)},
		{name: "same key, other stage", wire: otherStage, key: pub(frontendKey)},
		{name: "other key", wire: good, key: pub(frontendKey2), want: envelope.ErrUnknownKey},
		{name: "short key does not panic", wire: good, key: pub(frontendKey)[:16], want: envelope.ErrUnknownKey},
		{name: "nil key", wire: good, key: nil, want: envelope.ErrUnknownKey},
		{name: "altered body", wire: flipped, key: pub(frontendKey), want: envelope.ErrBadSignature},
		{name: "malformed", wire: good[:10], key: pub(frontendKey), want: envelope.ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := envelope.VerifyWith(tc.wire, tc.key); !errors.Is(err, tc.want) {
				t.Errorf("VerifyWith = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestSplit(t *testing.T) {
	s := newSigner(t, cordon.StageFrontend, frontendKey)
	wire := seal(t, requestMessage(), s)
	in, err := envelope.Split(wire)
	if err != nil {
		t.Fatal(err)
	}
	if in.KeyID != s.KeyID() {
		t.Errorf("KeyID = %v, want %v", in.KeyID, s.KeyID())
	}
	if err := ed25519.VerifyWithOptions(pub(frontendKey), in.Payload, in.Signature, &ed25519.Options{Context: "cordon/envelope/v1"}); err != nil {
		t.Error("Signature/Payload split at the wrong place")
	}
	if len(in.Signature) != ed25519.SignatureSize || len(in.Payload) != len(wire)-envelope.HeaderSize {
		t.Errorf("lengths: signature %d payload %d", len(in.Signature), len(in.Payload))
	}
	// The payload is not verified by Split: a bad signature still splits.
	clear(in.Signature)
	if _, err := envelope.Split(wire); err != nil {
		t.Errorf("Split checks signatures: %v", err)
	}
}

func TestParseDoesNotVerify(t *testing.T) {
	// The audit records refused messages too, so Parse must read a message
	// whose signature is wrong; nothing it returns is believed.
	wire := seal(t, requestMessage(), newSigner(t, cordon.StageFrontend, strangerKey))
	wire[envelope.HeaderSize-1] ^= 1
	m, info, err := envelope.Parse(wire)
	if err != nil {
		t.Fatal(err)
	}
	if m.ID != fixedID || info.KeyID != envelope.KeyIDOf(pub(strangerKey)) {
		t.Errorf("Parse = id %v key %v", m.ID, info.KeyID)
	}
	// A producer byte naming no stage parses too (Open would refuse it).
	p := envelope.AppendPayload(nil, requestMessage())
	p[0] = 0
	if m, _, err := envelope.Parse(resign(strangerKey, p)); err != nil || m.Producer != cordon.StageUnknown {
		t.Errorf("Parse(producer 0) = %v, %v", m, err)
	}
}

func TestNewSignerVerifierRefuse(t *testing.T) {
	tests := []struct {
		name string
		err  func() error
	}{
		{"signer without stage", func() error { _, err := envelope.NewSigner(cordon.StageUnknown, frontendKey); return err }},
		{"signer with short key", func() error { _, err := envelope.NewSigner(cordon.StageFrontend, frontendKey[:32]); return err }},
		{"verifier without stage", func() error { _, err := envelope.NewVerifier(cordon.StageUnknown, pub(frontendKey)); return err }},
		{"verifier without keys", func() error { _, err := envelope.NewVerifier(cordon.StageFrontend); return err }},
		{"verifier with short key", func() error {
			_, err := envelope.NewVerifier(cordon.StageFrontend, pub(frontendKey), pub(frontendKey)[:31])
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.err() == nil {
				t.Error("accepted")
			}
		})
	}
}

// Golden files pin the wire format: a change that alters them breaks every
// stored message and every running peer, and must bump Version.
func TestGolden(t *testing.T) {
	tests := []struct {
		name string
		msg  *cordon.Message
	}{
		{"request", requestMessage()},
		{"response", responseMessage()},
	}
	s := newSigner(t, cordon.StageFrontend, frontendKey)
	v := newVerifier(t, cordon.StageFrontend, frontendKey)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join("testdata", tc.name+".golden")
			wire := seal(t, tc.msg, s)
			dump := hex.Dump(wire)
			if *update {
				if err := os.WriteFile(path, []byte(dump), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			golden, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if diff := cmp.Diff(string(golden), dump); diff != "" {
				t.Errorf("encoding changed (-golden +now):\n%s", diff)
			}
			// The stored bytes still open to the same message.
			stored := undump(t, string(golden))
			got, err := envelope.Open(stored, v)
			if err != nil {
				t.Fatalf("Open(golden): %v", err)
			}
			if diff := cmp.Diff(tc.msg, got); diff != "" {
				t.Errorf("Open(golden) mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// undump reverses hex.Dump.
func undump(t testing.TB, dump string) []byte {
	t.Helper()
	var out []byte
	for line := range strings.Lines(dump) {
		if len(line) < 10 {
			continue
		}
		hexPart, _, ok := strings.Cut(line[10:], "  |")
		if !ok {
			t.Fatalf("golden line %q is not hex.Dump output", line)
		}
		b, err := hex.DecodeString(strings.ReplaceAll(hexPart, " ", ""))
		if err != nil {
			t.Fatalf("golden line %q: %v", line, err)
		}
		out = append(out, b...)
	}
	return out
}
