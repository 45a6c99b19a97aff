package policy_test

import (
	"strings"
	"testing"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/policy"
)

// miniSpec is a one-operation document; op replaces the operation body,
// extra is appended under components.
func miniSpec(version, op, schemas string) []byte {
	if op == "" {
		op = `
      operationId: create
      requestBody:
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Thing'}
      responses:
        "200": {description: ok}`
	}
	if schemas == "" {
		schemas = `
    Thing: {type: object, properties: {name: {type: string}}}`
	}
	return []byte(`openapi: ` + version + `
info: {title: mini, version: "1"}
paths:
  /things:
    post:` + op + `
components:
  securitySchemes:
    key: {type: apiKey, in: header, name: X-Key}
    basic: {type: http, scheme: basic}
  schemas:` + schemas + "\n")
}

func compileMini(spec []byte, s policy.Settings) error {
	_, err := policy.Compile([]policy.API{{Name: "mini", BasePath: "/", Spec: spec, SpecPath: "mini.yaml", Settings: s}})
	return err
}

// TestCompileErrors covers OWASP API8 (security misconfiguration): a policy
// that cannot be enforced as written does not compile, and the error names
// the place.
func TestCompileErrors(t *testing.T) {
	set := func(f func(*policy.Settings)) policy.Settings {
		s := policy.Settings{}
		f(&s)
		return s
	}
	cases := []struct {
		name string
		spec []byte
		s    policy.Settings
		want string
	}{
		{"external ref", miniSpec("3.0.3", "", `
    Thing: {$ref: 'other.yaml#/Thing'}`), policy.Settings{}, "external"},
		{"misspelt keyword", miniSpec("3.0.3", "", `
    Thing: {type: object, properties: {name: {type: string, maxlength: 3}}}`), policy.Settings{}, "maxlength"},
		{"misspelt keyword 3.1", miniSpec("3.1.0", "", `
    Thing: {type: object, properties: {name: {type: string, maxlength: 3}}}`), policy.Settings{}, "maxlength"},
		{"misspelt keyword inline", miniSpec("3.1.0", `
      operationId: create
      requestBody:
        content:
          application/json:
            schema: {type: object, properties: {a: {minimun: 1}}}
      responses:
        "200": {description: ok}`, ""), policy.Settings{}, "minimun"},
		{"3.1 keyword in 3.0", miniSpec("3.0.3", "", `
    Thing: {type: object, properties: {name: {const: a}}}`), policy.Settings{}, "const"},
		{"nullable in 3.1", miniSpec("3.1.0", "", `
    Thing: {type: object, properties: {name: {type: string, nullable: true}}}`), policy.Settings{}, "nullable"},
		{"no operationId", miniSpec("3.0.3", `
      responses:
        "200": {description: ok}`, ""), policy.Settings{}, "no operationId"},
		{"unsupported style", miniSpec("3.0.3", `
      operationId: create
      parameters:
        - {name: ids, in: query, style: deepObject, schema: {type: array, items: {type: string}}}
      responses:
        "200": {description: ok}`, ""), policy.Settings{}, `parameter query "ids"`},
		{"scheme not configured", miniSpec("3.0.3", `
      operationId: create
      security: [{key: []}]
      responses:
        "200": {description: ok}`, ""), policy.Settings{}, `"key" is required but not configured`},
		{"basic auth", miniSpec("3.0.3", "", ""), set(func(s *policy.Settings) {
			s.Auth.Schemes = map[string]policy.SchemeSettings{"basic": {}}
		}), `auth.schemes.basic: security scheme type "http" (basic)`},
		{"unknown scheme", miniSpec("3.0.3", "", ""), set(func(s *policy.Settings) {
			s.Auth.Schemes = map[string]policy.SchemeSettings{"nope": {}}
		}), "auth.schemes.nope: no such security scheme"},
		{"api key hash", miniSpec("3.0.3", "", ""), set(func(s *policy.Settings) {
			s.Auth.Schemes = map[string]policy.SchemeSettings{"key": {Keys: []policy.APIKey{{ID: "a", SHA256: "plaintext-key"}}}}
		}), "sha256 must be 64 hex digits"},
		{"api key file missing", miniSpec("3.0.3", "", ""), set(func(s *policy.Settings) {
			s.Auth.Schemes = map[string]policy.SchemeSettings{"key": {KeysFile: "no-such-file"}}
		}), "keys_file"},
		{"unknown operation", miniSpec("3.0.3", "", ""), set(func(s *policy.Settings) {
			s.Operations = map[string]policy.OperationSettings{"delete": {}}
		}), "operations.delete: no such operationId"},
		{"bad mode", miniSpec("3.0.3", "", ""), set(func(s *policy.Settings) { s.Request.Mode = "log" }), `mode "log"`},
		{"bad op mode", miniSpec("3.0.3", "", ""), set(func(s *policy.Settings) {
			s.Operations = map[string]policy.OperationSettings{"create": {ResponseMode: "warn"}}
		}), `response_mode: mode "warn"`},
		{"opaque JSON", miniSpec("3.0.3", "", ""), set(func(s *policy.Settings) { s.Request.OpaqueMediaTypes = []string{"application/json"} }), "always parsed"},
		{"opaque undeclared", miniSpec("3.0.3", "", ""), set(func(s *policy.Settings) {
			s.Operations = map[string]policy.OperationSettings{"create": {OpaqueMediaTypes: []string{"image/png"}}}
		}), "not a declared request media type"},
		{"encoding", miniSpec("3.0.3", "", ""), set(func(s *policy.Settings) { s.Request.ContentEncodings = []string{"br"} }), `"br": want gzip or deflate`},
		{"rule not bool", miniSpec("3.0.3", "", ""), set(func(s *policy.Settings) { s.Rules = []policy.Rule{{Name: "r", Expr: "method"}} }), "must return bool"},
		{"rule syntax", miniSpec("3.0.3", "", ""), set(func(s *policy.Settings) { s.Rules = []policy.Rule{{Name: "r", Expr: "method =="}} }), "rules.r"},
		{"rule unknown variable", miniSpec("3.0.3", "", ""), set(func(s *policy.Settings) { s.Rules = []policy.Rule{{Name: "r", Expr: "user == 'x'"}} }), "undeclared reference"},
		{"rule name", miniSpec("3.0.3", "", ""), set(func(s *policy.Settings) { s.Rules = []policy.Rule{{Name: "Bad Name", Expr: "true"}} }), "name"},
		{"dlp action", miniSpec("3.0.3", "", ""), set(func(s *policy.Settings) { s.Response.DLP.Actions = map[string]string{"jwt": "ignore"} }), "response.dlp"},
		{"negative limit", miniSpec("3.0.3", "", ""), set(func(s *policy.Settings) { s.Request.Limits.MaxBodyBytes = -1 }), "negative"},
		{"not openapi", []byte("swagger: '2.0'\ninfo: {title: x, version: '1'}\npaths: {}\n"), policy.Settings{}, "mini.yaml"},
		{"bad regex", miniSpec("3.1.0", "", `
    Thing: {type: string, pattern: '(?<=a)b'}`), policy.Settings{}, "schema"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := compileMini(tc.spec, tc.s)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to mention %q", err, tc.want)
			}
			if !strings.Contains(err.Error(), "mini.yaml") {
				t.Fatalf("error %v does not name the file", err)
			}
		})
	}
}

