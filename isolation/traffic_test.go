package isolation_test

import (
	"encoding/json"
	"github.com/cordon-gateway/cordon/envelope"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// trafficFlows sends requests from the client host through the isolated
// deployment: a GET and a POST reach the upstream exactly once and come
// back validated; a request the policy refuses never reaches it; NATS
// headers sent by the client change nothing. Then the audit trail has
// every bus of every request, and the auditor verifies it.
func (d *deployment) trafficFlows(t *testing.T) {
	before := d.upstreamCalls(t)
	resp, body := d.request(t, http.MethodGet, "/items/abc", "", nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"widget"`) {
		t.Fatalf("GET /items/abc: %d %s", resp.StatusCode, body)
	}
	getID := resp.Header.Get("X-Request-Id")
	resp, body = d.request(t, http.MethodPost, "/items", `{"name":"x"}`, map[string]string{"Content-Type": "application/json"})
	if resp.StatusCode != http.StatusCreated || !strings.Contains(body, `"x"`) {
		t.Fatalf("POST /items: %d %s", resp.StatusCode, body)
	}
	postID := resp.Header.Get("X-Request-Id")
	resp, body = d.request(t, http.MethodPost, "/items", `{"name":42}`, map[string]string{"Content-Type": "application/json"})
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("POST /items with a wrong body: %d %s, want 400", resp.StatusCode, body)
	}
	rejectedID := resp.Header.Get("X-Request-Id")
	// Client-controlled values never become NATS headers: the same forged
	// dedupe id twice suppresses nothing, a rollup header wipes nothing.
	var forgedHdr []string
	for range 2 {
		resp, body = d.request(t, http.MethodPost, "/items", `{"name":"h"}`, map[string]string{
			"Content-Type": "application/json", "Nats-Msg-Id": "forged", "Nats-Rollup": "all"})
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("POST with NATS headers: %d %s", resp.StatusCode, body)
		}
		forgedHdr = append(forgedHdr, resp.Header.Get("X-Request-Id"))
	}
	calls := d.upstreamCalls(t)
	for _, id := range forgedHdr {
		if calls[id] != 1 {
			t.Errorf("POST %s with a client Nats-Msg-Id reached the upstream %d times, want once", id, calls[id])
		}
	}
	for name, id := range map[string]string{"GET": getID, "POST": postID} {
		if id == "" || calls[id] != 1 {
			t.Errorf("%s %q reached the upstream %d times, want once", name, id, calls[id])
		}
	}
	if rejectedID == "" || calls[rejectedID] != 0 {
		t.Errorf("rejected request %q reached the upstream %d times", rejectedID, calls[rejectedID])
	}
	if n, m := total(calls), total(before); n != m+4 {
		t.Errorf("upstream saw %d requests, want %d", n-m, 4)
	}
	if !d.audit {
		t.Log("this cordon has no audit shipper yet: the audit trail is not checked")
		return
	}
	// Every message of a completed request is on the trail, one per bus;
	// a rejected one never left bus 1 (request and rejection).
	want := map[string][]string{
		getID:      {"dirty-req", "clean-req", "dirty-resp", "clean-resp"},
		postID:     {"dirty-req", "clean-req", "dirty-resp", "clean-resp"},
		rejectedID: {"dirty-req", "dirty-req"},
	}
	if d.mode == "single-validation" {
		// The backend answers everything, rejections included, on bus 3.
		want = map[string][]string{
			getID:      {"dirty-req", "dirty-resp"},
			postID:     {"dirty-req", "dirty-resp"},
			rejectedID: {"dirty-req", "dirty-resp"},
		}
	}
	for id, buses := range want {
		var got []string
		var out string
		if !d.poll(t, "the audit trail of "+id, func() bool {
			got, out = d.trace(t, id)
			return len(got) >= len(buses)
		}) {
			t.Errorf("audit trail of %s: buses %q after %s, want %q\n%s", id, got, waitLimit, buses, out)
			continue
		}
		slices.Sort(got)
		slices.Sort(buses)
		if !slices.Equal(got, buses) {
			t.Errorf("audit trail of %s: buses %q, want %q\n%s", id, got, buses, out)
		}
	}
	// The auditor, with public keys only, verifies every bus's log: hash
	// chains, signed checkpoints, the external checkpoint copies, and
	// every producer signature the trail recorded as verified.
	var buses []string
	for _, b := range d.configuredBuses() {
		buses = append(buses, b.String())
	}
	args := []string{"--audit-key", d.auditKey, "--checkpoint-dir", d.checkpointDir(), "--bus", strings.Join(buses, ",")}
	for role, s := range stageOf {
		if d.link {
			args = append(args, "--link-key", role+"="+filepath.Join(d.keys, role+".link"))
			continue
		}
		args = append(args, "--trust", role+"="+envelope.EncodePublicKey(d.signer[s].Public()))
	}
	// Wait for an external copy of a checkpoint of every bus (every
	// checkpoint_interval), so that verify compares them too.
	var out string
	var err error
	if !d.poll(t, "external checkpoint copies", func() bool {
		out, err = d.auditCLI("verify", args...)
		return err != nil || !strings.Contains(out, " 0 external")
	}) {
		t.Logf("no external checkpoint copy of some bus after %s", waitLimit)
	}
	if err != nil {
		t.Errorf("cordon audit verify: %v\n%s", err, out)
	} else {
		t.Logf("cordon audit verify:\n%s", out)
	}
}

// trace returns the bus of every audit record of request id, as the
// auditor reads them with `cordon audit trace --json`.
func (d *deployment) trace(t *testing.T, id string) ([]string, string) {
	t.Helper()
	out, err := d.auditCLI("trace", "--json", id)
	if err != nil {
		return nil, out
	}
	var recs []struct {
		Bus string `json:"bus"`
	}
	if err := json.Unmarshal([]byte(out), &recs); err != nil {
		t.Fatalf("cordon audit trace %s --json: %v\n%s", id, err, out)
	}
	var buses []string
	for _, r := range recs {
		buses = append(buses, r.Bus)
	}
	return buses, out
}

func total(calls map[string]int) int {
	n := 0
	for _, c := range calls {
		n += c
	}
	return n
}
