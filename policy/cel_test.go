package policy_test

import (
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/policy"
)

// TestRules: CEL rules per operation over the request, for what a schema
// cannot say (OWASP API1/API5-style object and function level checks).
func TestRules(t *testing.T) {
	s := baseSettings()
	s.Rules = []policy.Rule{{Name: "no-test-subjects", Expr: `!subject.startsWith("test-")`}}
	s.Operations = map[string]policy.OperationSettings{
		"getAccount":   {Rules: []policy.Rule{{Name: "own-account", Expr: `claims.sub == "user-1" && path_params.accountId.startsWith("4b8f")`}}},
		"listAccounts": {Rules: []policy.Rule{{Name: "page-size", Expr: `!("limit" in query) || query.limit <= 50`}, {Name: "trace", Expr: `!("x-request-id" in headers) || headers["x-request-id"] != "00000000-0000-0000-0000-000000000000"`}}},
		"createPayment": {Rules: []policy.Rule{
			{Name: "large-payments", Expr: `body.amount <= 10000 || claims.scope.contains("payments:large")`},
			{Name: "no-self-transfer", Expr: `body.debtorIban != body.creditorIban`},
			{Name: "missing-member", Expr: `body.remittance == null`},
		}},
		"cancelPayment": {Rules: []policy.Rule{{Name: "fraud-needs-note", Expr: `body.reason != "fraud" || "note" in body`}}},
	}
	p := compile30(t, s)
	sub := func(name string) func(jwt.MapClaims, *jwt.Token) {
		return func(c jwt.MapClaims, _ *jwt.Token) { c["sub"] = name }
	}
	bearer := func(scopes string, f ...func(jwt.MapClaims, *jwt.Token)) string {
		return "Authorization: Bearer " + token(t, scopes, f...)
	}
	ct := "Content-Type: application/json"
	cases := []struct {
		name string
		m    *cordon.Message
		want outcome
	}{
		{"own account", req("GET", acct, "", bearer("accounts:read")), ok},
		{"someone else's", req("GET", acct, "", bearer("accounts:read", sub("user-2"))), fail(cordon.KindDenied, "cel.own-account", "")},
		{"api-level rule", req("GET", acct, "", bearer("accounts:read", sub("test-1"))), fail(cordon.KindDenied, "cel.no-test-subjects", "")},
		{"typed query", req("GET", "/v1/accounts?limit=20", "", bearer("accounts:read")), ok},
		{"typed query denied", req("GET", "/v1/accounts?limit=80", "", bearer("accounts:read")), fail(cordon.KindDenied, "cel.page-size", "")},
		{"header", req("GET", "/v1/accounts", "", bearer("accounts:read"), "X-Request-Id: 00000000-0000-0000-0000-000000000000"), fail(cordon.KindDenied, "cel.trace", "")},
		{"body", req("POST", "/v1/payments", payment(`,"remittance":null`), ct, idem, bearer("payments:write")), ok},
		{"body denied", req("POST", "/v1/payments", strings.Replace(payment(`,"remittance":null`), "1250", "50000", 1), ct, idem, bearer("payments:write")), fail(cordon.KindDenied, "cel.large-payments", "")},
		{"body allowed by scope", req("POST", "/v1/payments", strings.Replace(payment(`,"remittance":null`), "1250", "50000", 1), ct, idem, bearer("payments:write payments:large")), ok},
		{"evaluation error denies", req("POST", "/v1/payments", payment(""), ct, idem, bearer("payments:write")), fail(cordon.KindDenied, "cel.missing-member", "")},
		{"form body", req("POST", "/v1/payments/3/cancel", "reason=fraud", "Content-Type: application/x-www-form-urlencoded", bearer("payments:write")), fail(cordon.KindDenied, "cel.fraud-needs-note", "")},
		{"form body ok", req("POST", "/v1/payments/3/cancel", "reason=fraud&note=card+stolen", "Content-Type: application/x-www-form-urlencoded", bearer("payments:write")), ok},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := p.CheckRequest(tc.m)
			if got := outcomeOf(t, err); got != tc.want {
				t.Fatalf("got %+v, want %+v (%v)", got, tc.want, err)
			}
		})
	}
}

// TestRuleCostLimit: a rule cannot be made to run for long by the body.
func TestRuleCostLimit(t *testing.T) {
	spec := []byte(`openapi: 3.1.0
info: {title: cel, version: "1"}
paths:
  /things:
    post:
      operationId: create
      requestBody:
        content:
          application/json:
            schema: {type: array, items: {type: integer}}
      responses:
        "200": {description: ok}
`)
	s := policy.Settings{Rules: []policy.Rule{{Name: "quadratic", Expr: `body.all(x, body.all(y, x >= 0 || y >= 0))`}}}
	p, err := policy.Compile([]policy.API{{Name: "cel", Spec: spec, Settings: s}})
	if err != nil {
		t.Fatal(err)
	}
	small := "[" + strings.TrimSuffix(strings.Repeat("1,", 10), ",") + "]"
	big := "[" + strings.TrimSuffix(strings.Repeat("1,", 2000), ",") + "]"
	if _, err := p.CheckRequest(req("POST", "/things", small, "Content-Type: application/json")); err != nil {
		t.Fatal(err)
	}
	_, err = p.CheckRequest(req("POST", "/things", big, "Content-Type: application/json"))
	if got := outcomeOf(t, err); got != fail(cordon.KindDenied, "cel.quadratic", "") {
		t.Fatalf("got %+v (%v)", got, err)
	}
}
