package policy_test

import (
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/cordon-gateway/cordon"
)

// Benchmarks on the realistic payments spec, 3.0 and 3.1. JWTs are verified
// once and then served from the token cache (get-jwt-cold measures a fresh
// token every time). Each iteration
// restores the message fields CheckRequest/CheckResponse rewrite (the
// checks never mutate the original header map or body bytes).

func BenchmarkCheckRequest(b *testing.B) {
	for _, spec := range []string{"payments-3.0.yaml", "payments-3.1.yaml"} {
		p := compileSpec(b, spec, "/v1", baseSettings())
		bearer := "Authorization: Bearer " + token(b, "accounts:read accounts:write payments:write")
		key := "X-API-Key: " + testAPIKey
		cases := []struct {
			name string
			m    *cordon.Message
		}{
			{"get-apikey", req("GET", acct, "", key)},
			{"get-jwt", req("GET", acct, "", bearer)},
			{"list-query-apikey", req("GET", "/v1/accounts?limit=20&status=active&status=frozen&currency=EUR,USD&cursor=abc", "", key, "X-Request-Id: 8d6c6e0a-0a43-4b8c-9a55-0d6c1fd1b4c7", "Cookie: session=s1")},
			{"patch-account-json-jwt", req("PATCH", acct, `{"name":"Main account","status":"active","metadata":{"team":"finance","cost-centre":"42"}}`, "Content-Type: application/merge-patch+json", bearer)},
			{"create-payment-json-jwt", req("POST", "/v1/payments", payment(`,"reference":"invoice 2024-0042","remittance":null,"instant":true`), "Content-Type: application/json", idem, bearer)},
			{"cancel-form-jwt", req("POST", "/v1/payments/42/cancel", "reason=fraud&note=card+stolen&tags=a&tags=b", "Content-Type: application/x-www-form-urlencoded", bearer)},
		}
		b.Run(strings.TrimSuffix(spec, ".yaml")+"/get-jwt-cold", func(b *testing.B) {
			toks := make([]string, 64)
			for i := range toks {
				toks[i] = "Bearer " + token(b, "accounts:read", func(c jwt.MapClaims, _ *jwt.Token) { c["jti"] = i })
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				// a new policy per 64 tokens keeps the cache from helping
				if i%64 == 0 {
					b.StopTimer()
					p = compileSpec(b, spec, "/v1", baseSettings())
					b.StartTimer()
				}
				m := req("GET", acct, "")
				m.Request.Header["Authorization"] = []string{toks[i%64]}
				i++
				if _, err := p.CheckRequest(m); err != nil {
					b.Fatal(err)
				}
			}
		})
		for _, tc := range cases {
			b.Run(strings.TrimSuffix(spec, ".yaml")+"/"+tc.name, func(b *testing.B) {
				orig := tc.m.Request
				body := tc.m.Body
				m := *tc.m
				if _, err := p.CheckRequest(&m); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					m.Request, m.Body = orig, body
					if _, err := p.CheckRequest(&m); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkCheckResponse(b *testing.B) {
	items := make([]string, 20)
	for i := range items {
		items[i] = account
	}
	list := `{"items":[` + strings.Join(items, ",") + `],"next":"abc"}`
	payment := `{"id":7,"status":"settled","amount":1250,"currency":"EUR","debtorIban":"DE89370400440532013000","creditorIban":"FR1420041010050500013M02606","reference":"invoice 2024-0042","createdAt":"2024-05-01T10:00:00Z"}`
	for _, spec := range []string{"payments-3.0.yaml", "payments-3.1.yaml"} {
		p := compileSpec(b, spec, "/v1", baseSettings())
		js := "Content-Type: application/json"
		cases := []struct {
			name string
			m    *cordon.Message
		}{
			{"get-account", resp("payments/getAccount", "GET", 200, account, js, "Server: nginx", "Cache-Control: no-store")},
			{"list-20-accounts", resp("payments/listAccounts", "GET", 200, list, js, "X-Next-Cursor: abc")},
			{"payment-iban-redacted", resp("payments/getPayment", "GET", 200, payment, js)},
		}
		for _, tc := range cases {
			b.Run(strings.TrimSuffix(spec, ".yaml")+"/"+tc.name, func(b *testing.B) {
				head := *tc.m.Response
				body := tc.m.Body
				m := *tc.m
				if _, err := p.CheckResponse(&m); err != nil {
					b.Fatal(err)
				}
				b.SetBytes(int64(len(body)))
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					h := head
					m.Response, m.Body = &h, body
					if _, err := p.CheckResponse(&m); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
