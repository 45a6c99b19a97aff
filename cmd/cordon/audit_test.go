package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http/httptest"
	"testing"
	"time"
)

// TestDevAuditTrailIsCompleteAndVerifies sends traffic through cordon dev,
// stops it (the shippers flush), then checks with `cordon audit` that each
// request id has its full set of records — four for a completed request,
// two for one the request validator rejected — and that verify passes.
func TestDevAuditTrailIsCompleteAndVerifies(t *testing.T) {
	up := newUpstream()
	upSrv := httptest.NewServer(up)
	defer upSrv.Close()
	data := t.TempDir()
	g, stop := devForTest(t, devOptions{upstream: upSrv.URL, spec: "testdata/items.yaml", data: data,
		timeout: 5 * time.Second, mode: "full"})

	want := map[string]int{}
	for range 5 {
		resp, _ := do(t, "POST", g.Public+"/items", `{"name":"a"}`, map[string]string{"Content-Type": "application/json"})
		want[resp.Header.Get("X-Request-Id")] = 4
	}
	resp, _ := do(t, "GET", g.Public+"/items/abc", "", nil)
	want[resp.Header.Get("X-Request-Id")] = 4
	resp, _ = do(t, "GET", g.Public+"/items/abc?undeclared=1", "", nil)
	if resp.StatusCode != 400 {
		t.Fatalf("undeclared parameter answered %d", resp.StatusCode)
	}
	want[resp.Header.Get("X-Request-Id")] = 2
	// Let the shippers catch up, then stop (they flush on the way out).
	time.Sleep(500 * time.Millisecond)
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	for id, n := range want {
		var out bytes.Buffer
		if err := run(context.Background(), []string{"audit", "trace", "--json", "--data", data, id}, func(string) string { return "" }, &out, io.Discard); err != nil {
			t.Fatalf("trace %s: %v", id, err)
		}
		var recs []struct {
			Bus, Signature string
		}
		if err := json.Unmarshal(out.Bytes(), &recs); err != nil {
			t.Fatalf("trace %s: %v\n%s", id, err, out.String())
		}
		if len(recs) != n {
			t.Errorf("request %s has %d audit records, want %d", id, len(recs), n)
		}
		for _, r := range recs {
			// dev defers the check of verbatim-kept envelopes to verify.
			if r.Signature != "verified" && r.Signature != "unchecked" {
				t.Errorf("request %s: record on %s has signature %q", id, r.Bus, r.Signature)
			}
		}
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"audit", "verify", "--json", "--data", data}, func(string) string { return "" }, &out, io.Discard); err != nil {
		t.Fatalf("audit verify: %v\n%s", err, out.String())
	}
	// Every record's signature was checked: at ingest, or now from its
	// kept envelope.
	var rep struct {
		Buses []struct {
			Records, Reverified, Attested uint64
		}
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("verify --json: %v\n%s", err, out.String())
	}
	for i, b := range rep.Buses {
		if b.Records == 0 || b.Reverified+b.Attested != b.Records {
			t.Errorf("bus %d: %d records, %d re-verified, %d attested", i+1, b.Records, b.Reverified, b.Attested)
		}
	}
}
