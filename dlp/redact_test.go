package dlp_test

import (
	"encoding/json"
	"testing"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/dlp"
)

// custom builds a scanner with only the default card and IBAN redaction
// plus the given redacting patterns.
func redactor(t testing.TB, regexes ...string) *dlp.Scanner {
	t.Helper()
	cfg := dlp.Config{}
	for _, d := range dlp.Detectors() {
		if d.Name != "card-number" && d.Name != "iban" {
			cfg.Disable = append(cfg.Disable, d.Name)
		}
	}
	for i, re := range regexes {
		cfg.Custom = append(cfg.Custom, dlp.Pattern{Name: "p" + string(rune('a'+i)), Regex: re, Action: cordon.ActionRedact})
	}
	s, err := dlp.Compile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var redactCases = []struct {
	name    string
	regexes []string
	in      string
	want    string
}{
	{"card in string", nil, `{"pan":"4111 1111 1111 1111"}`, `{"pan":"**** **** **** 1111"}`},
	{"card dashes", nil, `{"pan":"4111-1111-1111-1111","x":1}`, `{"pan":"****-****-****-1111","x":1}`},
	{"card number token", nil, `{"pan":4111111111111111}`, `{"pan":4000000000001111}`},
	{"card negative number", nil, `[-4111111111111111]`, `[-4000000000001111]`},
	{"card text", nil, "card 4111-1111-1111-1111 end", "card ****-****-****-1111 end"},
	{"card quoted text", nil, `pan="4111111111111111"`, `pan="************1111"`},
	{"iban", nil, `{"iban":"DE89 3704 0044 0532 0130 00"}`, `{"iban":"***************************"}`},
	{"escapes kept", []string{`s3cr3t.*?END`}, `{"a":"s3cr3t\n\u00e9\"x\\y\/z😀END!"}`, `{"a":"******\n\u002a\"*\\*\/*****###!"}`},
	{"surrogate pair half", []string{`\\ud83d`}, `["\ud83d\ude00x"]`, `["\u002a\u002ax"]`},
	{"inside unicode escape", []string{`u00e9`}, `["a\u00e9b"]`, `["a\u002ab"]`},
	{"escape letter alone", []string{`n`}, `["\n"]`, `["\n"]`},
	{"across structure", []string{`"password":\s*"[^"]*"`}, `{"password": "hunter2", "user": "bob"}`, `{"********": "*******", "user": "bob"}`},
	{"across strings", []string{`b", "c`}, `["ab", "cd"]`, `["a*", "*d"]`},
	{"number exponent", []string{`12e05`}, `[12e05]`, `[10e00]`},
	{"single digit number", []string{`7`}, `{"a":7,"b":"x7"}`, `{"a":0,"b":"x*"}`},
	{"text with escapes", []string{`tok=\S+`}, `tok=ab\"c\u0041 rest`, `******\"*\u002a rest`},
	{"invalid json invalid utf8", []string{`x.y`}, "{x\xffy", "{***"},
}

func TestRedact(t *testing.T) {
	for _, tc := range redactCases {
		t.Run(tc.name, func(t *testing.T) {
			s := redactor(t, tc.regexes...)
			in := []byte(tc.in)
			ms := s.Scan(in)
			got := s.Redact(in, ms)
			want := []byte(tc.want)
			for i := range want {
				if want[i] == '#' {
					want[i] = '*'
				}
			}
			if string(got) != string(want) {
				t.Fatalf("Redact(%s)\n got %s\nwant %s\nmatches %+v", tc.in, got, want, ms)
			}
			if string(in) != tc.in {
				t.Fatalf("Redact changed its input")
			}
			if json.Valid(in) && !json.Valid(got) {
				t.Fatalf("Redact broke JSON: %s", got)
			}
		})
	}
}

func TestRedactMatches(t *testing.T) {
	s := redactor(t)
	body := []byte(`{"a":"héllo","b":"world"}`)
	tests := []struct {
		name string
		ms   []dlp.Match
		want string
	}{
		{"block is not masked", []dlp.Match{{Action: cordon.ActionBlock, Start: 6, End: 12}}, `{"a":"héllo","b":"world"}`},
		{"report is not masked", []dlp.Match{{Action: cordon.ActionReport, Start: 6, End: 12}}, `{"a":"héllo","b":"world"}`},
		{"half a character", []dlp.Match{{Action: cordon.ActionRedact, Start: 8, End: 9}}, `{"a":"h**llo","b":"world"}`},
		{"clamped", []dlp.Match{{Action: cordon.ActionRedact, Start: -10, End: 1000}}, `{"*":"******","*":"*****"}`},
		{"empty and reversed", []dlp.Match{{Action: cordon.ActionRedact, Start: 9, End: 9}, {Action: cordon.ActionRedact, Start: 12, End: 3}}, `{"a":"héllo","b":"world"}`},
		{"unsorted overlapping", []dlp.Match{
			{Action: cordon.ActionRedact, Start: 20, End: 23},
			{Action: cordon.ActionRedact, Start: 6, End: 8},
			{Action: cordon.ActionRedact, Start: 19, End: 21},
		}, `{"a":"***llo","b":"****d"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := s.Redact(body, tc.ms)
			if string(got) != tc.want {
				t.Fatalf("Redact = %s, want %s", got, tc.want)
			}
		})
	}
}

// TestRedactKeepsJSONValid runs every detector in redact mode over JSON
// bodies holding every true positive of the detector table.
func TestRedactKeepsJSONValid(t *testing.T) {
	s := allRedact(t)
	for _, tc := range detectorCases {
		if len(tc.want) == 0 {
			continue
		}
		for _, body := range [][]byte{[]byte(tc.body), jsonString(tc.body)} {
			if !json.Valid(body) {
				continue
			}
			ms := s.Scan(body)
			if len(ms) == 0 {
				t.Errorf("%s/%s: no match in %s", tc.detector, tc.name, body)
			}
			out := s.Redact(body, ms)
			if !json.Valid(out) {
				t.Errorf("%s/%s: redaction broke JSON:\n in %s\nout %s", tc.detector, tc.name, body, out)
			}
		}
	}
}

func jsonString(s string) []byte {
	b, _ := json.Marshal(map[string]string{"text": s})
	return b
}

// allRedact is the default scanner with every built-in detector redacting.
func allRedact(t testing.TB) *dlp.Scanner {
	t.Helper()
	acts := map[string]cordon.Action{}
	for _, d := range dlp.Detectors() {
		acts[d.Name] = cordon.ActionRedact
	}
	s, err := dlp.Compile(dlp.Config{Actions: acts})
	if err != nil {
		t.Fatal(err)
	}
	return s
}
