package jsonstrict_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/cordon-gateway/cordon/jsonstrict"
)

type n = json.Number

// acceptCases parse under the default limits to want.
var acceptCases = []struct {
	name string
	in   string
	want any
}{
	{"null", `null`, nil},
	{"true", `true`, true},
	{"false", ` false `, false},
	{"zero", `0`, n("0")},
	{"minus zero", `-0`, n("-0")},
	{"int", `-123`, n("-123")},
	{"2^53", `9007199254740992`, n("9007199254740992")},
	{"-2^53", `-9007199254740992`, n("-9007199254740992")},
	{"fraction", `0.1`, n("0.1")},
	{"exponent", `1.5E+300`, n("1.5E+300")},
	{"integral fraction", `1.0`, n("1.0")},
	{"big exponent form", `1e20`, n("1e20")},
	{"zero exponent", `0e999999`, n("0e999999")},
	{"smallest denormal", `5e-324`, n("5e-324")},
	{"max float", `1.7976931348623157e308`, n("1.7976931348623157e308")},
	{"trailing zeros", `2.50000000000000000000000000000000000000`, n("2.50000000000000000000000000000000000000")},
	{"empty string", `""`, ""},
	{"escapes", `"\"\\\/\b\f\n\r\t\u0041\u00e9\u20ac"`, "\"\\/\b\f\n\r\t" + "Aé€"},
	{"surrogate pair", `"\ud83d\ude00"`, "😀"},
	{"raw utf8", `"héllo 😀"`, "héllo 😀"},
	{"u+fffd literal", "\"\xef\xbf\xbd\"", "\ufffd"},
	{"nul escape", `"a\u0000b"`, "a\x00b"},
	{"html chars", `"<a&b>"`, "<a&b>"},
	{"empty array", `[]`, []any{}},
	{"empty object", `{}`, map[string]any{}},
	{"nested", " {\"a\" : [1, {\"b\": null}, \"c\"], \"d\": {}}\r\n\t",
		map[string]any{"a": []any{n("1"), map[string]any{"b": nil}, "c"}, "d": map[string]any{}}},
	{"distinct keys", `{"a":1,"b":2,"ab":3,"aé":4,"aÉx":5}`,
		map[string]any{"a": n("1"), "b": n("2"), "ab": n("3"), "aé": n("4"), "aÉx": n("5")}},
	{"same fold key in sibling objects", `[{"id":1},{"ID":2}]`,
		[]any{map[string]any{"id": n("1")}, map[string]any{"ID": n("2")}}},
	{"depth 32", strings.Repeat("[", 32) + strings.Repeat("]", 32), nest(32)},
}

func nest(d int) any {
	var v any = []any{}
	for i := 1; i < d; i++ {
		v = []any{v}
	}
	return v
}

