package audit_test

import (
	"testing"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/audit"
	"github.com/cordon-gateway/cordon/audit/audittest"
	"github.com/cordon-gateway/cordon/audit/trail"
	"github.com/cordon-gateway/cordon/envelope"
)

// In link mode (HMAC) the audit checks a message's MAC with the producer's
// link key, and records the same statuses as for Ed25519 signatures.
func TestCaptureLinkKeys(t *testing.T) {
	f := audittest.NewFixture(t, nil, nil)
	key, stranger := envelope.GenerateLinkKey(), envelope.GenerateLinkKey()
	sealWith := func(k envelope.LinkKey) cordon.BusRecord {
		br := f.Message(cordon.BusDirtyResp, nil)
		m, _, err := envelope.Parse(br.Data)
		if err != nil {
			t.Fatal(err)
		}
		s, err := envelope.NewLinkSigner(cordon.StageBackend, k)
		if err != nil {
			t.Fatal(err)
		}
		if br.Data, err = envelope.Seal(nil, m, s); err != nil {
			t.Fatal(err)
		}
		return br
	}
	withLink, _ := audit.NewKeyring(nil)
	if err := withLink.AddLinkKeys(cordon.StageBackend, key); err != nil {
		t.Fatal(err)
	}
	// Ed25519 keys only: a MAC is from an unknown key, never "verified".
	edOnly := f.Keys
	cases := []struct {
		name string
		keys *audit.Keyring
		br   cordon.BusRecord
		want trail.SigStatus
	}{
		{"verified", withLink, sealWith(key), trail.SigVerified},
		{"stranger's link key", withLink, sealWith(stranger), trail.SigUnknownKey},
		{"altered", withLink, flip(sealWith(key)), trail.SigBad},
		{"Ed25519 keys only", edOnly, sealWith(key), trail.SigUnknownKey},
		{"link keys only, Ed25519 message", withLink, f.Message(cordon.BusDirtyResp, nil), trail.SigUnknownKey},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := audit.NewCapturer(audit.CaptureConfig{}, tc.keys, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Record(tc.br).Sig; got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
	id := envelope.LinkKeyIDOf(key)
	if !withLink.Trusts(cordon.StageBackend, id[:]) || withLink.Empty() {
		t.Error("a keyring holding a link key does not trust it")
	}
	if err := withLink.AddLinkKeys(cordon.StageBackend, key[:16]); err == nil {
		t.Error("a short link key was accepted")
	}
	if err := withLink.AddLinkKeys(cordon.StageUnknown, key); err == nil {
		t.Error("a link key for no stage was accepted")
	}
}
