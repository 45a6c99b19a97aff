package policy_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/policy"
)

// testKey signs JWTs for the "oauth" scheme of the test specs.
type testKey struct {
	priv ed25519.PrivateKey
	jwks string
}

var signer = func() testKey {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	jwks := `{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1","use":"sig","x":"` +
		base64.RawURLEncoding.EncodeToString(pub) + `"}]}`
	return testKey{priv: priv, jwks: jwks}
}()

const (
	testIssuer   = "https://auth.example.com"
	testAudience = "payments"
	testAPIKey   = "k3y-for-tests-0123456789"
)

// token mints a JWT with the given scopes; mutate edits claims or header.
func token(t testing.TB, scopes string, mutate ...func(jwt.MapClaims, *jwt.Token)) string {
	t.Helper()
	now := time.Now()
	claims := jwt.MapClaims{"iss": testIssuer, "aud": testAudience, "sub": "user-1",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(), "scope": scopes}
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	tok.Header["kid"] = "k1"
	for _, f := range mutate {
		f(claims, tok)
	}
	s, err := tok.SignedString(signer.priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// baseSettings configures the test specs' security schemes.
func baseSettings() policy.Settings {
	return policy.Settings{Auth: policy.AuthSettings{Schemes: map[string]policy.SchemeSettings{
		"oauth":  {JWKS: signer.jwks, Issuer: testIssuer, Audience: []string{testAudience}, Algorithms: []string{"EdDSA"}},
		"apiKey": {Keys: []policy.APIKey{{ID: "partner-a", SHA256: sha(testAPIKey)}}},
	}}}
}

func readSpec(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// compile30 compiles the 3.0 payments spec under /v1 with settings s.
func compile30(t testing.TB, s policy.Settings) *policy.Policy {
	t.Helper()
	return compileSpec(t, "payments-3.0.yaml", "/v1", s)
}

func compileSpec(t testing.TB, file, base string, s policy.Settings) *policy.Policy {
	t.Helper()
	p, err := policy.Compile([]policy.API{{Name: "payments", BasePath: base, Spec: readSpec(t, file),
		SpecPath: "testdata/" + file, Settings: s}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// req builds a request message. target is the escaped path with query;
// header is "Name: value" lines.
func req(method, target string, body string, header ...string) *cordon.Message {
	path, query, _ := strings.Cut(target, "?")
	h := http.Header{}
	for _, line := range header {
		k, v, _ := strings.Cut(line, ":")
		h.Add(k, strings.TrimSpace(v))
	}
	m := &cordon.Message{Request: cordon.RequestHead{Method: method, Path: path, RawQuery: query, Header: h}}
	if body != "" {
		m.Body = []byte(body)
	}
	return m
}

// authed adds a bearer token with scopes.
func authed(t testing.TB, m *cordon.Message, scopes string) *cordon.Message {
	m.Request.Header.Set("Authorization", "Bearer "+token(t, scopes))
	return m
}

// outcome is what a check decided, for table tests.
type outcome struct {
	kind    cordon.ErrorKind
	rule    string
	pointer string
}

func outcomeOf(t testing.TB, err error) outcome {
	t.Helper()
	if err == nil {
		return outcome{}
	}
	var e *cordon.Error
	if !errors.As(err, &e) {
		t.Fatalf("error is not a *cordon.Error: %v", err)
	}
	return outcome{e.Kind, e.Rule, e.Pointer}
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// ok is the expected outcome of a passing check.
var ok = outcome{}

func fail(kind cordon.ErrorKind, rule, pointer string) outcome { return outcome{kind, rule, pointer} }

type apiDef struct{ name, base, file string }

func compileAPIs(t testing.TB, defs ...apiDef) *policy.Policy {
	t.Helper()
	var apis []policy.API
	for _, d := range defs {
		apis = append(apis, policy.API{Name: d.name, BasePath: d.base, Spec: readSpec(t, d.file),
			SpecPath: "testdata/" + d.file, Settings: baseSettings()})
	}
	p, err := policy.Compile(apis)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func itoa(i int) string { return strconv.Itoa(i) }
