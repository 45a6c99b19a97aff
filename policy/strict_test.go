package policy_test

import (
	"net/http"
	"testing"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/policy"
)

// TestStrictQueryAndCookies: undeclared or ambiguous parameters are
// rejected (HTTP parameter pollution, hidden debug switches).
func TestStrictQueryAndCookies(t *testing.T) {
	relaxed := baseSettings()
	relaxed.Request.AllowUndeclaredQuery = true
	relaxed.Request.AllowUndeclaredCookies = true
	strict, loose := compile30(t, baseSettings()), compile30(t, relaxed)
	cases := []struct {
		name, target string
		header       []string
		strict, lax  outcome
		forwarded    string // strict policy's forwarded query, when it passes
	}{
		{"declared", "/v1/accounts?limit=5&cursor=abc", nil, ok, ok, "cursor=abc&limit=5"},
		{"canonical order and escaping", "/v1/accounts?status=frozen&limit=5&status=active&cursor=a_b", nil, ok, ok, "cursor=a_b&limit=5&status=frozen&status=active"},
		{"undeclared", "/v1/accounts?debug=1", nil, fail(cordon.KindInvalid, "request.query.undeclared", "query/debug"), ok, ""},
		{"case variant", "/v1/accounts?Limit=5", nil, fail(cordon.KindInvalid, "request.query.case-mismatch", "query/Limit"), fail(cordon.KindInvalid, "request.query.case-mismatch", "query/Limit"), ""},
		{"duplicate scalar", "/v1/accounts?limit=5&limit=100", nil, fail(cordon.KindInvalid, "request.query.duplicate", "query/limit"), fail(cordon.KindInvalid, "request.query.duplicate", "query/limit"), ""},
		{"empty value", "/v1/accounts?limit=", nil, fail(cordon.KindInvalid, "request.query.empty", "query/limit"), fail(cordon.KindInvalid, "request.query.empty", "query/limit"), ""},
		{"key only", "/v1/accounts?limit", nil, fail(cordon.KindInvalid, "request.query.empty", "query/limit"), fail(cordon.KindInvalid, "request.query.empty", "query/limit"), ""},
		{"below minimum", "/v1/accounts?limit=0", nil, fail(cordon.KindInvalid, "request.query.schema", "query/limit"), fail(cordon.KindInvalid, "request.query.schema", "query/limit"), ""},
		{"not a number", "/v1/accounts?limit=5abc", nil, fail(cordon.KindInvalid, "request.query.schema", "query/limit"), fail(cordon.KindInvalid, "request.query.schema", "query/limit"), ""},
		{"int32 overflow", "/v1/accounts?limit=2147483648", nil, fail(cordon.KindInvalid, "request.query.schema", "query/limit"), fail(cordon.KindInvalid, "request.query.schema", "query/limit"), ""},
		{"pattern", "/v1/accounts?cursor=a%27%20OR%201=1", nil, fail(cordon.KindInvalid, "request.query.schema", "query/cursor"), fail(cordon.KindInvalid, "request.query.schema", "query/cursor"), ""},
		{"exploded array", "/v1/accounts?status=active&status=frozen", nil, ok, ok, "status=active&status=frozen"},
		{"array enum", "/v1/accounts?status=active&status=deleted", nil, fail(cordon.KindInvalid, "request.query.schema", "query/status"), fail(cordon.KindInvalid, "request.query.schema", "query/status"), ""},
		{"array maxItems", "/v1/accounts?status=active&status=active&status=active&status=active", nil, fail(cordon.KindInvalid, "request.query.schema", "query/status"), fail(cordon.KindInvalid, "request.query.schema", "query/status"), ""},
		{"comma array", "/v1/accounts?currency=EUR,USD", nil, ok, ok, "currency=EUR%2CUSD"},
		{"comma array twice", "/v1/accounts?currency=EUR&currency=USD", nil, fail(cordon.KindInvalid, "request.query.duplicate", "query/currency"), fail(cordon.KindInvalid, "request.query.duplicate", "query/currency"), ""},
		{"plus is space", "/v1/accounts?cursor=a+b", nil, fail(cordon.KindInvalid, "request.query.schema", "query/cursor"), fail(cordon.KindInvalid, "request.query.schema", "query/cursor"), ""},
		{"bad escape", "/v1/accounts?cursor=%G1", nil, fail(cordon.KindInvalid, "request.query.bad-escape", "query/cursor"), fail(cordon.KindInvalid, "request.query.bad-escape", "query/cursor"), ""},
		{"NUL", "/v1/accounts?cursor=a%00", nil, fail(cordon.KindInvalid, "request.query.control", "query/cursor"), fail(cordon.KindInvalid, "request.query.control", "query/cursor"), ""},
		{"bad utf-8", "/v1/accounts?cursor=%ff", nil, fail(cordon.KindInvalid, "request.query.bad-utf8", "query/cursor"), fail(cordon.KindInvalid, "request.query.bad-utf8", "query/cursor"), ""},
		{"semicolon is data", "/v1/accounts?limit=5;debug=1", nil, fail(cordon.KindInvalid, "request.query.schema", "query/limit"), fail(cordon.KindInvalid, "request.query.schema", "query/limit"), ""},
		{"deepObject", "/v1/accounts/" + acct[len("/v1/accounts/"):] + "/payments?filter[minAmount]=5&filter%5Bstatus%5D=settled", nil, ok, ok, "filter%5BminAmount%5D=5&filter%5Bstatus%5D=settled"},
		{"deepObject undeclared member", acct + "/payments?filter[owner]=x", nil, fail(cordon.KindInvalid, "request.query.undeclared", "query/filter[owner]"), ok, ""},
		{"deepObject schema", acct + "/payments?filter[minAmount]=-1", nil, fail(cordon.KindInvalid, "request.query.schema", "query/filter"), fail(cordon.KindInvalid, "request.query.schema", "query/filter"), ""},
		{"deepObject duplicate", acct + "/payments?filter[minAmount]=1&filter[minAmount]=2", nil, fail(cordon.KindInvalid, "request.query.duplicate", "query/filter"), fail(cordon.KindInvalid, "request.query.duplicate", "query/filter"), ""},
		{"declared cookie", "/v1/accounts", []string{"Cookie: session=abc"}, ok, ok, ""},
		{"undeclared cookie", "/v1/accounts", []string{"Cookie: session=abc; admin=1"}, fail(cordon.KindInvalid, "request.cookie.undeclared", "cookie/admin"), ok, ""},
		{"duplicate cookie", "/v1/accounts", []string{"Cookie: session=a; session=b"}, fail(cordon.KindInvalid, "request.cookie.duplicate", "cookie/session"), fail(cordon.KindInvalid, "request.cookie.duplicate", "cookie/session"), ""},
		{"cookie case variant", "/v1/accounts", []string{"Cookie: Session=a"}, fail(cordon.KindInvalid, "request.cookie.case-mismatch", "cookie/Session"), fail(cordon.KindInvalid, "request.cookie.case-mismatch", "cookie/Session"), ""},
		{"cookie schema", "/v1/accounts", []string{"Cookie: session=" + string(make([]byte, 0)) + "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}, fail(cordon.KindInvalid, "request.cookie.schema", "cookie/session"), fail(cordon.KindInvalid, "request.cookie.schema", "cookie/session"), ""},
		{"malformed cookie", "/v1/accounts", []string{"Cookie: session"}, fail(cordon.KindInvalid, "request.cookie.invalid", "cookie"), fail(cordon.KindInvalid, "request.cookie.invalid", "cookie"), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, v := range []struct {
				p    *policy.Policy
				want outcome
			}{{strict, tc.strict}, {loose, tc.lax}} {
				m := authed(t, req("GET", tc.target, "", tc.header...), "accounts:read")
				_, err := v.p.CheckRequest(m)
				if got := outcomeOf(t, err); got != v.want {
					t.Fatalf("got %+v, want %+v (%v)", got, v.want, err)
				}
				if v.p == strict && err == nil && tc.forwarded != "" && m.Request.RawQuery != tc.forwarded {
					t.Fatalf("forwarded query %q, want %q", m.Request.RawQuery, tc.forwarded)
				}
			}
		})
	}
}

// TestHeadersForwarded: only declared headers, configured ones and the
// Content-Type cordon sets reach the upstream; credentials do not.
func TestHeadersForwarded(t *testing.T) {
	s := baseSettings()
	s.Request.ForwardHeaders = []string{"accept", "Authorization"}
	p := compile30(t, s)
	m := authed(t, req("GET", "/v1/accounts?limit=2", "",
		"X-Request-Id: 8d6c6e0a-0a43-4b8c-9a55-0d6c1fd1b4c7", "Accept: application/json",
		"X-Forwarded-For: 10.0.0.1", "X-Debug: 1", "Cookie: session=s1; other=x", "Host: internal"), "accounts:read")
	s.Request.AllowUndeclaredCookies = true
	p = compile30(t, s)
	if _, err := p.CheckRequest(m); err != nil {
		t.Fatal(err)
	}
	want := http.Header{
		"X-Request-Id": {"8d6c6e0a-0a43-4b8c-9a55-0d6c1fd1b4c7"},
		"Accept":       {"application/json"},
		"Cookie":       {"session=s1"},
	}
	if mustJSON(t, m.Request.Header) != mustJSON(t, want) {
		t.Fatalf("forwarded %v, want %v", m.Request.Header, want)
	}
	t.Run("declared header validated", func(t *testing.T) {
		m := authed(t, req("GET", "/v1/accounts", "", "X-Request-Id: nope"), "accounts:read")
		_, err := p.CheckRequest(m)
		if got := outcomeOf(t, err); got != fail(cordon.KindInvalid, "request.header.schema", "header/X-Request-Id") {
			t.Fatalf("got %+v", got)
		}
	})
	t.Run("declared header twice", func(t *testing.T) {
		m := authed(t, req("GET", "/v1/accounts", "", "X-Request-Id: 8d6c6e0a-0a43-4b8c-9a55-0d6c1fd1b4c7", "X-Request-Id: 8d6c6e0a-0a43-4b8c-9a55-0d6c1fd1b4c7"), "accounts:read")
		_, err := p.CheckRequest(m)
		if got := outcomeOf(t, err); got != fail(cordon.KindInvalid, "request.header.duplicate", "header/X-Request-Id") {
			t.Fatalf("got %+v", got)
		}
	})
	t.Run("required header", func(t *testing.T) {
		m := authed(t, req("POST", "/v1/payments", payment(""), "Content-Type: application/json"), "payments:write")
		_, err := p.CheckRequest(m)
		if got := outcomeOf(t, err); got != fail(cordon.KindInvalid, "request.header.missing", "header/Idempotency-Key") {
			t.Fatalf("got %+v", got)
		}
	})
	t.Run("control characters", func(t *testing.T) {
		m := authed(t, req("GET", "/v1/accounts", ""), "accounts:read")
		m.Request.Header["X-Request-Id"] = []string{"a\r\nX-Injected: 1"}
		_, err := p.CheckRequest(m)
		if got := outcomeOf(t, err); got != fail(cordon.KindInvalid, "request.header.invalid-value", "header/X-Request-Id") {
			t.Fatalf("got %+v", got)
		}
	})
}

// TestMassAssignment covers OWASP API3 (broken object property level
// authorisation) on the way in: server-owned (readOnly) and undeclared
// members are refused, even though the document never says
// additionalProperties: false.
func TestMassAssignment(t *testing.T) {
	relaxed := baseSettings()
	relaxed.Operations = map[string]policy.OperationSettings{"createAccount": {AllowUndeclaredProperties: ptr(true)}}
	strict, loose := compile30(t, baseSettings()), compile30(t, relaxed)
	account := func(extra string) string {
		return `{"name":"a","currency":"EUR","owner":{"email":"a@example.com"}` + extra + `}`
	}
	cases := []struct {
		name        string
		body        string
		strict, lax outcome
	}{
		{"clean", account(""), ok, ok},
		{"readOnly id", account(`,"id":"4b8f6f8e-3c1a-4d2b-9f1e-2a3b4c5d6e7f"`), fail(cordon.KindInvalid, "request.body.read-only", "/id"), fail(cordon.KindInvalid, "request.body.read-only", "/id")},
		{"readOnly through allOf", account(`,"balance":{"amount":1000000,"currency":"EUR"}`), fail(cordon.KindInvalid, "request.body.read-only", "/balance"), fail(cordon.KindInvalid, "request.body.read-only", "/balance")},
		{"undeclared top-level", account(`,"isAdmin":true`), fail(cordon.KindInvalid, "request.body.undeclared", "/isAdmin"), ok},
		{"undeclared nested", `{"name":"a","currency":"EUR","owner":{"email":"a@example.com","role":"admin"}}`, fail(cordon.KindInvalid, "request.body.undeclared", "/owner/role"), ok},
		{"case variant of declared", `{"Name":"a","name":"b","currency":"EUR","owner":{"email":"a@example.com"}}`, fail(cordon.KindInvalid, "json.case-duplicate-key", "/name"), fail(cordon.KindInvalid, "json.case-duplicate-key", "/name")},
		{"case variant alone", `{"NAME":"a","currency":"EUR","owner":{"email":"a@example.com"}}`, fail(cordon.KindInvalid, "request.body.case-mismatch", "/NAME"), fail(cordon.KindInvalid, "request.body.case-mismatch", "/NAME")},
		{"first violation in key order", account(`,"zz":1,"aa":2`), fail(cordon.KindInvalid, "request.body.undeclared", "/aa"), ok},
		{"writeOnly accepted", account(`,"pin":"1234"`), ok, ok},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for i, p := range []*policy.Policy{strict, loose} {
				want := []outcome{tc.strict, tc.lax}[i]
				m := authed(t, req("POST", "/v1/accounts", tc.body, "Content-Type: application/json"), "accounts:write")
				_, err := p.CheckRequest(m)
				if got := outcomeOf(t, err); got != want {
					t.Fatalf("policy %d: got %+v, want %+v (%v)", i, got, want, err)
				}
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
