package policy_test

import (
	"encoding/json"
	"flag"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/cordon-gateway/cordon/policy"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestDescribeGolden(t *testing.T) {
	s := baseSettings()
	s.Request.ForwardHeaders = []string{"Accept"}
	s.Response.DLP.Actions = map[string]string{"iban": "report"}
	s.Operations = map[string]policy.OperationSettings{
		"createPayment": {RequestMode: policy.ModeMonitor, Rules: []policy.Rule{{Name: "limit", Expr: "body.amount < 100000"}}},
		"putAvatar":     {OpaqueMediaTypes: []string{"image/png"}, MaxBodyBytes: 65536},
	}
	d := compile30(t, s).Describe().(policy.Description)
	d.Version = "(varies with the test signing key)"
	got, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden := "testdata/describe.golden.json"
	if *update {
		if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != string(got)+"\n" {
		t.Fatalf("Describe() differs from %s (run with -update to accept):\n%s", golden, got)
	}
	if strings.Contains(string(got), sha(testAPIKey)) {
		t.Fatal("Describe leaks key hashes")
	}
}

// TestSettingsYAML: the settings decode from the deployment YAML in strict
// mode, with snake_case keys.
func TestSettingsYAML(t *testing.T) {
	doc := `
request:
  mode: monitor
  limits: {max_body_bytes: 2048, json: {max_depth: 8}}
  allow_undeclared_query: true
  forward_headers: [Accept]
  content_encodings: [gzip]
response:
  minimize: true
  allow_headers: [X-Trace]
  dlp:
    actions: {card-number: block}
    disable: [iban]
    custom: [{name: internal-host, regex: 'db-[0-9]+', action: redact}]
auth:
  forward_credentials: false
  schemes:
    oauth: {jwks_file: jwks.json, issuer: https://auth, audience: [payments], leeway: 10s}
    apiKey:
      keys: [{id: partner-a, sha256: "` + sha("k") + `", scopes: [read]}]
rules:
  - {name: r1, expr: "true"}
operations:
  createPayment:
    request_mode: enforce
    allow_undeclared_properties: false
    rules: [{name: r2, expr: "false"}]
`
	var s policy.Settings
	if err := yaml.UnmarshalWithOptions([]byte(doc), &s, yaml.Strict()); err != nil {
		t.Fatal(err)
	}
	if s.Request.Mode != policy.ModeMonitor || s.Request.Limits.JSON.MaxDepth != 8 || s.Auth.Schemes["oauth"].Leeway != 10*time.Second ||
		s.Operations["createPayment"].AllowUndeclaredProperties == nil || s.Response.DLP.Custom[0].Action != "redact" {
		t.Fatalf("decoded %+v", s)
	}
	if err := yaml.UnmarshalWithOptions([]byte("request: {mode: enforce, max_body: 1}\n"), &s, yaml.Strict()); err == nil {
		t.Fatal("unknown key accepted")
	}
}
