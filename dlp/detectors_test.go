package dlp_test

import (
	"encoding/base64"
	"slices"
	"strings"
	"testing"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/dlp"
)

// Secret-looking test data is assembled at run time so that the source
// itself trips no secret scanner.
var (
	awsKeyID     = "AKIA" + "IOSFODNN7EXAMPLE"
	awsSecret    = "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYEXAMPLEKEY"
	gcpAPIKey    = "AIza" + "SyA1bC2dE3fG4hI5jK6lM7nO8pQ9rS0tUvW"
	ghToken      = "ghp_" + strings.Repeat("a1B2c3", 6)
	ghPAT        = "github_pat_" + strings.Repeat("A1b2", 5) + "xy_" + strings.Repeat("Z9y8", 14) + "abc"
	slackToken   = "xoxb-" + "123456789012-1234567890123-" + "AbCdEfGhIjKlMnOpQrStUvWx"
	slackHook    = "https://hooks.slack.com/services/" + "T0000AAAA/B0000BBBB/" + strings.Repeat("Xy", 12)
	slackHookEsc = `https:\/\/hooks.slack.com\/services\/` + `T0000AAAA\/B0000BBBB\/` + strings.Repeat("Xy", 12)
	jwtHeader    = b64(`{"alg":"HS256","typ":"JWT"}`)
	jwtToken     = jwtHeader + "." + b64(`{"sub":"1234567890","name":"John Doe","iat":1516239022}`) + "." + "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
	jwtNone      = b64(`{"alg":"none"}`) + "." + b64(`{"sub":"x"}`) + "."
	gcpKeyID     = "0123456789abcdef" + "0123456789abcdef01234567"
	pemRSA       = "-----BEGIN RSA " + "PRIVATE KEY-----\nMIIEowIBAAKCAQEA0Z3VS5JJcds3xfn/ygWep4PAtGoSo\n-----END RSA PRIVATE KEY-----"
	pemRSAJSON   = `-----BEGIN RSA ` + `PRIVATE KEY-----\nMIIEowIBAAKCAQEA0Z3VS5JJcds3xfn\/ygWep4PAtGoSo\n-----END RSA PRIVATE KEY-----`
	pemTruncated = "-----BEGIN " + "PRIVATE KEY-----\\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC"
)

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// detectorCases: body scanned by a scanner running only detector must
// yield exactly want (the matched texts).
var detectorCases = []struct {
	detector string
	name     string
	body     string
	want     []string
}{
	{"aws-access-key-id", "json", `{"AccessKeyId":"` + awsKeyID + `"}`, []string{awsKeyID}},
	{"aws-access-key-id", "asia", "key ASIA" + "Y34FZKBOKMUTVV7A here", []string{"ASIA" + "Y34FZKBOKMUTVV7A"}},
	{"aws-access-key-id", "non-base32 digits", "AKIA" + "1234567890123456", nil},
	{"aws-access-key-id", "too short", "AKIA" + "IOSFODNN7EXAMPL", nil},
	{"aws-access-key-id", "glued to word", "xAKIA" + "IOSFODNN7EXAMPLE", nil},
	{"aws-access-key-id", "too long", "AKIA" + "IOSFODNN7EXAMPLEX", nil},

	{"aws-secret-access-key", "json", `{"SecretAccessKey": "` + awsSecret + `"}`, []string{awsSecret}},
	{"aws-secret-access-key", "ini", "aws_secret_access_key = " + awsSecret + "\n", []string{awsSecret}},
	{"aws-secret-access-key", "env upper", "AWS_SECRET_ACCESS_KEY=" + awsSecret, []string{awsSecret}},
	{"aws-secret-access-key", "escaped slashes", `{"aws_secret_key":"` + strings.ReplaceAll(awsSecret, "/", `\/`) + `"}`, []string{strings.ReplaceAll(awsSecret, "/", `\/`)}},
	{"aws-secret-access-key", "json in json", `{"config":"{\"aws_secret_access_key\":\"` + awsSecret + `\"}"}`, []string{awsSecret}},
	{"aws-secret-access-key", "no context", `{"value": "` + awsSecret + `"}`, nil},
	{"aws-secret-access-key", "41 chars", `{"SecretAccessKey": "` + awsSecret + `A"}`, nil},
	{"aws-secret-access-key", "39 chars", `{"SecretAccessKey": "` + awsSecret[1:] + `"}`, nil},

	{"gcp-service-account-key", "key file", `{"type": "service_account", "private_key_id": "` + gcpKeyID + `", "private_key": "x"}`, []string{gcpKeyID}},
	{"gcp-service-account-key", "short id", `{"private_key_id": "0123abcd"}`, nil},
	{"gcp-api-key", "url", "https://maps.googleapis.com/maps/api/js?key=" + gcpAPIKey + "&callback=x", []string{gcpAPIKey}},
	{"gcp-api-key", "too short", "key=" + gcpAPIKey[:38], nil},
	{"gcp-api-key", "too long", "key=" + gcpAPIKey + "x", nil},

	{"github-token", "classic", `{"token":"` + ghToken + `"}`, []string{ghToken}},
	{"github-token", "oauth", "gho_" + strings.Repeat("Zz9", 12), []string{"gho_" + strings.Repeat("Zz9", 12)}},
	{"github-token", "fine-grained", "token " + ghPAT + ".", []string{ghPAT}},
	{"github-token", "short", "ghp_" + "abc123", nil},
	{"github-token", "unknown prefix", "ghx_" + strings.Repeat("a1B2c3", 6), nil},

	{"slack-token", "bot", `"` + slackToken + `"`, []string{slackToken}},
	{"slack-token", "hugs", "xoxo-" + "love and kisses", nil},
	{"slack-token", "short", "xoxb-" + "1234", nil},
	{"slack-webhook", "plain", "POST " + slackHook + " now", []string{slackHook}},
	{"slack-webhook", "escaped slashes", `{"url":"` + slackHookEsc + `"}`, []string{slackHookEsc}},
	{"slack-webhook", "bare host", "https://hooks.slack.com/", nil},

	{"generic-bearer-token", "header dump", "Authorization: Bearer " + "mF_9.B5f-4.1JqM" + "xYz123abcQ", []string{"mF_9.B5f-4.1JqM" + "xYz123abcQ"}},
	{"generic-bearer-token", "lower case", `"auth":"bearer ` + "abcdefghij0123456789" + `"`, []string{"abcdefghij0123456789"}},
	{"generic-bearer-token", "long token", "Authorization: Bearer " + strings.Repeat("a1", 1500) + "==\r\n", []string{strings.Repeat("a1", 1500) + "=="}},
	{"generic-bearer-token", "glued", "xBearer " + "abcdefghij0123456789", nil},
	{"generic-bearer-token", "prose", "Use Bearer authentication schemeeverywhere", nil},
	{"generic-bearer-token", "short", "Bearer abc123", nil},
	{"generic-bearer-token", "oauth token type", `{"token_type":"Bearer","expires_in":3600}`, nil},

	{"jwt", "jwt.io example", `{"id_token":"` + jwtToken + `"}`, []string{jwtToken}},
	{"jwt", "alg none", "token=" + jwtNone + " end", []string{jwtNone}},
	{"jwt", "no alg", b64(`{"typ":"JWT"}`) + "." + b64(`{"a":1}`) + ".sig", nil},
	{"jwt", "header not json", "eyJ" + "hbGciOiJIUz." + b64(`{"a":1}`) + ".sig", nil},
	{"jwt", "two parts", jwtHeader + "." + b64(`{"a":1}`), nil},
	{"jwt", "base64 image", `{"img":"data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="}`, nil},
	{"jwt", "after garbage", "eyJxx.yy." + jwtToken, []string{jwtToken}},
	{"jwt", "bad payload length", jwtHeader + ".a.sig", nil},
	{"jwt", "version string", "eyJ.1.2", nil},

	{"private-key", "pem", "key:\n" + pemRSA + "\nend", []string{pemRSA}},
	{"private-key", "pem in json", `{"private_key":"` + pemRSAJSON + `\n"}`, []string{pemRSAJSON}},
	{"private-key", "truncated", `{"k":"` + pemTruncated + `"}`, []string{pemTruncated}},
	{"private-key", "openssh", "-----BEGIN OPENSSH " + "PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----",
		[]string{"-----BEGIN OPENSSH " + "PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----"}},
	{"private-key", "two keys", pemRSA + "\n" + pemTruncated + "\n" + pemRSA, []string{pemRSA, pemTruncated, pemRSA}},
	{"private-key", "public key", "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqh\n-----END PUBLIC KEY-----", nil},
	{"private-key", "prose", "never share your private key", nil},

	{"card-number", "visa json string", `{"pan":"4111111111111111"}`, []string{"4111111111111111"}},
	{"card-number", "visa json number", `{"pan":4111111111111111}`, []string{"4111111111111111"}},
	{"card-number", "visa spaces", "card 4111 1111 1111 1111.", []string{"4111 1111 1111 1111"}},
	{"card-number", "visa dashes", "4012-8888-8888-1881", []string{"4012-8888-8888-1881"}},
	{"card-number", "visa 13", "n=4222222222222;", []string{"4222222222222"}},
	{"card-number", "mastercard", "5555555555554444 and 2223000048400011", []string{"5555555555554444", "2223000048400011"}},
	{"card-number", "amex 4-6-5", "3782 822463 10005", []string{"3782 822463 10005"}},
	{"card-number", "discover", "6011111111111117", []string{"6011111111111117"}},
	{"card-number", "diners 14", "30569309025904", []string{"30569309025904"}},
	{"card-number", "jcb", "3530111333300000", []string{"3530111333300000"}},
	{"card-number", "unionpay", "6200000000000005", []string{"6200000000000005"}},
	{"card-number", "after date", "2024-01-15 4111 1111 1111 1111", []string{"4111 1111 1111 1111"}},
	{"card-number", "several", "[4111111111111111,5105105105105100]", []string{"4111111111111111", "5105105105105100"}},
	{"card-number", "luhn fails", "4111111111111112", nil},
	{"card-number", "luhn ok unknown iin", "9999999999999995", nil},
	{"card-number", "random 16 digits", "8273645019283746", nil},
	{"card-number", "amex wrong length", "3782822463100050", nil},
	{"card-number", "uuid", "550e8400-e29b-41d4-a716-446655440000", nil},
	{"card-number", "digit uuid", "41111111-1111-1111-1111-111111111111", nil},
	{"card-number", "version string", "v4.1.1.1111111111111", nil},
	{"card-number", "decimal", `{"p":0.4111111111111111}`, nil},
	{"card-number", "decimal integer part", `{"p":4111111111111111.5}`, nil},
	{"card-number", "exponent", `{"p":4111111111111111e3}`, nil},
	{"card-number", "glued to letters", "id_4111111111111111x", nil},
	{"card-number", "too long", "41111111111111111111", nil},
	{"card-number", "mixed separators", "4111 1111-1111 1111", nil},
	{"card-number", "double space", "4111  1111  1111  1111", nil},
	{"card-number", "tiny groups", "41 11 11 11 11 11 11 11", nil},
	{"card-number", "ms timestamp", `{"t":1700000000000}`, nil},
	{"card-number", "base64 image", `{"img":"data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="}`, nil},

	{"iban", "compact", `{"iban":"DE89370400440532013000"}`, []string{"DE89370400440532013000"}},
	{"iban", "grouped", "IBAN: DE89 3704 0044 0532 0130 00, thanks", []string{"DE89 3704 0044 0532 0130 00"}},
	{"iban", "letters in bban", "GB29NWBK60161331926819 FR1420041010050500013M02606", []string{"GB29NWBK60161331926819", "FR1420041010050500013M02606"}},
	{"iban", "shortest", "NO9386011117947", []string{"NO9386011117947"}},
	{"iban", "check fails", "DE89370400440532013001", nil},
	{"iban", "too short", "DE8937040044053201300", nil},
	{"iban", "too long", "DE893704004405320130001", nil},
	{"iban", "unknown country", "XX89370400440532013000", nil},
	{"iban", "lower case", "de89370400440532013000", nil},
	{"iban", "glued", "xDE89370400440532013000", nil},
	{"iban", "uuid", "550E8400-E29B-41D4-A716-446655440000", nil},

	{"stack-trace-java", "frames", "java.lang.NullPointerException\n\tat com.example.Foo.bar(Foo.java:42)\n\tat java.base/java.lang.Thread.run(Thread.java:833)",
		[]string{"at com.example.Foo.bar(Foo.java:42)", "at java.base/java.lang.Thread.run(Thread.java:833)"}},
	{"stack-trace-java", "json escaped", `{"error":"boom\n\tat com.example.Foo.<init>(Foo.java:7)\n\tat sun.reflect.X.invoke(Native Method)"}`,
		[]string{"at com.example.Foo.<init>(Foo.java:7)", "at sun.reflect.X.invoke(Native Method)"}},
	{"stack-trace-java", "thread", `Exception in thread "main" java.lang.IllegalStateException`, []string{`Exception in thread "main"`}},
	{"stack-trace-java", "caused by", "Caused by: org.hibernate.exception.SQLGrammarException: x", []string{"Caused by: org.hibernate.exception.SQLGrammarException"}},
	{"stack-trace-java", "prose", "Meet me at the station (platform 3).", nil},
	{"stack-trace-java", "file name", `{"file":"Main.java:12"}`, nil},

	{"stack-trace-python", "traceback", "Traceback (most recent call last):\n  File \"/app/main.py\", line 12, in handler\n    x()",
		[]string{"Traceback (most recent call last):", `File "/app/main.py", line 12, in handler`}},
	{"stack-trace-python", "json escaped", `{"detail":"Traceback (most recent call last):\n  File \"app.py\", line 3, in <module>"}`,
		[]string{"Traceback (most recent call last):", `File \"app.py\", line 3, in <module>`}},
	{"stack-trace-python", "prose", `He said "line 12" was wrong.`, nil},

	{"stack-trace-go", "panic", "panic: runtime error: index out of range [3] with length 3\n\ngoroutine 1 [running]:\nmain.main()\n\t/app/main.go:12 +0x1d",
		[]string{"panic: runtime error: index out of range [3] with length 3", "goroutine 1 [running]:", "/app/main.go:12 +0x1d"}},
	{"stack-trace-go", "json escaped", `{"err":"panic: boom\n\ngoroutine 7 [chan receive, 2 minutes]:"}`,
		[]string{"panic: boom", "goroutine 7 [chan receive, 2 minutes]:"}},
	{"stack-trace-go", "prose", "Don't panic: everything is fine. The goroutine count is 4.", nil},

	{"stack-trace-dotnet", "frame", `   at MyApp.Controllers.HomeController.Index() in C:\src\MyApp\HomeController.cs:line 12`,
		[]string{`at MyApp.Controllers.HomeController.Index() in C:\src\MyApp\HomeController.cs:line 12`}},
	{"stack-trace-dotnet", "exception", `{"error":"System.NullReferenceException: Object reference not set"}`, []string{"System.NullReferenceException"}},
	{"stack-trace-dotnet", "base exception", "System.Exception: boom", []string{"System.Exception"}},
	{"stack-trace-dotnet", "lower segment", "System.data.FooException", nil},
	{"stack-trace-dotnet", "not at segment end", "System.ExceptionFilter.Run", nil},
	{"stack-trace-dotnet", "nested namespace", "System.Data.SqlClient.SqlException", []string{"System.Data.SqlClient.SqlException"}},
	{"stack-trace-dotnet", "end of trace", "--- End of stack trace from previous location ---", []string{"--- End of stack trace from previous location ---"}},
	{"stack-trace-dotnet", "prose", "The System.Text namespace; see line 12.", nil},

	{"sql-error", "mysql", `{"error":"You have an error in your SQL syntax; check the manual"}`, []string{"You have an error in your SQL syntax"}},
	{"sql-error", "oracle", "ORA-00933: SQL command not properly ended", []string{"ORA-00933"}},
	{"sql-error", "rails pg", "PG::SyntaxError: ERROR: syntax error at or near \"FROM\"", []string{"PG::SyntaxError", "syntax error at or near"}},
	{"sql-error", "pdo", "SQLSTATE[42000]: Syntax error or access violation", []string{"SQLSTATE[42000]"}},
	{"sql-error", "psql", "psql: ERROR: relation \"users\" does not exist", []string{"psql: ERROR:"}},
	{"sql-error", "postgres", "ERROR: unterminated quoted string at or near \"'x\"", []string{"unterminated quoted string"}},
	{"sql-error", "sql server", "Unclosed quotation mark after the character string 'abc'.", []string{"Unclosed quotation mark after the character string"}},
	{"sql-error", "sqlite", "sqlite3.OperationalError: no such table: users", []string{"sqlite3.OperationalError"}},
	{"sql-error", "jdbc", "java.sql.SQLSyntaxErrorException: bad", []string{"java.sql.SQLSyntaxErrorException"}},
	{"sql-error", "oracle near miss", "ORA-1234 and FLORA-00933x", nil},
	{"sql-error", "prose", "Our SQL syntax guide explains SELECT.", nil},
}

