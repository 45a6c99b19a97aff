package dlp_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/dlp"
)

// FuzzScanRedact: Scan never panics and returns in-bounds, sorted,
// non-overlapping matches; Redact keeps the length, leaves its input alone
// and keeps valid JSON valid. It runs the default scanner and one where
// every detector redacts.
func FuzzScanRedact(f *testing.F) {
	for _, tc := range detectorCases {
		f.Add([]byte(tc.body))
		f.Add(jsonString(tc.body))
	}
	for _, tc := range redactCases {
		f.Add([]byte(tc.in))
	}
	f.Add(withSecrets(2 << 10))
	scanners := []*dlp.Scanner{mustCompile(f, dlp.Config{}), allRedact(f)}
	f.Fuzz(func(t *testing.T, body []byte) {
		orig := bytes.Clone(body)
		valid := json.Valid(body)
		for _, s := range scanners {
			ms := s.Scan(body)
			end := 0
			for _, m := range ms {
				if m.Start < end || m.Start >= m.End || m.End > len(body) {
					t.Fatalf("bad match list %+v for %q", ms, body)
				}
				if m.Action != cordon.ActionBlock && m.Action != cordon.ActionRedact {
					t.Fatalf("match %+v: unexpected action", m)
				}
				end = m.End
			}
			out := s.Redact(body, ms)
			if len(out) != len(body) {
				t.Fatalf("Redact changed the length: %d -> %d", len(body), len(out))
			}
			if !bytes.Equal(body, orig) {
				t.Fatalf("Scan or Redact modified the input")
			}
			if valid && !json.Valid(out) {
				t.Fatalf("Redact broke JSON:\n in %q\nout %q\nmatches %+v", body, out, ms)
			}
		}
	})
}

func mustCompile(t testing.TB, cfg dlp.Config) *dlp.Scanner {
	t.Helper()
	s, err := dlp.Compile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
