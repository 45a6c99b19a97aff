package policy_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/cordon-gateway/cordon/policy"
)

var pathCases = []struct {
	name  string
	in    string
	canon string // "" if rejected
	rule  string
}{
	{"root", "/", "/", ""},
	{"plain", "/v1/accounts", "/v1/accounts", ""},
	{"trailing slash kept", "/v1/accounts/", "/v1/accounts/", ""},
	{"unreserved escape decoded", "/v1/%61ccounts", "/v1/accounts", ""},
	{"lower-case hex upper-cased", "/v1/a%c3%a9", "/v1/a%C3%A9", ""},
	{"space escaped", "/v1/a%20b", "/v1/a%20b", ""},
	{"semicolon escaped", "/v1/a;jsessionid=1", "/v1/a%3Bjsessionid=1", ""},
	{"plus escaped", "/v1/a+b", "/v1/a%2Bb", ""},
	{"sub-delims kept", "/v1/a:b@c!$&'()*,=", "/v1/a:b@c!$&'()*,=", ""},
	{"dot inside segment", "/v1/file.json", "/v1/file.json", ""},
	{"dots inside segment", "/v1/...", "/v1/...", ""},
	{"relative", "v1/accounts", "", "request.path.relative"},
	{"empty", "", "", "request.path.relative"},
	{"dot segment", "/v1/./accounts", "", "request.path.dot-segment"},
	{"dot-dot segment", "/v1/../admin", "", "request.path.dot-segment"},
	{"trailing dot-dot", "/v1/..", "", "request.path.dot-segment"},
	{"encoded slash", "/v1/a%2Fb", "", "request.path.encoded-slash"},
	{"encoded slash lower", "/v1/a%2fb", "", "request.path.encoded-slash"},
	{"encoded dot", "/v1/%2e%2e/admin", "", "request.path.encoded-dot"},
	{"encoded single dot", "/v1/a%2Eb", "", "request.path.encoded-dot"},
	{"backslash", "/v1\\admin", "", "request.path.backslash"},
	{"encoded backslash", "/v1/%5c..%5cadmin", "", "request.path.backslash"},
	{"duplicate slash", "/v1//accounts", "", "request.path.duplicate-slash"},
	{"leading double slash", "//evil.example/x", "", "request.path.duplicate-slash"},
	{"NUL escaped", "/v1/a%00b", "", "request.path.control"},
	{"newline escaped", "/v1/a%0Ab", "", "request.path.control"},
	{"DEL escaped", "/v1/a%7Fb", "", "request.path.control"},
	{"raw control", "/v1/a\x01b", "", "request.path.control"},
	{"raw NUL", "/v1/a\x00b", "", "request.path.control"},
	{"truncated escape", "/v1/a%4", "", "request.path.bad-escape"},
	{"bad hex", "/v1/a%zz", "", "request.path.bad-escape"},
	{"lone percent", "/v1/%", "", "request.path.bad-escape"},
	{"double encoding stays data", "/v1/%252e", "/v1/%252e", ""},
	{"invalid utf-8", "/v1/%C3%28", "", "request.path.bad-utf8"},
	{"overlong utf-8 slash", "/v1/%C0%AF", "", "request.path.bad-utf8"},
	{"raw space", "/v1/a b", "", "request.path.invalid-char"},
	{"raw non-ascii", "/v1/caf\xc3\xa9", "", "request.path.invalid-char"},
	{"raw quote", "/v1/a\"b", "", "request.path.invalid-char"},
	{"question mark", "/v1/a?b", "", "request.path.invalid-char"},
	{"fragment", "/v1/a#b", "", "request.path.invalid-char"},
}

func TestNormalizePath(t *testing.T) {
	for _, tc := range pathCases {
		t.Run(tc.name, func(t *testing.T) {
			canon, _, err := policy.NormalizePath(tc.in)
			got := outcomeOf(t, err)
			if got.rule != tc.rule || canon != tc.canon {
				t.Fatalf("NormalizePath(%q) = %q, %+v; want %q, rule %q", tc.in, canon, got, tc.canon, tc.rule)
			}
		})
	}
}

// FuzzNormalizePath checks the invariants that make the path safe to
// forward: the canonical form is a fixed point, it is made of plain
// characters only, and it never contains a traversal or an encoded
// separator.
func FuzzNormalizePath(f *testing.F) {
	for _, tc := range pathCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		canon, segs, err := policy.NormalizePath(in)
		if err != nil {
			if canon != "" || segs != nil {
				t.Fatalf("rejected %q but returned %q %q", in, canon, segs)
			}
			return
		}
		again, segs2, err := policy.NormalizePath(canon)
		if err != nil || again != canon || strings.Join(segs, "/") != strings.Join(segs2, "/") {
			t.Fatalf("not a fixed point: %q -> %q -> %q (%v)", in, canon, again, err)
		}
		if strings.Count(canon, "/") != len(segs) {
			t.Fatalf("%q: %d segments for %q", in, len(segs), canon)
		}
		for _, bad := range []string{"//", "%2F", "%2E", "%5C", "%00", "\\", ";", "+"} {
			if strings.Contains(canon, bad) {
				t.Fatalf("%q -> %q contains %q", in, canon, bad)
			}
		}
		for i, s := range segs {
			if s == "." || s == ".." || s == "" && i != len(segs)-1 || strings.ContainsAny(s, "/\x00") || !utf8.ValidString(s) {
				t.Fatalf("%q: bad segment %q", in, s)
			}
		}
		for i := 0; i < len(canon); i++ {
			if c := canon[i]; c <= 0x20 || c >= 0x7f {
				t.Fatalf("%q -> %q has byte %#x", in, canon, c)
			}
		}
	})
}
