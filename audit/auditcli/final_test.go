package auditcli_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/audit/auditcli"
	"github.com/cordon-gateway/cordon/envelope"
)

// TestTraceShowsTheTerminalRecord: a request the frontend answered 504 on
// its own ends in its terminal record, shown as "final:expired" with the
// rule and the status the client got, and the store still verifies.
func TestTraceShowsTheTerminalRecord(t *testing.T) {
	s := newSetup(t)
	f := s.f
	var id cordon.RequestID
	var deadline time.Time
	f.Ship(f.Message(cordon.BusDirtyReq, func(m *cordon.Message) { id, deadline = m.ID, f.Now.Add(time.Second); m.Deadline = deadline }))
	f.Now = f.Now.Add(5 * time.Second) // past the deadline
	final := &cordon.Message{ID: id, Deadline: deadline, ReplyTo: "fe1",
		Request:  cordon.RequestHead{Method: "GET", Path: "/items/slow"},
		Response: &cordon.ResponseHead{Status: 504}, Outcome: cordon.Outcome{Kind: cordon.KindExpired, Rule: "deadline"}}
	data, err := envelope.Seal(nil, final, f.Stages[cordon.StageFrontend])
	if err != nil {
		t.Fatal(err)
	}
	f.Ship(f.Raw(cordon.BusDirtyReq, "cordon.dirty-req.final", data))

	out, _, err := s.run(t, context.Background(), "trace", id.String())
	if err != nil {
		t.Fatal(err)
	}
	last := strings.TrimSpace(out)
	last = last[strings.LastIndex(last, "\n")+1:]
	for _, want := range []string{"frontend", "final:expired", "deadline", "504", "GET /items/slow"} {
		if !strings.Contains(last, want) {
			t.Errorf("trace's last row lacks %q:\n%s", want, out)
		}
	}
	out, _, err = s.run(t, context.Background(), "trace", "--json", id.String())
	if err != nil {
		t.Fatal(err)
	}
	var views []auditcli.View
	if err := json.Unmarshal([]byte(out), &views); err != nil || len(views) != 2 {
		t.Fatalf("trace --json: %v, %d records", err, len(views))
	}
	v := views[1]
	if views[0].Final || !v.Final || v.Producer != "frontend" || v.Expected != "frontend" || v.Status != 504 ||
		v.Outcome != "expired" || v.OutcomeRule != "deadline" || !v.Expired {
		t.Fatalf("terminal record view %+v", v)
	}
	if out, _, err := s.run(t, context.Background(), append([]string{"verify"}, s.trust...)...); err != nil {
		t.Fatalf("verify: %v\n%s", err, out)
	}
}
