package policy_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/policy"
)

func TestBearerAuth(t *testing.T) {
	for _, spec := range []string{"payments-3.0.yaml", "payments-3.1.yaml"} {
		t.Run(spec, func(t *testing.T) {
			p := compileSpec(t, spec, "/v1", baseSettings())
			_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
			missing := fail(cordon.KindUnauthorized, "auth.missing", "header/Authorization")
			invalid := fail(cordon.KindUnauthorized, "auth.invalid", "header/Authorization")
			hs256 := func() string { // algorithm confusion: HMAC keyed with public material
				tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": testIssuer, "aud": testAudience, "exp": time.Now().Add(time.Hour).Unix(), "scope": "accounts:read"})
				tok.Header["kid"] = "k1"
				s, _ := tok.SignedString([]byte(signer.jwks))
				return s
			}
			none := func() string {
				tok := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"iss": testIssuer, "aud": testAudience, "exp": time.Now().Add(time.Hour).Unix(), "scope": "accounts:read"})
				s, _ := tok.SignedString(jwt.UnsafeAllowNoneSignatureType)
				return s
			}
			cases := []struct {
				name   string
				header []string
				method string
				target string
				want   outcome
			}{
				{"anonymous operation", nil, "GET", "/v1/health", ok},
				{"no credentials", nil, "GET", acct, missing},
				{"valid token", []string{"Authorization: Bearer " + token(t, "accounts:read")}, "GET", acct, ok},
				{"lower-case scheme", []string{"Authorization: bearer " + token(t, "accounts:read")}, "GET", acct, ok},
				{"scope missing", []string{"Authorization: Bearer " + token(t, "accounts:read")}, "POST", "/v1/accounts", fail(cordon.KindDenied, "auth.scope", "header/Authorization")},
				{"scope as array", []string{"Authorization: Bearer " + token(t, "", func(c jwt.MapClaims, _ *jwt.Token) { delete(c, "scope"); c["scp"] = []string{"accounts:read"} })}, "GET", acct, ok},
				{"expired", []string{"Authorization: Bearer " + token(t, "accounts:read", func(c jwt.MapClaims, _ *jwt.Token) { c["exp"] = time.Now().Add(-time.Hour).Unix() })}, "GET", acct, invalid},
				{"no exp", []string{"Authorization: Bearer " + token(t, "accounts:read", func(c jwt.MapClaims, _ *jwt.Token) { delete(c, "exp") })}, "GET", acct, invalid},
				{"not yet valid", []string{"Authorization: Bearer " + token(t, "accounts:read", func(c jwt.MapClaims, _ *jwt.Token) { c["nbf"] = time.Now().Add(time.Hour).Unix() })}, "GET", acct, invalid},
				{"wrong issuer", []string{"Authorization: Bearer " + token(t, "accounts:read", func(c jwt.MapClaims, _ *jwt.Token) { c["iss"] = "https://evil.example" })}, "GET", acct, invalid},
				{"wrong audience", []string{"Authorization: Bearer " + token(t, "accounts:read", func(c jwt.MapClaims, _ *jwt.Token) { c["aud"] = "other" })}, "GET", acct, invalid},
				{"unknown kid", []string{"Authorization: Bearer " + token(t, "accounts:read", func(_ jwt.MapClaims, tk *jwt.Token) { tk.Header["kid"] = "k2" })}, "GET", acct, invalid},
				{"HS256 confusion", []string{"Authorization: Bearer " + hs256()}, "GET", acct, invalid},
				{"alg none", []string{"Authorization: Bearer " + none()}, "GET", acct, invalid},
				{"tampered", []string{"Authorization: Bearer " + tamper(token(t, "accounts:read"))}, "GET", acct, invalid},
				{"signed by another key", []string{"Authorization: Bearer " + signWith(t, otherKey)}, "GET", acct, invalid},
				{"garbage", []string{"Authorization: Bearer not.a.jwt"}, "GET", acct, invalid},
				{"basic", []string{"Authorization: Basic dXNlcjpwYXNz"}, "GET", acct, invalid},
				{"two tokens", []string{"Authorization: Bearer " + token(t, "accounts:read"), "Authorization: Bearer " + token(t, "accounts:read")}, "GET", acct, invalid},
				{"api key alternative", []string{"X-API-Key: " + testAPIKey}, "GET", acct, ok},
				{"wrong api key", []string{"X-API-Key: nope"}, "GET", acct, fail(cordon.KindUnauthorized, "auth.invalid", "header/X-Api-Key")},
				{"api key not accepted here", []string{"X-API-Key: " + testAPIKey}, "POST", "/v1/accounts", missing},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					body, ct := "", []string{}
					if tc.method == "POST" {
						body, ct = `{"name":"a","currency":"EUR","owner":{"email":"a@example.com"}}`, []string{"Content-Type: application/json"}
					}
					m := req(tc.method, tc.target, body, append(ct, tc.header...)...)
					_, err := p.CheckRequest(m)
					if got := outcomeOf(t, err); got != tc.want {
						t.Fatalf("got %+v, want %+v (%v)", got, tc.want, err)
					}
					if err == nil && (m.Request.Header.Get("Authorization") != "" || m.Request.Header.Get("X-Api-Key") != "") {
						t.Fatalf("credentials forwarded: %v", m.Request.Header)
					}
				})
			}
		})
	}
}