// rejectCases fail under lim (zero = defaults) with want.
var rejectCases = []struct {
	name string
	in   string
	lim  jsonstrict.Limits
	want jsonstrict.Error
}{
	{"empty", ``, zl, e("json.syntax", "", 0)},
	{"only space", `  `, zl, e("json.syntax", "", 2)},
	{"bom", "\xef\xbb\xbf{}", zl, e("json.syntax", "", 0)},
	{"bare word", `nul`, zl, e("json.syntax", "", 0)},
	{"single quote", `'a'`, zl, e("json.syntax", "", 0)},
	{"leading zero", `01`, zl, e("json.syntax", "", 1)},
	{"leading zero in array", `[1,00]`, zl, e("json.syntax", "/1", 4)},
	{"plus", `+1`, zl, e("json.syntax", "", 0)},
	{"dot start", `.5`, zl, e("json.syntax", "", 0)},
	{"dot end", `1.`, zl, e("json.syntax", "", 2)},
	{"exp end", `1e+`, zl, e("json.syntax", "", 3)},
	{"minus alone", `-`, zl, e("json.syntax", "", 1)},
	{"nan", `NaN`, zl, e("json.syntax", "", 0)},
	{"hex", `0x10`, zl, e("json.trailing-data", "", 1)},
	{"trailing comma array", `[1,]`, zl, e("json.syntax", "/1", 3)},
	{"trailing comma object", `{"a":1,}`, zl, e("json.syntax", "", 7)},
	{"missing colon", `{"a" 1}`, zl, e("json.syntax", "/a", 5)},
	{"unquoted key", `{a:1}`, zl, e("json.syntax", "", 1)},
	{"unterminated string", `"abc`, zl, e("json.syntax", "", 4)},
	{"unterminated array", `[1`, zl, e("json.syntax", "", 2)},
	{"raw newline in string", "\"a\nb\"", zl, e("json.syntax", "", 2)},
	{"raw tab in string", "\"a\tb\"", zl, e("json.syntax", "", 2)},
	{"bad escape", `"\x41"`, zl, e("json.syntax", "", 1)},
	{"short unicode escape", `"\u41"`, zl, e("json.syntax", "", 1)},
	{"comment", `{} // x`, zl, e("json.trailing-data", "", 3)},
	{"two values", `{} {}`, zl, e("json.trailing-data", "", 3)},
	{"trailing garbage", `true false`, zl, e("json.trailing-data", "", 5)},
	{"trailing nul", "1\x00", zl, e("json.trailing-data", "", 1)},
	{"duplicate key", `{"a":1,"a":2}`, zl, e("json.duplicate-key", "/a", 7)},
	{"duplicate key nested", `{"x":[0,{"b":1,"c":2,"b":3}]}`, zl, e("json.duplicate-key", "/x/1/b", 21)},
	{"duplicate key via escape", `{"a":1,"\u0061":2}`, zl, e("json.duplicate-key", "/a", 7)},
	{"case duplicate", `{"id":1,"ID":2}`, zl, e("json.case-duplicate-key", "/ID", 8)},
	{"case duplicate kelvin", `{"k":1,"\u212a":2}`, zl, e("json.case-duplicate-key", "/\u212a", 7)},
	{"case duplicate long s", `{"s":1,"ſ":2}`, zl, e("json.case-duplicate-key", "/ſ", 7)},
	{"case duplicate many keys", `{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"j":0,"K":1,"k":2}`,
		zl, e("json.case-duplicate-key", "/k", 67)},
	{"case duplicate many keys unicode", `{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"j":0,"ÉTÉ":1,"été":2}`,
		zl, e("json.case-duplicate-key", "/été", 71)},
	{"pointer escaping", `{"a/b~c":{"x":1,"x":1}}`, zl, e("json.duplicate-key", "/a~1b~0c/x", 16)},
	{"invalid utf8", "\"a\xffb\"", zl, e("json.invalid-utf8", "", 2)},
	{"invalid utf8 in key", "{\"\xc3\":1}", zl, e("json.invalid-utf8", "", 2)},
	{"overlong utf8", "\"\xc0\xaf\"", zl, e("json.invalid-utf8", "", 1)},
	{"utf8 surrogate", "\"\xed\xa0\x80\"", zl, e("json.invalid-utf8", "", 1)},
	{"truncated utf8", "\"\xe2\x82\"", zl, e("json.invalid-utf8", "", 1)},
	{"lone high surrogate", `"\ud800"`, zl, e("json.lone-surrogate", "", 1)},
	{"lone low surrogate", `"x\udc00"`, zl, e("json.lone-surrogate", "", 2)},
	{"high then high", `"\ud800\ud800"`, zl, e("json.lone-surrogate", "", 1)},
	{"high then char", `"\ud800a"`, zl, e("json.lone-surrogate", "", 1)},
	{"lone surrogate in key", `{"a":{"\udfff":1}}`, zl, e("json.lone-surrogate", "/a", 7)},
	{"overflow", `1e400`, zl, e("json.number-overflow", "", 0)},
	{"negative overflow", `[-1.8e308]`, zl, e("json.number-overflow", "/0", 1)},
	{"big integer overflow", strings.Repeat("9", 400), jsonstrict.Limits{MaxNumberLen: 500}, e("json.number-overflow", "", 0)},
	{"2^53+1", `9007199254740993`, zl, e("json.number-precision", "", 0)},
	{"2^53+2 exact but over", `9007199254740994`, zl, e("json.number-precision", "", 0)},
	{"-2^53-1", `-9007199254740993`, zl, e("json.number-precision", "", 0)},
	{"17 digits", `{"id":12345678901234567}`, zl, e("json.number-precision", "/id", 6)},
	{"precise fraction", `0.1000000000000000000001`, zl, e("json.number-precision", "", 0)},
	{"float above 2^53", `9007199254740993.0`, zl, e("json.number-precision", "", 0)},
	{"underflow", `1e-400`, zl, e("json.number-precision", "", 0)},
	{"denormal rounding", `4.9e-324`, zl, e("json.number-precision", "", 0)},
	{"size", `[1, 2]`, jsonstrict.Limits{MaxBytes: 5}, e("json.size", "", 5)},
	{"depth", strings.Repeat("[", 33) + strings.Repeat("]", 33), zl, e("json.depth", strings.Repeat("/0", 32), 32)},
	{"depth custom", `{"a":{"b":{}}}`, jsonstrict.Limits{MaxDepth: 2}, e("json.depth", "/a/b", 10)},
	{"depth scalar ok container not", `[1]`, jsonstrict.Limits{MaxDepth: 1}, jsonstrict.Error{}},
	{"members", `{"a":1,"b":2,"c":3}`, jsonstrict.Limits{MaxMembers: 2}, e("json.members", "", 13)},
	{"array length", `[1, 2, 3]`, jsonstrict.Limits{MaxArrayLen: 2}, e("json.array-length", "", 7)},
	{"string length", `["abcd"]`, jsonstrict.Limits{MaxStringLen: 3}, e("json.string-length", "/0", 1)},
	{"string length decoded", `["\u0041\u0042\u0043\u0044"]`, jsonstrict.Limits{MaxStringLen: 3}, e("json.string-length", "/0", 1)},
	{"key length", `{"abcd":1}`, jsonstrict.Limits{MaxStringLen: 3}, e("json.string-length", "", 1)},
	{"number length", `[12345]`, jsonstrict.Limits{MaxNumberLen: 4}, e("json.number-length", "/0", 1)},
	{"number length fraction", `1.2345`, jsonstrict.Limits{MaxNumberLen: 4}, e("json.number-length", "", 0)},
	{"number length default", `0.` + strings.Repeat("1", 63), zl, e("json.number-length", "", 0)},
}

