package deployment_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cordon-gateway/cordon/deployment"
	"github.com/cordon-gateway/cordon/envelope"
)

func noenv(string) string { return "" }

func TestDocumentedExampleParses(t *testing.T) {
	doc, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindSubmatch(doc)
	if m == nil {
		t.Fatal("no yaml example in docs/configuration.md")
	}
	example := strings.ReplaceAll(string(m[1]), "…", "")
	cfg, err := deployment.Parse([]byte(example), noenv)
	if err != nil {
		t.Fatalf("the documented example does not parse:\n%v", err)
	}
	if cfg.APIs[0].BasePath != "/v1" || cfg.Components.Frontend.MaxInflight != 4096 || cfg.Timeout != 30*time.Second {
		t.Fatalf("example decoded wrong: %+v", cfg)
	}
}

const minimal = `
apis:
  - name: api
    spec: a.yaml
    upstream: http://127.0.0.1:3000
`

func TestDefaults(t *testing.T) {
	cfg, err := deployment.Parse([]byte(minimal), noenv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Mode != deployment.ModeFull || cfg.Prefix != "cordon" || cfg.Timeout != 30*time.Second ||
		cfg.Limits.MaxBodyBytes != 1<<20 || cfg.Components.Backend.Workers != 64 ||
		cfg.APIs[0].BasePath != "/" || cfg.Components.Frontend.ID != "fe1" {
		t.Fatalf("defaults not applied: %+v", cfg)
	}
}

func TestUnknownKeyNamesLineAndColumn(t *testing.T) {
	_, err := deployment.Parse([]byte(minimal+"limits:\n  max_body: 5\n"), noenv)
	if err == nil {
		t.Fatal("an unknown key was accepted")
	}
	if !strings.Contains(err.Error(), "[7:3]") || !strings.Contains(err.Error(), "max_body") {
		t.Fatalf("error does not point at line 7 column 3: %v", err)
	}
}

func TestEnvironmentOverrides(t *testing.T) {
	env := map[string]string{
		"CORDON_TIMEOUT":                             "5s",
		"CORDON_BUSES_DIRTY_REQ_URL":                 "nats://10.0.0.1:4222",
		"CORDON_LIMITS_MAX_BODY_BYTES":               "2MiB",
		"CORDON_COMPONENTS_FRONTEND_ID":              "edge2",
		"CORDON_COMPONENTS_BACKEND_WORKERS":          "8",
		"CORDON_LIMITS_RATE_LIMIT_PER_CLIENT":        "2.5",
		"CORDON_COMPONENTS_FRONTEND_TRUSTED_PROXIES": "10.0.0.0/8,192.168.0.0/16",
	}
	cfg, err := deployment.Parse([]byte(minimal), func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Timeout != 5*time.Second || cfg.Buses.DirtyReq.URL != "nats://10.0.0.1:4222" ||
		cfg.Limits.MaxBodyBytes != 2<<20 || cfg.Components.Frontend.ID != "edge2" ||
		cfg.Components.Backend.Workers != 8 || cfg.Limits.RateLimit.PerClient != 2.5 ||
		len(cfg.Components.Frontend.TrustedProxies) != 2 {
		t.Fatalf("overrides not applied: %+v", cfg)
	}
	if _, err := deployment.Parse([]byte(minimal), func(k string) string {
		if k == "CORDON_TIMEOUT" {
			return "soon"
		}
		return ""
	}); err == nil || !strings.Contains(err.Error(), "CORDON_TIMEOUT") {
		t.Fatalf("a bad override must name its variable, got %v", err)
	}
}

func TestValidationReportsEveryProblem(t *testing.T) {
	bad := `
mode: sideways
prefix: "Bad Prefix"
timeout: 1ms
buses:
  dirty_req: {url: "http://x"}
apis:
  - {name: api, spec: a.yaml, upstream: "ftp://x"}
  - {name: api, spec: "", upstream: "http://x", base_path: "v1"}
`
	_, err := deployment.Parse([]byte(bad), noenv)
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"mode:", "prefix:", "timeout:", "buses.dirty_req.url", "apis[0].upstream",
		"apis[1].name", "apis[1].spec", "apis[1].base_path"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}

func TestByteSize(t *testing.T) {
	for in, want := range map[string]deployment.ByteSize{"512": 512, "64KiB": 64 << 10, "1MiB": 1 << 20, "2GiB": 2 << 30} {
		got, err := deployment.ParseByteSize(in)
		if err != nil || got != want {
			t.Errorf("%s: %d %v", in, got, err)
		}
	}
	for _, in := range []string{"", "-1", "1TB", "x", "99999999999GiB"} {
		if _, err := deployment.ParseByteSize(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

func TestValidationDocExampleParses(t *testing.T) {
	doc, err := os.ReadFile("../docs/validation.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindSubmatch(doc)
	if m == nil {
		t.Fatal("no yaml example in docs/validation.md")
	}
	cfg, err := deployment.Parse(m[1], noenv)
	if err != nil {
		t.Fatalf("the documented policy example does not parse:\n%v", err)
	}
	if cfg.APIs[0].Policy.Auth.Schemes["bearerAuth"].Issuer != "https://login.example" {
		t.Fatalf("decoded wrong: %+v", cfg.APIs[0].Policy)
	}
}

func TestSignatureModes(t *testing.T) {
	cfg, err := deployment.Parse([]byte(minimal), noenv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Signatures != deployment.SignaturesEd25519 {
		t.Fatalf("default signatures %q, want ed25519", cfg.Signatures)
	}
	_, err = deployment.Parse([]byte(minimal+"signatures: rot13\n"), noenv)
	if err == nil || !strings.Contains(err.Error(), `signatures: "rot13"`) {
		t.Fatalf("unknown mode: %v", err)
	}
	// hmac needs every producer's link key.
	_, err = deployment.Parse([]byte(minimal+"signatures: hmac\nlink_keys: {frontend: [fe.link]}\n"), noenv)
	for _, want := range []string{"link_keys.request_validator", "link_keys.backend", "link_keys.response_validator"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("hmac without %s: %v", want, err)
		}
	}
	if err != nil && strings.Contains(err.Error(), "link_keys.frontend") {
		t.Errorf("frontend has a link key, yet: %v", err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "cordon.yaml")
	all := "signatures: hmac\nlink_keys: {frontend: [k/fe.link, /abs/fe2.link], request_validator: [k/rv.link], backend: [k/be.link], response_validator: [k/resv.link]}\n"
	if err := os.WriteFile(path, []byte(minimal+all), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err = deployment.Load(path, noenv)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.LinkKeys.Frontend; len(got) != 2 || got[0] != filepath.Join(dir, "k/fe.link") || got[1] != "/abs/fe2.link" {
		t.Fatalf("link key paths are not resolved against the file: %v", got)
	}
}

// TestParseRefusesWhatCrashesTheYAMLLibrary: goccy/go-yaml v1.19.2 panics
// on this input (found by FuzzParse); Parse answers an error instead.
func TestParseRefusesWhatCrashesTheYAMLLibrary(t *testing.T) {
	_, err := deployment.Parse([]byte("apis:\n !- "), nil)
	if err == nil || !strings.Contains(err.Error(), "malformed YAML") {
		t.Fatalf("err = %v, want a malformed YAML error", err)
	}
}

// A trusted key must be a usable Ed25519 key: a point of small order
// would let anyone forge that stage's messages.
func TestTrustKeysAreChecked(t *testing.T) {
	pub, _, err := envelope.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	good := envelope.EncodePublicKey(pub)
	identity := "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" // the neutral point: order 1
	trust := fmt.Sprintf("trust: {frontend: [%s, %s], backend: [not-base64], response_validator: [%s]}\n", good, identity, good)
	_, err = deployment.Parse([]byte(minimal+trust), noenv)
	if err == nil {
		t.Fatal("accepted a small-order key and a key that is not base64")
	}
	for _, want := range []string{"trust.frontend[1]: envelope: public key: not a valid Ed25519 public key", "trust.backend[0]: envelope: public key must be 32 bytes"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "trust.frontend[0]") || strings.Contains(err.Error(), "trust.response_validator") {
		t.Errorf("a good key was refused: %v", err)
	}
}
