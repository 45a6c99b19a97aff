package jsonstrict_test

import (
	"encoding/json"
	"errors"
	"math"
	"testing"

	"github.com/cordon-gateway/cordon/jsonstrict"
)

func TestAppendCanonical(t *testing.T) {
	tests := []struct {
		name string
		in   string // parsed with Parse first
		want string
	}{
		{"scalars", `[null, true, false]`, `[null,true,false]`},
		{"sorted keys", `{"b": 1, "a": {"d": [], "c": {}}, "Y": 0, "é": 2, "z": 3, "aa": 4}`, `{"Y":0,"a":{"c":{},"d":[]},"aa":4,"b":1,"z":3,"é":2}`},
		{"minimal escapes", `"\u0041\/\u00e9\u2028<>&\u007f"`, "\"A/é\u2028<>&\x7f\""},
		{"control escapes", `"\u0000\u0001\b\t\n\u000b\f\r\u001f\"\\"`, `"\u0000\u0001\b\t\n\u000b\f\r\u001f\"\\"`},
		{"surrogate pair raw", `"\uD83D\uDE00"`, `"😀"`},
		{"minus zero", `[-0, -0.0, 0e5, -0E-5]`, `[0,0,0,0]`},
		{"integers", `[1, -1, 9007199254740992, -9007199254740992]`, `[1,-1,9007199254740992,-9007199254740992]`},
		{"integral floats", `[1.0, 1e2, 12.5e1, -3.000e0, 9.007199254740992e15]`, `[1,100,125,-3,9007199254740992]`},
		{"fractions", `[0.1, -1234.5, 1.5e-6, 0.000001, 2.5E-1]`, `[0.1,-1234.5,0.0000015,0.000001,0.25]`},
		{"small exponent", `[1e-7, -1.5E-7, 5e-324]`, `[1e-7,-1.5e-7,5e-324]`},
		{"big exponent", `[1e20, 1e21, 1.7976931348623157e308, -2.5e300, 1.8014398509481984e16]`,
			`[1e20,1e21,1.7976931348623157e308,-2.5e300,1.8014398509481984e16]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := jsonstrict.Parse([]byte(tc.in), jsonstrict.Limits{})
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.in, err)
			}
			got, err := jsonstrict.AppendCanonical([]byte("prefix:"), v)
			if err != nil {
				t.Fatalf("AppendCanonical: %v", err)
			}
			if string(got) != "prefix:"+tc.want {
				t.Fatalf("AppendCanonical(%s)\n got %s\nwant prefix:%s", tc.in, got, tc.want)
			}
		})
	}
}

func TestAppendCanonicalGoValues(t *testing.T) {
	tests := []struct {
		name string
		in   any
		want string
	}{
		{"float64", []any{0.5, 3.0, math.Copysign(0, -1), 1e300}, `[0.5,3,0,1e300]`},
		{"ints", map[string]any{"i": 42, "j": int64(-7)}, `{"i":42,"j":-7}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := jsonstrict.AppendCanonical(nil, tc.in)
			if err != nil {
				t.Fatalf("AppendCanonical: %v", err)
			}
			if string(got) != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestAppendCanonicalRejects(t *testing.T) {
	cyclic := []any{nil}
	cyclic[0] = cyclic
	tests := []struct {
		name string
		in   any
		want jsonstrict.Error
	}{
		{"invalid utf8 value", map[string]any{"a": []any{"\xff"}}, e("json.invalid-utf8", "/a/0", -1)},
		{"invalid utf8 key", map[string]any{"\xff": 1}, e("json.invalid-utf8", "/\xff", -1)},
		{"bad number", []any{json.Number("01")}, e("json.syntax", "/0", -1)},
		{"empty number", []any{json.Number("")}, e("json.syntax", "/0", -1)},
		{"number with space", json.Number("1 "), e("json.syntax", "", -1)},
		{"imprecise number", json.Number("9007199254740993"), e("json.number-precision", "", -1)},
		{"overflowing number", json.Number("1e999"), e("json.number-overflow", "", -1)},
		{"nan", math.NaN(), e("json.number-overflow", "", -1)},
		{"inf", math.Inf(-1), e("json.number-overflow", "", -1)},
		{"big int", int64(1<<53 + 1), e("json.number-precision", "", -1)},
		{"unsupported", map[string]any{"x": struct{}{}}, e("json.unsupported-type", "/x", -1)},
		{"typed slice", []string{"a"}, e("json.unsupported-type", "", -1)},
		{"cyclic", cyclic, e("json.depth", "", -1)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dst := []byte("keep")
			got, err := jsonstrict.AppendCanonical(dst, tc.in)
			var je *jsonstrict.Error
			if !errors.As(err, &je) {
				t.Fatalf("AppendCanonical error = %v, want *jsonstrict.Error", err)
			}
			je.Pointer = trimCyclic(je.Pointer)
			if *je != tc.want {
				t.Fatalf("error = %+v, want %+v", *je, tc.want)
			}
			if string(got) != "keep" {
				t.Fatalf("dst = %q, want it unchanged", got)
			}
		})
	}
}

// trimCyclic shortens the 10000-level pointer of the cyclic case.
func trimCyclic(p string) string {
	if len(p) > 100 {
		return ""
	}
	return p
}
