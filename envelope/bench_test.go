package envelope_test

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/envelope"
)

// benchMessages: a small GET without a body, and a POST with a 4 KB JSON
// body, with the headers a typical API client sends.
func benchMessages() map[string]*cordon.Message {
	get := requestMessage()
	get.Request.Header = http.Header{
		"Accept":        {"application/json"},
		"Authorization": {"Bearer eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl"},
		"User-Agent":    {"example-client/1.2"},
	}
	post := requestMessage()
	post.Request.Method = http.MethodPost
	post.Request.Header = get.Request.Header.Clone()
	post.Request.Header["Content-Type"] = []string{"application/json"}
	var body bytes.Buffer
	body.WriteString(`{"items":[`)
	for i := 0; body.Len() < 4096-40; i++ {
		if i > 0 {
			body.WriteByte(',')
		}
		body.WriteString(`{"sku":"ABC-12345","qty":3,"price":"19.99"}`)
	}
	body.WriteString(`]}`)
	post.Body = body.Bytes()
	return map[string]*cordon.Message{"get": get, "post4k": post}
}

func BenchmarkSeal(b *testing.B) {
	benchSeal(b, newSigner(b, cordon.StageFrontend, frontendKey))
}

func BenchmarkOpen(b *testing.B) {
	benchOpen(b, newSigner(b, cordon.StageFrontend, frontendKey), newVerifier(b, cordon.StageFrontend, frontendKey))
}

// benchSeal measures sealing each benchMessages message with s.
func benchSeal(b *testing.B, s *envelope.Signer) {
	for name, m := range benchMessages() {
		b.Run(name, func(b *testing.B) {
			buf := seal(b, m, s)
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if buf, err = envelope.Seal(buf[:0], m, s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchOpen measures opening each benchMessages message, sealed by s, with v.
func benchOpen(b *testing.B, s *envelope.Signer, v *envelope.Verifier) {
	for name, m := range benchMessages() {
		b.Run(name, func(b *testing.B) {
			wire := seal(b, m, s)
			b.SetBytes(int64(len(wire)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := envelope.Open(wire, v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEncode is the codec alone, without the signature.
func BenchmarkEncode(b *testing.B) {
	for name, m := range benchMessages() {
		b.Run(name, func(b *testing.B) {
			buf := envelope.AppendPayload(nil, m)
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			for b.Loop() {
				buf = envelope.AppendPayload(buf[:0], m)
			}
		})
	}
}

// BenchmarkDecode is the codec alone (Parse does not verify).
func BenchmarkDecode(b *testing.B) {
	s := newSigner(b, cordon.StageFrontend, frontendKey)
	for name, m := range benchMessages() {
		b.Run(name, func(b *testing.B) {
			wire := seal(b, m, s)
			b.SetBytes(int64(len(wire)))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := envelope.Parse(wire); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
