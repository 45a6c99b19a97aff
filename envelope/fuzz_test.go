package envelope_test

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"testing"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/envelope"
)

// fuzzSeeds is every wire message the table tests use, valid or not.
func fuzzSeeds(f *testing.F) [][]byte {
	f.Helper()
	s := newSigner(f, cordon.StageFrontend, frontendKey)
	seeds := [][]byte{
		seal(f, requestMessage(), s),
		seal(f, responseMessage(), s),
		seal(f, &cordon.Message{}, s),
		seal(f, requestMessage(), newSigner(f, cordon.StageFrontend, strangerKey)),
		seal(f, requestMessage(), newSigner(f, cordon.StageRequestValidator, frontendKey)),
		seal(f, requestMessage(), newLinkSigner(f, cordon.StageFrontend, linkKey)),
		seal(f, responseMessage(), newLinkSigner(f, cordon.StageFrontend, strangerLink)),
		nil,
		[]byte("CDN"),
	}
	for _, p := range malformedPayloads(f) {
		seeds = append(seeds, resign(frontendKey, p))
	}
	return seeds
}

// FuzzOpen: arbitrary bytes never panic, every refusal is classified, and
// anything accepted re-seals to the identical wire bytes (the encoding is
// canonical: no two wire forms of one message verify).
func FuzzOpen(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	signers := map[envelope.KeyID]*envelope.Signer{}
	for _, k := range []ed25519.PrivateKey{frontendKey, frontendKey2} {
		s := newSigner(f, cordon.StageFrontend, k)
		signers[s.KeyID()] = s
	}
	ls := newLinkSigner(f, cordon.StageFrontend, linkKey)
	signers[ls.KeyID()] = ls
	v, err := envelope.NewMixedVerifier(cordon.StageFrontend,
		[]ed25519.PublicKey{pub(frontendKey), pub(frontendKey2)}, []envelope.LinkKey{linkKey})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, wire []byte) {
		m, err := envelope.Open(wire, v)
		if err != nil {
			if m != nil {
				t.Fatal("message returned with an error")
			}
			if !isSentinel(err) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		if m.Producer != cordon.StageFrontend {
			t.Fatalf("accepted producer %v", m.Producer)
		}
		info, err := envelope.Split(wire)
		if err != nil {
			t.Fatal(err)
		}
		s := signers[info.KeyID]
		if s == nil {
			t.Fatalf("accepted untrusted key %v", info.KeyID)
		}
		again, err := envelope.Seal(nil, m, s)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again, wire) {
			t.Fatalf("re-sealed message differs:\n got %x\nwant %x", again, wire)
		}
	})
}

// FuzzParse: the unverified decoder (what the audit runs on every message,
// forged or not) never panics, refuses with ErrMalformed only, and whatever
// it accepts re-encodes to the identical payload.
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, wire []byte) {
		m, info, err := envelope.Parse(wire)
		if err != nil {
			if !errors.Is(err, envelope.ErrMalformed) {
				t.Fatalf("Parse error not ErrMalformed: %v", err)
			}
			return
		}
		if p := envelope.AppendPayload(nil, m); !bytes.Equal(p, info.Payload) {
			t.Fatalf("re-encoded payload differs:\n got %x\nwant %x", p, info.Payload)
		}
	})
}
