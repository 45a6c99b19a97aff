package chaos_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// auditRecord is the part of an exported audit record (`cordon audit
// export`, one JSON object per line) that the checker reads.
type auditRecord struct {
	Time        time.Time `json:"time"`
	Bus         string    `json:"bus"`
	Seq         uint64    `json:"seq"`
	Subject     string    `json:"subject"`
	RequestID   string    `json:"request_id"`
	Producer    string    `json:"producer"`
	Signature   string    `json:"signature"`
	Status      int       `json:"status"`
	Outcome     string    `json:"outcome"`
	OutcomeRule string    `json:"outcome_rule"`
	// Final marks the frontend's terminal record of a request it answered
	// on its own (bus 1's final subject): Status is what the client got.
	Final bool `json:"final"`
}

// hop names where a record sat: its bus, and whether it is the pipeline
// input, a reply to the frontend or the frontend's terminal record.
func (a auditRecord) hop() string {
	switch {
	case a.Final:
		return a.Bus + " final"
	case strings.Contains(a.Subject, ".reply."):
		return a.Bus + " reply"
	}
	return a.Bus
}

// terminal reports whether the record ends its request: an answer for the
// frontend (bus 4, or a rejection on bus 1), an outcome set by a stage, or
// the frontend's terminal record of an answer it gave on its own.
func (a auditRecord) terminal() bool {
	return a.Final || strings.Contains(a.Subject, ".reply.") || (a.Outcome != "" && a.Outcome != "none")
}

// completeHops is the record set of a request that went all the way.
var completeHops = []string{"dirty-req", "clean-req", "dirty-resp", "clean-resp reply"}

// frontendRules are answers the frontend makes itself, without any stage
// having decided: it could not store the request, or the deadline passed.
var frontendRules = map[string]bool{"bus.dirty-req": true, "deadline": true, "admission.inflight": true}

// finalRules are the frontend's own answers given after it handed the
// request to bus 1: each is followed by a terminal record on bus 1.
// (admission.inflight is answered before: no record at all.)
var finalRules = map[string]bool{"bus.dirty-req": true, "deadline": true}

// exportAudit reads every record of the deployment's audit store.
func (e *env) exportAudit(t *testing.T) []auditRecord {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, e.bin, "audit", "export", "--config", e.d.Config)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("audit export: %v\n%s", err, errb.String())
	}
	var recs []auditRecord
	sc := bufio.NewScanner(&out)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var r auditRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("audit export: %v: %.200s", err, sc.Text())
		}
		recs = append(recs, r)
	}
	return recs
}

// verifyAudit runs `cordon audit verify`: chains, gaps, checkpoints,
// signatures.
func (e *env) verifyAudit(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, e.bin, "audit", "verify", "--config", e.d.Config).CombinedOutput()
	if err != nil {
		t.Errorf("audit verify: %v\n%s", err, out)
		return
	}
	t.Logf("audit verify: %s", strings.TrimSpace(string(out)))
}

// waitAudit polls the audit store until every request answered 2xx in recs
// has its complete record set (the shippers have caught up) or bound
// passes, and returns the records.
func (e *env) waitAudit(t *testing.T, recs []Record, bound time.Duration) ([]auditRecord, time.Time) {
	t.Helper()
	var audit []auditRecord
	start := time.Now()
	missing := 0
	ok := eventually(bound, 2*time.Second, func() bool {
		audit = e.exportAudit(t)
		hops := map[string]map[string]bool{}
		for _, a := range audit {
			if hops[a.RequestID] == nil {
				hops[a.RequestID] = map[string]bool{}
			}
			hops[a.RequestID][a.hop()] = true
		}
		missing = 0
		for _, r := range recs {
			if r.Status/100 == 2 && len(hops[r.ID]) < len(completeHops) {
				missing++
			}
		}
		return missing == 0
	})
	if ok {
		t.Logf("audit: %d records; caught up after %s", len(audit), time.Since(start).Round(100*time.Millisecond))
		return audit, time.Now()
	}
	// The checker says whether what is missing is a violation.
	t.Logf("audit: %d records; %d answered requests still without their full record set after %s",
		len(audit), missing, time.Since(start).Round(100*time.Millisecond))
	return audit, time.Time{}
}

// auditReport is the audit checker's verdict.
type auditReport struct {
	Complete, Terminal, Absent int
	// Unterminated counts request ids whose records stop short of an
	// answer without any record saying why, by the last hop reached.
	Unterminated map[string]int
	Violations   []string
	// Gaps are breaches of the invariant that docs/faults.md lists as
	// known gaps (fixed since, and checked strictly only under
	// CORDON_CHAOS_STRICT=1): an answer delivered but never stored on
	// clean-resp.
	Gaps []string
	// CaughtUp is when every 2xx had its records (zero: never).
	CaughtUp time.Time
}

func (r auditReport) String() string {
	return fmt.Sprintf("%d request ids with a complete record set, %d ended by a terminal record, %d never stored, unterminated %v",
		r.Complete, r.Terminal, r.Absent, r.Unterminated)
}

