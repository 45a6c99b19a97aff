package policy_test

import (
	"bytes"
	"mime/multipart"
	"net/textproto"
	"strings"
	"testing"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/policy"
)

// TestRequestBody covers content negotiation, the strict JSON parser in
// front of the schema, and schema validation (3.0 and 3.1 alike).
func TestRequestBody(t *testing.T) {
	for _, spec := range []string{"payments-3.0.yaml", "payments-3.1.yaml"} {
		t.Run(spec, func(t *testing.T) {
			p := compileSpec(t, spec, "/v1", baseSettings())
			ct := "Content-Type: application/json"
			cases := []struct {
				name string
				m    *cordon.Message
				want outcome
			}{
				{"valid", req("POST", "/v1/payments", payment(""), ct, idem), ok},
				{"valid with charset", req("POST", "/v1/payments", payment(""), "Content-Type: application/json; charset=UTF-8", idem), ok},
				{"nullable", req("POST", "/v1/payments", payment(`,"remittance":null`), ct, idem), ok},
				{"missing body", req("POST", "/v1/payments", "", ct, idem), fail(cordon.KindInvalid, "request.body.missing", "body")},
				{"no content type", req("POST", "/v1/payments", payment(""), idem), fail(cordon.KindUnsupportedMedia, "request.content-type.missing", "header/Content-Type")},
				{"undeclared media type", req("POST", "/v1/payments", payment(""), "Content-Type: text/plain", idem), fail(cordon.KindUnsupportedMedia, "request.content-type.undeclared", "header/Content-Type")},
				{"xml refused", req("POST", "/v1/payments", "<payment/>", "Content-Type: application/xml", idem), fail(cordon.KindUnsupportedMedia, "request.content-type.undeclared", "header/Content-Type")},
				{"bad content type", req("POST", "/v1/payments", payment(""), "Content-Type: ;;", idem), fail(cordon.KindUnsupportedMedia, "request.content-type.invalid", "header/Content-Type")},
				{"two content types", req("POST", "/v1/payments", payment(""), ct, ct, idem), fail(cordon.KindUnsupportedMedia, "request.content-type.invalid", "header/Content-Type")},
				{"latin-1", req("POST", "/v1/payments", payment(""), "Content-Type: application/json; charset=iso-8859-1", idem), fail(cordon.KindUnsupportedMedia, "request.content-type.charset", "header/Content-Type")},
				{"body on GET", req("GET", "/v1/health", `{}`, ct), fail(cordon.KindUnsupportedMedia, "request.body.unexpected", "body")},
				{"duplicate key", req("POST", "/v1/payments", `{"amount":1,"amount":100000000000}`, ct, idem), fail(cordon.KindInvalid, "json.duplicate-key", "/amount")},
				{"case duplicate key", req("POST", "/v1/payments", payment(`,"Amount":5`), ct, idem), fail(cordon.KindInvalid, "json.case-duplicate-key", "/Amount")},
				{"invalid utf-8", req("POST", "/v1/payments", payment(",\"reference\":\"\xff\""), ct, idem), fail(cordon.KindInvalid, "json.invalid-utf8", "/reference")},
				{"lone surrogate", req("POST", "/v1/payments", payment(`,"reference":"\ud800"`), ct, idem), fail(cordon.KindInvalid, "json.lone-surrogate", "/reference")},
				{"trailing data", req("POST", "/v1/payments", payment("")+`{"amount":2}`, ct, idem), fail(cordon.KindInvalid, "json.trailing-data", "")},
				{"precision loss", req("POST", "/v1/payments", `{"amount":9007199254740993}`, ct, idem), fail(cordon.KindInvalid, "json.number-precision", "/amount")},
				{"overflow", req("POST", "/v1/payments", `{"amount":1e400}`, ct, idem), fail(cordon.KindInvalid, "json.number-overflow", "/amount")},
				{"truncated", req("POST", "/v1/payments", `{"amount":1`, ct, idem), fail(cordon.KindInvalid, "json.syntax", "")},
				{"exclusive minimum", req("POST", "/v1/payments", strings.Replace(payment(""), "1250", "0", 1), ct, idem), fail(cordon.KindInvalid, "request.body.schema", "/amount")},
				{"maximum", req("POST", "/v1/payments", strings.Replace(payment(""), "1250", "100000001", 1), ct, idem), fail(cordon.KindInvalid, "request.body.schema", "/amount")},
				{"wrong type", req("POST", "/v1/payments", strings.Replace(payment(""), "1250", `"1250"`, 1), ct, idem), fail(cordon.KindInvalid, "request.body.schema", "/amount")},
				{"fraction for integer", req("POST", "/v1/payments", strings.Replace(payment(""), "1250", `12.5`, 1), ct, idem), fail(cordon.KindInvalid, "request.body.schema", "/amount")},
				{"required missing", req("POST", "/v1/payments", `{"amount":1,"debtorIban":"DE89370400440532013000","creditorIban":"DE89370400440532013000"}`, ct, idem), fail(cordon.KindInvalid, "request.body.schema", "/currency")},
				{"enum", req("POST", "/v1/payments", strings.Replace(payment(""), "EUR", "XXX", 1), ct, idem), fail(cordon.KindInvalid, "request.body.schema", "/currency")},
				{"pattern", req("POST", "/v1/payments", strings.Replace(payment(""), "DE89", "de89", 1), ct, idem), fail(cordon.KindInvalid, "request.body.schema", "/debtorIban")},
				{"null where not nullable", req("POST", "/v1/payments", payment(`,"reference":null`), ct, idem), fail(cordon.KindInvalid, "request.body.schema", "/reference")},
				{"not an object", req("POST", "/v1/payments", `[]`, ct, idem), fail(cordon.KindInvalid, "request.body.schema", "")},
				{"format email", req("POST", "/v1/accounts", `{"name":"a","currency":"EUR","owner":{"email":"not-an-email"}}`, ct), fail(cordon.KindInvalid, "request.body.schema", "/owner/email")},
				{"required readOnly not required in requests", req("POST", "/v1/accounts", `{"name":"a","currency":"EUR","owner":{"email":"a@example.com"}}`, ct), ok},
				{"map values", req("POST", "/v1/accounts", `{"name":"a","currency":"EUR","owner":{"email":"a@example.com"},"metadata":{"any-key":"v"}}`, ct), ok},
				{"map value schema", req("POST", "/v1/accounts", `{"name":"a","currency":"EUR","owner":{"email":"a@example.com"},"metadata":{"k":1}}`, ct), fail(cordon.KindInvalid, "request.body.schema", "/metadata/k")},
				{"+json media type", req("PATCH", acct, `{"name":"b"}`, "Content-Type: application/merge-patch+json"), ok},
				{"plain json where +json declared", req("PATCH", acct, `{"name":"b"}`, ct), fail(cordon.KindUnsupportedMedia, "request.content-type.undeclared", "header/Content-Type")},
				{"minProperties", req("PATCH", acct, `{}`, "Content-Type: application/merge-patch+json"), fail(cordon.KindInvalid, "request.body.schema", "")},
				{"opaque refused by default", req("PUT", acct+"/avatar", "\x89PNG", "Content-Type: image/png"), fail(cordon.KindUnsupportedMedia, "request.content-type.opaque", "header/Content-Type")},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					authed(t, tc.m, "accounts:read accounts:write payments:write")
					_, err := p.CheckRequest(tc.m)
					if got := outcomeOf(t, err); got != tc.want {
						t.Fatalf("got %+v, want %+v (%v)", got, tc.want, err)
					}
				})
			}
		})
	}
}

