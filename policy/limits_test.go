package policy_test

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/policy"
)

func gz(t testing.TB, s string) string {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.String()
}

func zl(t testing.TB, s string) string {
	t.Helper()
	var b bytes.Buffer
	w := zlib.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.String()
}

// noise returns n bytes of hex that compress about 2:1.
func noise(n int) string {
	var b strings.Builder
	h := sha256.Sum256(nil)
	for b.Len() < n {
		h = sha256.Sum256(h[:])
		b.WriteString(hex.EncodeToString(h[:]))
	}
	return b.String()[:n]
}

const idem = "Idempotency-Key: 0123456789abcdef0123"

func payment(extra string) string {
	return `{"amount":1250,"currency":"EUR","debtorIban":"DE89370400440532013000","creditorIban":"FR1420041010050500013M02606"` + extra + `}`
}

// TestLimits covers OWASP API4 (unrestricted resource consumption): every
// limit is enforced before parsing, with its own status.
func TestLimits(t *testing.T) {
	s := baseSettings()
	s.Request.Limits = policy.RequestLimits{MaxBodyBytes: 4096, MaxURLBytes: 256, MaxHeaderCount: 10,
		MaxHeaderBytes: 2048, MaxParams: 8, MaxCompressionRatio: 10, JSON: policy.JSONLimits{MaxDepth: 4, MaxMembers: 8, MaxArrayLen: 4, MaxStringLen: 200}}
	s.Request.ContentEncodings = []string{"gzip", "deflate"}
	p := compile30(t, s)
	deep := `{"metadata":` + strings.Repeat(`{"a":`, 5) + `1` + strings.Repeat(`}`, 5) + `}`
	many := `{` + strings.Repeat(`"a":1,`, 0)
	for i := range 9 {
		many += fmt.Sprintf(`"k%d":1,`, i)
	}
	many = strings.TrimSuffix(many, ",") + `}`
	cases := []struct {
		name string
		m    *cordon.Message
		want outcome
	}{
		{"url too long", req("GET", "/v1/accounts?cursor="+strings.Repeat("a", 300), ""),
			fail(cordon.KindURITooLong, "request.url.too-long", "")},
		{"path too long", req("GET", "/v1/"+strings.Repeat("a", 300), ""),
			fail(cordon.KindURITooLong, "request.url.too-long", "")},
		{"too many headers", req("GET", "/v1/health", "", strings.Split(strings.Repeat("X-A: 1\n", 11), "\n")[:11]...),
			fail(cordon.KindHeadersTooLarge, "request.header.too-many", "header")},
		{"headers too large", req("GET", "/v1/health", "", "X-A: "+strings.Repeat("a", 2100)),
			fail(cordon.KindHeadersTooLarge, "request.header.too-large", "header")},
		{"body too large", req("POST", "/v1/payments", payment(`,"reference":"`+strings.Repeat("a", 5000)+`"`), "Content-Type: application/json", idem),
			fail(cordon.KindTooLarge, "request.body.too-large", "body")},
		{"too many query params", req("GET", "/v1/accounts?"+strings.Repeat("status=active&", 9), ""),
			fail(cordon.KindInvalid, "request.query.too-many", "query")},
		{"json depth", req("PATCH", acct, deep, "Content-Type: application/merge-patch+json"),
			fail(cordon.KindInvalid, "json.depth", "/metadata/a/a/a")},
		{"json members", req("PATCH", acct, many, "Content-Type: application/merge-patch+json"),
			fail(cordon.KindInvalid, "json.members", "")},
		{"json array length", req("POST", "/v1/payments", `[1,2,3,4,5]`, "Content-Type: application/json", idem),
			fail(cordon.KindInvalid, "json.array-length", "")},
		{"json string length", req("POST", "/v1/payments", payment(`,"reference":"`+strings.Repeat("a", 201)+`"`), "Content-Type: application/json", idem),
			fail(cordon.KindInvalid, "json.string-length", "/reference")},
		{"gzip accepted", req("POST", "/v1/payments", gz(t, payment("")), "Content-Type: application/json", "Content-Encoding: gzip", idem), ok},
		{"deflate accepted", req("POST", "/v1/payments", zl(t, payment("")), "Content-Type: application/json", "Content-Encoding: deflate", idem), ok},
		{"gzip bomb by ratio", req("POST", "/v1/payments", gz(t, payment(`,"reference":"`+strings.Repeat(" ", 3000)+`"`)), "Content-Type: application/json", "Content-Encoding: gzip", idem),
			fail(cordon.KindTooLarge, "request.body.compression-ratio", "body")},
		{"gzip small but highly compressed", req("POST", "/v1/payments", gz(t, strings.Repeat(`{"a":"`+strings.Repeat("x", 90)+`"}`, 60)), "Content-Type: application/json", "Content-Encoding: gzip", idem),
			fail(cordon.KindTooLarge, "request.body.compression-ratio", "body")},
		{"gzip over size", req("POST", "/v1/payments", gz(t, noise(5000)), "Content-Type: application/json", "Content-Encoding: gzip", idem),
			fail(cordon.KindTooLarge, "request.body.too-large", "body")},
		{"corrupt gzip", req("POST", "/v1/payments", "\x1f\x8bnot gzip", "Content-Type: application/json", "Content-Encoding: gzip", idem),
			fail(cordon.KindInvalid, "request.content-encoding.corrupt", "body")},
		{"brotli refused", req("POST", "/v1/payments", payment(""), "Content-Type: application/json", "Content-Encoding: br", idem),
			fail(cordon.KindUnsupportedMedia, "request.content-encoding.unsupported", "header/Content-Encoding")},
		{"stacked encodings refused", req("POST", "/v1/payments", payment(""), "Content-Type: application/json", "Content-Encoding: gzip, gzip", idem),
			fail(cordon.KindUnsupportedMedia, "request.content-encoding.unsupported", "header/Content-Encoding")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			authed(t, tc.m, "accounts:read accounts:write payments:write")
			_, err := p.CheckRequest(tc.m)
			if got := outcomeOf(t, err); got != tc.want {
				t.Fatalf("got %+v, want %+v (%v)", got, tc.want, err)
			}
		})
	}
}

func TestCompressionNotAllowedByDefault(t *testing.T) {
	p := compile30(t, baseSettings())
	m := authed(t, req("POST", "/v1/payments", gz(t, payment("")), "Content-Type: application/json", "Content-Encoding: gzip", idem), "payments:write")
	_, err := p.CheckRequest(m)
	if got := outcomeOf(t, err); got != fail(cordon.KindUnsupportedMedia, "request.content-encoding.unsupported", "header/Content-Encoding") {
		t.Fatalf("got %+v", got)
	}
}

func TestDecompressedBodyForwarded(t *testing.T) {
	s := baseSettings()
	s.Request.ContentEncodings = []string{"gzip"}
	p := compile30(t, s)
	m := authed(t, req("POST", "/v1/payments", gz(t, payment("")), "Content-Type: application/json", "Content-Encoding: gzip", idem), "payments:write")
	if _, err := p.CheckRequest(m); err != nil {
		t.Fatal(err)
	}
	if m.Request.Header.Get("Content-Encoding") != "" || !strings.HasPrefix(string(m.Body), `{"amount":1250`) {
		t.Fatalf("forwarded %v %q", m.Request.Header, m.Body)
	}
}
