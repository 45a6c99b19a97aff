package audit_test

import (
	"testing"
	"time"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/audit"
	"github.com/cordon-gateway/cordon/audit/audittest"
	"github.com/cordon-gateway/cordon/audit/trail"
	"github.com/cordon-gateway/cordon/envelope"
)

func TestIsFinal(t *testing.T) {
	for _, tc := range []struct {
		bus     cordon.Bus
		subject string
		want    bool
	}{
		{cordon.BusDirtyReq, "cordon.dirty-req.final", true},
		{cordon.BusDirtyReq, "acme.dirty-req.final", true},
		{cordon.BusDirtyReq, "cordon.dirty-req.in", false},
		{cordon.BusDirtyReq, "cordon.dirty-req.reply.final", false}, // a frontend named "final"
		{cordon.BusCleanReq, "cordon.clean-req.final", false},
		{cordon.BusCleanResp, "cordon.clean-resp.final", false},
	} {
		if got := audit.IsFinal(tc.bus, tc.subject); got != tc.want {
			t.Errorf("IsFinal(%s, %q) = %v, want %v", tc.bus, tc.subject, got, tc.want)
		}
	}
	if got := audit.ExpectedProducer(cordon.BusDirtyReq, "cordon.dirty-req.final"); got != cordon.StageFrontend {
		t.Errorf("terminal records must be signed by the frontend, expected %s", got)
	}
}

// TestCaptureTerminalRecord: the frontend's terminal record is recorded
// with the status the client got and the rule it was answered with,
// verified against the frontend's key, and marked expired when it was
// stored after the request's deadline; one signed by another stage is
// refused.
func TestCaptureTerminalRecord(t *testing.T) {
	f := audittest.NewFixture(t, nil, nil)
	id := cordon.NewRequestID(f.Now)
	final := func(s *envelope.Signer) cordon.BusRecord {
		m := &cordon.Message{ID: id, Deadline: f.Now.Add(-time.Second), ReplyTo: "fe1",
			Request:  cordon.RequestHead{Method: "GET", Path: "/items/slow"},
			Response: &cordon.ResponseHead{Status: 504}, Outcome: cordon.Outcome{Kind: cordon.KindExpired, Rule: "deadline"}}
		data, err := envelope.Seal(nil, m, s)
		if err != nil {
			t.Fatal(err)
		}
		return f.Raw(cordon.BusDirtyReq, "cordon.dirty-req.final", data)
	}
	r := f.Capturer.Record(final(f.Stages[cordon.StageFrontend]))
	if r.Sig != trail.SigVerified || r.Producer != cordon.StageFrontend || r.Expected != cordon.StageFrontend {
		t.Fatalf("terminal record: sig %s producer %s expected %s", r.Sig, r.Producer, r.Expected)
	}
	if r.RequestID != id || r.Status != 504 || r.Outcome != cordon.KindExpired || r.OutcomeRule != "deadline" || !r.Expired {
		t.Fatalf("terminal record: id %s status %d outcome %s %q expired %v", r.RequestID, r.Status, r.Outcome, r.OutcomeRule, r.Expired)
	}
	if r := f.Capturer.Record(final(f.Stages[cordon.StageRequestValidator])); !r.Sig.Refused() {
		t.Fatalf("terminal record signed by the request validator: sig %s, want refused", r.Sig)
	}
}