var zl = jsonstrict.Limits{}

func e(rule, ptr string, off int) jsonstrict.Error {
	return jsonstrict.Error{Rule: rule, Pointer: ptr, Offset: off}
}

func TestParseAccepts(t *testing.T) {
	for _, tc := range acceptCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := jsonstrict.Parse([]byte(tc.in), jsonstrict.Limits{})
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.in, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Parse(%q) = %#v, want %#v", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	for _, tc := range rejectCases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := jsonstrict.Parse([]byte(tc.in), tc.lim)
			if tc.want.Rule == "" {
				if err != nil {
					t.Fatalf("Parse(%q): %v, want success", tc.in, err)
				}
				return
			}
			var got *jsonstrict.Error
			if !errors.As(err, &got) {
				t.Fatalf("Parse(%q) error = %v, want *jsonstrict.Error", tc.in, err)
			}
			if *got != tc.want {
				t.Fatalf("Parse(%q) error = %+v, want %+v", tc.in, *got, tc.want)
			}
		})
	}
}

func TestDefaultLimits(t *testing.T) {
	want := jsonstrict.Limits{MaxDepth: 32, MaxMembers: 1000, MaxArrayLen: 10000,
		MaxStringLen: 1 << 20, MaxNumberLen: 64, MaxBytes: 8 << 20}
	if got := jsonstrict.DefaultLimits(); got != want {
		t.Fatalf("DefaultLimits() = %+v, want %+v", got, want)
	}
}

func TestLimitsBoundaries(t *testing.T) {
	tests := []struct {
		name string
		in   string
		lim  jsonstrict.Limits
	}{
		{"exactly max bytes", `[1,2]`, jsonstrict.Limits{MaxBytes: 5}},
		{"exactly max depth", `{"a":{"b":1}}`, jsonstrict.Limits{MaxDepth: 2}},
		{"exactly max members", `{"a":1,"b":2}`, jsonstrict.Limits{MaxMembers: 2}},
		{"exactly max array", `[1,2]`, jsonstrict.Limits{MaxArrayLen: 2}},
		{"exactly max string", `"abc"`, jsonstrict.Limits{MaxStringLen: 3}},
		{"exactly max string escaped", `"\u00e9a"`, jsonstrict.Limits{MaxStringLen: 3}},
		{"exactly max number", `-1.5`, jsonstrict.Limits{MaxNumberLen: 4}},
		{"negative means default", `[[1]]`, jsonstrict.Limits{MaxDepth: -1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := jsonstrict.Parse([]byte(tc.in), tc.lim); err != nil {
				t.Fatalf("Parse(%q, %+v): %v", tc.in, tc.lim, err)
			}
		})
	}
}

func TestErrorString(t *testing.T) {
	tests := []struct {
		err  jsonstrict.Error
		want string
	}{
		{e("json.duplicate-key", "/a/0", 12), "jsonstrict: json.duplicate-key at /a/0 (offset 12)"},
		{e("json.syntax", "", 0), "jsonstrict: json.syntax at (root) (offset 0)"},
		{e("json.unsupported-type", "/x", -1), "jsonstrict: json.unsupported-type at /x"},
	}
	for _, tc := range tests {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
}

// TestCaseFoldPaths: small objects compare keys pairwise with
// strings.EqualFold, large ones through a map of folded keys; both must
// agree with strings.EqualFold on tricky Unicode folding orbits.
func TestCaseFoldPaths(t *testing.T) {
	runes := []string{"k", "K", "\u212a", "s", "S", "\u017f", "σ", "Σ", "ς", "ǅ", "Ǆ", "ǆ",
		"ß", "ẞ", "ω", "Ω", "\u2126", "i", "I", "İ", "ı", "é", "É", "1", "_"}
	var keys []string
	for _, a := range runes {
		keys = append(keys, a)
		for _, b := range runes[:6] {
			keys = append(keys, a+b)
		}
	}
	fillers := `"f0":0,"f1":0,"f2":0,"f3":0,"f4":0,"f5":0,"f6":0,"f7":0,"f8":0,`
	for _, a := range keys {
		for _, b := range keys {
			if a == b {
				continue
			}
			want := ""
			if strings.EqualFold(a, b) {
				want = "json.case-duplicate-key"
			}
			for _, prefix := range []string{"", fillers} {
				in := `{` + prefix + `"` + a + `":1,"` + b + `":2}`
				_, err := jsonstrict.Parse([]byte(in), jsonstrict.Limits{})
				got := ""
				var je *jsonstrict.Error
				if errors.As(err, &je) {
					got = je.Rule
				}
				if got != want {
					t.Fatalf("Parse(%s) rule %q, want %q", in, got, want)
				}
			}
		}
	}
}
