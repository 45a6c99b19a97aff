package jsonstrict_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/cordon-gateway/cordon/jsonstrict"
)

// realistic is a ~2 KB API request body: an order with nested objects,
// arrays, escapes, non-ASCII text and a mix of integers and decimals.
var realistic = []byte(`{
  "orderId": "ord_01HZX3K7Q9V4T2N8M5B6C1D0EF",
  "createdAt": "2026-03-14T09:26:53.589Z",
  "status": "pending",
  "currency": "EUR",
  "customer": {
    "id": 4815162342,
    "email": "renée.dupont@example.com",
    "name": {"given": "Renée", "family": "Dupont"},
    "phone": "+33 1 23 45 67 89",
    "marketingOptIn": false,
    "tags": ["vip", "returning", "newsletter"]
  },
  "shipping": {
    "address": {
      "line1": "12 rue de la Paix",
      "line2": null,
      "city": "Paris",
      "postalCode": "75002",
      "country": "FR"
    },
    "method": "express",
    "price": 12.5,
    "instructions": "Ring twice \u2014 leave at the \"concierge\" desk.\nThanks!"
  },
  "items": [
    {"sku": "SKU-10001", "title": "Noise-cancelling headphones", "qty": 1, "unitPrice": 249.99, "discount": 0.15, "attributes": {"color": "black", "warranty": "2y"}},
    {"sku": "SKU-10002", "title": "USB-C cable (2 m)", "qty": 3, "unitPrice": 9.9, "discount": 0, "attributes": {"color": "white"}},
    {"sku": "SKU-10003", "title": "Carrying case", "qty": 1, "unitPrice": 19.95, "discount": 0.05, "attributes": {}},
    {"sku": "SKU-10004", "title": "Gift wrap \ud83c\udf81", "qty": 1, "unitPrice": 4.5, "discount": 0, "attributes": {"message": "Joyeux anniversaire !"}}
  ],
  "payment": {"method": "card", "token": "tok_1Nv7pQ2eZvKYlo2C8Xk3hJ9w", "installments": 1, "threeDS": true},
  "totals": {"subtotal": 302.48, "discount": -38.49, "shipping": 12.5, "tax": 55.29, "grandTotal": 331.78},
  "metadata": {
    "source": "web",
    "campaign": "spring-sale-2026",
    "userAgent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
    "ip": "203.0.113.42",
    "experiments": [{"id": "checkout-v2", "variant": "B"}, {"id": "free-shipping-threshold", "variant": "control"}],
    "notes": "Customer asked for invoice in company name: ACME SARL, VAT FR12345678901."
  },
  "history": [
    {"at": "2026-03-14T09:20:01Z", "event": "cart.created"},
    {"at": "2026-03-14T09:24:37Z", "event": "cart.updated", "delta": 2},
    {"at": "2026-03-14T09:26:53Z", "event": "checkout.submitted"}
  ]
}`)

func BenchmarkParse(b *testing.B) {
	b.SetBytes(int64(len(realistic)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := jsonstrict.Parse(realistic, jsonstrict.Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseCanonical(b *testing.B) {
	b.SetBytes(int64(len(realistic)))
	b.ReportAllocs()
	buf := make([]byte, 0, 4096)
	for b.Loop() {
		v, err := jsonstrict.Parse(realistic, jsonstrict.Limits{})
		if err != nil {
			b.Fatal(err)
		}
		if buf, err = jsonstrict.AppendCanonical(buf[:0], v); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodingJSON is the reference: what encoding/json costs to
// decode the same body (UseNumber) and re-encode it.
func BenchmarkEncodingJSON(b *testing.B) {
	b.SetBytes(int64(len(realistic)))
	b.ReportAllocs()
	for b.Loop() {
		d := json.NewDecoder(bytes.NewReader(realistic))
		d.UseNumber()
		var v any
		if err := d.Decode(&v); err != nil {
			b.Fatal(err)
		}
		if _, err := json.Marshal(v); err != nil {
			b.Fatal(err)
		}
	}
}
