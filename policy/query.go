package policy

import (
	"encoding/json"
	"strings"
	"unicode/utf8"

	"github.com/cordon-gateway/cordon"
)

// pair is one decoded key=value of a query string or urlencoded form.
type pair struct{ key, value string }

// parseForm decodes a query string or an application/x-www-form-urlencoded
// body strictly: only "&" separates pairs (";" is data), "+" is a space,
// every "%" must start a valid escape, raw bytes must be RFC 3986 query
// characters (plus "[", "]", "|" that clients send raw), decoded keys and
// values must be valid UTF-8 without NUL. Empty pairs ("a=1&&b=2") are
// skipped. where is "query" or "body" and prefixes the rule.
func parseForm(raw, where string, max int, dst []pair) ([]pair, *cordon.Error) {
	rule := "request." + where
	for len(raw) > 0 {
		var part string
		if i := strings.IndexByte(raw, '&'); i >= 0 {
			part, raw = raw[:i], raw[i+1:]
		} else {
			part, raw = raw, ""
		}
		if part == "" {
			continue
		}
		if len(dst) >= max {
			return dst, invalid(rule+".too-many", where)
		}
		k, v, _ := strings.Cut(part, "=")
		key, err := unescapeForm(k)
		if err != "" {
			return dst, invalid(rule+"."+err, where)
		}
		val, err := unescapeForm(v)
		if err != "" {
			ptr := where + "/" + key
			if where == "body" {
				ptr = "/" + ptrEscape(key)
			}
			return dst, invalid(rule+"."+err, ptr)
		}
		if key == "" {
			return dst, invalid(rule+".empty-name", where)
		}
		dst = append(dst, pair{key, val})
	}
	return dst, nil
}

// unescapeForm returns the decoded string or the name of the rule broken.
func unescapeForm(s string) (string, string) {
	needs := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%' || c == '+':
			needs = true
		case !isQueryChar(c):
			if c < 0x20 || c == 0x7f {
				return "", "control"
			}
			return "", "invalid-char"
		}
	}
	if !needs {
		return s, ""
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '+':
			b = append(b, ' ')
		case '%':
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return "", "bad-escape"
			}
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
		default:
			b = append(b, c)
		}
	}
	if !utf8.Valid(b) {
		return "", "bad-utf8"
	}
	for _, c := range b {
		if c == 0 {
			return "", "control"
		}
	}
	return string(b), ""
}

func isQueryChar(c byte) bool {
	return isPathChar(c) || c == '/' || c == '?' || c == '[' || c == ']' || c == '|'
}

// appendFormEscaped escapes s for a query or form: unreserved characters
// stay, everything else (space included) is %XX with upper-case hex.
func appendFormEscaped(b []byte, s string) []byte {
	const hexDigits = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isUnreserved(c) {
			b = append(b, c)
			continue
		}
		b = append(b, '%', hexDigits[c>>4], hexDigits[c&15])
	}
	return b
}

// encodeForm is the canonical encoding: pairs sorted by key (stable, so
// repeated keys keep their order), keys and values escaped.
func encodeForm(ps []pair) string {
	if len(ps) == 0 {
		return ""
	}
	sorted := make([]pair, len(ps))
	copy(sorted, ps)
	sortPairs(sorted)
	b := make([]byte, 0, 64)
	for i, p := range sorted {
		if i > 0 {
			b = append(b, '&')
		}
		b = appendFormEscaped(b, p.key)
		b = append(b, '=')
		b = appendFormEscaped(b, p.value)
	}
	return string(b)
}

func sortPairs(ps []pair) {
	// insertion sort: stable, and pair lists are short (bounded by MaxParams)
	for i := 1; i < len(ps); i++ {
		for j := i; j > 0 && ps[j].key < ps[j-1].key; j-- {
			ps[j], ps[j-1] = ps[j-1], ps[j]
		}
	}
}

func invalid(rule, pointer string) *cordon.Error {
	return &cordon.Error{Op: opRequest, Kind: cordon.KindInvalid, Rule: rule, Pointer: pointer}
}

// isJSONNumber reports whether s is an RFC 8259 number.
func isJSONNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if i >= len(s) || s[i] < '0' || s[i] > '9' {
			return false
		}
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i >= len(s) || s[i] < '0' || s[i] > '9' {
			return false
		}
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	}
	return i == len(s)
}

// coerce turns a parameter string into the JSON value its schema types
// suggest: a number where numbers are allowed and it is one, a boolean for
// "true"/"false" where booleans are, the string otherwise (the schema then
// judges it).
func coerce(s string, t typeSet) any {
	if t&(tNumber|tInteger) != 0 && len(s) <= 64 && isJSONNumber(s) {
		return json.Number(s)
	}
	if t&tBoolean != 0 && (s == "true" || s == "false") {
		return s == "true"
	}
	return s
}