func onlyDetector(t testing.TB, name string) *dlp.Scanner {
	t.Helper()
	var disable []string
	for _, d := range dlp.Detectors() {
		if d.Name != name {
			disable = append(disable, d.Name)
		}
	}
	if len(disable) == len(dlp.Detectors()) {
		t.Fatalf("no built-in detector %q", name)
	}
	s, err := dlp.Compile(dlp.Config{Disable: disable})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func texts(body []byte, ms []dlp.Match) []string {
	var out []string
	for _, m := range ms {
		out = append(out, string(body[m.Start:m.End]))
	}
	return out
}

func TestDetectors(t *testing.T) {
	for _, tc := range detectorCases {
		t.Run(tc.detector+"/"+tc.name, func(t *testing.T) {
			body := []byte(tc.body)
			ms := onlyDetector(t, tc.detector).Scan(body)
			for _, m := range ms {
				if m.Detector != tc.detector {
					t.Errorf("match by %q, want only %q", m.Detector, tc.detector)
				}
			}
			if got := texts(body, ms); !slices.Equal(got, tc.want) {
				t.Fatalf("Scan(%q)\n got %q\nwant %q", tc.body, got, tc.want)
			}
		})
	}
}

// TestNearMissesAllDetectors: bodies that must not trip any detector.
func TestNearMissesAllDetectors(t *testing.T) {
	s, err := dlp.Compile(dlp.Config{})
	if err != nil {
		t.Fatal(err)
	}
	bodies := []string{
		`{"id":"550e8400-e29b-41d4-a716-446655440000","version":"1.2.3","build":"2024.01.15.1234567890"}`,
		`{"created":1700000000000,"ratio":0.4111111111111111,"count":12345678901234}`,
		`{"img":"data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="}`,
		`{"sha256":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","md5":"098f6bcd4621d373cade4e832627b4f6"}`,
		`{"token_type":"Bearer","expires_in":3600,"scope":"read write"}`,
		readme,
		string(cleanBody(64 << 10)),
	}
	for i, b := range bodies {
		if ms := s.Scan([]byte(b)); len(ms) != 0 {
			t.Errorf("body %d: unexpected matches %q", i, texts([]byte(b), ms))
		}
	}
}

const readme = `Cordon checks responses for secrets. Send the request with your API key in
the header; errors are reported at the line where they happen. The panic button
is in the corner. A goroutine is cheap. System design matters. Version 4.1.1111.`

func TestScanResolvesOverlaps(t *testing.T) {
	s, err := dlp.Compile(dlp.Config{
		Actions: map[string]cordon.Action{"generic-bearer-token": cordon.ActionReport},
		Custom: []dlp.Pattern{
			{Name: "digits", Regex: `[0-9]{8}`, Action: cordon.ActionReport},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte("Bearer " + jwtToken + " card 4111111111111111")
	ms := s.Scan(body)
	want := []dlp.Match{
		{Detector: "jwt", Action: cordon.ActionBlock, Start: 7, End: 7 + len(jwtToken)},
		{Detector: "card-number", Action: cordon.ActionRedact, Start: len(body) - 16, End: len(body)},
	}
	if !slices.Equal(ms, want) {
		t.Fatalf("Scan = %+v\nwant %+v", ms, want)
	}
}

func TestDetectorsInfo(t *testing.T) {
	want := map[string]cordon.Action{
		"aws-access-key-id": cordon.ActionBlock, "aws-secret-access-key": cordon.ActionBlock,
		"gcp-service-account-key": cordon.ActionBlock, "gcp-api-key": cordon.ActionBlock,
		"github-token": cordon.ActionBlock, "slack-token": cordon.ActionBlock, "slack-webhook": cordon.ActionBlock,
		"generic-bearer-token": cordon.ActionBlock, "jwt": cordon.ActionBlock, "private-key": cordon.ActionBlock,
		"card-number": cordon.ActionRedact, "iban": cordon.ActionRedact,
		"stack-trace-java": cordon.ActionBlock, "stack-trace-python": cordon.ActionBlock,
		"stack-trace-go": cordon.ActionBlock, "stack-trace-dotnet": cordon.ActionBlock,
		"sql-error": cordon.ActionBlock,
	}
	got := dlp.Detectors()
	if len(got) != len(want) {
		t.Fatalf("%d detectors, want %d", len(got), len(want))
	}
	for _, d := range got {
		if a, ok := want[d.Name]; !ok || a != d.Action || d.Description == "" {
			t.Errorf("detector %+v: want action %v and a description", d, a)
		}
	}
}
