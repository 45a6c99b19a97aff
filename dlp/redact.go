package dlp

import (
	"cmp"
	"encoding/json"
	"slices"
	"unicode/utf8"

	"github.com/cordon-gateway/cordon"
)

// Redact returns a copy of body, of the same length, in which every match
// of ms whose Action is ActionRedact is masked as the package comment
// describes. Matches are clamped to the body; their order does not matter.
func (s *Scanner) Redact(body []byte, ms []Match) []byte {
	out := make([]byte, len(body))
	copy(out, body)
	masks := s.masks(body, ms)
	if len(masks) == 0 {
		return out
	}
	if json.Valid(body) {
		maskJSON(out, masks)
	} else {
		maskText(out, 0, len(out), masks)
	}
	return out
}

// masks turns the redact matches into sorted, merged byte ranges to mask,
// leaving out the digits a detector keeps.
func (s *Scanner) masks(body []byte, ms []Match) []span {
	var out []span
	for _, m := range ms {
		if m.Action != cordon.ActionRedact {
			continue
		}
		start, end := max(m.Start, 0), min(m.End, len(body))
		if start >= end {
			continue
		}
		keep := s.keep[m.Detector]
		if keep == 0 {
			out = append(out, span{start, end})
			continue
		}
		// Mask the digits before the last keep digits; leave separators.
		last := end
		for n := 0; last > start && n < keep; {
			last--
			if isDigit(body[last]) {
				n++
			}
		}
		for i := start; i < last; i++ {
			if isDigit(body[i]) {
				out = append(out, span{i, i + 1})
			}
		}
	}
	if len(out) == 0 {
		return nil
	}
	slices.SortFunc(out, func(a, b span) int { return cmp.Compare(a.start, b.start) })
	merged := out[:1]
	for _, r := range out[1:] {
		last := &merged[len(merged)-1]
		if r.start <= last.end {
			last.end = max(last.end, r.end)
			continue
		}
		merged = append(merged, r)
	}
	return merged
}

// cursor answers "does [start, end) touch a mask?" for non-decreasing start.
type cursor struct {
	masks []span
	k     int
}

func (c *cursor) touches(start, end int) bool {
	for c.k < len(c.masks) && c.masks[c.k].end <= start {
		c.k++
	}
	return c.k < len(c.masks) && c.masks[c.k].start < end
}

func (c *cursor) done() bool { return c.k >= len(c.masks) }

// maskJSON masks b, valid JSON, token-aware: string contents through
// maskString, digits in number tokens to '0', structure never.
func maskJSON(b []byte, masks []span) {
	cur := cursor{masks: masks}
	for i := 0; i < len(b) && !cur.done(); {
		switch c := b[i]; {
		case c == '"':
			end := stringEnd(b, i+1)
			maskString(b, i+1, end, &cur)
			i = end + 1
		case c == '-' || isDigit(c):
			end := i
			for end < len(b) && isNumberByte(b[end]) {
				end++
			}
			maskNumber(b, i, end, &cur)
			i = end
		default:
			i++
		}
	}
}

func isNumberByte(c byte) bool {
	return isDigit(c) || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'
}

// stringEnd returns the index of the closing quote of the valid JSON
// string whose contents start at i.
func stringEnd(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case '"':
			return i
		case '\\':
			i += 2
		default:
			i++
		}
	}
	return len(b)
}

// maskNumber zeroes masked digits of the number token b[start:end],
// keeping its first digit when the integer part has more than one (a
// leading zero would not be JSON).
func maskNumber(b []byte, start, end int, cur *cursor) {
	first := start
	if b[first] == '-' {
		first++
	}
	keepFirst := first+1 < end && isDigit(b[first+1])
	for i := start; i < end; i++ {
		if !isDigit(b[i]) || i == first && keepFirst {
			continue
		}
		if cur.touches(i, i+1) {
			b[i] = '0'
		}
	}
}

// maskText masks b[start:end] as the contents of a JSON string.
func maskText(b []byte, start, end int, masks []span) {
	cur := cursor{masks: masks}
	maskString(b, start, end, &cur)
}

// maskString masks the masked units of b[start:end]: a UTF-8 character
// becomes as many '*'; a \uXXXX escape (or surrogate pair) becomes \u002a
// (twice); '"', '\\' and two-character escapes are kept.
func maskString(b []byte, start, end int, cur *cursor) {
	for i := start; i < end && !cur.done(); {
		c := b[i]
		switch {
		case c == '"':
			i++
		case c == '\\' && i+1 < end && b[i+1] == 'u' && isHexEscape(b[i:end]):
			n := 6
			if isHighSurrogate(b[i:end]) && i+12 <= end && b[i+6] == '\\' && b[i+7] == 'u' && isHexEscape(b[i+6:end]) {
				n = 12
			}
			if cur.touches(i, i+n) {
				for j := i; j < i+n; j += 6 {
					copy(b[j:], `\u002a`)
				}
			}
			i += n
		case c == '\\':
			i += 2 // kept: '\\' and the escaped character
		default:
			_, n := utf8.DecodeRune(b[i:end])
			if cur.touches(i, i+n) {
				for j := i; j < i+n; j++ {
					b[j] = '*'
				}
			}
			i += n
		}
	}
}

func isHexEscape(b []byte) bool {
	if len(b) < 6 {
		return false
	}
	for _, c := range b[2:6] {
		if !isDigit(c) && (c|0x20 < 'a' || c|0x20 > 'f') {
			return false
		}
	}
	return true
}

// isHighSurrogate reports whether the \uXXXX escape at b is D800-DBFF.
func isHighSurrogate(b []byte) bool {
	c := b[3] | 0x20
	return b[2]|0x20 == 'd' && (c == '8' || c == '9' || c == 'a' || c == 'b')
}
