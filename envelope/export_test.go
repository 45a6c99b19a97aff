package envelope

import (
	"crypto/ed25519"

	"github.com/cordon-gateway/cordon"
)

// Test-only access to the unexported codec, so the black-box tests can
// measure encoding without crypto and re-sign hand-crafted payloads (the
// only way to reach the decoder's checks through Open).

// AppendPayload is appendPayload.
func AppendPayload(b []byte, m *cordon.Message) []byte { return appendPayload(b, m) }

// SignPayload signs payload exactly as Seal does.
func SignPayload(priv ed25519.PrivateKey, payload []byte) []byte {
	sig, err := priv.Sign(nil, payload, signOpts)
	if err != nil {
		panic(err) // Ed25519ctx signing fails only on a bad context length
	}
	return sig
}

// Caps on counts, as the decoder enforces them.
const (
	MaxHeaderFields = maxHeaderFields
	MaxHeaderValues = maxHeaderValues
	MaxFindings     = maxFindings
)