func tamper(tok string) string {
	parts := strings.Split(tok, ".")
	parts[1] = strings.TrimRight(parts[1], "=") + "x"
	return strings.Join(parts, ".")
}

func signWith(t *testing.T, key ed25519.PrivateKey) string {
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{"iss": testIssuer, "aud": testAudience, "exp": time.Now().Add(time.Hour).Unix(), "scope": "accounts:read"})
	tok.Header["kid"] = "k1"
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestForwardCredentials(t *testing.T) {
	s := baseSettings()
	s.Auth.ForwardCredentials = true
	p := compile30(t, s)
	tok := token(t, "accounts:read")
	m := req("GET", acct, "", "Authorization: Bearer "+tok)
	if _, err := p.CheckRequest(m); err != nil {
		t.Fatal(err)
	}
	if m.Request.Header.Get("Authorization") != "Bearer "+tok {
		t.Fatalf("not forwarded: %v", m.Request.Header)
	}
}

// TestAPIKeyLocations: keys in a query parameter or a cookie, from a file;
// they are removed from what the upstream gets.
func TestAPIKeyLocations(t *testing.T) {
	dir := t.TempDir()
	keys := "# id sha256 scopes\npartner-b " + sha("query-key-123") + " things:write\n\npartner-c " + sha("cookie-key-456") + "\n"
	if err := os.WriteFile(filepath.Join(dir, "keys.txt"), []byte(keys), 0o600); err != nil {
		t.Fatal(err)
	}
	spec := []byte(`openapi: 3.1.0
info: {title: keys, version: "1"}
paths:
  /things:
    get:
      operationId: list
      security: [{q: [things:write]}, {c: []}]
      parameters:
        - {name: page, in: query, schema: {type: integer}}
      responses:
        "200": {description: ok}
components:
  securitySchemes:
    q: {type: apiKey, in: query, name: api_key}
    c: {type: apiKey, in: cookie, name: token}
`)
	specPath := filepath.Join(dir, "keys.yaml")
	s := policy.Settings{Auth: policy.AuthSettings{Schemes: map[string]policy.SchemeSettings{
		"q": {KeysFile: "keys.txt"}, "c": {KeysFile: filepath.Join(dir, "keys.txt")}}}}
	p, err := policy.Compile([]policy.API{{Name: "keys", Spec: spec, SpecPath: specPath, Settings: s}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		target    string
		header    []string
		want      outcome
		forwarded string
	}{
		{"query key", "/things?page=2&api_key=query-key-123", nil, ok, "page=2"},
		{"cookie key", "/things?page=1", []string{"Cookie: token=cookie-key-456"}, ok, "page=1"},
		{"cookie key lacks scope for query alternative", "/things?api_key=cookie-key-456", nil, fail(cordon.KindDenied, "auth.scope", "query/api_key"), ""},
		{"no key", "/things", nil, fail(cordon.KindUnauthorized, "auth.missing", "query/api_key"), ""},
		{"key twice", "/things?api_key=query-key-123&api_key=query-key-123", nil, fail(cordon.KindUnauthorized, "auth.invalid", "query/api_key"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := req("GET", tc.target, "", tc.header...)
			_, err := p.CheckRequest(m)
			if got := outcomeOf(t, err); got != tc.want {
				t.Fatalf("got %+v, want %+v (%v)", got, tc.want, err)
			}
			if err == nil && (m.Request.RawQuery != tc.forwarded || m.Request.Header.Get("Cookie") != "") {
				t.Fatalf("forwarded %q %v", m.Request.RawQuery, m.Request.Header)
			}
		})
	}
}

func TestJWKSFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "jwks.json"), []byte(signer.jwks), 0o600); err != nil {
		t.Fatal(err)
	}
	s := baseSettings()
	sc := s.Auth.Schemes["oauth"]
	sc.JWKS, sc.JWKSFile = "", filepath.Join(dir, "jwks.json")
	s.Auth.Schemes["oauth"] = sc
	p := compile30(t, s)
	if _, err := p.CheckRequest(authed(t, req("GET", acct, ""), "accounts:read")); err != nil {
		t.Fatal(err)
	}
	// a JWKS with private material is refused
	bad := strings.Replace(signer.jwks, `"use":"sig"`, `"use":"sig","d":"c2VjcmV0"`, 1)
	sc.JWKSFile, sc.JWKS = "", bad
	s.Auth.Schemes["oauth"] = sc
	if _, err := policy.Compile([]policy.API{{Name: "p", Spec: readSpec(t, "payments-3.0.yaml"), Settings: s}}); err == nil || !strings.Contains(err.Error(), "private") {
		t.Fatalf("err = %v", err)
	}
	sc.JWKS, sc.Algorithms = signer.jwks, []string{"HS256"}
	s.Auth.Schemes["oauth"] = sc
	if _, err := policy.Compile([]policy.API{{Name: "p", Spec: readSpec(t, "payments-3.0.yaml"), Settings: s}}); err == nil || !strings.Contains(err.Error(), "HS256") {
		t.Fatalf("err = %v", err)
	}
}
