package dlp_test

import (
	"strings"
	"testing"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/dlp"
)

func TestCompileRejects(t *testing.T) {
	tests := []struct {
		name string
		cfg  dlp.Config
		want string // in the error
	}{
		{"unknown action name", dlp.Config{Actions: map[string]cordon.Action{"credit-card": cordon.ActionBlock}}, `unknown detector "credit-card"`},
		{"unknown disable name", dlp.Config{Disable: []string{"jwt", "ssn"}}, `unknown detector "ssn"`},
		{"drop action", dlp.Config{Actions: map[string]cordon.Action{"jwt": cordon.ActionDrop}}, "not report, block or redact"},
		{"bad action", dlp.Config{Actions: map[string]cordon.Action{"jwt": 42}}, "not report, block or redact"},
		{"disabled and overridden", dlp.Config{Disable: []string{"jwt"}, Actions: map[string]cordon.Action{"jwt": cordon.ActionReport}}, "also disabled"},
		{"custom no name", dlp.Config{Custom: []dlp.Pattern{{Regex: "x"}}}, "kebab-case"},
		{"custom bad name", dlp.Config{Custom: []dlp.Pattern{{Name: "My Pattern", Regex: "x"}}}, "kebab-case"},
		{"custom long name", dlp.Config{Custom: []dlp.Pattern{{Name: strings.Repeat("a", 65), Regex: "x"}}}, "kebab-case"},
		{"custom builtin name", dlp.Config{Custom: []dlp.Pattern{{Name: "jwt", Regex: "x"}}}, "already taken"},
		{"custom duplicate", dlp.Config{Custom: []dlp.Pattern{{Name: "a", Regex: "x"}, {Name: "a", Regex: "y"}}}, "already taken"},
		{"custom bad regex", dlp.Config{Custom: []dlp.Pattern{{Name: "a", Regex: "(x"}}}, "missing closing )"},
		{"custom perl regex", dlp.Config{Custom: []dlp.Pattern{{Name: "a", Regex: `(?=x)y`}}}, "invalid or unsupported Perl syntax"},
		{"custom empty regex", dlp.Config{Custom: []dlp.Pattern{{Name: "a"}}}, "regex must be"},
		{"custom huge regex", dlp.Config{Custom: []dlp.Pattern{{Name: "a", Regex: strings.Repeat("x", 4097)}}}, "regex must be"},
		{"custom matches empty", dlp.Config{Custom: []dlp.Pattern{{Name: "a", Regex: `x*`}}}, "matches the empty string"},
		{"custom drop", dlp.Config{Custom: []dlp.Pattern{{Name: "a", Regex: "x", Action: cordon.ActionDrop}}}, "not report, block or redact"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := dlp.Compile(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Compile = %v, %v; want error containing %q", s, err, tc.want)
			}
		})
	}
}

func TestCompileApplies(t *testing.T) {
	s, err := dlp.Compile(dlp.Config{
		Actions: map[string]cordon.Action{"card-number": cordon.ActionBlock, "jwt": cordon.ActionReport},
		Disable: []string{"iban"},
		Custom: []dlp.Pattern{
			{Name: "internal-host", Regex: `\b[a-z0-9-]+\.corp\.example\b`, Action: cordon.ActionRedact},
			{Name: "employee-id", Regex: `employee_id"\s*:\s*"(E\d{6})"`, Action: cordon.ActionBlock},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"pan":"4111111111111111","iban":"DE89370400440532013000","t":"` + jwtToken +
		`","host":"db-1.corp.example","employee_id": "E123456"}`)
	got := map[string]string{}
	for _, m := range s.Scan(body) {
		got[m.Detector] = m.Action.String() + " " + string(body[m.Start:m.End])
	}
	want := map[string]string{
		"card-number":   "block 4111111111111111",
		"jwt":           "report " + jwtToken,
		"internal-host": "redact db-1.corp.example",
		"employee-id":   "block E123456",
	}
	if len(got) != len(want) {
		t.Errorf("matches %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %q, want %q", k, got[k], v)
		}
	}
}

func TestZeroConfig(t *testing.T) {
	s, err := dlp.Compile(dlp.Config{})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"k":"` + awsKeyID + `","pan":"4111111111111111"}`)
	ms := s.Scan(body)
	if len(ms) != 2 || ms[0].Action != cordon.ActionBlock || ms[1].Action != cordon.ActionRedact {
		t.Fatalf("Scan = %+v, want a block and a redact", ms)
	}
}
