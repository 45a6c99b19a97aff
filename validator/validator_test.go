package validator_test

import (
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/validator"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// checker is a table-driven stand-in for the policy engine (an interface
// of this package, not of NATS or PostgreSQL).
type checker struct {
	findings []cordon.Finding
	err      error
}

func (c checker) Version() string { return "v1" }
func (c checker) CheckRequest(*cordon.Message) ([]cordon.Finding, error) {
	return c.findings, c.err
}
func (c checker) CheckResponse(*cordon.Message) ([]cordon.Finding, error) {
	return c.findings, c.err
}

func TestJudgeRequest(t *testing.T) {
	deny := &cordon.Error{Op: "check", Kind: cordon.KindInvalid, Rule: "request.body.schema", Pointer: "/a", Err: errors.New("schema says 42")}
	tests := []struct {
		name    string
		c       checker
		pass    bool
		outcome cordon.Outcome
	}{
		{"pass", checker{}, true, cordon.Outcome{}},
		{"reject keeps rule and pointer", checker{findings: []cordon.Finding{{Rule: "request.body.schema"}}, err: deny},
			false, cordon.Outcome{Kind: cordon.KindInvalid, Rule: "request.body.schema", Pointer: "/a"}},
		{"an unclassified error fails closed", checker{err: errors.New("boom")},
			false, cordon.Outcome{Kind: cordon.KindInternal, Rule: "validator.internal"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &cordon.Message{Body: []byte("x")}
			got := validator.JudgeRequest(tt.c, m, validator.NewMetrics(nil), quiet)
			if got != tt.pass || m.Outcome != tt.outcome || m.Verdict.PolicyVersion != "v1" {
				t.Fatalf("pass=%v outcome=%+v verdict=%+v", got, m.Outcome, m.Verdict)
			}
			if !tt.pass && m.Body != nil {
				t.Fatal("a rejected request kept its body")
			}
			if len(m.Verdict.Findings) != len(tt.c.findings) {
				t.Fatal("findings not recorded in the verdict")
			}
		})
	}
}

func TestJudgeResponse(t *testing.T) {
	block := &cordon.Error{Op: "check", Kind: cordon.KindInvalid, Rule: "dlp.aws-access-key-id", Pointer: "/key"}
	resp := func() *cordon.Message {
		return &cordon.Message{Response: &cordon.ResponseHead{Status: 200}, Body: []byte("AKIA...")}
	}
	m := resp()
	if validator.JudgeResponse(checker{err: block}, m, validator.NewMetrics(nil), quiet) {
		t.Fatal("blocked response passed")
	}
	if m.Outcome.Kind != cordon.KindBlocked || m.Outcome.Rule != "dlp.aws-access-key-id" || m.Outcome.Pointer != "" || m.Response != nil || m.Body != nil {
		t.Fatalf("a blocked response must become a generic outcome with no head or body: %+v", m)
	}
	m = resp()
	if !validator.JudgeResponse(checker{}, m, validator.NewMetrics(nil), quiet) || m.Body == nil {
		t.Fatal("a clean response was not passed")
	}
	// An outcome from the backend (no response) passes through unjudged.
	m = &cordon.Message{Outcome: cordon.Outcome{Kind: cordon.KindUpstream, Rule: "upstream.timeout"}}
	if validator.JudgeResponse(checker{err: block}, m, validator.NewMetrics(nil), quiet) || m.Outcome.Rule != "upstream.timeout" {
		t.Fatalf("backend outcome altered: %+v", m.Outcome)
	}
}