// checkAudit holds the audit records to the client history:
//   - every record verified its producer's signature, and no request id
//     has two records for one hop (no duplicates);
//   - a request answered 2xx has all four records, the last carrying the
//     status the client got;
//   - an error answer a stage decided (a rule other than the frontend's
//     own) has a terminal record naming that rule;
//   - an error answer the frontend gave on its own after handing the
//     request to bus 1 (504 deadline, 503/504 bus.dirty-req) has the
//     frontend's terminal record with that status and rule;
//   - every request id on the trail (including those whose client lost
//     its connection) is complete or ended by a terminal record: one that
//     stops short without any record saying why is a violation, counted in
//     Unterminated by the last hop it reached.
func checkAudit(hist []Record, audit []auditRecord) auditReport {
	rep := auditReport{Unterminated: map[string]int{}}
	bad := func(format string, args ...any) {
		if len(rep.Violations) < 50 {
			rep.Violations = append(rep.Violations, fmt.Sprintf(format, args...))
		}
	}
	byID := map[string][]auditRecord{}
	for _, a := range audit {
		if a.Signature != "verified" {
			bad("audit record %s/%d (%s): signature %q", a.Bus, a.Seq, a.RequestID, a.Signature)
		}
		byID[a.RequestID] = append(byID[a.RequestID], a)
	}
	for id, as := range byID {
		seen := map[string]bool{}
		for _, a := range as {
			if seen[a.hop()] {
				bad("request %s recorded twice on %s", id, a.hop())
			}
			seen[a.hop()] = true
		}
	}
	classify := func(id string) (complete, terminal bool, last string) {
		as := byID[id]
		hops := map[string]bool{}
		for _, a := range as {
			hops[a.hop()] = true
			terminal = terminal || a.terminal()
		}
		complete = true
		for _, h := range completeHops {
			if !hops[h] {
				complete = false
			} else {
				last = h
			}
		}
		return complete, terminal, last
	}
	answered := map[string]bool{}
	for _, r := range hist {
		if r.ID == "" {
			continue
		}
		answered[r.ID] = true
		as := byID[r.ID]
		switch {
		case r.Status/100 == 2:
			complete, _, _ := classify(r.ID)
			if !complete {
				if slices.Equal(hopsOf(as), []string{"clean-req", "dirty-req", "dirty-resp"}) {
					// Known gap 1: the answer reached the frontend's core
					// subscription, bus 4 died before storing it, and the
					// response validator never published it again.
					rep.Gaps = append(rep.Gaps, fmt.Sprintf("request %s answered %d: the answer was delivered but never stored on clean-resp", r.ID, r.Status))
					continue
				}
				bad("request %s answered %d has records only on %v", r.ID, r.Status, hopsOf(as))
				continue
			}
			for _, a := range as {
				if a.hop() == "clean-resp reply" && a.Status != r.Status {
					bad("request %s answered %d, its audit answer says %d", r.ID, r.Status, a.Status)
				}
			}
		case finalRules[r.Rule]:
			if !slices.ContainsFunc(as, func(a auditRecord) bool { return a.Final && a.Status == r.Status && a.OutcomeRule == r.Rule }) {
				bad("request %s answered %s by the frontend has no terminal record saying so (records on %v)", r.ID, answerKey(r), hopsOf(as))
			}
		case !frontendRules[r.Rule]:
			if !slices.ContainsFunc(as, func(a auditRecord) bool { return a.terminal() && a.OutcomeRule == r.Rule }) {
				bad("request %s answered %s has no terminal record with that rule (records on %v)", r.ID, answerKey(r), hopsOf(as))
			}
		}
	}
	for id := range byID {
		complete, terminal, last := classify(id)
		switch {
		case complete:
			rep.Complete++
		case terminal:
			rep.Terminal++
		default:
			// A request stranded by a fault ends in the frontend's
			// terminal record (docs/faults.md, gap 3, fixed): one without
			// is a request whose end nobody recorded.
			rep.Unterminated[last]++
			bad("request %s: records on %v and no terminal record", id, hopsOf(byID[id]))
		}
	}
	for id := range answered {
		if len(byID[id]) == 0 {
			rep.Absent++
		}
	}
	return rep
}

func hopsOf(as []auditRecord) []string {
	m := map[string]bool{}
	for _, a := range as {
		m[a.hop()] = true
	}
	return slices.Sorted(maps.Keys(m))
}

