package policy_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/policy"
)

const account = `{"id":"4b8f6f8e-3c1a-4d2b-9f1e-2a3b4c5d6e7f","name":"Main","currency":"EUR","owner":{"email":"a@example.com"},"createdAt":"2024-05-01T10:00:00Z"}`

// resp builds a response message for operation op.
func resp(op, method string, status int, body string, header ...string) *cordon.Message {
	h := http.Header{}
	for _, line := range header {
		k, v, _ := strings.Cut(line, ":")
		h.Add(k, strings.TrimSpace(v))
	}
	m := &cordon.Message{Request: cordon.RequestHead{Method: method, Path: "/x", Operation: op},
		Response: &cordon.ResponseHead{Status: status, Header: h}}
	if body != "" {
		m.Body = []byte(body)
	}
	return m
}

func blocked(rule, pointer string) outcome { return fail(cordon.KindBlocked, rule, pointer) }

// TestResponses covers OWASP API3 (excessive data exposure) and API10
// (unsafe consumption of a misbehaving upstream): nothing the contract does
// not promise reaches the client.
func TestResponses(t *testing.T) {
	for _, spec := range []string{"payments-3.0.yaml", "payments-3.1.yaml"} {
		t.Run(spec, func(t *testing.T) {
			s := baseSettings()
			s.Response.MaxBodyBytes = 4096
			p := compileSpec(t, spec, "/v1", s)
			js := "Content-Type: application/json"
			cases := []struct {
				name string
				m    *cordon.Message
				want outcome
			}{
				{"valid", resp("payments/getAccount", "GET", 200, account, js), ok},
				{"declared error", resp("payments/getAccount", "GET", 404, `{"title":"not found","status":404}`, "Content-Type: application/problem+json"), ok},
				{"range status", resp("payments/listAccounts", "GET", 429, `{"title":"slow down"}`, "Content-Type: application/problem+json"), ok},
				{"undeclared status with stack trace", resp("payments/getAccount", "GET", 500, "<html>java.lang.NullPointerException\n\tat com.example.Foo.bar(Foo.java:42)</html>", "Content-Type: text/html"), blocked("response.status.undeclared", "status")},
				{"undeclared status", resp("payments/getAccount", "GET", 201, account, js), blocked("response.status.undeclared", "status")},
				{"unknown operation", resp("payments/nope", "GET", 200, account, js), blocked("response.operation.unknown", "")},
				{"extra field", resp("payments/getAccount", "GET", 200, strings.Replace(account, `"name"`, `"ssn":"078-05-1120","name"`, 1), js), blocked("response.body.undeclared", "/ssn")},
				{"extra nested field", resp("payments/getAccount", "GET", 200, strings.Replace(account, `"a@example.com"`, `"a@example.com","passwordHash":"x"`, 1), js), blocked("response.body.undeclared", "/owner/passwordHash")},
				{"extra field in allOf", resp("payments/getPayment", "GET", 200, `{"id":1,"status":"settled","amount":5,"currency":"EUR","debtorIban":"DE89370400440532013000","creditorIban":"DE89370400440532013000","internalRisk":0.3}`, js), blocked("response.body.undeclared", "/internalRisk")},
				{"writeOnly leaked", resp("payments/getAccount", "GET", 200, strings.Replace(account, `"name"`, `"pin":"1234","name"`, 1), js), blocked("response.body.write-only", "/pin")},
				{"schema", resp("payments/getAccount", "GET", 200, strings.Replace(account, `"EUR"`, `"XXX"`, 1), js), blocked("response.body.schema", "/currency")},
				{"readOnly required in responses", resp("payments/getAccount", "GET", 200, strings.Replace(account, `"id":"4b8f6f8e-3c1a-4d2b-9f1e-2a3b4c5d6e7f",`, ``, 1), js), blocked("response.body.schema", "/id")},
				{"truncated JSON", resp("payments/getAccount", "GET", 200, account[:40], js), blocked("json.syntax", "/id")},
				{"duplicate key", resp("payments/getAccount", "GET", 200, strings.Replace(account, `{"id"`, `{"name":"x","id"`, 1), js), blocked("json.duplicate-key", "/name")},
				{"html instead of JSON", resp("payments/getAccount", "GET", 200, "<html>oops</html>", "Content-Type: text/html"), blocked("response.content-type.undeclared", "header/Content-Type")},
				{"no content type", resp("payments/getAccount", "GET", 200, account), blocked("response.content-type.missing", "header/Content-Type")},
				{"JSON in text/plain clothing", resp("payments/getAccount", "GET", 200, account, "Content-Type: text/plain"), blocked("response.content-type.undeclared", "header/Content-Type")},
				{"too large", resp("payments/getAccount", "GET", 200, account+strings.Repeat(" ", 5000), js), blocked("response.body.too-large", "body")},
				{"empty where content declared", resp("payments/getAccount", "GET", 200, "", js), ok2(blocked("response.body.missing", "body"))},
				{"HEAD has no body", resp("payments/getAccount", "HEAD", 200, "", js), ok},
				{"body on 204", resp("payments/putAvatar", "PUT", 204, "{}", js), blocked("response.body.unexpected", "body")},
				{"declared csv", resp("payments/getPayment", "GET", 200, "id,amount\n1,5\n", "Content-Type: text/csv"), ok},
				{"required header missing", resp("payments/createAccount", "POST", 201, account, js), blocked("response.header.missing", "header/Location")},
				{"header schema", resp("payments/listAccounts", "GET", 200, `{"items":[]}`, js, "X-Rate-Limit-Remaining: many"), blocked("response.header.schema", "header/X-Rate-Limit-Remaining")},
				{"aws key in a declared string", resp("payments/getAccount", "GET", 200, strings.Replace(account, `"Main"`, `"AKIAIOSFODNN7EXAMPLE"`, 1), js), blocked("dlp.aws-access-key-id", "body")},
				{"stack trace in a declared string", resp("payments/getAccount", "GET", 200, strings.Replace(account, `"Main"`, `"at com.example.Db.query(Db.java:42)"`, 1), js), blocked("dlp.stack-trace-java", "body")},
				{"secret in a header", resp("payments/listAccounts", "GET", 200, `{"items":[]}`, js, "X-Next-Cursor: AKIAIOSFODNN7EXAMPLE"), blocked("dlp.aws-access-key-id", "header/X-Next-Cursor")},
				{"brotli", resp("payments/getAccount", "GET", 200, "\x0b\x02", js, "Content-Encoding: br"), blocked("response.content-encoding.unsupported", "header/Content-Encoding")},
				{"gzip", resp("payments/getAccount", "GET", 200, gz(t, account), js, "Content-Encoding: gzip"), ok},
				{"no response", &cordon.Message{Request: cordon.RequestHead{Operation: "payments/getAccount"}}, blocked("response.missing", "")},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					_, err := p.CheckResponse(tc.m)
					if got := outcomeOf(t, err); got != tc.want {
						t.Fatalf("got %+v, want %+v (%v)", got, tc.want, err)
					}
				})
			}
		})
	}
}

