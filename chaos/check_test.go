package chaos_test

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

// window is a span of a fault during which some client-visible errors are
// expected.
type window struct {
	Name     string
	From, To time.Time
	// Transport allows requests without an HTTP answer: the frontend
	// itself is away (killed or restarting), so a connection is refused
	// or reset.
	Transport bool
	// Errors lists the error answers expected here as "status rule"
	// (e.g. "503 bus.dirty-req"). Under a strict check an error answer
	// must match a window that lists it; nil lists nothing.
	Errors []string
}

func (w window) overlaps(r Record) bool { return !r.Start.After(w.To) && !r.End.Before(w.From) }

// checkConfig is what the checker holds a history to.
type checkConfig struct {
	Deadline time.Duration // the gateway's request deadline
	Margin   time.Duration // scheduling slack on top of it
	Windows  []window
	// Strict refuses any error answer that no window expects; otherwise
	// every 5xx is a legal answer (the invariant is "a response or a 5xx
	// within the deadline").
	Strict bool
	// OnceUpstream holds every method, not only POST, to at most one
	// upstream request per request id: for faults where nothing may be
	// sent again (a redelivery that the next bus deduplicates).
	OnceUpstream bool
}

// report is the checker's verdict on one history.
type report struct {
	Total, OK  int
	Answers    map[string]int // "201", "503 bus.dirty-req", "transport", …
	Violations []string
}

func (r report) String() string {
	keys := slices.Sorted(maps.Keys(r.Answers))
	var b strings.Builder
	fmt.Fprintf(&b, "%d requests, %d ok;", r.Total, r.OK)
	for _, k := range keys {
		fmt.Fprintf(&b, " %s×%d", k, r.Answers[k])
	}
	return b.String()
}

// answerKey names an answer for the report: the status, and the rule of
// an error answer.
func answerKey(r Record) string {
	switch {
	case r.Status == 0:
		return "transport"
	case r.Status/100 == 2:
		return fmt.Sprint(r.Status)
	}
	return fmt.Sprintf("%d %s", r.Status, r.Rule)
}

// check holds a client history and everything the upstream received to
// the invariants of docs/faults.md.
func check(recs []Record, calls map[string][]call, noID int, cfg checkConfig) report {
	rep := report{Total: len(recs), Answers: map[string]int{}}
	bad := func(format string, args ...any) {
		if len(rep.Violations) < 50 {
			rep.Violations = append(rep.Violations, fmt.Sprintf(format, args...))
		}
	}
	ids := map[string]int64{}
	for _, r := range recs {
		key := answerKey(r)
		rep.Answers[key]++
		what := fmt.Sprintf("%s seq %d (id %s, started %s)", r.Method, r.Seq, r.ID, r.Start.Format("15:04:05.000"))
		if d := r.took(); d > cfg.Deadline+cfg.Margin {
			bad("%s: answered after %s, past its %s deadline", what, d.Round(time.Millisecond), cfg.Deadline)
		}
		if r.Status == 0 {
			if !slices.ContainsFunc(cfg.Windows, func(w window) bool { return w.Transport && w.overlaps(r) }) {
				bad("%s: no answer while the frontend was up: %s", what, r.Err)
			}
			continue
		}
		if r.ID == "" {
			bad("%s: answer %d without X-Request-Id", what, r.Status)
		} else if prev, dup := ids[r.ID]; dup {
			bad("%s: request id also answered to seq %d", what, prev)
		} else {
			ids[r.ID] = r.Seq
		}
		switch r.Status / 100 {
		case 2:
			rep.OK++
			if r.Echo != r.Seq {
				bad("%s: received the answer to seq %d", what, r.Echo)
			}
			cs := calls[r.ID]
			if len(cs) == 0 {
				bad("%s: answered %d but the upstream never saw its id", what, r.Status)
			}
			for _, c := range cs {
				if c.Seq != r.Seq || c.Method != r.Method {
					bad("%s: the upstream saw its id with %s seq %d", what, c.Method, c.Seq)
				}
			}
		case 5:
			if r.ProblemID != r.ID {
				bad("%s: problem body names request id %q", what, r.ProblemID)
			}
			if cfg.Strict && !slices.ContainsFunc(cfg.Windows, func(w window) bool {
				return w.overlaps(r) && slices.Contains(w.Errors, key)
			}) {
				bad("%s: answer %q not expected outside a fault that documents it", what, key)
			}
		default:
			bad("%s: unexpected status %d (%s)", what, r.Status, r.Rule)
		}
	}
	// At most once upstream for POST: per request id, and per client
	// request (a client seq under two ids would mean the gateway made a
	// second request of one).
	postSeqs := map[int64]string{}
	for id, cs := range calls {
		if cfg.OnceUpstream && len(cs) > 1 {
			bad("%s %s reached the upstream %d times", cs[0].Method, id, len(cs))
		}
		posts := 0
		for _, c := range cs {
			if c.Method != "POST" {
				continue
			}
			posts++
			if other, ok := postSeqs[c.Seq]; ok && other != id && c.Seq >= 0 {
				bad("POST seq %d reached the upstream under ids %s and %s", c.Seq, other, id)
			}
			postSeqs[c.Seq] = id
		}
		if posts > 1 {
			bad("POST %s reached the upstream %d times", id, posts)
		}
	}
	if noID > 0 {
		bad("%d upstream requests carried no X-Request-Id", noID)
	}
	return rep
}

