package envelope

import (
	"crypto/ed25519"
	"crypto/fips140"
	"errors"

	"github.com/oasisprotocol/curve25519-voi/curve"
	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// The hot path signs and verifies with curve25519-voi (Oasis Protocol's
// Ed25519, a port of curve25519-dalek with AVX2 field arithmetic and
// precomputed verification keys): on the 2-core benchmark machine it signs
// in ~13 µs and verifies in ~28 µs where crypto/ed25519 takes ~30 µs and
// ~70 µs, which is ~230 µs of CPU saved per request over the eight
// operations of the four buses.
//
// Its signatures are RFC 8032 Ed25519ctx, byte for byte those of
// crypto/ed25519 (deterministic), and it verifies with
// VerifyOptionsStdLib, the exact acceptance rules of crypto/ed25519
// (cofactorless, canonical S); ed25519_test.go checks both on every run
// and a fuzz target keeps checking them. Offline verification (VerifyWith,
// used by the audit) stays on crypto/ed25519, so the trail is re-checked
// by an independent implementation. Under GODEBUG=fips140=on every
// signature goes through crypto/ed25519, the Go Cryptographic Module.

// signContext is the Ed25519ctx context of every cordon signature; it
// separates them from any other use of the keys.
const signContext = "cordon/envelope/v1"

var (
	signOpts = &ed25519.Options{Context: signContext}
	voiOpts  = &voi.Options{Context: signContext, Verify: voi.VerifyOptionsStdLib}
)

// sign returns the Ed25519ctx signature of payload under priv.
func sign(priv ed25519.PrivateKey, payload []byte) ([]byte, error) {
	if fips140.Enabled() {
		return priv.Sign(nil, payload, signOpts)
	}
	return voi.PrivateKey(priv).Sign(nil, payload, voiOpts)
}

// verifyKey is a trusted public key with its precomputed form.
type verifyKey struct {
	pub      ed25519.PublicKey
	expanded *voi.ExpandedPublicKey
}

// errWeakKey refuses a public key that is not a point of the curve or is
// of small order: crypto/ed25519 would accept the latter, and signatures
// under it can be forged without any private key.
var errWeakKey = errors.New("not a valid Ed25519 public key (not on the curve, or of small order)")

func newVerifyKey(pub ed25519.PublicKey) (verifyKey, error) {
	var c curve.CompressedEdwardsY
	var p curve.EdwardsPoint
	if _, err := c.SetBytes(pub); err != nil {
		return verifyKey{}, errWeakKey
	}
	if _, err := p.SetCompressedY(&c); err != nil || p.IsSmallOrder() {
		return verifyKey{}, errWeakKey
	}
	exp, err := voi.NewExpandedPublicKey(voi.PublicKey(pub))
	if err != nil {
		return verifyKey{}, errWeakKey
	}
	return verifyKey{pub: pub, expanded: exp}, nil
}

// verify reports whether sig is k's Ed25519ctx signature of payload.
func (k verifyKey) verify(payload, sig []byte) bool {
	if fips140.Enabled() {
		return ed25519.VerifyWithOptions(k.pub, payload, sig, signOpts) == nil
	}
	return voi.VerifyExpandedWithOptions(k.expanded, payload, sig, voiOpts)
}