func ok2(o outcome) outcome { return o }

func TestResponseRewrite(t *testing.T) {
	p := compile30(t, baseSettings())
	m := resp("payments/getAccount", "GET", 200, gz(t, strings.Replace(account, `"Main"`, `"card 4111 1111 1111 1111"`, 1)),
		"Content-Type: application/json", "Content-Encoding: gzip", "Content-Length: 999", "Server: Apache/2.4.1", "X-Powered-By: PHP/5.6",
		"X-Debug-Sql: select *", "X-Internal-Host: db-7", "Cache-Control: no-store", "Set-Cookie: internal=1")
	fs, err := p.CheckResponse(m)
	if err != nil {
		t.Fatal(err)
	}
	want := http.Header{"Content-Type": {"application/json"}, "Cache-Control": {"no-store"}, "Content-Length": {"0"}}
	want["Content-Length"] = []string{itoa(len(m.Body))}
	if mustJSON(t, m.Response.Header) != mustJSON(t, want) {
		t.Fatalf("headers %v, want %v", m.Response.Header, want)
	}
	if !strings.Contains(string(m.Body), `"card **** **** **** 1111"`) {
		t.Fatalf("body %s", m.Body)
	}
	rules := map[string]cordon.Action{}
	for _, f := range fs {
		rules[f.Rule] = f.Action
		if f.Stage != cordon.StageResponseValidator {
			t.Fatalf("stage %v", f.Stage)
		}
	}
	if rules["dlp.card-number"] != cordon.ActionRedact || rules["response.header.removed"] != cordon.ActionDrop {
		t.Fatalf("findings %+v", fs)
	}
}