// assertAudit waits for the audit to catch up with hist — until
// caughtUpBy at the latest, plus a little — checks it, and runs verify.
func (e *env) assertAudit(t *testing.T, hist []Record, caughtUpBy time.Time) auditReport {
	t.Helper()
	audit, at := e.waitAudit(t, hist, max(time.Until(caughtUpBy), 0)+20*time.Second)
	rep := checkAudit(hist, audit)
	rep.CaughtUp = at
	t.Logf("audit: %s", rep)
	for _, v := range rep.Violations {
		t.Errorf("audit: %s", v)
	}
	strict := os.Getenv("CORDON_CHAOS_STRICT") == "1"
	if len(rep.Gaps) > 0 {
		t.Logf("audit: %d request ids breach the invariant in the known ways of docs/faults.md (first ones below)", len(rep.Gaps))
	}
	for i, g := range rep.Gaps {
		switch {
		case strict:
			t.Errorf("audit: %s", g)
		case i < 10:
			t.Logf("audit: KNOWN GAP (docs/faults.md, CORDON_CHAOS_STRICT=1 fails on it): %s", g)
		}
	}
	e.verifyAudit(t)
	return rep
}

// TestAuditChecker proves the audit checker catches each breach it exists
// for, on made-up trails, and passes clean ones.
func TestAuditChecker(t *testing.T) {
	rec := func(id, bus, subject string, edit func(*auditRecord)) auditRecord {
		a := auditRecord{Bus: bus, Subject: "cordon." + bus + "." + subject, RequestID: id, Producer: "x", Signature: "verified", Outcome: "none"}
		if edit != nil {
			edit(&a)
		}
		return a
	}
	complete := func(id string, status int) []auditRecord {
		return []auditRecord{rec(id, "dirty-req", "in", nil), rec(id, "clean-req", "in", nil), rec(id, "dirty-resp", "in", nil),
			rec(id, "clean-resp", "reply.fe1", func(a *auditRecord) { a.Status = status })}
	}
	final := func(id string, status int, kind, rule string) auditRecord {
		return rec(id, "dirty-req", "final", func(a *auditRecord) {
			a.Final, a.Status, a.Outcome, a.OutcomeRule = true, status, kind, rule
		})
	}
	answered := func(id string, status int, rule string) Record {
		return Record{Seq: 1, Method: "GET", Status: status, ID: id, Rule: rule, ProblemID: id}
	}
	tests := []struct {
		name       string
		hist       []Record
		audit      []auditRecord
		want       string // substring of a violation; "" for none
		terminal   int
		unfinished int
	}{
		{name: "complete", hist: []Record{answered("a", 200, "")}, audit: complete("a", 200)},
		{name: "504 with its terminal record", hist: []Record{answered("a", 504, "deadline")},
			audit:    []auditRecord{rec("a", "dirty-req", "in", nil), rec("a", "clean-req", "in", nil), final("a", 504, "expired", "deadline")},
			terminal: 1},
		{name: "504 whose pipeline completed late", hist: []Record{answered("a", 504, "deadline")},
			audit: append(complete("a", 200), final("a", 504, "expired", "deadline"))},
		{name: "503 never stored, with its terminal record", hist: []Record{answered("a", 503, "bus.dirty-req")},
			audit: []auditRecord{final("a", 503, "unavailable", "bus.dirty-req")}, terminal: 1},
		{name: "client gone", audit: []auditRecord{rec("a", "dirty-req", "in", nil), final("a", 499, "none", "client.gone")}, terminal: 1},
		{name: "504 without a terminal record", hist: []Record{answered("a", 504, "deadline")},
			audit: complete("a", 200), want: "by the frontend has no terminal record"},
		{name: "terminal record with another status", hist: []Record{answered("a", 504, "deadline")},
			audit: []auditRecord{rec("a", "dirty-req", "in", nil), final("a", 503, "unavailable", "bus.dirty-req")},
			want:  "by the frontend has no terminal record", terminal: 1},
		{name: "unterminated", audit: []auditRecord{rec("a", "dirty-req", "in", nil), rec("a", "clean-req", "in", nil)},
			want: "no terminal record", unfinished: 1},
		{name: "terminal record twice", audit: []auditRecord{rec("a", "dirty-req", "in", nil), final("a", 499, "none", "client.gone"),
			final("a", 499, "none", "client.gone")}, want: "recorded twice on dirty-req final", terminal: 1},
		{name: "forged terminal record", audit: []auditRecord{rec("a", "dirty-req", "in", nil),
			func() auditRecord { a := final("a", 504, "expired", "deadline"); a.Signature = "wrong-stage"; return a }()},
			want: `signature "wrong-stage"`, terminal: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep := checkAudit(tc.hist, tc.audit)
			if rep.Terminal != tc.terminal || len(rep.Unterminated) != tc.unfinished {
				t.Errorf("report %s: want %d ended by a terminal record, %d unterminated", rep, tc.terminal, tc.unfinished)
			}
			if tc.want == "" {
				if len(rep.Violations) > 0 || len(rep.Gaps) > 0 {
					t.Fatalf("violations on a clean trail: %v %v", rep.Violations, rep.Gaps)
				}
				return
			}
			if !slices.ContainsFunc(rep.Violations, func(v string) bool { return strings.Contains(v, tc.want) }) {
				t.Fatalf("want a violation containing %q, got %v", tc.want, rep.Violations)
			}
		})
	}
}
