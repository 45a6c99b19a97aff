// Package dlp finds data that must not leave through an API response —
// secrets, keys, tokens, card numbers, IBANs, stack traces and SQL errors —
// and masks the matches whose action is redact.
//
// # Detectors
//
// Built-in detectors, by stable name, with their default action:
//
//	aws-access-key-id        block   AKIA/ASIA/ABIA/ACCA/A3T… key ids (20 chars, base32)
//	aws-secret-access-key    block   40-char secret after an aws_secret_access_key-like key
//	gcp-service-account-key  block   "private_key_id": "<40 hex>" of a service-account key file
//	gcp-api-key              block   AIza… API keys (39 chars)
//	github-token             block   ghp_ gho_ ghu_ ghs_ ghr_ and github_pat_ tokens
//	slack-token              block   xoxa- xoxb- xoxp- xoxr- xoxs- tokens
//	slack-webhook            block   https://hooks.slack.com/services|workflows|triggers/… URLs
//	generic-bearer-token     block   "Bearer <20+ chars with a letter and a digit>" in text
//	jwt                      block   header.payload.signature whose header is JSON with "alg"
//	private-key              block   -----BEGIN … PRIVATE KEY----- through its END line
//	card-number              redact  13-19 digits (groups of 3-6 split by one space or dash),
//	                                 Luhn-valid, with a known IIN prefix and length
//	iban                     redact  country code, check digits, BBAN of the country's length
//	                                 (compact or in groups of four), mod-97 verified
//	stack-trace-java         block   "at pkg.Class.method(File.java:12)" frames,
//	                                 "Exception in thread", "Caused by: x.y.FooException"
//	stack-trace-python       block   "Traceback (most recent call last):", "File "x.py", line 3, in f"
//	stack-trace-go           block   "goroutine 1 [running]:", "panic: " at a line start, "x.go:12 +0x1d" frames
//	stack-trace-dotnet       block   "at X.Y() in C:\…:line 12", System.*Exception, "--- End of … stack trace"
//	sql-error                block   MySQL, PostgreSQL, Oracle, SQL Server, SQLite and JDBC/PDO error texts
//
// Config overrides an action by name, disables detectors by name (unknown
// names are errors) and adds operator patterns in RE2 syntax (linear time,
// no catastrophic backtracking). A pattern with capture groups reports the
// first group that took part in the match, so context can be matched
// without being masked: `(?i)password"\s*:\s*"([^"]+)"`.
//
// # Matching
//
// Detectors run on the raw bytes of any body (JSON or text). Every
// built-in rule has literal anchors; one Aho-Corasick pass over the body
// (case-insensitive, a dense DFA on byte classes) tells which rules can
// match, and only those run, so a body with no anchor costs that one pass
// plus the card and IBAN scanners, which probe every 13th (15th) byte.
// Regular expressions start with a literal where they can (regexp then
// skips to it), avoid large bounded repetitions (which keep one NFA thread
// per count alive), check a leading \b or ^ in code, and match only a
// fixed-length head of long tokens, whose rest is taken in code;
// case-insensitive ones run anchored at each occurrence of their anchor.
// JWTs, .NET frames (read backwards from ":line N") and System.*Exception
// names are parsed by hand. All work is linear in the body: about 250 MB/s
// on a clean JSON body and 10-20 MB/s on 64 KB bodies crafted to be dense
// with anchors or matches (2-core machine, see BenchmarkScanAdversarial).
// Custom patterns run their RE2 expression over the whole body (linear,
// but slower without a literal prefix).
//
// Matches are reported for the secret itself, not its context (the value
// after "aws_secret_access_key", the token after "Bearer"). Overlapping
// matches are resolved to a non-overlapping list sorted by Start: of two
// overlapping matches the one with the stronger action (block > redact >
// report) is kept, else the earlier (then longer) one.
//
// Known blind spot: a secret written with \u escapes inside a JSON string
// ("\u0041KIA…") is not decoded before matching.
//
// # Redaction
//
// Redact returns a copy of the body, of the same length, with every byte of
// every redact match replaced by '*'. Card numbers keep their last four
// digits (and their separators). When the body is valid JSON, redaction
// keeps it valid JSON:
//   - inside strings, '"' and '\\' are never touched, two-character escapes
//     (\n, \", \/ …) are kept intact and a \uXXXX escape (or surrogate pair)
//     that is part of a match becomes \u002a ('*');
//   - in number tokens digits become '0' (the leading digit is kept when the
//     integer part has more than one digit);
//   - structure between tokens is never touched.
//
// Any other body is masked as if it were the inside of one JSON string,
// which keeps JSON embedded in text (NDJSON, HTML) as intact as possible.
// A multi-byte UTF-8 character touched by a match is masked whole.
//
// This package is pure (no I/O) and imports only the standard library and
// the root package. It reads attacker-influenced bytes (upstream responses):
// it is fuzzed, and all its work is linear in the body size.
package dlp
