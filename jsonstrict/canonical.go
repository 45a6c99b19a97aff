package jsonstrict

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
)

// maxCanonicalDepth bounds the recursion of AppendCanonical over hand-built
// (possibly cyclic) values; values from Parse are far shallower.
const maxCanonicalDepth = 10000

// AppendCanonical appends the canonical form of v (see the package comment)
// to dst. v is a value as Parse returns it; float64, int and int64 are
// accepted too. On error dst is returned unchanged with an *Error whose
// Offset is -1.
func AppendCanonical(dst []byte, v any) ([]byte, error) {
	out, f := appendValue(dst, v, 0)
	if f != nil {
		e := f.err()
		e.Offset = -1
		return dst, e
	}
	return out, nil
}

func appendValue(dst []byte, v any, depth int) ([]byte, *failure) {
	switch v := v.(type) {
	case nil:
		return append(dst, "null"...), nil
	case bool:
		if v {
			return append(dst, "true"...), nil
		}
		return append(dst, "false"...), nil
	case string:
		return appendString(dst, v)
	case json.Number:
		return appendNumber(dst, string(v))
	case float64:
		if math.IsInf(v, 0) || math.IsNaN(v) {
			return dst, &failure{rule: RuleNumberOverflow}
		}
		return appendFloat(dst, v), nil
	case int:
		return appendInt(dst, int64(v))
	case int64:
		return appendInt(dst, v)
	case []any:
		if depth >= maxCanonicalDepth {
			return dst, &failure{rule: RuleDepth}
		}
		dst = append(dst, '[')
		for i, e := range v {
			if i > 0 {
				dst = append(dst, ',')
			}
			var f *failure
			if dst, f = appendValue(dst, e, depth+1); f != nil {
				return dst, f.in(strconv.Itoa(i))
			}
		}
		return append(dst, ']'), nil
	case map[string]any:
		if depth >= maxCanonicalDepth {
			return dst, &failure{rule: RuleDepth}
		}
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys) // byte order
		dst = append(dst, '{')
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			var f *failure
			if dst, f = appendString(dst, k); f != nil {
				return dst, f.in(k)
			}
			dst = append(dst, ':')
			if dst, f = appendValue(dst, v[k], depth+1); f != nil {
				return dst, f.in(k)
			}
		}
		return append(dst, '}'), nil
	}
	return dst, &failure{rule: RuleUnsupportedType}
}

const hexDigits = "0123456789abcdef"

// appendString writes s with the minimal escaping of RFC 8785: '"', '\\'
// and control characters only.
func appendString(dst []byte, s string) ([]byte, *failure) {
	if !utf8.ValidString(s) {
		return dst, &failure{rule: RuleInvalidUTF8}
	}
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"'), nil
}

// appendNumber checks the literal s as Parse would and writes its
// canonical form.
func appendNumber(dst []byte, s string) ([]byte, *failure) {
	n, rule := scanNumber([]byte(s), len(s))
	if rule == "" && n != len(s) {
		rule = RuleSyntax
	}
	if rule != "" {
		return dst, &failure{rule: rule}
	}
	f, rule := checkNumber(s)
	if rule != "" {
		return dst, &failure{rule: rule}
	}
	if isIntLiteral(s) {
		if s == "-0" {
			return append(dst, '0'), nil
		}
		return append(dst, s...), nil // no leading zeros: already canonical
	}
	return appendFloat(dst, f), nil
}

func appendInt(dst []byte, n int64) ([]byte, *failure) {
	if n > maxExactInt || n < -maxExactInt {
		return dst, &failure{rule: RuleNumberPrecision}
	}
	return strconv.AppendInt(dst, n, 10), nil
}

// appendFloat writes the finite f in canonical form.
func appendFloat(dst []byte, f float64) []byte {
	abs := math.Abs(f)
	switch {
	case f == 0:
		return append(dst, '0') // -0 too
	case abs <= maxExactInt && f == math.Trunc(f):
		return strconv.AppendInt(dst, int64(f), 10)
	case abs < maxExactInt && abs >= 1e-6: // not integral here
		return strconv.AppendFloat(dst, f, 'f', -1, 64)
	}
	var buf [32]byte
	e := strconv.AppendFloat(buf[:0], f, 'e', -1, 64) // d.ddde±XX
	i := len(e) - 1
	for e[i] != 'e' {
		i--
	}
	dst = append(dst, e[:i+1]...)
	j := i + 1
	if e[j] == '+' {
		j++
	} else {
		dst = append(dst, '-')
		j++
	}
	for j < len(e)-1 && e[j] == '0' {
		j++
	}
	return append(dst, e[j:]...)
}
