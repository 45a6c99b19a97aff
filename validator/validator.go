package validator

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"

	"github.com/cordon-gateway/cordon"
	"github.com/prometheus/client_golang/prometheus"
)

// RequestChecker judges requests. On pass it may rewrite the message (the
// canonical body and the forward header allow-list); on reject it returns a
// *cordon.Error naming the rule and location.
type RequestChecker interface {
	Version() string
	CheckRequest(m *cordon.Message) ([]cordon.Finding, error)
}

// ResponseChecker judges upstream responses, and may rewrite them
// (redactions, header allow-list).
type ResponseChecker interface {
	Version() string
	CheckResponse(m *cordon.Message) ([]cordon.Finding, error)
}

// Sender stores a message on a bus.
type Sender interface {
	Send(ctx context.Context, m *cordon.Message) error
}

// Policy holds the current policy and swaps it atomically on reload: a
// message is judged entirely by one version.
type Policy[T any] struct{ p atomic.Pointer[T] }

// NewPolicy holds p.
func NewPolicy[T any](p T) *Policy[T] {
	h := &Policy[T]{}
	h.p.Store(&p)
	return h
}

// Load returns the current policy.
func (h *Policy[T]) Load() T { return *h.p.Load() }

// Store replaces the policy; only validated policies may be stored.
func (h *Policy[T]) Store(p T) { h.p.Store(&p) }

// Metrics counts verdicts and findings.
type Metrics struct {
	verdicts *prometheus.CounterVec // stage, result
	findings *prometheus.CounterVec // stage, rule, action
}

// NewMetrics registers the validator metrics on reg (nil: unregistered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		verdicts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cordon_validator_verdicts_total", Help: "Messages judged, by stage and result (pass, reject).",
		}, []string{"stage", "result"}),
		findings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cordon_validator_findings_total", Help: "Findings by stage, rule and action.",
		}, []string{"stage", "rule", "action"}),
	}
	if reg != nil {
		reg.MustRegister(m.verdicts, m.findings)
	}
	return m
}

func (m *Metrics) record(stage cordon.Stage, pass bool, fs []cordon.Finding) {
	result := "pass"
	if !pass {
		result = "reject"
	}
	m.verdicts.WithLabelValues(stage.String(), result).Inc()
	for _, f := range fs {
		m.findings.WithLabelValues(stage.String(), f.Rule, f.Action.String()).Inc()
	}
}

// JudgeRequest applies c to m and records the verdict in m. It reports
// whether m may go on; if not, m has become a rejection: its Outcome is
// set and its body dropped.
func JudgeRequest(c RequestChecker, m *cordon.Message, met *Metrics, log *slog.Logger) bool {
	findings, err := c.CheckRequest(m)
	m.Verdict.PolicyVersion = c.Version()
	m.Verdict.Findings = append(m.Verdict.Findings, findings...)
	met.record(cordon.StageRequestValidator, err == nil, findings)
	logFindings(log, m.ID, findings)
	if err == nil {
		return true
	}
	m.Outcome = outcome(err)
	m.Body = nil
	return false
}

// JudgeResponse applies c to m (an upstream response, or an outcome from
// the backend, which passes unchanged) and records the verdict. A blocked
// response becomes an outcome and loses its head and body.
func JudgeResponse(c ResponseChecker, m *cordon.Message, met *Metrics, log *slog.Logger) bool {
	if m.Response == nil {
		if m.Outcome.Kind == cordon.KindNone {
			m.Outcome = cordon.Outcome{Kind: cordon.KindUpstream, Rule: "response.missing"}
		}
		return false
	}
	findings, err := c.CheckResponse(m)
	if v := c.Version(); m.Verdict.PolicyVersion != v {
		m.Verdict.PolicyVersion += "+" + v
	}
	m.Verdict.Findings = append(m.Verdict.Findings, findings...)
	met.record(cordon.StageResponseValidator, err == nil, findings)
	logFindings(log, m.ID, findings)
	if err == nil {
		return true
	}
	o := outcome(err)
	if o.Kind != cordon.KindInternal {
		o.Kind = cordon.KindBlocked
	}
	// Where the upstream's answer broke the contract is the upstream's
	// business: a pointer such as /password_hash would tell the client
	// what was withheld. The finding keeps it, for logs and the audit.
	o.Pointer = ""
	m.Outcome = o
	m.Response = nil
	m.Body = nil
	return false
}

// outcome keeps kind, rule and pointer of a checker's error; anything
// that is not a *cordon.Error is an internal failure, and fails closed.
func outcome(err error) cordon.Outcome {
	var e *cordon.Error
	if errors.As(err, &e) {
		return cordon.Outcome{Kind: e.Kind, Rule: e.Rule, Pointer: e.Pointer}
	}
	return cordon.Outcome{Kind: cordon.KindInternal, Rule: "validator.internal"}
}

func logFindings(log *slog.Logger, id cordon.RequestID, fs []cordon.Finding) {
	for _, f := range fs {
		log.Info("finding", "request_id", id.String(), "stage", f.Stage.String(), "rule", f.Rule, "action", f.Action.String(),
			"pointer", f.Pointer, "detail", f.Detail)
	}
}
