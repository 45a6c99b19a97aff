package envelope

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/cordon-gateway/cordon"
)

// KeyID names a public key in the wire form: the first 8 bytes of the
// SHA-256 of the raw public key. It lets a verifier that trusts several keys
// (during a rotation) pick the right one without trying them all.
type KeyID [8]byte

func (k KeyID) String() string { return hex.EncodeToString(k[:]) }

// KeyIDOf computes the id of a public key.
func KeyIDOf(pub ed25519.PublicKey) KeyID {
	sum := sha256.Sum256(pub)
	var id KeyID
	copy(id[:], sum[:8])
	return id
}

// Signer signs envelopes for one stage.
type Signer struct {
	stage cordon.Stage
	priv  ed25519.PrivateKey
	id    KeyID
}

// NewSigner returns a signer for stage with the given private key.
func NewSigner(stage cordon.Stage, priv ed25519.PrivateKey) (*Signer, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return nil, errors.New("envelope: bad ed25519 private key size")
	}
	if stage == cordon.StageUnknown {
		return nil, errors.New("envelope: signer needs a stage")
	}
	return &Signer{stage: stage, priv: priv, id: KeyIDOf(priv.Public().(ed25519.PublicKey))}, nil
}

// Stage is the stage this signer signs for.
func (s *Signer) Stage() cordon.Stage { return s.stage }

// KeyID is the id of the signer's public key.
func (s *Signer) KeyID() KeyID { return s.id }

// Public returns the signer's public key.
func (s *Signer) Public() ed25519.PublicKey { return s.priv.Public().(ed25519.PublicKey) }

// Verifier accepts envelopes from exactly one stage, signed by any of its
// trusted keys (several only during a key rotation).
type Verifier struct {
	stage cordon.Stage
	keys  map[KeyID]ed25519.PublicKey
}

// NewVerifier trusts keys for messages produced by stage.
func NewVerifier(stage cordon.Stage, keys ...ed25519.PublicKey) (*Verifier, error) {
	if stage == cordon.StageUnknown {
		return nil, errors.New("envelope: verifier needs a stage")
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("envelope: no trusted key for %s", stage)
	}
	v := &Verifier{stage: stage, keys: make(map[KeyID]ed25519.PublicKey, len(keys))}
	for _, k := range keys {
		if len(k) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("envelope: bad ed25519 public key size for %s", stage)
		}
		v.keys[KeyIDOf(k)] = k
	}
	return v, nil
}

// Stage is the producer this verifier accepts.
func (v *Verifier) Stage() cordon.Stage { return v.stage }

// GenerateKey returns a new Ed25519 key pair.
func GenerateKey() (ed25519.PublicKey, ed25519.PrivateKey, error) {
	return ed25519.GenerateKey(nil)
}

// MarshalPrivateKey returns the PKCS#8 PEM form of a private key.
func MarshalPrivateKey(priv ed25519.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParsePrivateKey reads a PKCS#8 PEM Ed25519 private key.
func ParsePrivateKey(data []byte) (ed25519.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, errors.New("envelope: private key is not a PEM \"PRIVATE KEY\" block")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("envelope: private key: %w", err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, errors.New("envelope: private key is not Ed25519")
	}
	return priv, nil
}

// EncodePublicKey returns the base64 (standard, padded) form of a public key
// as it appears in the deployment configuration.
func EncodePublicKey(pub ed25519.PublicKey) string {
	return base64.StdEncoding.EncodeToString(pub)
}

// ParsePublicKey reads the base64 form written by EncodePublicKey.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, errors.New("envelope: public key must be 32 bytes, base64")
	}
	return ed25519.PublicKey(b), nil
}
