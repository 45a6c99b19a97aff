package envelope

import (
	"bytes"
	"crypto/ed25519"
	"crypto/fips140"
	"encoding/hex"
	"os"
	"os/exec"
	"testing"

	"github.com/cordon-gateway/cordon"
)

// The hot path's Ed25519 (curve25519-voi) must be indistinguishable from
// crypto/ed25519, which the audit uses to re-check the trail: the same
// signature bytes, the same accept/reject decision on every input.

func testKey(n byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{n}, ed25519.SeedSize))
}

// stdVerify is crypto/ed25519's decision.
func stdVerify(pub ed25519.PublicKey, payload, sig []byte) bool {
	return ed25519.VerifyWithOptions(pub, payload, sig, signOpts) == nil
}

func mustVerifyKey(t testing.TB, pub ed25519.PublicKey) verifyKey {
	t.Helper()
	k, err := newVerifyKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSignaturesAreThoseOfCryptoEd25519(t *testing.T) {
	for n := range byte(32) {
		priv := testKey(n)
		payload := bytes.Repeat([]byte{n, 0xa5}, int(n)*37)
		got, err := sign(priv, payload)
		if err != nil {
			t.Fatal(err)
		}
		want, err := priv.Sign(nil, payload, signOpts)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("key %d: signature %x, crypto/ed25519 gives %x", n, got, want)
		}
	}
}

// hexBytes decodes a test constant.
func hexBytes(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The edge cases where Ed25519 implementations are known to disagree
// ("Taming the many EdDSAs"): both must decide alike on each.
func TestVerifyDecidesAsCryptoEd25519(t *testing.T) {
	priv := testKey(7)
	pub := priv.Public().(ed25519.PublicKey)
	key := mustVerifyKey(t, pub)
	payload := []byte("approved request 0195f0c2")
	sig, _ := priv.Sign(nil, payload, signOpts)

	// The group order L, little endian.
	order := hexBytes(t, "edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010")
	withS := func(s []byte) []byte { return append(bytes.Clone(sig[:32]), s...) }
	withR := func(r []byte) []byte { return append(bytes.Clone(r), sig[32:]...) }
	sPlusL := make([]byte, 32) // S + L: the same signature, malleated
	carry := 0
	for i := range 32 {
		v := int(sig[32+i]) + int(order[i]) + carry
		sPlusL[i], carry = byte(v), v>>8
	}

	cases := []struct {
		name string
		sig  []byte
		want bool
	}{
		{"valid", sig, true},
		{"S plus the group order", withS(sPlusL), false},
		{"S equal to the group order", withS(order), false},
		{"S all ones", withS(bytes.Repeat([]byte{0xff}, 32)), false},
		{"R the identity", withR(hexBytes(t, "0100000000000000000000000000000000000000000000000000000000000000")), false},
		{"R of order 2", withR(hexBytes(t, "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")), false},
		{"R not canonical (y = p+1)", withR(hexBytes(t, "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")), false},
		{"R not on the curve", withR(hexBytes(t, "0200000000000000000000000000000000000000000000000000000000000000")), false},
		{"all zero", make([]byte, 64), false},
		{"short", sig[:63], false},
		{"last bit flipped", append(bytes.Clone(sig[:63]), sig[63]^0x80), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fast, std := key.verify(payload, tc.sig), stdVerify(pub, payload, tc.sig)
			if fast != std {
				t.Fatalf("hot path says %v, crypto/ed25519 says %v", fast, std)
			}
			if fast != tc.want {
				t.Fatalf("verify = %v, want %v", fast, tc.want)
			}
		})
	}
	other := []byte("approved request 0195f0c3")
	if key.verify(other, sig) || stdVerify(pub, other, sig) {
		t.Fatal("a signature verified for another payload")
	}
}

func TestVerifierRefusesWeakKeys(t *testing.T) {
	weak := map[string]string{
		"identity":         "0100000000000000000000000000000000000000000000000000000000000000",
		"order 2":          "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"order 4":          "0000000000000000000000000000000000000000000000000000000000000000",
		"order 8":          "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
		"not on the curve": "0200000000000000000000000000000000000000000000000000000000000000",
	}
	for name, h := range weak {
		t.Run(name, func(t *testing.T) {
			if _, err := NewVerifier(cordon.StageFrontend, ed25519.PublicKey(hexBytes(t, h))); err == nil {
				t.Fatal("a verifier trusted a key anyone can forge for (or no key at all)")
			}
		})
	}
}

// FuzzVerifyDecidesAsCryptoEd25519 alters a valid signature and its
// payload in arbitrary ways; both implementations must always agree.
func FuzzVerifyDecidesAsCryptoEd25519(f *testing.F) {
	f.Add(byte(1), []byte("payload"), []byte{}, []byte{})
	f.Add(byte(2), []byte(""), []byte{0, 0x80}, []byte{})
	f.Add(byte(3), []byte("x"), bytes.Repeat([]byte{0xff}, 64), []byte("y"))
	f.Fuzz(func(t *testing.T, n byte, payload, flip, extra []byte) {
		priv := testKey(n % 8)
		pub := priv.Public().(ed25519.PublicKey)
		key := mustVerifyKey(t, pub)
		sig, err := sign(priv, payload)
		if err != nil {
			t.Fatal(err)
		}
		if !key.verify(payload, sig) || !stdVerify(pub, payload, sig) {
			t.Fatal("a fresh signature does not verify")
		}
		for i := 0; i < len(flip) && i < len(sig); i++ {
			sig[i] ^= flip[i]
		}
		payload = append(payload, extra...)
		if fast, std := key.verify(payload, sig), stdVerify(pub, payload, sig); fast != std {
			t.Fatalf("hot path says %v, crypto/ed25519 says %v for sig %x", fast, std, sig)
		}
	})
}

// Under GODEBUG=fips140=on, every signature goes through crypto/ed25519;
// the package's own tests run again in a child process in that mode.
func TestFIPSMode(t *testing.T) {
	if os.Getenv("CORDON_ENVELOPE_FIPS_CHILD") == "1" {
		if !fips140.Enabled() {
			t.Fatal("child runs without FIPS 140-3 mode")
		}
		return
	}
	if testing.Short() {
		t.Skip("runs the package's tests again in a child process")
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^(TestFIPSMode|TestSealOpenRoundTrip|TestOpenRefuses|TestGolden|TestSignaturesAreThoseOfCryptoEd25519|TestVerifyDecidesAsCryptoEd25519|TestKeyRotation)$", "-test.count=1")
	cmd.Env = append(os.Environ(), "GODEBUG=fips140=on", "CORDON_ENVELOPE_FIPS_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("tests under GODEBUG=fips140=on: %v\n%s", err, out)
	}
}

func TestParsePublicKeyRefusesWeakKeys(t *testing.T) {
	if _, err := ParsePublicKey("AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="); err == nil {
		t.Fatal("parsed the neutral point as a public key")
	}
	pub := testKey(9).Public().(ed25519.PublicKey)
	got, err := ParsePublicKey(EncodePublicKey(pub))
	if err != nil || !bytes.Equal(got, pub) {
		t.Fatalf("ParsePublicKey(good) = %x, %v", got, err)
	}
}
