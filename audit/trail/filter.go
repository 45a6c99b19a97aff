package trail

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/cordon-gateway/cordon"
)

// Filter selects records for trace, search and export. Zero fields match
// everything; set fields must all match. Results come in (Time, Bus, Seq)
// order.
type Filter struct {
	From, To  time.Time // stream time in [From, To)
	RequestID cordon.RequestID
	Bus       cordon.Bus
	Operation string
	// Path matches exactly, or as a prefix when it ends in '*'.
	Path   string
	Status int
	// Rejected, when set, keeps records that carry an outcome (true) or
	// none (false).
	Rejected *bool
	// Outcome, when set, keeps records with exactly this outcome kind.
	Outcome *cordon.ErrorKind
	// Rule matches the outcome rule or the rule of any finding.
	Rule   string
	Client string
	// Refused keeps only records whose signature check failed.
	Refused bool
	// Limit caps the number of records (0: no cap).
	Limit int
}

// finding is the stored JSON form of a cordon.Finding.
type finding struct {
	Stage   string `json:"stage"`
	Rule    string `json:"rule"`
	Action  string `json:"action"`
	Pointer string `json:"pointer,omitempty"`
	Detail  string `json:"detail,omitempty"`
}

// EncodeFindings is the stored form of findings: a JSON array, "" for none.
func EncodeFindings(fs []cordon.Finding) string {
	if len(fs) == 0 {
		return ""
	}
	out := make([]finding, len(fs))
	for i, f := range fs {
		out[i] = finding{Stage: f.Stage.String(), Rule: Clean(f.Rule), Action: f.Action.String(),
			Pointer: Clean(f.Pointer), Detail: Clean(f.Detail)}
	}
	b, _ := json.Marshal(out) // strings are clean: cannot fail
	return string(b)
}

// Finding is a stored finding, as shown to operators.
type Finding = finding

// DecodeFindings reads EncodeFindings' output; it returns nil for anything
// else (the stored text is evidence, not input to trust).
func DecodeFindings(s string) []Finding {
	if s == "" {
		return nil
	}
	var fs []Finding
	if json.Unmarshal([]byte(s), &fs) != nil {
		return nil
	}
	return fs
}

// RulePattern is the SQL LIKE pattern (escape character '\') that finds
// rule in a stored findings array.
func RulePattern(rule string) string {
	q, _ := json.Marshal(Clean(rule))
	return `%"rule":` + escapeLike(string(q)) + `%`
}

// PathPattern turns a path filter into a LIKE pattern and whether it is one.
func PathPattern(p string) (string, bool) {
	if prefix, ok := strings.CutSuffix(p, "*"); ok {
		return escapeLike(prefix) + "%", true
	}
	return p, false
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// EncodeHeader is the stored form of an HTTP header: a JSON object with
// sorted keys, "" for none. Values must already be masked.
func EncodeHeader(h http.Header) string {
	if len(h) == 0 {
		return ""
	}
	clean := make(map[string][]string, len(h))
	for k, vs := range h {
		cv := make([]string, len(vs))
		for i, v := range vs {
			cv[i] = Clean(v)
		}
		clean[Clean(k)] = cv
	}
	b, _ := json.Marshal(clean)
	return string(b)
}

// DecodeHeader reads EncodeHeader's output (nil for anything else).
func DecodeHeader(s string) map[string][]string {
	if s == "" {
		return nil
	}
	var h map[string][]string
	if json.Unmarshal([]byte(s), &h) != nil {
		return nil
	}
	return h
}
