package jsonstrict

import (
	"encoding/json"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Parse decodes exactly one JSON value from data, refusing everything the
// package comment lists. Values are map[string]any, []any, string,
// json.Number (the literal as written), bool and nil; empty arrays and
// objects are non-nil, as encoding/json makes them. The error is always an
// *Error.
func Parse(data []byte, lim Limits) (any, error) {
	lim = lim.withDefaults()
	if len(data) > lim.MaxBytes {
		return nil, &Error{Rule: RuleSize, Offset: lim.MaxBytes}
	}
	p := parser{data: data, lim: lim}
	v, f := p.value()
	if f != nil {
		return nil, f.err()
	}
	p.skipSpace()
	if p.pos < len(p.data) {
		return nil, &Error{Rule: RuleTrailingData, Offset: p.pos}
	}
	return v, nil
}

type parser struct {
	data  []byte
	pos   int
	lim   Limits
	depth int
	// keys holds the keys of every object being parsed, innermost last;
	// each object uses keys[base:] for its case-folding check.
	keys []string
}

func (p *parser) fail(rule string, off int) *failure {
	return &failure{rule: rule, off: off}
}

func (p *parser) skipSpace() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *parser) value() (any, *failure) {
	p.skipSpace()
	if p.pos >= len(p.data) {
		return nil, p.fail(RuleSyntax, p.pos)
	}
	switch c := p.data[p.pos]; {
	case c == '{':
		return p.object()
	case c == '[':
		return p.array()
	case c == '"':
		s, f := p.str()
		if f != nil {
			return nil, f
		}
		return s, nil
	case c == '-' || c >= '0' && c <= '9':
		n, f := p.number()
		if f != nil {
			return nil, f
		}
		return n, nil
	case c == 't':
		return true, p.literal("true")
	case c == 'f':
		return false, p.literal("false")
	case c == 'n':
		return nil, p.literal("null")
	}
	return nil, p.fail(RuleSyntax, p.pos)
}

func (p *parser) literal(word string) *failure {
	if string(p.data[p.pos:min(len(p.data), p.pos+len(word))]) != word {
		return p.fail(RuleSyntax, p.pos)
	}
	p.pos += len(word)
	return nil
}

// enter checks the depth limit before the container at p.pos is parsed.
func (p *parser) enter() *failure {
	if p.depth >= p.lim.MaxDepth {
		return p.fail(RuleDepth, p.pos)
	}
	p.depth++
	p.pos++ // '{' or '['
	return nil
}

func (p *parser) object() (any, *failure) {
	if f := p.enter(); f != nil {
		return nil, f
	}
	m := make(map[string]any)
	base := len(p.keys)
	var folded map[string]struct{} // built once the object has many keys
	defer func() { p.keys = p.keys[:base] }()

	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		p.depth--
		return m, nil
	}
	for {
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return nil, p.fail(RuleSyntax, p.pos)
		}
		if len(m) >= p.lim.MaxMembers {
			return nil, p.fail(RuleMembers, p.pos)
		}
		keyOff := p.pos
		k, f := p.str()
		if f != nil {
			return nil, f
		}
		if _, dup := m[k]; dup {
			return nil, p.fail(RuleDuplicateKey, keyOff).in(k)
		}
		if folded == nil && len(p.keys)-base < foldScanMax {
			for _, prev := range p.keys[base:] {
				if strings.EqualFold(prev, k) {
					return nil, p.fail(RuleCaseDuplicateKey, keyOff).in(k)
				}
			}
			p.keys = append(p.keys, k)
		} else {
			if folded == nil {
				folded = make(map[string]struct{}, 2*foldScanMax)
				for _, prev := range p.keys[base:] {
					folded[foldKey(prev)] = struct{}{}
				}
			}
			fk := foldKey(k)
			if _, dup := folded[fk]; dup {
				return nil, p.fail(RuleCaseDuplicateKey, keyOff).in(k)
			}
			folded[fk] = struct{}{}
		}

		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			return nil, p.fail(RuleSyntax, p.pos).in(k)
		}
		p.pos++
		v, f := p.value()
		if f != nil {
			return nil, f.in(k)
		}
		m[k] = v

		p.skipSpace()
		if p.pos >= len(p.data) {
			return nil, p.fail(RuleSyntax, p.pos)
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case '}':
			p.pos++
			p.depth--
			return m, nil
		default:
			return nil, p.fail(RuleSyntax, p.pos)
		}
	}
}

// foldScanMax is how many keys an object compares pairwise with
// strings.EqualFold before it switches to a map of folded keys.
const foldScanMax = 8

