package policy

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/cordon-gateway/cordon/jsonstrict"
)

// BenchmarkSchemaEngines compares validating the same 3.0 body with
// kin-openapi's own validator and with the jsonschema v6 schema cordon
// compiles once; the choice of v6 for every schema rests on it (see doc.go).
func BenchmarkSchemaEngines(b *testing.B) {
	spec, err := os.ReadFile("testdata/payments-3.0.yaml")
	if err != nil {
		b.Fatal(err)
	}
	const account = `{"id":"4b8f6f8e-3c1a-4d2b-9f1e-2a3b4c5d6e7f","name":"Main","currency":"EUR","owner":{"email":"a@example.com"},"createdAt":"2024-05-01T10:00:00Z"}`
	items := strings.TrimSuffix(strings.Repeat(account+",", 20), ",")
	bodies := map[string]string{
		"account":     account,
		"20-accounts": `{"items":[` + items + `],"next":"abc"}`,
	}
	ptrs := map[string]string{
		"account":     "/components/schemas/Account",
		"20-accounts": "/paths/~1accounts/get/responses/200/content/application~1json/schema",
	}
	doc, err := openapi3.NewLoader().LoadFromData(spec)
	if err != nil {
		b.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		b.Fatal(err)
	}
	raw, err := parseRawDoc(API{Name: "bench", Spec: spec}, true)
	if err != nil {
		b.Fatal(err)
	}
	for _, name := range []string{"account", "20-accounts"} {
		body := []byte(bodies[name])
		kinSchema := doc.Components.Schemas["Account"].Value
		if name == "20-accounts" {
			kinSchema = doc.Paths.Value("/accounts").Get.Responses.Value("200").Value.Content["application/json"].Schema.Value
		}
		b.Run("kin-openapi/"+name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var v any
				if err := json.Unmarshal(body, &v); err != nil {
					b.Fatal(err)
				}
				if err := kinSchema.VisitJSON(v, openapi3.VisitAsResponse(), openapi3.EnableFormatValidation()); err != nil {
					b.Fatal(err)
				}
			}
		})
		s, err := raw.compile(ptrs[name], true)
		if err != nil {
			b.Fatal(err)
		}
		b.Run("jsonschema-v6/"+name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				v, err := jsonstrict.Parse(body, jsonstrict.Limits{})
				if err != nil {
					b.Fatal(err)
				}
				if err := s.Validate(v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
