package policy

import (
	"strings"
	"unicode/utf8"

	"github.com/cordon-gateway/cordon"
)

// Path normalisation is decided once, here, and the router, the parameter
// checks and the upstream all see its result:
//
//   - the path must start with "/" and contain only RFC 3986 path
//     characters ("pchar" and "/") or percent escapes; raw spaces, quotes,
//     angle brackets, backslashes, non-ASCII and control bytes are rejected;
//   - every "%" must start a valid escape; escapes of "/" (%2F), "." (%2E),
//     "\" (%5C) and of control characters (%00-%1F, %7F) are rejected;
//   - "." and ".." segments are rejected, and so are empty segments other
//     than a trailing one ("//" is rejected, not merged: merging would make
//     two spellings of one resource and hide probing);
//   - each segment is percent-decoded and must be valid UTF-8;
//   - the canonical form re-escapes every decoded segment with upper-case
//     hex, leaving only unreserved characters and ":@!$&'()*,=" raw (";" and
//     "+" are always escaped so no upstream can read them as path parameters
//     or spaces).
//
// The canonical path is what the upstream receives, and its segments are
// exactly the values that were validated.

// NormalizePath checks an escaped request path and returns its canonical
// escaped form and its decoded segments ("/" has one empty segment, "/a/"
// has "a" and ""). On failure it returns a *cordon.Error of KindInvalid whose
// Rule starts with "request.path.".
func NormalizePath(escaped string) (canonical string, segs []string, err error) {
	if escaped == "" || escaped[0] != '/' {
		return "", nil, pathError("request.path.relative")
	}
	n := strings.Count(escaped, "/")
	segs = make([]string, 0, n)
	clean := true // the input is already canonical: reuse it
	start := 1
	for i := 1; i <= len(escaped); i++ {
		if i < len(escaped) && escaped[i] != '/' {
			continue
		}
		raw := escaped[start:i]
		last := i == len(escaped)
		seg, same, perr := decodeSegment(raw)
		if perr != nil {
			return "", nil, perr
		}
		switch {
		case raw == "" && !last:
			return "", nil, pathError("request.path.duplicate-slash")
		case seg == "." || seg == "..":
			return "", nil, pathError("request.path.dot-segment")
		}
		clean = clean && same
		segs = append(segs, seg)
		start = i + 1
	}
	if clean {
		return escaped, segs, nil
	}
	var b strings.Builder
	b.Grow(len(escaped) + 8)
	for _, s := range segs {
		b.WriteByte('/')
		appendEscapedSegment(&b, s)
	}
	return b.String(), segs, nil
}

func pathError(rule string) *cordon.Error {
	return &cordon.Error{Op: opRequest, Kind: cordon.KindInvalid, Rule: rule, Pointer: "path"}
}

// decodeSegment percent-decodes one raw segment. same reports whether the
// raw form is already the canonical escaping of the result.
func decodeSegment(raw string) (seg string, same bool, err *cordon.Error) {
	same = true
	escapes := false
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c == '%':
			if i+2 >= len(raw) || !isHex(raw[i+1]) || !isHex(raw[i+2]) {
				return "", false, pathError("request.path.bad-escape")
			}
			v := unhex(raw[i+1])<<4 | unhex(raw[i+2])
			switch {
			case v == '/':
				return "", false, pathError("request.path.encoded-slash")
			case v == '.':
				return "", false, pathError("request.path.encoded-dot")
			case v == '\\':
				return "", false, pathError("request.path.backslash")
			case v < 0x20 || v == 0x7f:
				return "", false, pathError("request.path.control")
			}
			if !needsSegmentEscape(v) || isLowerHex(raw[i+1]) || isLowerHex(raw[i+2]) {
				same = false
			}
			escapes = true
			i += 2
		case c == '\\':
			return "", false, pathError("request.path.backslash")
		case c < 0x20 || c == 0x7f:
			return "", false, pathError("request.path.control")
		case !isPathChar(c):
			return "", false, pathError("request.path.invalid-char")
		case needsSegmentEscape(c):
			same = false // raw ";" or "+": legal, but escaped canonically
		}
	}
	if !escapes {
		return raw, same, nil
	}
	b := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		if raw[i] == '%' {
			b = append(b, unhex(raw[i+1])<<4|unhex(raw[i+2]))
			i += 2
			continue
		}
		b = append(b, raw[i])
	}
	if !utf8.Valid(b) {
		return "", false, pathError("request.path.bad-utf8")
	}
	return string(b), same, nil
}

// isPathChar: RFC 3986 pchar without "%" (handled by the caller).
func isPathChar(c byte) bool {
	return isUnreserved(c) || strings.IndexByte("!$&'()*+,;=:@", c) >= 0
}

func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// needsSegmentEscape reports whether c is escaped in a canonical segment.
func needsSegmentEscape(c byte) bool {
	return !isUnreserved(c) && strings.IndexByte("!$&'()*,=:@", c) < 0
}

func appendEscapedSegment(b *strings.Builder, s string) {
	const hexDigits = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if needsSegmentEscape(c) {
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
			continue
		}
		b.WriteByte(c)
	}
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func isLowerHex(c byte) bool { return 'a' <= c && c <= 'f' }

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}
