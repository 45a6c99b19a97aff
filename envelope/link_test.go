package envelope_test

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/envelope"
)

var (
	linkKey      = envelope.LinkKey(bytes.Repeat([]byte{0x11}, envelope.LinkKeySize))
	linkKey2     = envelope.LinkKey(bytes.Repeat([]byte{0x22}, envelope.LinkKeySize))
	strangerLink = envelope.LinkKey(bytes.Repeat([]byte{0x33}, envelope.LinkKeySize))
)

func newLinkSigner(t testing.TB, st cordon.Stage, k envelope.LinkKey) *envelope.Signer {
	t.Helper()
	s, err := envelope.NewLinkSigner(st, k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newLinkVerifier(t testing.TB, st cordon.Stage, keys ...envelope.LinkKey) *envelope.Verifier {
	t.Helper()
	v, err := envelope.NewMixedVerifier(st, nil, keys)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestLinkRoundTrip(t *testing.T) {
	for name, m := range map[string]*cordon.Message{"request": requestMessage(), "response": responseMessage()} {
		t.Run(name, func(t *testing.T) {
			s := newLinkSigner(t, cordon.StageFrontend, linkKey)
			wire := seal(t, m, s)
			if wire[4] != 2 {
				t.Fatalf("alg byte %d, want 2 (HMAC)", wire[4])
			}
			got, err := envelope.Open(wire, newLinkVerifier(t, cordon.StageFrontend, linkKey))
			if err != nil {
				t.Fatal(err)
			}
			again := seal(t, got, s)
			if !bytes.Equal(again, wire) {
				t.Fatal("opened message re-seals to different bytes")
			}
			in, err := envelope.Split(wire)
			if err != nil || !in.Link || in.KeyID != envelope.LinkKeyIDOf(linkKey) {
				t.Fatalf("Split: %+v, %v", in, err)
			}
			if err := envelope.VerifyLinkWith(wire, linkKey); err != nil {
				t.Fatalf("VerifyLinkWith: %v", err)
			}
		})
	}
}

// The two modes never stand in for each other: an Ed25519-only verifier
// refuses a MAC, a link-only verifier refuses a signature, and a key id
// never matches across kinds.
func TestLinkAndEd25519DoNotMix(t *testing.T) {
	macWire := seal(t, requestMessage(), newLinkSigner(t, cordon.StageFrontend, linkKey))
	sigWire := seal(t, requestMessage(), newSigner(t, cordon.StageFrontend, frontendKey))
	edOnly := newVerifier(t, cordon.StageFrontend, frontendKey)
	linkOnly := newLinkVerifier(t, cordon.StageFrontend, linkKey)
	if _, err := envelope.Open(macWire, edOnly); !errors.Is(err, envelope.ErrUnknownKey) {
		t.Errorf("Ed25519 verifier on a MAC: %v, want ErrUnknownKey", err)
	}
	if _, err := envelope.Open(sigWire, linkOnly); !errors.Is(err, envelope.ErrUnknownKey) {
		t.Errorf("link verifier on a signature: %v, want ErrUnknownKey", err)
	}
	// A signature relabelled as a MAC (alg byte flipped) is refused.
	relabelled := bytes.Clone(sigWire)
	relabelled[4] = 2
	mixed, err := envelope.NewMixedVerifier(cordon.StageFrontend, []ed25519.PublicKey{pub(frontendKey)}, []envelope.LinkKey{linkKey})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := envelope.Open(relabelled, mixed); err == nil {
		t.Error("signature relabelled as a MAC accepted")
	}
	for name, w := range map[string][]byte{"mac": macWire, "signature": sigWire} {
		if _, err := envelope.Open(w, mixed); err != nil {
			t.Errorf("mixed verifier refused the %s: %v", name, err)
		}
	}
	if err := envelope.VerifyWith(macWire, pub(frontendKey)); err == nil {
		t.Error("VerifyWith accepted a MAC")
	}
	if err := envelope.VerifyLinkWith(sigWire, linkKey); err == nil {
		t.Error("VerifyLinkWith accepted a signature")
	}
	if envelope.LinkKeyIDOf(linkKey) == envelope.KeyIDOf(ed25519.PublicKey(linkKey)) {
		t.Error("a link key's id equals the Ed25519 id of the same bytes")
	}
}

func TestLinkRefuses(t *testing.T) {
	v := newLinkVerifier(t, cordon.StageFrontend, linkKey, linkKey2)
	good := seal(t, requestMessage(), newLinkSigner(t, cordon.StageFrontend, linkKey))
	// A MAC copied under another trusted key's id does not verify.
	swapped := bytes.Clone(good)
	id2 := envelope.LinkKeyIDOf(linkKey2)
	copy(swapped[5:13], id2[:])
	tests := []struct {
		name string
		wire []byte
		want error
	}{
		{"stranger's key", seal(t, requestMessage(), newLinkSigner(t, cordon.StageFrontend, strangerLink)), envelope.ErrUnknownKey},
		{"key id of another trusted key", swapped, envelope.ErrBadSignature},
		{"wrong producer", seal(t, requestMessage(), newLinkSigner(t, cordon.StageRequestValidator, linkKey)), envelope.ErrWrongStage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := envelope.Open(tt.wire, v); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
	for i := range len(good) * 8 {
		w := bytes.Clone(good)
		w[i/8] ^= 1 << (i % 8)
		if got, err := envelope.Open(w, v); err == nil || got != nil || !isSentinel(err) {
			t.Fatalf("flip of bit %d of byte %d: %v", i%8, i/8, err)
		}
	}
}

func TestLinkKeyFiles(t *testing.T) {
	k := envelope.GenerateLinkKey()
	if len(k) != envelope.LinkKeySize || bytes.Equal(k, envelope.GenerateLinkKey()) {
		t.Fatal("GenerateLinkKey: wrong size or not random")
	}
	pemBytes := envelope.MarshalLinkKey(k)
	if !strings.Contains(string(pemBytes), "CORDON LINK KEY") {
		t.Fatalf("PEM type: %s", pemBytes)
	}
	back, err := envelope.ParseLinkKey(pemBytes)
	if err != nil || !bytes.Equal(back, k) {
		t.Fatalf("round trip: %v", err)
	}
	_, edPriv, _ := envelope.GenerateKey()
	edPEM, _ := envelope.MarshalPrivateKey(edPriv)
	for name, data := range map[string][]byte{
		"empty":          nil,
		"ed25519 key":    edPEM,
		"short link key": envelope.MarshalLinkKey(k[:16]),
		"not PEM at all": []byte("c2VjcmV0"),
	} {
		if _, err := envelope.ParseLinkKey(data); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := envelope.NewLinkSigner(cordon.StageFrontend, k[:31]); err == nil {
		t.Error("NewLinkSigner accepted a short key")
	}
	if _, err := envelope.NewLinkSigner(cordon.StageUnknown, k); err == nil {
		t.Error("NewLinkSigner accepted no stage")
	}
	if _, err := envelope.NewMixedVerifier(cordon.StageFrontend, nil, []envelope.LinkKey{k[:31]}); err == nil {
		t.Error("NewMixedVerifier accepted a short link key")
	}
	if _, err := envelope.NewMixedVerifier(cordon.StageFrontend, nil, nil); err == nil {
		t.Error("NewMixedVerifier accepted no key at all")
	}
}

func BenchmarkSealLink(b *testing.B) {
	benchSeal(b, newLinkSigner(b, cordon.StageFrontend, linkKey))
}

func BenchmarkOpenLink(b *testing.B) {
	benchOpen(b, newLinkSigner(b, cordon.StageFrontend, linkKey), newLinkVerifier(b, cordon.StageFrontend, linkKey))
}