func TestCanonicalBodyForwarded(t *testing.T) {
	p := compile30(t, baseSettings())
	body := "{ \"currency\" : \"EUR\",\n\"amount\":1.25e3, \"debtorIban\":\"DE89370400440532013000\", \"creditorIban\":\"FR1420041010050500013M02606\",\"reference\":\"caf\\u00e9\"}"
	m := authed(t, req("POST", "/v1/payments", body, "Content-Type: application/json; charset=utf-8", idem), "payments:write")
	if _, err := p.CheckRequest(m); err != nil {
		t.Fatal(err)
	}
	want := `{"amount":1250,"creditorIban":"FR1420041010050500013M02606","currency":"EUR","debtorIban":"DE89370400440532013000","reference":"café"}`
	if string(m.Body) != want {
		t.Fatalf("forwarded\n%s\nwant\n%s", m.Body, want)
	}
	if got := m.Request.Header.Get("Content-Type"); got != "application/json" {
		t.Fatalf("Content-Type %q", got)
	}
}

func TestOpaqueBody(t *testing.T) {
	s := baseSettings()
	s.Operations = map[string]policy.OperationSettings{"putAvatar": {OpaqueMediaTypes: []string{"image/png"}}}
	p := compile30(t, s)
	m := authed(t, req("PUT", acct+"/avatar", "\x89PNG\r\n", "Content-Type: image/png"), "accounts:write")
	if _, err := p.CheckRequest(m); err != nil {
		t.Fatal(err)
	}
	if string(m.Body) != "\x89PNG\r\n" || m.Request.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("forwarded %q %v", m.Body, m.Request.Header)
	}
}

