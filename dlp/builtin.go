package dlp

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"regexp"

	"github.com/cordon-gateway/cordon"
)

// builtins are the built-in detectors in the order they run. Their
// regular expressions are constants compiled once, at package load. Each
// starts with a literal where it can (regexp then skips to it with a fast
// substring search); a leading \b or ^ is checked in code instead, since it
// would defeat that.
var builtins = []detector{
	{
		name: "aws-access-key-id", action: cordon.ActionBlock,
		desc: "AWS access key id (AKIA…, ASIA…)",
		rules: []rule{{
			anchors: []string{"AKIA", "ASIA", "ABIA", "ACCA", "A3T"},
			find:    re{re: regexp.MustCompile(`A(?:KIA|SIA|BIA|CCA|3T[A-Z0-9])[A-Z2-7]{16}\b`), before: afterNonWord}.finder(),
		}},
	},
	{
		name: "aws-secret-access-key", action: cordon.ActionBlock,
		desc: "AWS secret access key after an aws_secret_access_key-like name",
		// The value may be JSON-escaped ("\/" for "/", once per level of
		// JSON in JSON), so the 40 characters are counted, not the bytes.
		rules: []rule{
			{
				anchors: []string{"secret"},
				find: re{
					re:     regexp.MustCompile(`^(?i:secret[_-]?access[_-]?key)` + awsSecretValue),
					atFold: "secret", maxLen: 1024,
				}.finder(),
			},
			{
				anchors: []string{"secret"},
				find: re{
					re:     regexp.MustCompile(`^(?i:secret[_-]?key)` + awsSecretValue),
					before: afterAWS,
					atFold: "secret", maxLen: 1024,
				}.finder(),
			},
		},
	},
	{
		name: "gcp-service-account-key", action: cordon.ActionBlock,
		desc: "Google Cloud service-account key file (private_key_id)",
		rules: []rule{{
			anchors: []string{"private_key_id"},
			find:    re{re: regexp.MustCompile(`private_key_id\\*"\s*:\s*\\*"([0-9a-f]{40})\\*"`)}.finder(),
		}},
	},
	{
		name: "gcp-api-key", action: cordon.ActionBlock,
		desc: "Google Cloud API key (AIza…)",
		rules: []rule{{
			anchors: []string{"AIza"},
			find:    re{re: regexp.MustCompile(`(AIza[0-9A-Za-z_-]{35})(?:[^0-9A-Za-z_-]|$)`), before: afterNonWord}.finder(),
		}},
	},
	{
		name: "github-token", action: cordon.ActionBlock,
		desc: "GitHub token (ghp_, gho_, ghu_, ghs_, ghr_, github_pat_)",
		// The regexps match a fixed-length head and the rest of the token
		// is taken in code: a regexp NFA stepping through long tokens is
		// slow.
		rules: []rule{
			{
				anchors: []string{"ghp_", "gho_", "ghu_", "ghs_", "ghr_"},
				find:    re{re: regexp.MustCompile(`gh[pousr]_[A-Za-z0-9]{36}`), before: afterNonWord, extendRight: isAlnum}.finder(),
			},
			{
				anchors: []string{"github_pat_"},
				find:    re{re: regexp.MustCompile(`github_pat_[A-Za-z0-9_]{22}`), before: afterNonWord, extendRight: isWord}.finder(),
			},
		},
	},
	{
		name: "slack-token", action: cordon.ActionBlock,
		desc: "Slack token (xoxa-, xoxb-, xoxp-, xoxr-, xoxs-)",
		rules: []rule{{
			anchors: []string{"xoxa-", "xoxb-", "xoxp-", "xoxr-", "xoxs-"},
			find:    re{re: regexp.MustCompile(`xox[abprs]-[0-9A-Za-z][0-9A-Za-z-]{8}`), before: afterNonWord, extendRight: isSlackByte}.finder(),
		}},
	},
	{
		name: "slack-webhook", action: cordon.ActionBlock,
		desc: "Slack incoming-webhook URL",
		rules: []rule{{
			anchors: []string{"hooks.slack.com"},
			find:    re{re: regexp.MustCompile(`https:\\*/\\*/hooks\.slack\.com\\*/(?:services|workflows|triggers)(?:\\*/[A-Za-z0-9_+-]+){2,4}`)}.finder(),
		}},
	},
	{
		name: "generic-bearer-token", action: cordon.ActionBlock,
		desc: `bearer token in text ("Bearer <token>")`,
		rules: []rule{{
			anchors: []string{"bearer"},
			find: re{
				re:          regexp.MustCompile(`^(?i:bearer)[ \t]+([A-Za-z0-9\-._~+/]{20})`),
				before:      afterNonWord,
				extendRight: isTokenByte,
				valid:       letterAndDigit,
				atFold:      "bearer", maxLen: 1024,
			}.finder(),
		}},
	},
	{
		name: "jwt", action: cordon.ActionBlock,
		desc:  `JSON Web Token whose header is JSON with "alg"`,
		rules: []rule{{anchors: []string{"eyJ"}, find: findJWTs}},
	},
	{
		name: "private-key", action: cordon.ActionBlock,
		desc:  "PEM or OpenSSH private key",
		rules: []rule{{anchors: []string{"PRIVATE KEY"}, find: findPrivateKeys}},
	},
	{
		name: "card-number", action: cordon.ActionRedact,
		desc:       "payment card number (Luhn, known IIN prefix and length)",
		rules:      []rule{{find: findCards}},
		keepDigits: 4,
	},
	{
		name: "iban", action: cordon.ActionRedact,
		desc:  "IBAN (country length, mod-97 check)",
		rules: []rule{{find: findIBANs}},
	},
	{
		name: "stack-trace-java", action: cordon.ActionBlock,
		desc: "Java/JVM stack trace",
		rules: []rule{
			{
				anchors: []string{".java:", ".kt:", ".scala:", ".groovy:", "Native Meth", "Unknown Sou"},
				find: re{
					re:     regexp.MustCompile(`at [A-Za-z_$][\w$]*(?:[./][\w$<>-]+)+\((?:[\w$.-]+\.(?:java|kt|scala|groovy):\d+|Native Method|Unknown Source)\)`),
					before: afterNonWordOrEscape,
				}.finder(),
			},
			lit(`Exception in thread \\*"[^"\\\n]*\\*"`, "in thread"),
			lit(`Caused by: [a-z][\w$]*(?:\.[\w$]+)+(?:Exception|Error)\b`, "Caused by: "),
		},
	},
	{
		name: "stack-trace-python", action: cordon.ActionBlock,
		desc: "Python traceback",
		rules: []rule{
			lit(`Traceback \(most recent call last\):`, "Traceback (m"),
			lit(`File \\*"[^"\n]+?\.py\\*", line \d+, in [\w<>.]+`, `", line `),
		},
	},
	{
		name: "stack-trace-go", action: cordon.ActionBlock,
		desc: "Go panic or goroutine dump",
		rules: []rule{
			lit(`goroutine \d+ \[[a-zA-Z ,0-9]+\]:`, "goroutine "),
			{
				anchors: []string{"panic: "},
				find: re{
					re:     regexp.MustCompile(`^panic: [^\n\\"]{1,256}`),
					before: atLineStart,
					atFold: "panic: ", maxLen: 512,
				}.finder(),
			},
			{
				anchors: []string{".go:"},
				find:    re{re: regexp.MustCompile(`\.go:\d+ \+0x[0-9a-f]+`), extendLeft: isPathByte}.finder(),
			},
		},
	},
	{
		name: "stack-trace-dotnet", action: cordon.ActionBlock,
		desc: ".NET stack trace or exception",
		rules: []rule{
			{anchors: []string{":line "}, find: findDotnetFrames},
			{anchors: []string{"System."}, find: findDotnetExceptions},
			lit(`--- End of (?:inner exception )?stack trace(?: from previous location)?(?: where exception was thrown)? ---`, "--- End of "),
		},
	},
	{
		name: "sql-error", action: cordon.ActionBlock,
		desc: "database error text (MySQL, PostgreSQL, Oracle, SQL Server, SQLite, JDBC, PDO)",
		rules: []rule{
			lit(`You have an error in your SQL syntax`, "r in your SQL"),
			{
				anchors: []string{"ORA-"},
				find:    re{re: regexp.MustCompile(`ORA-\d{5}\b`), before: afterNonWord}.finder(),
			},
			lit(`PG::[A-Z]\w*(?:Error|Exception|Violation)\b`, "PG::"),
			lit(`SQLSTATE\[\w{0,5}\]`, "SQLSTATE["),
			lit(`psql: (?:ERROR|FATAL):`, "psql: "),
			lit(`unterminated quoted string`, "unterminated q"),
			lit(`Unclosed quotation mark after the character string`, "Unclosed quot"),
			lit(`syntax error at or near`, "error at or n"),
			lit(`SQLite3::SQLException`, "SQLite3::"),
			{
				anchors: []string{"sqlite3."},
				find:    re{re: regexp.MustCompile(`sqlite3\.(?:OperationalError|IntegrityError|ProgrammingError|DatabaseError)\b`), before: afterNonWord}.finder(),
			},
			lit(`org\.postgresql\.util\.PSQLException`, "PSQLExcept"),
			{
				anchors: []string{"java.sql.SQL"},
				find:    re{re: regexp.MustCompile(`java\.sql\.SQL\w*Exception\b`), before: afterNonWord}.finder(),
			},
			lit(`Microsoft OLE DB Provider for (?:SQL Server|ODBC Drivers)`, "OLE DB Prov"),
			lit(`\[Microsoft\]\[ODBC`, "][ODBC"),
			lit(`Warning: (?:mysql|mysqli|pg|oci|sqlite)_\w+\(`, "Warning: "),
			lit(`SqlException \(0x[0-9A-Fa-f]+\)`, "Exception (0x"),
		},
	},
}