// TestMinimize: with minimisation, undeclared and writeOnly members are
// removed (and reported) instead of blocking.
func TestMinimize(t *testing.T) {
	s := baseSettings()
	s.Response.Minimize = true
	p := compile30(t, s)
	body := `{"items":[` + strings.Replace(account, `"name"`, `"pin":"1234","ssn":"x","name"`, 1) + `],"next":null,"debug":{"sql":"select"}}`
	m := resp("payments/listAccounts", "GET", 200, body, "Content-Type: application/json")
	fs, err := p.CheckResponse(m)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(m.Body), "pin") || strings.Contains(string(m.Body), "ssn") || strings.Contains(string(m.Body), "debug") || !strings.Contains(string(m.Body), `"name":"Main"`) {
		t.Fatalf("body %s", m.Body)
	}
	var got []string
	for _, f := range fs {
		if f.Action != cordon.ActionDrop {
			t.Fatalf("finding %+v", f)
		}
		got = append(got, f.Rule+" "+f.Pointer)
	}
	if strings.Join(got, ", ") != "response.body.undeclared /debug, response.body.write-only /items/0/pin, response.body.undeclared /items/0/ssn" {
		t.Fatalf("pointers %v", got)
	}
	// still blocks what minimisation cannot fix
	m = resp("payments/listAccounts", "GET", 200, `{"items":"x"}`, "Content-Type: application/json")
	if _, err := p.CheckResponse(m); outcomeOf(t, err) != blocked("response.body.schema", "/items") {
		t.Fatalf("err %v", err)
	}
}

func TestResponseAllowHeadersAndDLPSettings(t *testing.T) {
	s := baseSettings()
	s.Response.AllowHeaders = []string{"X-Trace", "Server"}
	s.Response.DLP = policy.DLPSettings{Actions: map[string]string{"aws-access-key-id": "report"},
		Custom: []policy.DLPPattern{{Name: "internal-host", Regex: `db-[0-9]+\.corp`, Action: "block"}}}
	p := compile30(t, s)
	m := resp("payments/getAccount", "GET", 200, strings.Replace(account, `"Main"`, `"AKIAIOSFODNN7EXAMPLE"`, 1), "Content-Type: application/json", "X-Trace: t1", "Server: nginx")
	fs, err := p.CheckResponse(m)
	if err != nil {
		t.Fatal(err)
	}
	if m.Response.Header.Get("X-Trace") != "t1" || m.Response.Header.Get("Server") != "" {
		t.Fatalf("headers %v", m.Response.Header)
	}
	found := false
	for _, f := range fs {
		found = found || f.Rule == "dlp.aws-access-key-id" && f.Action == cordon.ActionReport
	}
	if !found {
		t.Fatalf("findings %+v", fs)
	}
	m = resp("payments/getAccount", "GET", 200, strings.Replace(account, `"Main"`, `"db-7.corp"`, 1), "Content-Type: application/json")
	if _, err := p.CheckResponse(m); outcomeOf(t, err) != blocked("dlp.internal-host", "body") {
		t.Fatalf("err %v", err)
	}
}
