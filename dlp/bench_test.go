package dlp_test

import (
	"fmt"
	"github.com/cordon-gateway/cordon/dlp"
	"strings"
	"testing"
)

func BenchmarkScan(b *testing.B) {
	s := mustCompile(b, dlp.Config{})
	for _, size := range []int{1 << 10, 64 << 10} {
		for _, kind := range []string{"clean", "secrets"} {
			body := cleanBody(size)
			if kind == "secrets" {
				body = withSecrets(size)
			}
			b.Run(fmt.Sprintf("%s-%dKB", kind, size>>10), func(b *testing.B) {
				b.SetBytes(int64(len(body)))
				b.ReportAllocs()
				for b.Loop() {
					s.Scan(body)
				}
			})
		}
	}
}

// BenchmarkScanAdversarial: 64 KB bodies an upstream could send to make
// the scanner work hardest: every anchor of every rule with near misses,
// thousands of true matches, and near misses that keep a regexp's NFA
// alive across the body.
func BenchmarkScanAdversarial(b *testing.B) {
	anchors := `{"m":"AKIA ASIA7 secret_access_key: \\"abc bearer 123abc private_key_id\\": AIza ghp_x xoxb-1 ` +
		`https://hooks.slack.com/services/x eyJabc.eyJ.x -----BEGIN PRIVATE KEY 4111 1111 1111 1112 DE89 3704 ` +
		`at a.b(c.java:x) Exception in thread Caused by: Traceback (m File \\"a.py\\", line x goroutine x panic: ` +
		`a.go:1 +0x :line at X.Y() in System.x --- End of ORA-1 PG:: SQLSTATE[ psql: unterminated q Unclosed quot ` +
		`error at or n SQLite3:: sqlite3.x PSQLExcept java.sql.SQL OLE DB Prov ][ODBC Warning: x Exception (0x"},`
	s := mustCompile(b, dlp.Config{})
	for _, tc := range []struct{ name, unit string }{
		{"anchors", anchors},
		{"dense-matches", " xoxa-000000000 xoxa-000000000"},
		{"dense-pem", "-----BEGIN PRIVATE KEY-----  "},
		{"nfa-near-miss", "System.A000.A00000000.A00Exc000000000"},
	} {
		body := []byte(strings.Repeat(tc.unit, (64<<10)/len(tc.unit)))
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				s.Scan(body)
			}
		})
	}
}

func BenchmarkRedact(b *testing.B) {
	s := allRedact(b)
	body := withSecrets(64 << 10)
	ms := s.Scan(body)
	if len(ms) < 4 {
		b.Fatalf("only %d matches", len(ms))
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		s.Redact(body, ms)
	}
}