// awsSecretValue follows the key name: separators, then the 40-character
// value.
const awsSecretValue = `\\*["']?\s*[:=]\s*\\*["']?((?:[A-Za-z0-9+]|\\*/){40})(?:[^A-Za-z0-9+/=]|$)`

// afterAWS: "secret_key" counts only as "aws_secret_key" (or AWSSecretKey).
func afterAWS(b []byte, i int) bool {
	if i >= 1 && (b[i-1] == '_' || b[i-1] == '-') {
		i--
	}
	return i >= 3 && equalFoldASCII(b[i-3:i], "aws") && afterNonWord(b, i-3)
}

// isTokenByte: RFC 6750 b64token characters.
func isTokenByte(c byte) bool {
	return isWord(c) || c == '-' || c == '.' || c == '~' || c == '+' || c == '/' || c == '='
}

// maxDotnetFrame bounds how far back from ":line N" a .NET frame
// ("at Ns.Type.Method(args) in path:line N") is looked for.
const maxDotnetFrame = 1024

// findDotnetFrames finds ":line N" and reads the frame backwards: the
// nearest ") in " with no line break or quote after it, the '(' that opens
// the arguments, the method name, and "at " after a non-word byte. Each
// backward search stops at the previous ":line ", so the work is linear.
func findDotnetFrames(b []byte, emit func(int, int)) {
	prev := 0
	for off := 0; ; {
		i := bytes.Index(b[off:], []byte(":line "))
		if i < 0 {
			return
		}
		p := off + i
		off = p + len(":line ")
		lo := max(prev, p-maxDotnetFrame)
		prev = p
		end := off
		for end < len(b) && isDigit(b[end]) {
			end++
		}
		if end == off {
			continue
		}
		k := bytes.LastIndex(b[lo:p], []byte(") in "))
		if k < 0 || bytes.ContainsAny(b[lo+k+5:p], "\n\"") {
			continue
		}
		k += lo
		j := bytes.LastIndexAny(b[lo:k], "()\n")
		if j < 0 || b[lo+j] != '(' {
			continue
		}
		j += lo
		m := j
		for m > lo && isMethodByte(b[m-1]) {
			m--
		}
		if m == j || m-3 < lo || string(b[m-3:m]) != "at " || !afterNonWord(b, m-3) {
			continue
		}
		emit(m-3, end)
	}
}

