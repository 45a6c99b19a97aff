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
		rules: []rule{{
			anchors: []string{"ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"},
			find:    re{re: regexp.MustCompile(`g(?:h[pousr]_[A-Za-z0-9]{36,}|ithub_pat_[A-Za-z0-9_]{22,})\b`), before: afterNonWord}.finder(),
		}},
	},
	{
		name: "slack-token", action: cordon.ActionBlock,
		desc: "Slack token (xoxa-, xoxb-, xoxp-, xoxr-, xoxs-)",
		rules: []rule{{
			anchors: []string{"xoxa-", "xoxb-", "xoxp-", "xoxr-", "xoxs-"},
			find:    re{re: regexp.MustCompile(`xox[abprs]-[0-9A-Za-z][0-9A-Za-z-]{8,}`), before: afterNonWord}.finder(),
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
		desc: `JSON Web Token whose header is JSON with "alg"`,
		rules: []rule{{
			anchors: []string{"eyJ"},
			find:    re{re: regexp.MustCompile(`eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*`), before: afterNonWord, valid: validJWT}.finder(),
		}},
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
			{
				anchors: []string{"System."},
				find:    re{re: regexp.MustCompile(`System\.(?:[A-Z]\w*\.)*[A-Z]\w*Exception\b`), before: afterNonWord}.finder(),
			},
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

// validJWT accepts header.payload.signature when header and payload are
// base64url and the header is a JSON object with a string "alg".
func validJWT(b []byte) bool {
	parts := bytes.SplitN(b, []byte("."), 3)
	if len(parts) != 3 || len(parts[0]) > maxJWTHeader {
		return false
	}
	header, err := base64.RawURLEncoding.DecodeString(string(parts[0]))
	if err != nil {
		return false
	}
	if _, err := base64.RawURLEncoding.DecodeString(string(parts[1])); err != nil {
		return false
	}
	var h map[string]any
	if json.Unmarshal(header, &h) != nil {
		return false
	}
	_, ok := h["alg"].(string)
	return ok
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
