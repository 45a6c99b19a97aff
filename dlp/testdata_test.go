package dlp_test

import (
	"fmt"
	"strings"
)

// cleanBody builds a JSON array of realistic records, about n bytes, with
// nothing a detector should find: ids, timestamps, prices, prose, hashes.
func cleanBody(n int) []byte {
	var b strings.Builder
	b.WriteString(`{"items":[`)
	for i := 0; b.Len() < n-300; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":"%08x-e29b-41d4-a716-%012d","createdAt":"2026-03-%02dT09:26:53.589Z",`+
			`"price":%d.%02d,"qty":%d,"title":"Wireless headphones, model %d (black)",`+
			`"description":"Comfortable over-ear headphones with 30 hours of battery life and fast charging.",`+
			`"sha":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a%02x","tags":["audio","sale"]}`,
			i*7919, i*104729, i%28+1, 10+i%90, i%100, 1+i%5, 100+i, i%256)
	}
	b.WriteString(`],"next":null}`)
	return []byte(b.String())
}

// withSecrets is cleanBody(n) with a few secrets spread through it.
func withSecrets(n int) []byte {
	body := string(cleanBody(n))
	inserts := []string{
		`"card":"4111 1111 1111 1111",`,
		`"token":"` + ghToken + `",`,
		`"debug":"Traceback (most recent call last):\n  File \"app.py\", line 3, in <module>",`,
		`"iban":"DE89370400440532013000",`,
	}
	step := len(body) / (len(inserts) + 1)
	var b strings.Builder
	prev := 0
	for i, ins := range inserts {
		from := step * (i + 1)
		at := from + strings.Index(body[from:], `{"id"`) + 1 // just inside the record
		b.WriteString(body[prev:at])
		b.WriteString(ins)
		prev = at
	}
	b.WriteString(body[prev:])
	return []byte(b.String())
}
