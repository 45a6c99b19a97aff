package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/internal/testkit"
)

// TestDevTerminalRecordOfA504: an upstream slower than the deadline makes
// the frontend answer 504 on its own; the audit trail of that request ends
// in the frontend's signed terminal record on bus 1 with the status the
// client got and the rule, and the trail verifies.
func TestDevTerminalRecordOfA504(t *testing.T) {
	up := newUpstream()
	up.delay = 3 * time.Second
	upSrv := httptest.NewServer(up)
	defer upSrv.Close()
	data := t.TempDir()
	g, stop := devForTest(t, devOptions{upstream: upSrv.URL, spec: "testdata/items.yaml", data: data,
		timeout: time.Second, mode: "full"})

	resp, body := do(t, "GET", g.Public+"/items/slow", "", nil)
	if resp.StatusCode != 504 {
		t.Fatalf("status %d %s, want 504", resp.StatusCode, body)
	}
	id := resp.Header.Get("X-Request-Id")

	// The shipper of bus 1 catches up with the terminal record (read from
	// the audit store while the gateway runs).
	type record struct {
		Bus, Subject, Producer, Signature, Outcome string
		Final                                      bool
		Status                                     int
		OutcomeRule                                string `json:"outcome_rule"`
	}
	var recs []record
	var out bytes.Buffer
	testkit.Eventually(t, 20*time.Second, func() bool {
		out.Reset()
		recs = nil
		if err := run(context.Background(), []string{"audit", "trace", "--json", "--data", data, id}, func(string) string { return "" }, &out, io.Discard); err != nil {
			return false
		}
		if err := json.Unmarshal(out.Bytes(), &recs); err != nil {
			t.Fatalf("trace %s: %v\n%s", id, err, out.String())
		}
		return slices.ContainsFunc(recs, func(r record) bool { return r.Final })
	}, "request %s has no terminal record in the audit:\n%s", id, &out)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	finals := 0
	for _, r := range recs {
		if !r.Final {
			continue
		}
		finals++
		// dev defers the check of verbatim-kept envelopes to verify.
		if r.Bus != "dirty-req" || r.Subject != "cordon.dirty-req.final" || r.Producer != "frontend" ||
			(r.Signature != "verified" && r.Signature != "unchecked") {
			t.Errorf("terminal record on %s (%s) by %s, signature %s", r.Bus, r.Subject, r.Producer, r.Signature)
		}
		if r.Status != 504 || r.Outcome != "expired" || r.OutcomeRule != "deadline" {
			t.Errorf("terminal record says %d %s %q; the client got 504 deadline", r.Status, r.Outcome, r.OutcomeRule)
		}
	}
	if finals != 1 {
		t.Fatalf("request %s has %d terminal records, want 1:\n%s", id, finals, out.String())
	}
	out.Reset()
	if err := run(context.Background(), []string{"audit", "verify", "--data", data}, func(string) string { return "" }, &out, io.Discard); err != nil {
		t.Fatalf("audit verify: %v\n%s", err, out.String())
	}
}

// TestDevTerminalRecordFailureKeepsThe504: when bus 1 cannot store the
// terminal record (here its stream no longer captures the final subject,
// so nothing answers the publish), the client still gets its 504
// deadline answer, and the failure is counted.
func TestDevTerminalRecordFailureKeepsThe504(t *testing.T) {
	up := newUpstream()
	up.delay = 3 * time.Second
	g := startDev(t, up, time.Second, "full")
	_, js := busClient(t, g, cordon.BusDirtyReq)
	s, err := js.Stream(context.Background(), "CORDON_DIRTY_REQ")
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.CachedInfo().Config
	cfg.Subjects = []string{"cordon.dirty-req.in", "cordon.dirty-req.reply.*"}
	if _, err := js.UpdateStream(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}

	resp, body := do(t, "GET", g.Public+"/items/slow", "", nil)
	if resp.StatusCode != 504 || !strings.Contains(string(body), `"rule":"deadline"`) {
		t.Fatalf("status %d %s, want 504 deadline", resp.StatusCode, body)
	}
	failed := `cordon_frontend_final_records_total{result="error"} 1`
	testkit.Eventually(t, 15*time.Second, func() bool {
		_, m := get(t, g.Admin+"/metrics")
		return strings.Contains(m, failed)
	}, "the failed terminal record was not counted")
	if _, m := get(t, g.Admin+"/metrics"); !strings.Contains(m, `cordon_frontend_final_records_total{result="ok"} 0`) {
		t.Errorf("a terminal record counted as stored")
	}
}
