package jsonstrict_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strconv"
	"testing"

	"github.com/cordon-gateway/cordon/jsonstrict"
)

var knownRules = map[string]bool{
	"json.syntax": true, "json.duplicate-key": true, "json.case-duplicate-key": true,
	"json.invalid-utf8": true, "json.lone-surrogate": true, "json.trailing-data": true,
	"json.number-overflow": true, "json.number-precision": true, "json.depth": true,
	"json.members": true, "json.array-length": true, "json.string-length": true,
	"json.number-length": true, "json.size": true,
}

// checkDifferential holds Parse to encoding/json:
//   - what encoding/json finds invalid, Parse rejects; and when Parse calls it
//     a syntax error or trailing data, encoding/json agrees it is invalid;
//   - what Parse accepts, encoding/json (UseNumber) decodes to the very same
//     value, so the upstream sees what was validated;
//   - the canonical form is valid JSON that encoding/json decodes to a value
//     numerically equal to Parse's, that Parse accepts again, and that
//     AppendCanonical reproduces byte for byte.
func checkDifferential(t *testing.T, data []byte) {
	t.Helper()
	v, err := jsonstrict.Parse(data, jsonstrict.Limits{})
	stdValid := json.Valid(data)
	if err != nil {
		var je *jsonstrict.Error
		if !errors.As(err, &je) {
			t.Fatalf("Parse(%q) error %T, want *jsonstrict.Error", data, err)
		}
		if !knownRules[je.Rule] || je.Offset < 0 || je.Offset > len(data) {
			t.Fatalf("Parse(%q) error %+v: unknown rule or offset out of range", data, *je)
		}
		if (je.Rule == "json.syntax" || je.Rule == "json.trailing-data") && stdValid {
			t.Fatalf("Parse(%q) = %v, but encoding/json finds it valid", data, err)
		}
		return
	}
	if !stdValid {
		t.Fatalf("Parse(%q) accepted what encoding/json finds invalid", data)
	}
	std := decodeStd(t, data)
	if !reflect.DeepEqual(v, std) {
		t.Fatalf("Parse(%q) = %#v, encoding/json = %#v", data, v, std)
	}

	canon, err := jsonstrict.AppendCanonical(nil, v)
	if err != nil {
		t.Fatalf("AppendCanonical(Parse(%q)): %v", data, err)
	}
	if !json.Valid(canon) {
		t.Fatalf("canonical form of %q is not valid JSON: %q", data, canon)
	}
	if got := decodeStd(t, canon); !equalJSON(v, got) {
		t.Fatalf("canonical %q decodes to %#v, Parse(%q) = %#v", canon, got, data, v)
	}
	v2, err := jsonstrict.Parse(canon, jsonstrict.Limits{})
	if err != nil {
		t.Fatalf("Parse(canonical %q) of %q: %v", canon, data, err)
	}
	canon2, err := jsonstrict.AppendCanonical(nil, v2)
	if err != nil || !bytes.Equal(canon, canon2) {
		t.Fatalf("canonical form not idempotent: %q -> %q (%v)", canon, canon2, err)
	}
}

func decodeStd(t *testing.T, data []byte) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("encoding/json rejects %q: %v", data, err)
	}
	if _, err := d.Token(); err != io.EOF {
		t.Fatalf("encoding/json finds trailing data in %q", data)
	}
	return v
}

// equalJSON is reflect.DeepEqual except that numbers compare by value. Every
// number Parse accepts is exact in float64, so comparing float64s compares
// the decimal values.
func equalJSON(a, b any) bool {
	switch a := a.(type) {
	case json.Number:
		b, ok := b.(json.Number)
		if !ok {
			return false
		}
		fa, errA := strconv.ParseFloat(string(a), 64)
		fb, errB := strconv.ParseFloat(string(b), 64)
		return errA == nil && errB == nil && fa == fb
	case []any:
		b, ok := b.([]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !equalJSON(a[i], b[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for k, va := range a {
			vb, ok := b[k]
			if !ok || !equalJSON(va, vb) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}

func TestDifferential(t *testing.T) {
	for _, tc := range acceptCases {
		t.Run("accept/"+tc.name, func(t *testing.T) { checkDifferential(t, []byte(tc.in)) })
	}
	for _, tc := range rejectCases {
		t.Run("reject/"+tc.name, func(t *testing.T) { checkDifferential(t, []byte(tc.in)) })
	}
	t.Run("realistic", func(t *testing.T) { checkDifferential(t, realistic) })
}

func FuzzParse(f *testing.F) {
	for _, tc := range acceptCases {
		f.Add([]byte(tc.in))
	}
	for _, tc := range rejectCases {
		f.Add([]byte(tc.in))
	}
	f.Add(realistic)
	f.Fuzz(checkDifferential)
}
