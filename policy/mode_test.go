package policy_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/policy"
)

func clone(m *cordon.Message) *cordon.Message {
	c := *m
	c.Request.Header = m.Request.Header.Clone()
	c.Body = bytes.Clone(m.Body)
	if m.Response != nil {
		r := *m.Response
		r.Header = m.Response.Header.Clone()
		c.Response = &r
	}
	return &c
}

// requestCorpus is one message per rule family, passing and failing.
func requestCorpus(t *testing.T) []*cordon.Message {
	ct := "Content-Type: application/json"
	bearer := "Authorization: Bearer " + token(t, "accounts:read accounts:write payments:write")
	return []*cordon.Message{
		req("GET", "/v1/health", ""),
		req("GET", "/v1/nope", ""),
		req("DELETE", acct, "", bearer),
		req("GET", "/v1/accounts/../admin", ""),
		req("GET", "/v1/accounts?limit=5&debug=1", "", bearer),
		req("GET", "/v1/accounts?limit=500", "", bearer),
		req("GET", "/v1/accounts?limit=5", "", bearer, "Cookie: admin=1"),
		req("GET", "/v1/accounts?limit=5", "", bearer, "X-Forwarded-For: 1.2.3.4"),
		req("GET", acct, ""),
		req("GET", acct, "", "Authorization: Bearer x.y.z"),
		req("POST", "/v1/accounts", `{"name":"a","currency":"EUR","owner":{"email":"a@example.com"},"isAdmin":true}`, ct, bearer),
		req("POST", "/v1/accounts", `{"name":"a","currency":"EUR","owner":{"email":"a@example.com"}}`, ct, bearer),
		req("POST", "/v1/payments", payment(""), ct, idem, bearer),
		req("POST", "/v1/payments", `{"amount":1,"amount":2}`, ct, idem, bearer),
		req("POST", "/v1/payments", payment(""), "Content-Type: text/plain", idem, bearer),
		req("POST", "/v1/payments", strings.Replace(payment(""), "1250", "-1", 1), ct, idem, bearer),
		req("POST", "/v1/payments", payment(""), ct, bearer),
		req("POST", "/v1/payments/4/cancel", "reason=fraud", "Content-Type: application/x-www-form-urlencoded", bearer),
		req("GET", "/v1/accounts?limit=60", "", bearer),
	}
}

// TestMonitorReportsWhatEnforceBlocks proves the monitor mode promise: for
// every message, monitor reports exactly the findings enforce produces
// (with Action report instead of the enforcing action), never rejects, and
// forwards the message unchanged.
func TestMonitorReportsWhatEnforceBlocks(t *testing.T) {
	s := baseSettings()
	s.Operations = map[string]policy.OperationSettings{"listAccounts": {Rules: []policy.Rule{{Name: "page", Expr: `!("limit" in query) || query.limit <= 50`}}}}
	enforce := compile30(t, s)
	s.Request.Mode, s.Response.Mode = policy.ModeMonitor, policy.ModeMonitor
	monitor := compile30(t, s)
	blocking := 0
	for _, m := range requestCorpus(t) {
		name := m.Request.Method + " " + m.Request.Path + "?" + m.Request.RawQuery
		em, mm := clone(m), clone(m)
		ef, eerr := enforce.CheckRequest(em)
		mf, merr := monitor.CheckRequest(mm)
		if merr != nil {
			// before routing no API, so no mode, is known: always enforced
			if !strings.HasPrefix(outcomeOf(t, merr).rule, "request.path.") || cmp.Diff(ef, mf) != "" {
				t.Fatalf("%s: monitor rejected: %v", name, merr)
			}
			continue
		}
		if eerr != nil {
			blocking++
		}
		for i := range ef {
			ef[i].Action = cordon.ActionReport
		}
		if diff := cmp.Diff(ef, mf); diff != "" {
			t.Errorf("%s: findings differ (-enforce +monitor):\n%s", name, diff)
		}
		want := clone(m)
		want.Request.Operation = em.Request.Operation
		if diff := cmp.Diff(want, mm); diff != "" {
			t.Errorf("%s: monitor changed the message:\n%s", name, diff)
		}
	}
	if blocking < 10 {
		t.Fatalf("corpus too weak: only %d messages blocked", blocking)
	}
	// responses
	s.Response.Minimize = true
	js := "Content-Type: application/json"
	for _, m := range []*cordon.Message{
		resp("payments/getAccount", "GET", 200, account, js, "Server: x"),
		resp("payments/getAccount", "GET", 500, "<html>boom</html>", "Content-Type: text/html"),
		resp("payments/getAccount", "GET", 200, strings.Replace(account, `"Main"`, `"AKIAIOSFODNN7EXAMPLE"`, 1), js),
		resp("payments/getAccount", "GET", 200, strings.Replace(account, `"Main"`, `"4111 1111 1111 1111"`, 1), js),
		resp("payments/getAccount", "GET", 200, strings.Replace(account, `"name"`, `"ssn":"1","name"`, 1), js),
		resp("payments/getAccount", "GET", 200, `{"id":1`, js),
	} {
		em, mm := clone(m), clone(m)
		ef, _ := enforce.CheckResponse(em)
		mf, merr := monitor.CheckResponse(mm)
		if merr != nil {
			t.Fatalf("monitor blocked: %v", merr)
		}
		for i := range ef {
			ef[i].Action = cordon.ActionReport
		}
		if diff := cmp.Diff(ef, mf); diff != "" {
			t.Errorf("%d %s: findings differ:\n%s", m.Response.Status, m.Body, diff)
		}
		if diff := cmp.Diff(clone(m), mm); diff != "" {
			t.Errorf("monitor changed the response:\n%s", diff)
		}
	}
}

func TestModesPerOperation(t *testing.T) {
	s := baseSettings()
	s.Operations = map[string]policy.OperationSettings{
		"createPayment": {RequestMode: policy.ModeOff, ResponseMode: policy.ModeOff},
		"getAccount":    {ResponseMode: policy.ModeMonitor},
	}
	p := compile30(t, s)
	m := req("POST", "/v1/payments", "not json", "Content-Type: text/plain")
	orig := clone(m)
	fs, err := p.CheckRequest(m)
	if err != nil || fs != nil || m.Request.Operation != "payments/createPayment" {
		t.Fatalf("off: %v %v %q", fs, err, m.Request.Operation)
	}
	orig.Request.Operation = m.Request.Operation
	if diff := cmp.Diff(orig, m); diff != "" {
		t.Fatalf("off changed the message: %s", diff)
	}
	if fs, err := p.CheckResponse(resp("payments/createPayment", "POST", 500, "x")); err != nil || fs != nil {
		t.Fatalf("off response: %v %v", fs, err)
	}
	// request enforced, response monitored
	if _, err := p.CheckRequest(req("GET", acct, "")); outcomeOf(t, err).kind != cordon.KindUnauthorized {
		t.Fatalf("getAccount request not enforced: %v", err)
	}
	fs, err = p.CheckResponse(resp("payments/getAccount", "GET", 500, "x"))
	if err != nil || len(fs) != 1 || fs[0].Rule != "response.status.undeclared" || fs[0].Action != cordon.ActionReport {
		t.Fatalf("monitor response: %+v %v", fs, err)
	}
	// other operations stay enforced
	if _, err := p.CheckResponse(resp("payments/listAccounts", "GET", 500, "x")); outcomeOf(t, err).kind != cordon.KindBlocked {
		t.Fatalf("listAccounts response not enforced: %v", err)
	}
	_ = http.MethodGet
}