func TestCompileAPIErrors(t *testing.T) {
	spec := miniSpec("3.0.3", "", "")
	for _, tc := range []struct {
		name string
		apis []policy.API
		want string
	}{
		{"none", nil, "no APIs"},
		{"bad name", []policy.API{{Name: "Bad/Name", Spec: spec}}, "API name"},
		{"bad base path", []policy.API{{Name: "a", BasePath: "/v1/../x", Spec: spec}}, "base path"},
		{"same base path", []policy.API{{Name: "a", BasePath: "/v1", Spec: spec}, {Name: "b", BasePath: "/v1/", Spec: spec}}, "already used"},
		{"same name", []policy.API{{Name: "a", BasePath: "/v1", Spec: spec}, {Name: "a", BasePath: "/v2", Spec: spec}}, "used twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := policy.Compile(tc.apis)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

// TestAdditionalPropertiesTrueIsStillStrict: the spec author allowing
// anything does not let undeclared members through unless the operator
// relaxes the operation.
func TestAdditionalPropertiesTrueIsStillStrict(t *testing.T) {
	for _, v := range []string{"3.0.3", "3.1.0"} {
		spec := miniSpec(v, "", `
    Thing:
      type: object
      additionalProperties: true
      properties: {name: {type: string}}`)
		p, err := policy.Compile([]policy.API{{Name: "mini", BasePath: "/", Spec: spec}})
		if err != nil {
			t.Fatal(err)
		}
		m := req("POST", "/things", `{"name":"a","role":"admin"}`, "Content-Type: application/json")
		_, err = p.CheckRequest(m)
		if got := outcomeOf(t, err); got != fail(cordon.KindInvalid, "request.body.undeclared", "/role") {
			t.Fatalf("%s: got %+v", v, got)
		}
	}
}

// TestAllOfComposition: members declared by any branch of allOf are
// declared (additionalProperties:false on each branch would have broken
// this).
func TestAllOfComposition(t *testing.T) {
	spec := miniSpec("3.1.0", "", `
    Base: {type: object, required: [id], properties: {id: {type: integer}}}
    Thing:
      allOf:
        - $ref: '#/components/schemas/Base'
        - type: object
          properties: {name: {type: string}}`)
	p, err := policy.Compile([]policy.API{{Name: "mini", BasePath: "/", Spec: spec}})
	if err != nil {
		t.Fatal(err)
	}
	for body, want := range map[string]outcome{
		`{"id":1,"name":"a"}`:         ok,
		`{"id":1,"name":"a","x":1}`:   fail(cordon.KindInvalid, "request.body.undeclared", "/x"),
		`{"name":"a"}`:                fail(cordon.KindInvalid, "request.body.schema", "/id"),
		`{"id":"1","name":"a"}`:       fail(cordon.KindInvalid, "request.body.schema", "/id"),
		`{"id":1,"name":"a","ID":2}`:  fail(cordon.KindInvalid, "json.case-duplicate-key", "/ID"),
		`{"Id":1,"name":"a","x":"y"}`: fail(cordon.KindInvalid, "request.body.case-mismatch", "/Id"),
	} {
		m := req("POST", "/things", body, "Content-Type: application/json")
		_, err := p.CheckRequest(m)
		if got := outcomeOf(t, err); got != want {
			t.Errorf("%s: got %+v, want %+v", body, got, want)
		}
	}
}