func isMethodByte(c byte) bool {
	return isWord(c) || c == '.' || c == '<' || c == '>' || c == '`' || c == '+' || c == '[' || c == ']'
}

// lit is a rule whose regexp contains the literal anchor in every match.
// Anchors are short (a distinctive part of the literal is enough), which
// keeps the prefilter's table small.
func lit(expr, anchor string) rule {
	return rule{anchors: []string{anchor}, find: re{re: regexp.MustCompile(expr)}.finder()}
}

func isAlnum(c byte) bool     { return isWord(c) && c != '_' }
func isSlackByte(c byte) bool { return isAlnum(c) || c == '-' }

func isPathByte(c byte) bool { return isWord(c) || c == '.' || c == '/' || c == '-' }

// letterAndDigit keeps bearer tokens apart from prose ("Bearer
// authentication"): a token has at least one letter and one digit.
func letterAndDigit(b []byte) bool {
	letter, digit := false, false
	for _, c := range b {
		switch {
		case isDigit(c):
			digit = true
		case c >= 'a' && c <= 'z' || isUpper(c):
			letter = true
		}
	}
	return letter && digit
}

// maxJWTHeader bounds the header the jwt detector decodes.
const maxJWTHeader = 2048

func isBase64URL(c byte) bool { return isAlnum(c) || c == '-' || c == '_' }

func base64URLRun(b []byte, i int) int {
	for i < len(b) && isBase64URL(b[i]) {
		i++
	}
	return i
}

// findJWTs reads header.payload.signature at each "eyJ" not inside a word:
// three base64url runs joined by dots, the last possibly empty (alg none).
// After a failure the search resumes past the first dot (or the run), so
// each byte is read a bounded number of times.
func findJWTs(b []byte, emit func(int, int)) {
	for off := 0; ; {
		i := bytes.Index(b[off:], []byte("eyJ"))
		if i < 0 {
			return
		}
		p := off + i
		if !afterNonWord(b, p) {
			off = p + 3
			continue
		}
		e1 := base64URLRun(b, p)
		if e1 >= len(b) || b[e1] != '.' {
			off = e1 // any "eyJ" later in this run ends at the same place
			continue
		}
		off = e1 + 1
		e2 := base64URLRun(b, e1+1)
		if e2 == e1+1 || e2 >= len(b) || b[e2] != '.' {
			continue
		}
		e3 := base64URLRun(b, e2+1)
		if validJWT(b[p:e1], b[e1+1:e2]) {
			emit(p, e3)
			off = e3
		}
	}
}

