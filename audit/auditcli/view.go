package auditcli

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/audit"
	"github.com/cordon-gateway/cordon/audit/trail"
)

// View is a record as operators read it (JSON output of every command).
type View struct {
	Time    time.Time `json:"time"`
	Bus     string    `json:"bus"`
	Seq     uint64    `json:"seq"`
	Subject string    `json:"subject"`
	// Final marks the frontend's terminal record of a request it answered
	// on its own (audit.IsFinal): Status is what the client got (499: it
	// had gone), Outcome and OutcomeRule why.
	Final           bool                `json:"final,omitempty"`
	RequestID       string              `json:"request_id,omitempty"`
	Producer        string              `json:"producer"`
	Expected        string              `json:"expected_producer"`
	Signature       string              `json:"signature"`
	KeyID           string              `json:"key_id,omitempty"`
	Deadline        *time.Time          `json:"deadline,omitempty"`
	Expired         bool                `json:"expired,omitempty"`
	Method          string              `json:"method,omitempty"`
	Path            string              `json:"path,omitempty"`
	Query           string              `json:"query,omitempty"`
	Host            string              `json:"host,omitempty"`
	Client          string              `json:"client,omitempty"`
	Operation       string              `json:"operation,omitempty"`
	Status          int                 `json:"status,omitempty"`
	RequestHeaders  map[string][]string `json:"request_headers,omitempty"`
	ResponseHeaders map[string][]string `json:"response_headers,omitempty"`
	Outcome         string              `json:"outcome"`
	OutcomeRule     string              `json:"outcome_rule,omitempty"`
	OutcomePointer  string              `json:"outcome_pointer,omitempty"`
	PolicyVersion   string              `json:"policy_version,omitempty"`
	Findings        []trail.Finding     `json:"findings,omitempty"`
	TraceParent     string              `json:"traceparent,omitempty"`
	Capture         string              `json:"capture"`
	Body            *string             `json:"body,omitempty"`
	BodyBase64      []byte              `json:"body_base64,omitempty"`
	BodySHA256      string              `json:"body_sha256"`
	BodyLen         int64               `json:"body_len"`
	Masked          int32               `json:"masked,omitempty"`
	EnvelopeSHA256  string              `json:"envelope_sha256"`
	EnvelopeKept    bool                `json:"envelope_kept"`
	Leaf            string              `json:"leaf"`
}

// ViewOf renders r. Bodies that are text are shown as text, others base64.
func ViewOf(r *trail.Record) View {
	v := View{
		Time: r.Time, Bus: r.Bus.String(), Seq: r.Seq, Subject: r.Subject, Producer: r.Producer.String(),
		Expected: r.Expected.String(), Signature: r.Sig.String(), KeyID: hex.EncodeToString(r.KeyID),
		Expired: r.Expired, Method: r.Method, Path: r.Path, Query: r.Query, Host: r.Host, Client: r.Client,
		Operation: r.Operation, Status: r.Status, RequestHeaders: trail.DecodeHeader(r.ReqHeader),
		ResponseHeaders: trail.DecodeHeader(r.RespHeader), Outcome: r.Outcome.String(), OutcomeRule: r.OutcomeRule,
		OutcomePointer: r.OutcomePointer, PolicyVersion: r.PolicyVersion, Findings: trail.DecodeFindings(r.Findings),
		TraceParent: r.TraceParent, Capture: r.Capture.String(), BodySHA256: hex.EncodeToString(r.BodySHA256[:]),
		BodyLen: r.BodyLen, Masked: r.Masked, EnvelopeSHA256: hex.EncodeToString(r.EnvelopeSHA256[:]),
		EnvelopeKept: r.Envelope != nil, Leaf: hex.EncodeToString(r.Leaf[:]),
		Final: audit.IsFinal(r.Bus, r.Subject),
	}
	if !r.RequestID.IsZero() {
		v.RequestID = r.RequestID.String()
	}
	if !r.Deadline.IsZero() {
		d := r.Deadline
		v.Deadline = &d
	}
	if r.Body != nil {
		if utf8.Valid(r.Body) {
			s := string(r.Body)
			v.Body = &s
		} else {
			v.BodyBase64 = r.Body
		}
	}
	return v
}

// verdict is the one-word decision shown in tables. A terminal record
// shows as "final" with its outcome ("final:expired"), not as "expired":
// it is usually stored after the deadline it reports on.
func verdict(r *trail.Record) string {
	switch {
	case r.Sig.Refused():
		return "refused:" + r.Sig.String()
	case audit.IsFinal(r.Bus, r.Subject) && r.Outcome != cordon.KindNone:
		return "final:" + r.Outcome.String()
	case audit.IsFinal(r.Bus, r.Subject):
		return "final"
	case r.Expired:
		return "expired"
	case r.Outcome != cordon.KindNone:
		return r.Outcome.String()
	}
	if n := len(trail.DecodeFindings(r.Findings)); n > 0 {
		return fmt.Sprintf("pass(%d findings)", n)
	}
	return "pass"
}

// rule is the outcome rule, else the first finding's.
func rule(r *trail.Record) string {
	if r.OutcomeRule != "" {
		return r.OutcomeRule
	}
	if fs := trail.DecodeFindings(r.Findings); len(fs) > 0 {
		return fs[0].Rule
	}
	return ""
}

// printer writes records as a table or JSON lines.
type printer struct {
	json bool
	w    io.Writer
	tw   *tabwriter.Writer
	enc  *json.Encoder
	rows int
}

func newPrinter(w io.Writer, asJSON bool) *printer {
	p := &printer{json: asJSON, w: w}
	if asJSON {
		p.enc = json.NewEncoder(w)
		p.enc.SetEscapeHTML(false)
	} else {
		p.tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(p.tw, "TIME\tBUS\tSEQ\tPRODUCER\tKEY\tSIGNATURE\tVERDICT\tRULE\tSTATUS\tREQUEST")
	}
	return p
}

func (p *printer) print(r *trail.Record) error {
	p.rows++
	if p.json {
		return p.enc.Encode(ViewOf(r))
	}
	key := hex.EncodeToString(r.KeyID)
	status := ""
	if r.Status != 0 {
		status = fmt.Sprint(r.Status)
	}
	req := strings.TrimSpace(r.Method + " " + r.Path)
	if r.Operation != "" {
		req += " (" + r.Operation + ")"
	}
	_, err := fmt.Fprintf(p.tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
		r.Time.Format("2006-01-02T15:04:05.000000Z07:00"), r.Bus, r.Seq, r.Producer, key, r.Sig, verdict(r),
		tabClean(rule(r)), status, tabClean(req))
	return err
}

// flush ends a table (tail flushes after every batch).
func (p *printer) flush() error {
	if p.tw != nil {
		return p.tw.Flush()
	}
	return nil
}

// tabClean keeps attacker-chosen text from breaking the table or the
// terminal: control characters become '?'.
func tabClean(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return '?'
		}
		return r
	}, s)
}
