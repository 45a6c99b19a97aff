package main

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestJWTFromJWKSURL: a bearer scheme whose keys come from a jwks_url is
// enforced end to end (401 without a token, 200 with one signed by a
// published key, 401 with a key that is not published).
func TestJWTFromJWKSURL(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	_, stranger, _ := ed25519.GenerateKey(nil)
	jwks := fmt.Sprintf(`{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1","use":"sig","x":%q}]}`,
		base64.RawURLEncoding.EncodeToString(pub))
	keys := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, jwks)
	}))
	defer keys.Close()
	up := httptest.NewServer(newUpstream())
	defer up.Close()
	spec, _ := filepath.Abs("testdata/secure.yaml")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "cordon.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`apis:
  - name: api
    spec: %q
    upstream: %q
    policy:
      auth:
        schemes:
          bearerAuth: {jwks_url: %q, issuer: "https://issuer.test", audience: [items]}
`, spec, up.URL, keys.URL)), 0o600)

	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *devGateway, 1)
	done := make(chan error, 1)
	o := devOptions{listen: "127.0.0.1:0", admin: "127.0.0.1:0", config: cfg, data: filepath.Join(dir, "data"),
		timeout: 5 * time.Second, mode: "full", set: map[string]bool{"listen": true, "data": true},
		ready: func(g *devGateway) { ready <- g }}
	go func() { done <- dev(ctx, o, func(string) string { return "" }, io.Discard, io.Discard) }()
	defer func() { cancel(); <-done }()
	var g *devGateway
	select {
	case g = <-ready:
	case err := <-done:
		t.Fatalf("dev: %v", err)
	}

	token := func(k ed25519.PrivateKey) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{
			"iss": "https://issuer.test", "aud": "items", "sub": "alice",
			"exp": time.Now().Add(time.Minute).Unix(), "nbf": time.Now().Add(-time.Minute).Unix()})
		tok.Header["kid"] = "k1"
		s, err := tok.SignedString(k)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for _, tt := range []struct {
		name, auth string
		status     int
	}{
		{"no token", "", 401},
		{"published key", "Bearer " + token(priv), 200},
		{"unpublished key", "Bearer " + token(stranger), 401},
	} {
		hdr := map[string]string{}
		if tt.auth != "" {
			hdr["Authorization"] = tt.auth
		}
		if resp, body := do(t, "GET", g.Public+"/items/abc", "", hdr); resp.StatusCode != tt.status {
			t.Errorf("%s: %d %s, want %d", tt.name, resp.StatusCode, body, tt.status)
		}
	}
}

func TestJWKSURLMustBeSafe(t *testing.T) {
	for _, u := range []string{"http://10.0.0.1/jwks", "ftp://x/jwks", "file:///etc/passwd"} {
		if _, err := fetchJWKS(context.Background(), u); err == nil {
			t.Errorf("%s accepted", u)
		}
	}
}