// assertClean fails t with every violation of rep.
func assertClean(t *testing.T, name string, rep report) {
	t.Helper()
	t.Logf("%s: %s", name, rep)
	for _, v := range rep.Violations {
		t.Errorf("%s: %s", name, v)
	}
	if rep.OK == 0 {
		t.Errorf("%s: no request succeeded", name)
	}
}

// TestChecker proves the checker catches each violation it exists for,
// on made-up histories, and passes a clean one.
func TestChecker(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	ok := func(seq int64, id string) Record {
		return Record{Seq: seq, Method: "GET", Start: t0, End: t0.Add(10 * time.Millisecond), Status: 200, ID: id, Echo: seq}
	}
	calls := map[string][]call{"a": {{"GET", 1}}, "b": {{"GET", 2}}}
	cfg := checkConfig{Deadline: time.Second, Margin: 500 * time.Millisecond}
	tests := []struct {
		name  string
		recs  []Record
		calls map[string][]call
		noID  int
		cfg   *checkConfig
		want  string // substring of a violation; "" for none
	}{
		{name: "clean", recs: []Record{ok(1, "a"), ok(2, "b")}},
		{name: "another client's answer", recs: []Record{ok(1, "a"), func() Record { r := ok(2, "b"); r.Echo = 1; return r }()},
			want: "received the answer to seq 1"},
		{name: "id seen upstream with another seq", recs: []Record{ok(1, "a"), ok(2, "b")},
			calls: map[string][]call{"a": {{"GET", 1}}, "b": {{"GET", 7}}}, want: "the upstream saw its id with GET seq 7"},
		{name: "2xx never reached the upstream", recs: []Record{ok(1, "a"), ok(3, "c")}, want: "never saw its id"},
		{name: "POST twice upstream", recs: []Record{ok(1, "a")},
			calls: map[string][]call{"a": {{"GET", 1}}, "p": {{"POST", 5}, {"POST", 5}}}, want: "reached the upstream 2 times"},
		{name: "POST seq under two ids", recs: []Record{ok(1, "a")},
			calls: map[string][]call{"a": {{"GET", 1}}, "p": {{"POST", 5}}, "q": {{"POST", 5}}}, want: "under ids"},
		{name: "late answer", recs: []Record{func() Record { r := ok(1, "a"); r.End = t0.Add(2 * time.Second); return r }()},
			want: "past its 1s deadline"},
		{name: "client error", recs: []Record{ok(1, "a"), {Seq: 9, Method: "GET", Start: t0, End: t0, Status: 400, ID: "x", ProblemID: "x", Echo: -1}},
			want: "unexpected status 400"},
		{name: "transport error while up", recs: []Record{ok(1, "a"), {Seq: 9, Method: "GET", Start: t0, End: t0, Err: "reset", Echo: -1}},
			want: "no answer while the frontend was up"},
		{name: "transport error while the frontend is down", recs: []Record{ok(1, "a"), {Seq: 9, Method: "GET", Start: t0, End: t0, Err: "refused", Echo: -1}},
			cfg: &checkConfig{Deadline: time.Second, Margin: time.Second, Windows: []window{{From: t0, To: t0.Add(time.Second), Transport: true}}}},
		{name: "duplicate request id", recs: []Record{ok(1, "a"), ok(1, "a")}, want: "also answered"},
		{name: "problem names another id", recs: []Record{ok(1, "a"), {Seq: 4, Method: "GET", Start: t0, End: t0, Status: 503, ID: "y", ProblemID: "z", Echo: -1}},
			want: "problem body names"},
		{name: "undocumented error under strict", recs: []Record{ok(1, "a"), {Seq: 4, Method: "GET", Start: t0, End: t0, Status: 503, Rule: "deadline", ID: "y", ProblemID: "y", Echo: -1}},
			cfg:  &checkConfig{Deadline: time.Second, Strict: true, Windows: []window{{From: t0, To: t0, Errors: []string{"504 deadline"}}}},
			want: "not expected"},
		{name: "documented error under strict", recs: []Record{ok(1, "a"), {Seq: 4, Method: "GET", Start: t0, End: t0, Status: 504, Rule: "deadline", ID: "y", ProblemID: "y", Echo: -1}},
			cfg: &checkConfig{Deadline: time.Second, Strict: true, Windows: []window{{From: t0, To: t0, Errors: []string{"504 deadline"}}}}},
		{name: "GET twice upstream when once is required", recs: []Record{ok(1, "a")},
			calls: map[string][]call{"a": {{"GET", 1}, {"GET", 1}}}, cfg: &checkConfig{Deadline: time.Second, OnceUpstream: true},
			want: "GET a reached the upstream 2 times"},
		{name: "GET twice upstream is allowed by default", recs: []Record{ok(1, "a")},
			calls: map[string][]call{"a": {{"GET", 1}, {"GET", 1}}}},
		{name: "upstream request without id", recs: []Record{ok(1, "a")}, noID: 1, want: "no X-Request-Id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, cf := calls, cfg
			if tc.calls != nil {
				c = tc.calls
			}
			if tc.cfg != nil {
				cf = *tc.cfg
			}
			rep := check(tc.recs, c, tc.noID, cf)
			if tc.want == "" {
				if len(rep.Violations) > 0 {
					t.Fatalf("violations on a clean history: %v", rep.Violations)
				}
				return
			}
			if !slices.ContainsFunc(rep.Violations, func(v string) bool { return strings.Contains(v, tc.want) }) {
				t.Fatalf("want a violation containing %q, got %v", tc.want, rep.Violations)
			}
		})
	}
}
