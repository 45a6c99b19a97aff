package audit_test

import (
	"bytes"
	"crypto/ed25519"
	"strings"
	"testing"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/audit"
	"github.com/cordon-gateway/cordon/audit/audittest"
	"github.com/cordon-gateway/cordon/audit/trail"
)

func TestExpectedProducer(t *testing.T) {
	cases := []struct {
		bus     cordon.Bus
		subject string
		want    cordon.Stage
	}{
		{cordon.BusDirtyReq, "cordon.dirty-req.in", cordon.StageFrontend},
		{cordon.BusDirtyReq, "cordon.dirty-req.reply.fe1", cordon.StageRequestValidator},
		{cordon.BusCleanReq, "cordon.clean-req.in", cordon.StageRequestValidator},
		{cordon.BusDirtyResp, "cordon.dirty-resp.in", cordon.StageBackend},
		{cordon.BusDirtyResp, "cordon.dirty-resp.reply.fe1", cordon.StageBackend},
		{cordon.BusCleanResp, "cordon.clean-resp.reply.fe1", cordon.StageResponseValidator},
	}
	for _, tc := range cases {
		t.Run(tc.subject, func(t *testing.T) {
			if got := audit.ExpectedProducer(tc.bus, tc.subject); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestCaptureModes(t *testing.T) {
	f := audittest.NewFixture(t, nil, nil)
	body := []byte(`{"card":"4111 1111 1111 1111","note":"ok"}`)
	cases := []struct {
		name    string
		cfg     audit.CaptureConfig
		bus     cordon.Bus
		op      string
		want    trail.Capture
		stored  func([]byte) bool
		keepEnv bool
	}{
		{"default redacts", audit.CaptureConfig{}, cordon.BusDirtyReq, "", trail.CaptureRedact,
			func(b []byte) bool {
				return !bytes.Contains(b, []byte("4111 1111 1111 1111")) && bytes.Contains(b, []byte("1111"))
			}, false},
		{"full", audit.CaptureConfig{Default: "full"}, cordon.BusDirtyReq, "", trail.CaptureFull,
			func(b []byte) bool { return bytes.Equal(b, body) }, true},
		{"hash", audit.CaptureConfig{Default: "full", Buses: map[string]string{"dirty-req": "hash"}}, cordon.BusDirtyReq, "",
			trail.CaptureHash, func(b []byte) bool { return b == nil }, false},
		{"operation wins over bus", audit.CaptureConfig{Buses: map[string]string{"2": "hash"},
			Operations: map[string]string{"shop/pay": "full"}}, cordon.BusCleanReq, "shop/pay", trail.CaptureFull,
			func(b []byte) bool { return bytes.Equal(b, body) }, true},
		{"too large", audit.CaptureConfig{Default: "full", MaxBody: 10}, cordon.BusDirtyReq, "", trail.CaptureHash,
			func(b []byte) bool { return b == nil }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := audit.NewCapturer(tc.cfg, f.Keys, []byte("k"))
			if err != nil {
				t.Fatal(err)
			}
			br := f.Message(tc.bus, func(m *cordon.Message) { m.Body = body; m.Request.Operation = tc.op })
			r := c.Record(br)
			if r.Capture != tc.want || !tc.stored(r.Body) || (r.Envelope != nil) != tc.keepEnv {
				t.Fatalf("capture %s body %q envelope kept %v", r.Capture, r.Body, r.Envelope != nil)
			}
			if r.BodySHA256 != trail.Sum(body) || r.BodyLen != int64(len(body)) || r.Sig != trail.SigVerified {
				t.Fatalf("digest, length or signature wrong: %+v", r)
			}
		})
	}
}

func TestCaptureMasksCredentials(t *testing.T) {
	f := audittest.NewFixture(t, nil, nil)
	c, err := audit.NewCapturer(audit.CaptureConfig{Default: "full", SecretHeaders: []string{"X-Internal"}}, f.Keys, []byte("k"))
	if err != nil {
		t.Fatal(err)
	}
	br := f.Message(cordon.BusDirtyReq, func(m *cordon.Message) {
		h := m.Request.Header
		h.Set("Authorization", "Bearer tok-123456")
		h.Set("Cookie", "sid=abcdef")
		h.Set("X-Api-Key", "key-987")
		h.Set("X-Internal", "internal-secret")
		h.Set("X-Session-Id", "sess-42")
		h.Set("Accept", "application/json")
		m.Request.RawQuery = "access_token=qwerty&page=3&apikey=zz"
	})
	r := c.Record(br)
	for _, secret := range []string{"tok-123456", "abcdef", "key-987", "internal-secret", "sess-42", "qwerty", "zz"} {
		if strings.Contains(r.ReqHeader, secret) || strings.Contains(r.Query, secret) {
			t.Errorf("%q stored in clear: %s %s", secret, r.ReqHeader, r.Query)
		}
	}
	if !strings.Contains(r.ReqHeader, `"Bearer [masked `) || !strings.Contains(r.ReqHeader, "application/json") || !strings.Contains(r.Query, "page=3") {
		t.Errorf("masked too much or lost the scheme: %s %s", r.ReqHeader, r.Query)
	}
	if r.Envelope != nil || r.Masked != 7 {
		t.Errorf("envelope kept %v, masked %d, want dropped and 7", r.Envelope != nil, r.Masked)
	}
	// The same credential masks to the same digest: one token can be followed.
	if r2 := c.Record(br); r2.ReqHeader != r.ReqHeader {
		t.Error("masking is not deterministic")
	}
}

func TestCaptureSignatureStatus(t *testing.T) {
	f := audittest.NewFixture(t, nil, nil)
	_, stranger, _ := ed25519.GenerateKey(nil)
	noKeys, _ := audit.NewKeyring(nil)
	cases := []struct {
		name string
		keys *audit.Keyring
		br   cordon.BusRecord
		want trail.SigStatus
	}{
		{"verified", f.Keys, f.Message(cordon.BusDirtyResp, nil), trail.SigVerified},
		{"no keys", noKeys, f.Message(cordon.BusDirtyResp, nil), trail.SigUnchecked},
		{"garbage", f.Keys, f.Raw(cordon.BusDirtyResp, "cordon.dirty-resp.in", []byte("xx")), trail.SigMalformed},
		{"flipped bit", f.Keys, flip(f.Message(cordon.BusDirtyResp, nil)), trail.SigBad},
	}
	_ = stranger
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
}

func flip(br cordon.BusRecord) cordon.BusRecord {
	br.Data = append([]byte{}, br.Data...)
	br.Data[len(br.Data)-2] ^= 1
	return br
}

// FuzzCapture: the shipper records whatever bytes sit on a bus.
func FuzzCapture(f *testing.F) {
	fx := audittest.NewFixture(f, nil, nil)
	f.Add(fx.Message(cordon.BusDirtyReq, audittest.WithSecret).Data)
	f.Add(fx.Message(cordon.BusCleanResp, nil).Data)
	f.Add([]byte("CDN\x01\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := fx.Capturer.Record(cordon.BusRecord{Bus: cordon.BusDirtyReq, Seq: 1, Subject: "cordon.dirty-req.in", Data: data})
		if r.Leaf != r.ComputeLeaf() || r.Sig == trail.SigNone || r.EnvelopeSHA256 != trail.Sum(data) {
			t.Fatalf("bad record for %x", data)
		}
		if trail.Clean(r.Path) != r.Path || trail.Clean(r.ReqHeader) != r.ReqHeader {
			t.Fatal("uncleaned text would break the store")
		}
	})
}

func BenchmarkCapture(b *testing.B) {
	f := audittest.NewFixture(b, nil, nil)
	br := f.Message(cordon.BusDirtyReq, audittest.WithSecret)
	b.ReportAllocs()
	for b.Loop() {
		f.Capturer.Record(br)
	}
}

func BenchmarkEd25519Verify(b *testing.B) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	msg := make([]byte, 300)
	sig := ed25519.Sign(priv, msg)
	for b.Loop() {
		ed25519.Verify(pub, msg, sig)
	}
}

func TestCaptureDeferSignatures(t *testing.T) {
	f := audittest.NewFixture(t, nil, nil)
	c, err := audit.NewCapturer(audit.CaptureConfig{Default: "full", DeferSignatures: true}, f.Keys, []byte("k"))
	if err != nil {
		t.Fatal(err)
	}
	// Kept verbatim: left for audit verify.
	if r := c.Record(f.Message(cordon.BusDirtyResp, nil)); r.Sig != trail.SigUnchecked || r.Envelope == nil {
		t.Fatalf("kept envelope: sig %s, kept %v; want unchecked and kept", r.Sig, r.Envelope != nil)
	}
	// Not kept (a credential was masked): nothing could check it later, so
	// it is verified now.
	masked := f.Message(cordon.BusDirtyReq, func(m *cordon.Message) { m.Request.Header.Set("Authorization", "Bearer x") })
	if r := c.Record(masked); r.Sig != trail.SigVerified || r.Envelope != nil {
		t.Fatalf("masked envelope: sig %s, kept %v; want verified and dropped", r.Sig, r.Envelope != nil)
	}
}
