// Package jsonstrict is the one strict JSON parser in front of schema
// validation. encoding/json (v1) accepts duplicate keys (last wins), matches
// keys case-insensitively, replaces invalid UTF-8 and lone surrogates with
// U+FFFD and tolerates trailing data behind a Decoder: a body it parses can
// mean one thing to the validator and another to the upstream. Parse refuses
// every such ambiguity, so that what the validator checked is exactly what
// encoding/json (or any other sane parser) will see in the canonical bytes
// produced by AppendCanonical.
//
// # Rules
//
// Parse fails with an *Error whose Rule is one of these stable ids:
//
//	json.syntax              not RFC 8259 JSON (raw control character in a string,
//	                         leading zero, bad escape, BOM, empty input, ...)
//	json.duplicate-key       the same key twice in one object
//	json.case-duplicate-key  two keys of one object equal under strings.EqualFold
//	                         (Unicode simple folding: "id"/"ID", "k"/"\u212a")
//	json.invalid-utf8        a string (or key) that is not valid UTF-8
//	json.lone-surrogate      a \uD800-\uDFFF escape not part of a valid pair
//	json.trailing-data       anything but whitespace after the value
//	json.number-overflow     a number beyond the float64 range (1e400)
//	json.number-precision    a number float64 cannot hold exactly (see below)
//	json.depth               nesting deeper than Limits.MaxDepth
//	json.members             an object with more than Limits.MaxMembers members
//	json.array-length        an array with more than Limits.MaxArrayLen elements
//	json.string-length       a string or key longer than Limits.MaxStringLen
//	                         bytes once decoded
//	json.number-length       a number literal longer than Limits.MaxNumberLen bytes
//	json.size                input longer than Limits.MaxBytes
//
// AppendCanonical additionally uses json.unsupported-type for a Go value
// that has no JSON form (and the rules above for invalid strings, numbers
// and over-deep values).
//
// Error.Pointer is an RFC 6901 JSON pointer to the value that failed ("" is
// the whole document); for an error inside a key it points at the object.
// Error.Offset is the byte offset of the offending token.
//
// # Numbers
//
// Every number must mean the same thing to a float64 parser (Go, JavaScript)
// and to an arbitrary-precision one (Python, Java BigDecimal):
//   - an integer literal (no fraction, no exponent) must satisfy
//     |n| <= 2^53, where every integer is exact in float64;
//   - any other literal must be numerically equal to the shortest decimal
//     representation of the float64 nearest to it: 0.1 and 1.5e300 pass,
//     0.1000000000000000000001 and 9007199254740993.0 do not, and a non-zero
//     literal that underflows to zero fails too;
//   - a literal beyond the float64 range is json.number-overflow.
//
// Parse returns numbers as json.Number holding the literal exactly as
// written, as encoding/json with UseNumber would.
//
// # Canonical form
//
// AppendCanonical writes no insignificant whitespace, object members sorted
// by key in byte order (not UTF-16 order as RFC 8785 does), strings with
// minimal escaping (only '"', '\\' and control characters: \b \f \n \r \t
// and \u00xx in lower-case hex for the rest; '<', '>', '&', U+2028 and
// U+2029 are written raw, because the canonical bytes go to an API upstream,
// never into HTML), and numbers as:
//   - integers (any number whose value is integral and |v| <= 2^53) in plain
//     decimal, -0 as 0;
//   - other values in [1e-6, 2^53) as the shortest decimal that round-trips
//     through float64, without exponent (0.1, 1234.5);
//   - everything else in shortest exponent form without '+' or leading
//     exponent zeros (1e21, 1.5e-7, -2.5e300).
//
// The canonical bytes are themselves accepted by Parse, and AppendCanonical
// is idempotent on them. AppendCanonical does not repeat Parse's key
// case-folding check on hand-built maps.
//
// # Limits
//
// Limits are checked before the work they bound: the input size before
// anything, nesting depth before recursing, member and element counts before
// parsing the next one, string and number lengths while scanning and before
// allocating. A zero (or negative) limit means the safe default.
//
// This package is pure (no I/O) and imports only the standard library. It
// parses attacker-controlled bytes: it is fuzzed, with a differential
// target against encoding/json.
package jsonstrict
