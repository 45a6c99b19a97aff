package envelope

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"hash"
	"sync"

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

// LinkKeySize is the size of a link key.
const LinkKeySize = 32

// A LinkKey is a secret shared by one producing stage and the consumers of
// its messages (and the audit), for the HMAC authentication mode. Unlike an
// Ed25519 key pair, whoever can verify with it can also forge with it: see
// docs/security.md, "Link keys".
type LinkKey []byte

// linkContext separates cordon's MACs from any other use of a link key.
const linkContext = "cordon/envelope/v1/hmac-sha512\x00"

// LinkKeyIDOf computes the id of a link key: the first 8 bytes of a
// SHA-256 under its own context, so the id neither reveals the key nor
// collides with an Ed25519 key id by construction.
func LinkKeyIDOf(key LinkKey) KeyID {
	h := sha256.New()
	h.Write([]byte("cordon/link-key-id/v1\x00"))
	h.Write(key)
	var id KeyID
	copy(id[:], h.Sum(nil))
	return id
}

// linkMAC is the HMAC-SHA-512 of payload under key: 64 bytes, the size of
// an Ed25519 signature, so both modes share one wire layout. The keyed
// hash states are pooled per key (Reset keeps the key), since the hot path
// computes one per hop.
func linkMAC(key LinkKey, payload []byte) []byte {
	pool := macPool(key)
	h := pool.Get().(hash.Hash)
	defer pool.Put(h)
	h.Reset()
	h.Write([]byte(linkContext))
	h.Write(payload)
	return h.Sum(make([]byte, 0, sha512.Size))
}

// macPools holds one pool of keyed hash states per link key in use (a
// handful per process: its own key and its producers').
var macPools sync.Map // string(key) -> *sync.Pool

func macPool(key LinkKey) *sync.Pool {
	if p, ok := macPools.Load(string(key)); ok {
		return p.(*sync.Pool)
	}
	k := bytes.Clone(key)
	p, _ := macPools.LoadOrStore(string(k), &sync.Pool{New: func() any { return hmac.New(sha512.New, k) }})
	return p.(*sync.Pool)
}

// Signer signs envelopes for one stage, with an Ed25519 key or (link mode)
// a link key.
type Signer struct {
	stage cordon.Stage
	priv  ed25519.PrivateKey
	link  LinkKey
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

// NewLinkSigner returns a signer for stage that authenticates with an
// HMAC under key instead of an Ed25519 signature.
func NewLinkSigner(stage cordon.Stage, key LinkKey) (*Signer, error) {
	if len(key) != LinkKeySize {
		return nil, fmt.Errorf("envelope: a link key is %d bytes", LinkKeySize)
	}
	if stage == cordon.StageUnknown {
		return nil, errors.New("envelope: signer needs a stage")
	}
	return &Signer{stage: stage, link: key, id: LinkKeyIDOf(key)}, nil
}

// Stage is the stage this signer signs for.
func (s *Signer) Stage() cordon.Stage { return s.stage }

// KeyID is the id of the signer's public key.
func (s *Signer) KeyID() KeyID { return s.id }

// Public returns the signer's public key, nil for a link-key signer.
func (s *Signer) Public() ed25519.PublicKey {
	if s.priv == nil {
		return nil
	}
	return s.priv.Public().(ed25519.PublicKey)
}

// Link reports whether the signer authenticates with a link key.
func (s *Signer) Link() bool { return s.link != nil }

// Verifier accepts envelopes from exactly one stage, signed by any of its
// trusted keys (several only during a key rotation).
type Verifier struct {
	stage cordon.Stage
	keys  map[KeyID]verifyKey
	links map[KeyID]LinkKey
}

// NewVerifier trusts keys for messages produced by stage.
func NewVerifier(stage cordon.Stage, keys ...ed25519.PublicKey) (*Verifier, error) {
	return NewMixedVerifier(stage, keys, nil)
}

// NewMixedVerifier trusts Ed25519 keys and link keys for messages produced
// by stage: both kinds at once only while a deployment moves from one
// mode to the other.
func NewMixedVerifier(stage cordon.Stage, keys []ed25519.PublicKey, links []LinkKey) (*Verifier, error) {
	if stage == cordon.StageUnknown {
		return nil, errors.New("envelope: verifier needs a stage")
	}
	if len(keys) == 0 && len(links) == 0 {
		return nil, fmt.Errorf("envelope: no trusted key for %s", stage)
	}
	v := &Verifier{stage: stage, keys: make(map[KeyID]verifyKey, len(keys)),
		links: make(map[KeyID]LinkKey, len(links))}
	for _, k := range keys {
		if len(k) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("envelope: bad ed25519 public key size for %s", stage)
		}
		vk, err := newVerifyKey(k)
		if err != nil {
			return nil, fmt.Errorf("envelope: key for %s: %w", stage, err)
		}
		v.keys[KeyIDOf(k)] = vk
	}
	for _, k := range links {
		if len(k) != LinkKeySize {
			return nil, fmt.Errorf("envelope: bad link key size for %s", stage)
		}
		v.links[LinkKeyIDOf(k)] = k
	}
	return v, nil
}

// check authenticates in under the keys v trusts for its alg.
func (v *Verifier) check(in Info) error {
	if in.Link {
		key, ok := v.links[in.KeyID]
		if !ok {
			return ErrUnknownKey
		}
		if !hmac.Equal(linkMAC(key, in.Payload), in.Signature) {
			return ErrBadSignature
		}
		return nil
	}
	key, ok := v.keys[in.KeyID]
	if !ok {
		return ErrUnknownKey
	}
	if !key.verify(in.Payload, in.Signature) {
		return ErrBadSignature
	}
	return nil
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

// ParsePublicKey reads the base64 form written by EncodePublicKey. It
// refuses a key that is not a point of the curve or is of small order.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, errors.New("envelope: public key must be 32 bytes, base64")
	}
	if _, err := newVerifyKey(b); err != nil {
		return nil, fmt.Errorf("envelope: public key: %w", err)
	}
	return ed25519.PublicKey(b), nil
}

// linkPEMType is the PEM block type of a link key file.
const linkPEMType = "CORDON LINK KEY"

// GenerateLinkKey returns a new random link key.
func GenerateLinkKey() LinkKey {
	k := make(LinkKey, LinkKeySize)
	rand.Read(k) // never fails (crypto/rand)
	return k
}

// MarshalLinkKey returns the PEM form of a link key.
func MarshalLinkKey(key LinkKey) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: linkPEMType, Bytes: key})
}

// ParseLinkKey reads the PEM form written by MarshalLinkKey.
func ParseLinkKey(data []byte) (LinkKey, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != linkPEMType {
		return nil, errors.New("envelope: link key is not a PEM \"" + linkPEMType + "\" block")
	}
	if len(block.Bytes) != LinkKeySize {
		return nil, fmt.Errorf("envelope: a link key is %d bytes", LinkKeySize)
	}
	return LinkKey(block.Bytes), nil
}