func TestFormBody(t *testing.T) {
	p := compile30(t, baseSettings())
	ct := "Content-Type: application/x-www-form-urlencoded"
	cases := []struct {
		name, body string
		want       outcome
		forwarded  string
	}{
		{"valid", "reason=fraud&notify=true&tags=b&tags=a&note=hello+world%21", ok, "note=hello%20world%21&notify=true&reason=fraud&tags=b&tags=a"},
		{"enum", "reason=bogus", fail(cordon.KindInvalid, "request.body.schema", "/reason"), ""},
		{"boolean", "reason=fraud&notify=yes", fail(cordon.KindInvalid, "request.body.schema", "/notify"), ""},
		{"required", "note=x", fail(cordon.KindInvalid, "request.body.schema", "/reason"), ""},
		{"duplicate scalar", "reason=fraud&reason=duplicate", fail(cordon.KindInvalid, "request.body.duplicate", "/reason"), ""},
		{"undeclared field", "reason=fraud&admin=true", fail(cordon.KindInvalid, "request.body.undeclared", "/admin"), ""},
		{"case variant", "reason=fraud&Notify=true", fail(cordon.KindInvalid, "request.body.case-mismatch", "/Notify"), ""},
		{"bad escape", "reason=fr%zzaud", fail(cordon.KindInvalid, "request.body.bad-escape", "/reason"), ""},
		{"array too long", "reason=fraud&tags=1&tags=2&tags=3&tags=4&tags=5&tags=6", fail(cordon.KindInvalid, "request.body.schema", "/tags"), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := authed(t, req("POST", "/v1/payments/7/cancel", tc.body, ct), "payments:write")
			_, err := p.CheckRequest(m)
			if got := outcomeOf(t, err); got != tc.want {
				t.Fatalf("got %+v, want %+v (%v)", got, tc.want, err)
			}
			if err == nil && string(m.Body) != tc.forwarded {
				t.Fatalf("forwarded %q, want %q", m.Body, tc.forwarded)
			}
		})
	}
}

type part struct {
	name, filename, ctype, data string
	extra                       map[string]string
}

func multipartBody(t testing.TB, parts ...part) (string, string) {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		cd := `form-data; name="` + p.name + `"`
		if p.filename != "" {
			cd += `; filename="` + p.filename + `"`
		}
		h.Set("Content-Disposition", cd)
		if p.ctype != "" {
			h.Set("Content-Type", p.ctype)
		}
		for k, v := range p.extra {
			h.Set(k, v)
		}
		pw, _ := w.CreatePart(h)
		pw.Write([]byte(p.data))
	}
	w.Close()
	return b.String(), "Content-Type: " + w.FormDataContentType()
}

func TestMultipartBody(t *testing.T) {
	p := compile30(t, baseSettings())
	pdf := part{name: "file", filename: "a.pdf", ctype: "application/pdf", data: "%PDF-1.7 \x00\xff"}
	cases := []struct {
		name  string
		parts []part
		want  outcome
	}{
		{"valid", []part{{name: "kind", data: "invoice"}, pdf, {name: "meta", ctype: "application/json", data: `{"pages":2}`}}, ok},
		{"missing file", []part{{name: "kind", data: "invoice"}}, fail(cordon.KindInvalid, "request.body.schema", "/file")},
		{"enum", []part{{name: "kind", data: "memo"}, pdf}, fail(cordon.KindInvalid, "request.body.schema", "/kind")},
		{"undeclared part", []part{{name: "kind", data: "invoice"}, pdf, {name: "owner", data: "x"}}, fail(cordon.KindInvalid, "request.body.undeclared", "/owner")},
		{"json part checked", []part{{name: "kind", data: "invoice"}, pdf, {name: "meta", ctype: "application/json", data: `{"pages":0}`}}, fail(cordon.KindInvalid, "request.body.schema", "/meta/pages")},
		{"json part strict", []part{{name: "kind", data: "invoice"}, pdf, {name: "meta", ctype: "application/json", data: `{"pages":1,"pages":2}`}}, fail(cordon.KindInvalid, "json.duplicate-key", "/meta/pages")},
		{"json part undeclared member", []part{{name: "kind", data: "invoice"}, pdf, {name: "meta", ctype: "application/json", data: `{"pages":1,"x":2}`}}, fail(cordon.KindInvalid, "request.body.undeclared", "/meta/x")},
		{"part type not declared", []part{{name: "kind", data: "invoice"}, {name: "file", filename: "a.exe", ctype: "application/x-msdownload", data: "MZ"}}, fail(cordon.KindUnsupportedMedia, "request.body.part-content-type", "/file")},
		{"transfer encoding header", []part{{name: "kind", data: "invoice", extra: map[string]string{"Content-Transfer-Encoding": "base64"}}, pdf}, fail(cordon.KindInvalid, "request.body.multipart-header", "body")},
		{"duplicate part", []part{{name: "kind", data: "invoice"}, {name: "kind", data: "contract"}, pdf}, fail(cordon.KindInvalid, "request.body.duplicate", "/kind")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body, ct := multipartBody(t, tc.parts...)
			m := req("POST", "/v1/documents", body, ct, "X-API-Key: "+testAPIKey)
			_, err := p.CheckRequest(m)
			if got := outcomeOf(t, err); got != tc.want {
				t.Fatalf("got %+v, want %+v (%v)", got, tc.want, err)
			}
			if err != nil {
				return
			}
			if !strings.Contains(m.Request.Header.Get("Content-Type"), "boundary=cordon-") || !bytes.Contains(m.Body, []byte("%PDF-1.7 \x00\xff")) {
				t.Fatalf("forwarded %v %q", m.Request.Header, m.Body)
			}
		})
	}
	t.Run("no boundary", func(t *testing.T) {
		m := req("POST", "/v1/documents", "x", "Content-Type: multipart/form-data", "X-API-Key: "+testAPIKey)
		_, err := p.CheckRequest(m)
		if got := outcomeOf(t, err); got != fail(cordon.KindInvalid, "request.body.multipart", "header/Content-Type") {
			t.Fatalf("got %+v", got)
		}
	})
}
