package audit

import (
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/audit/trail"
	"github.com/cordon-gateway/cordon/envelope"
)

// Keyring holds the producer keys the audit checks envelope signatures
// against: per stage, every key trusted for it (several during a rotation).
type Keyring struct {
	keys  map[cordon.Stage]map[envelope.KeyID]ed25519.PublicKey
	links map[cordon.Stage]map[envelope.KeyID]envelope.LinkKey
}

// NewKeyring builds a keyring. Stages without keys are recorded as
// "unchecked", never as verified.
func NewKeyring(trust map[cordon.Stage][]ed25519.PublicKey) (*Keyring, error) {
	k := &Keyring{keys: map[cordon.Stage]map[envelope.KeyID]ed25519.PublicKey{},
		links: map[cordon.Stage]map[envelope.KeyID]envelope.LinkKey{}}
	for st, pubs := range trust {
		if st == cordon.StageUnknown {
			return nil, errors.New("audit: trust for an unknown stage")
		}
		m := map[envelope.KeyID]ed25519.PublicKey{}
		for _, p := range pubs {
			if len(p) != ed25519.PublicKeySize {
				return nil, fmt.Errorf("audit: bad ed25519 public key for %s", st)
			}
			m[envelope.KeyIDOf(p)] = p
		}
		if len(m) > 0 {
			k.keys[st] = m
		}
	}
	return k, nil
}

// ParseTrust reads the deployment's trust map (stage name -> base64 keys).
func ParseTrust(trust map[string][]string) (*Keyring, error) {
	out := map[cordon.Stage][]ed25519.PublicKey{}
	for name, keys := range trust {
		st, err := cordon.ParseStage(name)
		if err != nil {
			return nil, fmt.Errorf("audit: trust: %w", err)
		}
		for _, s := range keys {
			p, err := envelope.ParsePublicKey(s)
			if err != nil {
				return nil, fmt.Errorf("audit: trust %s: %w", name, err)
			}
			out[st] = append(out[st], p)
		}
	}
	return NewKeyring(out)
}

// AddLinkKeys trusts link keys (HMAC mode) for stage st. Holding them lets
// the audit check the MACs of st's messages, and would let whoever reads
// them forge those messages: docs/security.md, "Link keys".
func (k *Keyring) AddLinkKeys(st cordon.Stage, keys ...envelope.LinkKey) error {
	if st == cordon.StageUnknown {
		return errors.New("audit: link key for an unknown stage")
	}
	for _, key := range keys {
		if len(key) != envelope.LinkKeySize {
			return fmt.Errorf("audit: bad link key for %s", st)
		}
		if k.links[st] == nil {
			k.links[st] = map[envelope.KeyID]envelope.LinkKey{}
		}
		k.links[st][envelope.LinkKeyIDOf(key)] = key
	}
	return nil
}

// AddLinkKeyMap trusts link keys given by stage name.
func AddLinkKeyMap(k *Keyring, links map[string][]envelope.LinkKey) error {
	for name, keys := range links {
		st, err := cordon.ParseStage(name)
		if err != nil {
			return fmt.Errorf("audit: link keys: %w", err)
		}
		if err := k.AddLinkKeys(st, keys...); err != nil {
			return err
		}
	}
	return nil
}

// Empty reports whether no key is trusted at all.
func (k *Keyring) Empty() bool { return k == nil || (len(k.keys) == 0 && len(k.links) == 0) }

// Trusts reports whether key id is trusted for stage st.
func (k *Keyring) Trusts(st cordon.Stage, id []byte) bool {
	if k == nil || len(id) != len(envelope.KeyID{}) {
		return false
	}
	_, ok := k.keys[st][envelope.KeyID(id)]
	_, link := k.links[st][envelope.KeyID(id)]
	return ok || link
}

// check classifies the signature of wire (already parsed into m and in)
// the way a consumer expecting stage st would decide.
func (k *Keyring) check(wire []byte, m *cordon.Message, in envelope.Info, parseErr error, st cordon.Stage) trail.SigStatus {
	if parseErr != nil || m == nil {
		return trail.SigMalformed
	}
	if k == nil || (k.keys[st] == nil && k.links[st] == nil) {
		return trail.SigUnchecked
	}
	if in.Link {
		key, ok := k.links[st][in.KeyID]
		if !ok {
			return trail.SigUnknownKey
		}
		if envelope.VerifyLinkWith(wire, key) != nil {
			return trail.SigBad
		}
	} else {
		pub, ok := k.keys[st][in.KeyID]
		if !ok {
			return trail.SigUnknownKey
		}
		if envelope.VerifyWith(wire, pub) != nil {
			return trail.SigBad
		}
	}
	if m.Producer != st {
		return trail.SigWrongStage
	}
	return trail.SigVerified
}
