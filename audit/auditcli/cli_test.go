package auditcli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/audit"
	"github.com/cordon-gateway/cordon/audit/auditcli"
	"github.com/cordon-gateway/cordon/audit/audittest"
	"github.com/cordon-gateway/cordon/audit/trail"
	"github.com/cordon-gateway/cordon/envelope"
	"github.com/cordon-gateway/cordon/sqlite"
)

// setup fills an embedded store under a data directory, with the audit key
// and checkpoint copies where the CLI looks for them by default.
type setup struct {
	data  string
	f     *audittest.Fixture
	trust []string // --trust flags
	id    cordon.RequestID
}

func newSetup(t *testing.T) *setup {
	t.Helper()
	data := t.TempDir()
	st, err := sqlite.Open(context.Background(), filepath.Join(data, "audit.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := audittest.NewFixture(t, st, nil)
	f.Dir = filepath.Join(data, "audit-checkpoints")
	pem, err := envelope.MarshalPrivateKey(f.AuditKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "audit.key"), pem, 0o600); err != nil {
		t.Fatal(err)
	}
	s := &setup{data: data, f: f}
	for st, signer := range f.Stages {
		s.trust = append(s.trust, "--trust", st.String()+"="+envelope.EncodePublicKey(signer.Public()))
	}
	// One request through all four buses; one rejected at the request validator.
	f.Ship(f.Message(cordon.BusDirtyReq, func(m *cordon.Message) { s.id = m.ID }))
	f.Ship(f.Message(cordon.BusCleanReq, func(m *cordon.Message) { m.ID = s.id; m.Request.Operation = "shop/createOrder" }))
	f.Ship(f.Message(cordon.BusDirtyResp, func(m *cordon.Message) { m.ID = s.id }))
	f.Ship(f.Message(cordon.BusCleanResp, func(m *cordon.Message) { m.ID = s.id }))
	f.Ship(f.Message(cordon.BusDirtyReq, nil))
	f.Ship(f.Raw(cordon.BusDirtyReq, "cordon.dirty-req.reply.fe1", sealReject(t, f)))
	return s
}

// sealReject is the request validator's rejection of a new request.
func sealReject(t *testing.T, f *audittest.Fixture) []byte {
	t.Helper()
	m := &cordon.Message{ID: cordon.NewRequestID(f.Now), Deadline: f.Now.Add(time.Minute),
		Request: cordon.RequestHead{Method: "DELETE", Path: "/orders/1"}}
	m.Outcome = cordon.Outcome{Kind: cordon.KindDenied, Rule: "request.auth.apikey"}
	out, err := envelope.Seal(nil, m, f.Stages[cordon.StageRequestValidator])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (s *setup) run(t *testing.T, ctx context.Context, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	env := auditcli.Env{
		Getenv: func(string) string { return "" }, Stdout: &out, Stderr: &errOut, DataDir: s.data,
		Open: func(ctx context.Context, dsn, dataDir string) (audit.Store, error) {
			return sqlite.Open(ctx, filepath.Join(dataDir, "audit.db"))
		},
		Migrate: func(ctx context.Context, dsn, dataDir string, o auditcli.MigrateOptions) (string, error) {
			return "ok", nil
		},
	}
	err := auditcli.Run(ctx, args, env)
	return out.String(), errOut.String(), err
}

func TestVerifyCommand(t *testing.T) {
	s := newSetup(t)
	out, _, err := s.run(t, context.Background(), append([]string{"verify"}, s.trust...)...)
	if err != nil {
		t.Fatalf("verify: %v\n%s", err, out)
	}
	if !strings.Contains(out, "OK:") {
		t.Fatalf("no OK line:\n%s", out)
	}
	// Without producer keys it still passes, with a warning.
	out, _, err = s.run(t, context.Background(), "verify")
	if err != nil || !strings.Contains(out, "warning: no producer keys") {
		t.Fatalf("verify without trust: %v\n%s", err, out)
	}
	// A tampered store fails, naming the first bad record.
	db, err := sqlite.Open(context.Background(), filepath.Join(s.data, "audit.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{"DROP TRIGGER records_no_update", "UPDATE records SET client = '198.51.100.1' WHERE bus = 2 AND seq = 1"} {
		if _, err := db.DB().Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	out, _, err = s.run(t, context.Background(), append([]string{"verify", "--json"}, s.trust...)...)
	if err == nil || !strings.Contains(err.Error(), "clean-req seq 1") {
		t.Fatalf("tampered store: err %v", err)
	}
	var rep struct {
		Problems []struct {
			Bus  string `json:"bus"`
			Seq  uint64 `json:"seq"`
			Kind string `json:"kind"`
		} `json:"problems"`
	}
	if jerr := json.Unmarshal([]byte(out), &rep); jerr != nil || len(rep.Problems) == 0 ||
		rep.Problems[0].Bus != "clean-req" || rep.Problems[0].Seq != 1 {
		t.Fatalf("JSON report: %v %+v", jerr, rep)
	}
}

func TestTraceCommand(t *testing.T) {
	s := newSetup(t)
	out, _, err := s.run(t, context.Background(), "trace", s.id.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"dirty-req", "clean-req", "dirty-resp", "clean-resp", "shop/createOrder", "verified"} {
		if !strings.Contains(out, want) {
			t.Errorf("trace table lacks %q:\n%s", want, out)
		}
	}
	out, _, err = s.run(t, context.Background(), "trace", "--json", s.id.String())
	if err != nil {
		t.Fatal(err)
	}
	var views []auditcli.View
	if err := json.Unmarshal([]byte(out), &views); err != nil || len(views) != 4 {
		t.Fatalf("trace --json: %v, %d records", err, len(views))
	}
	if views[0].Bus != "dirty-req" || views[3].Bus != "clean-resp" || views[1].Producer != "request-validator" {
		t.Fatalf("timeline out of order: %+v", views)
	}
	if _, _, err := s.run(t, context.Background(), "trace", cordon.NewRequestID(time.Now()).String()); err == nil {
		t.Fatal("trace of an unknown id succeeded")
	}
	var ue auditcli.UsageError
	if _, _, err := s.run(t, context.Background(), "trace", "not-an-id"); !errors.As(err, &ue) {
		t.Fatalf("bad id: %v, want a usage error", err)
	}
}

func TestSearchAndExport(t *testing.T) {
	s := newSetup(t)
	cases := []struct {
		name string
		args []string
		want int
	}{
		{"all", nil, 6},
		{"rejections", []string{"--verdict", "reject"}, 1},
		{"denied", []string{"--verdict", "denied"}, 1},
		{"rule", []string{"--rule", "request.auth.apikey"}, 1},
		{"bus", []string{"--bus", "clean-resp"}, 1},
		{"operation", []string{"--operation", "shop/createOrder"}, 1},
		{"request", []string{"--request-id", s.id.String()}, 4},
		{"limit", []string{"--limit", "2"}, 2},
		{"range", []string{"--from", "2025-03-30T12:00:02Z", "--to", "2025-03-30T12:00:04Z"}, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, _, err := s.run(t, context.Background(), append([]string{"search", "--json"}, tc.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			if n := strings.Count(out, "\n"); n != tc.want {
				t.Fatalf("%d lines, want %d:\n%s", n, tc.want, out)
			}
			out, _, err = s.run(t, context.Background(), append([]string{"export"}, tc.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				var v auditcli.View
				if err := json.Unmarshal([]byte(line), &v); err != nil {
					t.Fatalf("export line %q: %v", line, err)
				}
			}
		})
	}
	if _, _, err := s.run(t, context.Background(), "search", "--verdict", "maybe"); err == nil {
		t.Fatal("bad verdict accepted")
	}
	// Export to a file refuses to overwrite.
	path := filepath.Join(t.TempDir(), "out.jsonl")
	if _, _, err := s.run(t, context.Background(), "export", "--out", path); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.run(t, context.Background(), "export", "--out", path); err == nil {
		t.Fatal("export overwrote a file")
	}
}

// syncBuffer is written by the tail goroutine and read by the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}
func (b *syncBuffer) lines() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Count(b.b.String(), "\n")
}

func TestTailCommand(t *testing.T) {
	s := newSetup(t)
	out := &syncBuffer{}
	env := auditcli.Env{Stdout: out, Stderr: io.Discard, DataDir: s.data,
		Open: func(ctx context.Context, dsn, dataDir string) (audit.Store, error) {
			return sqlite.Open(ctx, filepath.Join(dataDir, "audit.db"))
		}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- auditcli.Run(ctx, []string{"tail", "--json", "-n", "1", "--interval", "10ms"}, env) }()
	waitLines := func(n int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for out.lines() < n {
			if time.Now().After(deadline) {
				t.Fatalf("tail printed %d records, want %d", out.lines(), n)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitLines(4) // the last record of each bus
	s.f.Ship(s.f.Message(cordon.BusCleanResp, nil))
	waitLines(5) // and then what arrives
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := out.lines(); n != 5 {
		t.Fatalf("tail printed %d records, want 5", n)
	}
}

func TestRetainCommand(t *testing.T) {
	s := newSetup(t)
	out, _, err := s.run(t, context.Background(), append([]string{"retain", "--before", "2025-04-01", "--drop"}, s.trust...)...)
	if err != nil {
		t.Fatalf("retain: %v\n%s", err, out)
	}
	if !strings.Contains(out, "dropped 1 partition") {
		t.Fatalf("retain output:\n%s", out)
	}
	out, _, err = s.run(t, context.Background(), append([]string{"verify"}, s.trust...)...)
	if err != nil {
		t.Fatalf("verify after retain: %v\n%s", err, out)
	}
	if _, _, err := s.run(t, context.Background(), "retain"); err == nil {
		t.Fatal("retain without --before accepted")
	}
	var n int
	_ = s.f.Store.Records(context.Background(), cordon.BusDirtyReq, 0, 0, func(*trail.Record) error { n++; return nil })
	if n != 0 {
		t.Fatalf("%d records left", n)
	}
}

func TestUsage(t *testing.T) {
	s := newSetup(t)
	var ue auditcli.UsageError
	for _, args := range [][]string{{}, {"frobnicate"}, {"search", "--nope"}} {
		if _, _, err := s.run(t, context.Background(), args...); !errors.As(err, &ue) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
}
