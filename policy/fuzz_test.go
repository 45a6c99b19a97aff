package policy_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/policy"
)

// fixedPoint checks the "transform, then verify" property: a request (or
// response) that passed, as rewritten, passes again unchanged.
func fixedPoint(t *testing.T, check func(*cordon.Message) ([]cordon.Finding, error), m *cordon.Message) {
	t.Helper()
	again := clone(m)
	if _, err := check(again); err != nil {
		t.Fatalf("rewritten message rejected: %v\n%+v", err, m)
	}
	if diff := cmp.Diff(m, again); diff != "" {
		t.Fatalf("rewrite is not a fixed point:\n%s", diff)
	}
}

// FuzzRequestHeaders fuzzes header, query and cookie handling.
func FuzzRequestHeaders(f *testing.F) {
	s := baseSettings()
	s.Auth.ForwardCredentials = true
	s.Request.ForwardHeaders = []string{"Accept"}
	p := compile30(f, s)
	f.Add("X-Request-Id", "8d6c6e0a-0a43-4b8c-9a55-0d6c1fd1b4c7", "limit=5&status=active", "session=abc")
	f.Add("Accept", "application/json", "currency=EUR,USD&cursor=a_b", "")
	f.Add("X-Evil", "a\r\nb", "limit=%00", "session=a; session=b")
	f.Add("Cookie", "session=x", "Limit=1", "admin=1")
	f.Add("x-request-id", "", "status=active&status=frozen&limit=", "session=\"q\"")
	f.Add("X-Api-Key", "other", "cursor=%e2%82%ac", "session")
	f.Fuzz(func(t *testing.T, name, value, query, cookie string) {
		m := req("GET", "/v1/accounts", "", "X-API-Key: "+testAPIKey)
		m.Request.RawQuery = query
		if name != "" {
			m.Request.Header[name] = append(m.Request.Header[name], value)
		}
		if cookie != "" {
			m.Request.Header["Cookie"] = append(m.Request.Header["Cookie"], cookie)
		}
		_, err := p.CheckRequest(m)
		if err != nil {
			if outcomeOf(t, err).rule == "" {
				t.Fatalf("error without rule: %v", err)
			}
			return
		}
		for k, vs := range m.Request.Header {
			switch k {
			case "X-Request-Id", "Cookie", "Accept", "X-Api-Key":
			default:
				t.Fatalf("forwarded undeclared header %q", k)
			}
			for _, v := range vs {
				if strings.ContainsAny(v, "\r\n\x00") {
					t.Fatalf("forwarded control characters in %q: %q", k, v)
				}
			}
		}
		fixedPoint(t, p.CheckRequest, m)
	})
}

var bodySpec = []byte(`openapi: 3.1.0
info: {title: fuzz, version: "1"}
paths:
  /things:
    post:
      operationId: create
      requestBody:
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Thing'}
          application/x-www-form-urlencoded:
            schema: {$ref: '#/components/schemas/Thing'}
      responses:
        "200":
          description: ok
          content:
            application/json:
              schema: {$ref: '#/components/schemas/Thing'}
components:
  schemas:
    Thing:
      type: object
      properties:
        name: {type: string, maxLength: 50}
        n: {type: number}
        ok: {type: boolean}
        tags: {type: array, items: {type: string}}
        kids: {type: array, items: {$ref: '#/components/schemas/Thing'}}
        meta: {type: object, additionalProperties: {type: [string, "null"]}}
`)

// FuzzRequestBody fuzzes JSON and form bodies end to end.
func FuzzRequestBody(f *testing.F) {
	p, err := policy.Compile([]policy.API{{Name: "fuzz", Spec: bodySpec}})
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{`{"name":"a","n":1.5,"ok":true,"tags":["x"],"kids":[{"name":"b"}],"meta":{"k":null}}`,
		`{"name":"a","name":"b"}`, `{"Name":"a"}`, `{"n":1e400}`, `[]`, `{"kids":[{"kids":[{"x":1}]}]}`, "name=a&tags=x&tags=y&ok=true", "n=%zz"} {
		f.Add(s, strings.HasPrefix(s, "{") || strings.HasPrefix(s, "["))
	}
	f.Fuzz(func(t *testing.T, body string, json bool) {
		ct := "Content-Type: application/x-www-form-urlencoded"
		if json {
			ct = "Content-Type: application/json"
		}
		m := req("POST", "/things", body, ct)
		if _, err := p.CheckRequest(m); err != nil {
			if outcomeOf(t, err).rule == "" {
				t.Fatalf("error without rule: %v", err)
			}
			return
		}
		fixedPoint(t, p.CheckRequest, m)
		// the canonical request body is also a valid response body
		r := &cordon.Message{Request: cordon.RequestHead{Method: "POST", Operation: "fuzz/create"},
			Response: &cordon.ResponseHead{Status: 200, Header: map[string][]string{"Content-Type": {"application/json"}}}, Body: bytes.Clone(m.Body)}
		if json && len(m.Body) > 0 {
			if _, err := p.CheckResponse(r); err != nil && !strings.HasPrefix(outcomeOf(t, err).rule, "dlp.") {
				t.Fatalf("canonical body %s refused as a response: %v", m.Body, err)
			}
		}
	})
}

// FuzzResponse fuzzes response bodies, content types and statuses.
func FuzzResponse(f *testing.F) {
	s := baseSettings()
	s.Response.Minimize = true
	p := compile30(f, s)
	f.Add(200, "application/json", account)
	f.Add(200, "application/json", strings.Replace(account, `"name"`, `"x":{"y":[1,2]},"name"`, 1))
	f.Add(404, "application/problem+json", `{"title":"x"}`)
	f.Add(500, "text/html", "<html>at a.B.c(D.java:1)</html>")
	f.Add(200, "application/json; charset=latin1", `{}`)
	f.Add(200, "application/json", `{"id":"4111 1111 1111 1111"}`)
	f.Fuzz(func(t *testing.T, status int, ctype, body string) {
		m := resp("payments/getAccount", "GET", status, body, "Content-Type: "+ctype)
		if _, err := p.CheckResponse(m); err != nil {
			if e := outcomeOf(t, err); e.kind != cordon.KindBlocked || e.rule == "" {
				t.Fatalf("bad error: %v", err)
			}
			return
		}
		fixedPoint(t, p.CheckResponse, m)
	})
}
