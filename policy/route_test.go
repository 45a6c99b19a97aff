package policy_test

import (
	"strings"
	"testing"

	"github.com/cordon-gateway/cordon"
)

const acct = "/v1/accounts/4b8f6f8e-3c1a-4d2b-9f1e-2a3b4c5d6e7f"

func TestRouting(t *testing.T) {
	p := compile30(t, baseSettings())
	cases := []struct {
		name   string
		method string
		target string
		want   outcome
		op     string
	}{
		{"health", "GET", "/v1/health", ok, "payments/health"},
		{"templated", "GET", acct, ok, "payments/getAccount"},
		{"unknown route", "GET", "/v1/admin", fail(cordon.KindNotFound, "request.route.not-found", "path"), ""},
		{"outside base path", "GET", "/health", fail(cordon.KindNotFound, "request.route.not-found", "path"), ""},
		{"base path alone", "GET", "/v1", fail(cordon.KindNotFound, "request.route.not-found", "path"), ""},
		{"trailing slash is another path", "GET", "/v1/health/", fail(cordon.KindNotFound, "request.route.not-found", "path"), ""},
		{"extra segment", "GET", acct + "/x", fail(cordon.KindNotFound, "request.route.not-found", "path"), ""},
		{"empty param", "GET", "/v1/accounts//payments", fail(cordon.KindInvalid, "request.path.duplicate-slash", "path"), ""},
		{"method not allowed", "DELETE", acct, fail(cordon.KindMethodNotAllowed, "request.method.not-allowed", "method"), ""},
		{"lower-case method", "get", "/v1/health", fail(cordon.KindMethodNotAllowed, "request.method.not-allowed", "method"), ""},
		{"HEAD is not GET", "HEAD", "/v1/health", fail(cordon.KindMethodNotAllowed, "request.method.not-allowed", "method"), ""},
		{"traversal to another route", "GET", "/v1/accounts/../health", fail(cordon.KindInvalid, "request.path.dot-segment", "path"), ""},
		{"encoded unreserved routes", "GET", "/v1/%68ealth", ok, "payments/health"},
		{"path param schema", "GET", "/v1/accounts/not-a-uuid", fail(cordon.KindInvalid, "request.path.schema", "path/accountId"), "payments/getAccount"},
		{"int64 path param", "GET", "/v1/payments/9223372036854775807", ok, "payments/getPayment"},
		{"int64 overflow", "GET", "/v1/payments/9223372036854775808", fail(cordon.KindInvalid, "request.path.schema", "path/paymentId"), "payments/getPayment"},
		{"path param not a number", "GET", "/v1/payments/1e3x", fail(cordon.KindInvalid, "request.path.schema", "path/paymentId"), "payments/getPayment"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := authed(t, req(tc.method, tc.target, ""), "accounts:read")
			_, err := p.CheckRequest(m)
			if got := outcomeOf(t, err); got != tc.want {
				t.Fatalf("got %+v, want %+v (%v)", got, tc.want, err)
			}
			if m.Request.Operation != tc.op {
				t.Fatalf("operation %q, want %q", m.Request.Operation, tc.op)
			}
			op, found := p.Operation(tc.method, tc.target)
			if tc.op != "" && (!found || op != tc.op) {
				t.Fatalf("Operation() = %q %v", op, found)
			}
		})
	}
}

func TestPathForwardedIsValidatedPath(t *testing.T) {
	p := compile30(t, baseSettings())
	m := authed(t, req("GET", "/v1/accounts/4b8f6f8e-3c1a-4d2b-9f1e-2a3b4c5d6e7%66", ""), "accounts:read")
	if _, err := p.CheckRequest(m); err != nil {
		t.Fatal(err)
	}
	if m.Request.Path != acct {
		t.Fatalf("forwarded path %q", m.Request.Path)
	}
}

func TestSeveralAPIs(t *testing.T) {
	p := compileAPIs(t,
		apiDef{"payments", "/v1", "payments-3.0.yaml"},
		apiDef{"payments31", "/v2", "payments-3.1.yaml"},
		apiDef{"root", "/", "payments-3.0.yaml"},
	)
	for _, tc := range []struct{ target, op string }{
		{"/v1/health", "payments/health"},
		{"/v2/health", "payments31/health"},
		{"/health", "root/health"},
		{"/v3/health", ""},
	} {
		op, found := p.Operation("GET", tc.target)
		if op != tc.op || found != (tc.op != "") {
			t.Errorf("%s: %q %v, want %q", tc.target, op, found, tc.op)
		}
	}
}

func TestOperationCheap(t *testing.T) {
	p := compile30(t, baseSettings())
	allocs := testing.AllocsPerRun(100, func() { p.Operation("GET", acct) })
	if allocs > 2 {
		t.Fatalf("Operation allocates %v times", allocs)
	}
	_ = strings.ToLower
}