// foldKey maps s to a string that is equal for two keys exactly when
// strings.EqualFold holds for them: every rune becomes the smallest rune of
// its simple-folding orbit.
func foldKey(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z':
			r -= 'a' - 'A'
		case r < utf8.RuneSelf:
		default:
			least := r
			for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
				least = min(least, f)
			}
			r = least
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (p *parser) array() (any, *failure) {
	if f := p.enter(); f != nil {
		return nil, f
	}
	a := make([]any, 0)
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		p.depth--
		return a, nil
	}
	for {
		if len(a) >= p.lim.MaxArrayLen {
			p.skipSpace()
			return nil, p.fail(RuleArrayLength, p.pos)
		}
		v, f := p.value()
		if f != nil {
			return nil, f.in(strconv.Itoa(len(a)))
		}
		a = append(a, v)

		p.skipSpace()
		if p.pos >= len(p.data) {
			return nil, p.fail(RuleSyntax, p.pos)
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case ']':
			p.pos++
			p.depth--
			return a, nil
		default:
			return nil, p.fail(RuleSyntax, p.pos)
		}
	}
}

// str parses the string starting at p.pos ('"'). A first pass validates it
// and measures its decoded length against the limit; only then is memory
// allocated and the escapes decoded.
func (p *parser) str() (string, *failure) {
	start := p.pos
	d := p.data
	i := start + 1
	decoded := 0
	escaped := false
	for {
		if decoded > p.lim.MaxStringLen {
			return "", p.fail(RuleStringLength, start)
		}
		if i >= len(d) {
			return "", p.fail(RuleSyntax, i)
		}
		c := d[i]
		switch {
		case c == '"':
			goto done
		case c == '\\':
			escaped = true
			if i+1 >= len(d) {
				return "", p.fail(RuleSyntax, i)
			}
			switch d[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				decoded++
				i += 2
			case 'u':
				r, n, rule := unicodeEscape(d[i:])
				if rule != "" {
					return "", p.fail(rule, i)
				}
				decoded += utf8.RuneLen(r)
				i += n
			default:
				return "", p.fail(RuleSyntax, i)
			}
		case c < 0x20:
			return "", p.fail(RuleSyntax, i)
		case c < utf8.RuneSelf:
			decoded++
			i++
		default:
			r, n := utf8.DecodeRune(d[i:])
			if r == utf8.RuneError && n == 1 {
				return "", p.fail(RuleInvalidUTF8, i)
			}
			decoded += n
			i += n
		}
	}
done:
	p.pos = i + 1
	raw := d[start+1 : i]
	if !escaped {
		return string(raw), nil
	}
	var b strings.Builder
	b.Grow(decoded)
	for j := 0; j < len(raw); {
		c := raw[j]
		if c != '\\' {
			b.WriteByte(c)
			j++
			continue
		}
		switch raw[j+1] {
		case 'u':
			r, n, _ := unicodeEscape(raw[j:])
			b.WriteRune(r)
			j += n
			continue
		case 'b':
			c = '\b'
		case 'f':
			c = '\f'
		case 'n':
			c = '\n'
		case 'r':
			c = '\r'
		case 't':
			c = '\t'
		default: // '"', '\\', '/'
			c = raw[j+1]
		}
		b.WriteByte(c)
		j += 2
	}
	return b.String(), nil
}

// unicodeEscape decodes the \uXXXX escape (or surrogate pair of them) at the
// start of b, returning the rune and the bytes consumed, or a rule.
func unicodeEscape(b []byte) (rune, int, string) {
	r, ok := hex4(b)
	if !ok {
		return 0, 0, RuleSyntax
	}
	switch {
	case r >= 0xDC00 && r <= 0xDFFF:
		return 0, 0, RuleLoneSurrogate
	case r >= 0xD800 && r <= 0xDBFF:
		lo, ok := hex4(b[6:])
		if !ok || lo < 0xDC00 || lo > 0xDFFF {
			return 0, 0, RuleLoneSurrogate
		}
		return 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00), 12, ""
	}
	return r, 6, ""
}

// hex4 decodes `\uXXXX` at the start of b.
func hex4(b []byte) (rune, bool) {
	if len(b) < 6 || b[0] != '\\' || b[1] != 'u' {
		return 0, false
	}
	var r rune
	for _, c := range b[2:6] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

func (p *parser) number() (json.Number, *failure) {
	start := p.pos
	end, rule := scanNumber(p.data[start:], p.lim.MaxNumberLen)
	if rule != "" {
		return "", p.fail(rule, start+end)
	}
	if e := start + end; e < len(p.data) && p.data[e] >= '0' && p.data[e] <= '9' {
		return "", p.fail(RuleSyntax, e) // a leading zero: "01"
	}
	s := string(p.data[start : start+end])
	if _, rule := checkNumber(s); rule != "" {
		return "", p.fail(rule, start)
	}
	p.pos = start + end
	return json.Number(s), nil
}