// validJWT accepts a header that is base64url of a JSON object with a
// string "alg", and a payload of a valid unpadded base64 length.
func validJWT(header, payload []byte) bool {
	if len(header) > maxJWTHeader || len(payload)%4 == 1 {
		return false
	}
	h, err := base64.RawURLEncoding.DecodeString(string(header))
	if err != nil {
		return false
	}
	var m map[string]any
	if json.Unmarshal(h, &m) != nil {
		return false
	}
	_, ok := m["alg"].(string)
	return ok
}

// findDotnetExceptions finds System.[Namespace.]*NameException: at each
// "System." not inside a word, the run of word characters and dots, cut
// after the first segment ending in "Exception"; every segment starts
// upper-case. The search resumes after the run.
func findDotnetExceptions(b []byte, emit func(int, int)) {
	const prefix = "System."
	for off := 0; ; {
		i := bytes.Index(b[off:], []byte(prefix))
		if i < 0 {
			return
		}
		p := off + i
		e := p + len(prefix)
		for e < len(b) && (isWord(b[e]) || b[e] == '.') {
			e++
		}
		off = e
		if !afterNonWord(b, p) {
			continue
		}
		run := b[p+len(prefix) : e]
		for k := 0; ; {
			j := bytes.Index(run[k:], []byte("Exception"))
			if j < 0 {
				break
			}
			end := k + j + len("Exception")
			if end == len(run) || run[end] == '.' {
				if upperSegments(run[:end]) {
					emit(p, p+len(prefix)+end)
				}
				break
			}
			k = end
		}
	}
}

// upperSegments: every dot-separated segment is non-empty and starts with
// an upper-case letter.
func upperSegments(b []byte) bool {
	for _, seg := range bytes.Split(b, []byte(".")) {
		if len(seg) == 0 || !isUpper(seg[0]) {
			return false
		}
	}
	return true
}

var pemBegin = regexp.MustCompile(`-----BEGIN ((?:[A-Z0-9]+ ){0,3})PRIVATE KEY(?: BLOCK)?-----`)

// maxPEM bounds how far a private key's END line is looked for.
const maxPEM = 64 << 10

// findPrivateKeys reports each BEGIN line through its END line; without
// an END line before the next BEGIN and within maxPEM bytes (a truncated
// key), through the base64 body that follows. The END lines are searched for once, front to back,
// so many BEGIN lines without an END cost linear time.
func findPrivateKeys(body []byte, emit func(int, int)) {
	// nextEnd is the first "-----END " after the last search's start, or
	// len(body) when there is none (and so none after any later BEGIN).
	nextEnd, searched := 0, false
	locs := pemBegin.FindAllIndex(body, -1)
	for k, loc := range locs {
		start, end := loc[0], loc[1]
		if !searched || nextEnd < end {
			searched = true
			nextEnd = len(body)
			if i := bytes.Index(body[end:], []byte("-----END ")); i >= 0 {
				nextEnd = end + i
			}
		}
		// An END after the next BEGIN belongs to that key, not this one.
		if nextEnd < len(body) && nextEnd-end <= maxPEM && (k+1 == len(locs) || nextEnd < locs[k+1][0]) {
			label := body[nextEnd+9 : min(len(body), nextEnd+9+maxPEMLabel)]
			if j := bytes.Index(label, []byte("-----")); j >= 0 {
				emit(start, nextEnd+9+j+5)
				continue
			}
		}
		emit(start, end+pemBodyLen(body[end:min(len(body), end+maxPEM)]))
	}
}

// maxPEMLabel bounds the label of an END line ("RSA PRIVATE KEY").
const maxPEMLabel = 64

// pemBodyLen is the length of the base64 text (with raw or JSON-escaped
// line breaks inside) at the start of b.
func pemBodyLen(b []byte) int {
	i, last := 0, 0
	for i < len(b) {
		c := b[i]
		switch {
		case isWord(c) && c != '_', c == '+', c == '/', c == '=':
			i++
			last = i
		case c == '\r', c == '\n', c == ' ', c == '\t':
			i++
		case c == '\\' && i+1 < len(b) && (b[i+1] == 'n' || b[i+1] == 'r' || b[i+1] == '/'):
			i += 2
			if b[i-1] == '/' {
				last = i
			}
		default:
			return last
		}
	}
	return last
}
