package policy

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
)

// jwkSet is a parsed JSON Web Key Set (RFC 7517): public signing keys only.
type jwkSet struct {
	keys []jwk
}

type jwk struct {
	kid string
	alg string // "" if the key does not pin one
	key crypto.PublicKey
}

func parseJWKS(data []byte) (*jwkSet, error) {
	var doc struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("JWKS: %w", err)
	}
	set := &jwkSet{}
	for i, k := range doc.Keys {
		str := func(name string) string { s, _ := k[name].(string); return s }
		if _, private := k["d"]; private {
			return nil, fmt.Errorf("JWKS key %d: contains private key material", i)
		}
		if use := str("use"); use != "" && use != "sig" {
			continue
		}
		b64 := func(name string) ([]byte, error) {
			b, err := base64.RawURLEncoding.DecodeString(str(name))
			if err != nil || len(b) == 0 {
				return nil, fmt.Errorf("JWKS key %d: bad %q", i, name)
			}
			return b, nil
		}
		var pub crypto.PublicKey
		switch str("kty") {
		case "RSA":
			n, err := b64("n")
			if err != nil {
				return nil, err
			}
			e, err := b64("e")
			if err != nil {
				return nil, err
			}
			ei := new(big.Int).SetBytes(e)
			if !ei.IsInt64() || ei.Int64() < 3 || ei.Int64() > 1<<31 {
				return nil, fmt.Errorf("JWKS key %d: bad RSA exponent", i)
			}
			rk := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(ei.Int64())}
			if rk.N.BitLen() < 2048 {
				return nil, fmt.Errorf("JWKS key %d: RSA key shorter than 2048 bits", i)
			}
			pub = rk
		case "EC":
			var curve elliptic.Curve
			switch str("crv") {
			case "P-256":
				curve = elliptic.P256()
			case "P-384":
				curve = elliptic.P384()
			case "P-521":
				curve = elliptic.P521()
			default:
				return nil, fmt.Errorf("JWKS key %d: unsupported curve %q", i, str("crv"))
			}
			x, err := b64("x")
			if err != nil {
				return nil, err
			}
			y, err := b64("y")
			if err != nil {
				return nil, err
			}
			size := (curve.Params().BitSize + 7) / 8
			if len(x) != size || len(y) != size {
				return nil, fmt.Errorf("JWKS key %d: bad EC coordinates", i)
			}
			ek, err := ecdsa.ParseUncompressedPublicKey(curve, append(append([]byte{4}, x...), y...))
			if err != nil {
				return nil, fmt.Errorf("JWKS key %d: %w", i, err)
			}
			pub = ek
		case "OKP":
			if str("crv") != "Ed25519" {
				return nil, fmt.Errorf("JWKS key %d: unsupported curve %q", i, str("crv"))
			}
			x, err := b64("x")
			if err != nil {
				return nil, err
			}
			if len(x) != ed25519.PublicKeySize {
				return nil, fmt.Errorf("JWKS key %d: bad Ed25519 key", i)
			}
			pub = ed25519.PublicKey(x)
		default:
			return nil, fmt.Errorf("JWKS key %d: unsupported kty %q", i, str("kty"))
		}
		set.keys = append(set.keys, jwk{kid: str("kid"), alg: str("alg"), key: pub})
	}
	if len(set.keys) == 0 {
		return nil, errors.New("JWKS: no signing keys")
	}
	return set, nil
}

// lookup finds the key for a token header: by kid if given, else the only
// key. The key must fit the algorithm family and any alg the key pins.
func (s *jwkSet) lookup(kid, alg string) (crypto.PublicKey, error) {
	var found *jwk
	n := 0
	for i := range s.keys {
		k := &s.keys[i]
		if kid != "" && k.kid != kid || !keyFits(k, alg) {
			continue
		}
		found = k
		n++
	}
	switch {
	case n == 0:
		return nil, errors.New("no key for token")
	case n > 1 && kid == "":
		return nil, errors.New("token has no kid and several keys fit")
	}
	return found.key, nil
}

func keyFits(k *jwk, alg string) bool {
	if k.alg != "" && k.alg != alg {
		return false
	}
	switch k.key.(type) {
	case *rsa.PublicKey:
		return alg[:2] == "RS" || alg[:2] == "PS"
	case *ecdsa.PublicKey:
		return alg[:2] == "ES"
	case ed25519.PublicKey:
		return alg == "EdDSA"
	}
	return false
}
