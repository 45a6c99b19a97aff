package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// misbehaving is an upstream that breaks the contract in every way the
// response validator must catch, chosen by the item id.
type misbehaving struct{ *upstream }

func (u misbehaving) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.upstream.mu.Lock()
	u.upstream.calls[r.Header.Get("X-Request-Id")]++
	u.upstream.mu.Unlock()
	id := strings.TrimPrefix(r.URL.Path, "/items/")
	w.Header().Set("Content-Type", "application/json")
	switch id {
	case "extra": // an undeclared field
		io.WriteString(w, `{"id":"extra","name":"n","internal_cost":3.5}`)
	case "aws": // a secret in a declared string
		io.WriteString(w, `{"id":"aws","name":"AKIAIOSFODNN7EXAMPLE"}`)
	case "trace": // a stack trace in a declared string
		io.WriteString(w, `{"id":"trace","name":"Traceback (most recent call last):\n  File \"app.py\", line 3"}`)
	case "html": // the wrong content type
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, `<html>error</html>`)
	case "truncated": // truncated JSON
		io.WriteString(w, `{"id":"truncated","name":"n`)
	case "huge": // a body over the response limit
		io.WriteString(w, `{"id":"huge","name":"`+strings.Repeat("a", 9<<20)+`"}`)
	case "status": // an undeclared status with a stack trace
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(500)
		io.WriteString(w, "java.lang.IllegalStateException\n\tat com.x.Y.z(Y.java:1)")
	default:
		io.WriteString(w, `{"id":"`+id+`","name":"fine"}`)
	}
}

// TestDevStopsAMisbehavingUpstream: nothing the contract does not promise
// reaches the client, and what the request validator rejects never reaches
// the upstream.
func TestDevStopsAMisbehavingUpstream(t *testing.T) {
	up := misbehaving{newUpstream()}
	g := startDev(t, up, 5*time.Second, "full")
	for _, tt := range []struct{ id, rule string }{
		{"extra", "response.body.undeclared"},
		{"aws", "dlp.aws-access-key-id"},
		{"trace", "dlp.stack-trace-python"},
		{"html", "response.content-type.undeclared"},
		{"truncated", "json."},
		{"huge", "upstream.response-too-large"},
		{"status", "response.status.undeclared"},
	} {
		resp, body := do(t, "GET", g.Public+"/items/"+tt.id, "", nil)
		var p struct{ Rule string }
		_ = json.Unmarshal(body, &p)
		if resp.StatusCode != 502 || !strings.HasPrefix(p.Rule, tt.rule) {
			t.Errorf("%s: %d rule %q, want 502 with %s…", tt.id, resp.StatusCode, p.Rule, tt.rule)
		}
		for _, leak := range []string{"internal_cost", "AKIA", "Traceback", "<html>", "IllegalState"} {
			if strings.Contains(string(body), leak) {
				t.Errorf("%s leaked %q: %s", tt.id, leak, body)
			}
		}
	}
	if resp, _ := do(t, "GET", g.Public+"/items/ok", "", nil); resp.StatusCode != 200 {
		t.Fatalf("a well-behaved answer: %d", resp.StatusCode)
	}
	// Requests the request validator refuses never reach the upstream.
	before := up.total()
	for _, r := range []struct{ method, path, body, ct string }{
		{"POST", "/items", `{"name":"a","name":"b"}`, "application/json"},   // duplicate key
		{"POST", "/items", `{"name":"a","admin":true}`, "application/json"}, // mass assignment
		{"POST", "/items", `{"name":"a"}`, "text/plain"},                    // undeclared media type
		{"POST", "/items", `{"name":"a"} trailing`, "application/json"},     // trailing data
		{"GET", "/items/a%2Fb", "", ""},                                     // encoded slash
		{"DELETE", "/items/a", "", ""},                                      // undeclared method
	} {
		hdr := map[string]string{}
		if r.ct != "" {
			hdr["Content-Type"] = r.ct
		}
		resp, body := do(t, r.method, g.Public+r.path, r.body, hdr)
		if resp.StatusCode/100 != 4 {
			t.Errorf("%s %s %q: %d %s, want a 4xx", r.method, r.path, r.body, resp.StatusCode, body)
		}
	}
	if up.total() != before {
		t.Fatalf("rejected requests reached the upstream (%d calls)", up.total()-before)
	}
}

func TestCheckPrintsTheEffectivePolicy(t *testing.T) {
	dir := t.TempDir()
	spec, _ := os.Getwd()
	cfg := dir + "/cordon.yaml"
	os.WriteFile(cfg, []byte("apis:\n  - {name: api, spec: "+spec+"/testdata/items.yaml, upstream: \"http://127.0.0.1:1\"}\n"), 0o600)
	var out strings.Builder
	if err := run(context.Background(), []string{"check", "--config", cfg}, func(string) string { return "" }, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"policy_version"`) || !strings.Contains(out.String(), "createItem") {
		t.Fatalf("check printed:\n%s", out.String())
	}
	os.WriteFile(cfg, []byte("apis:\n  - {name: api, spec: "+dir+"/missing.yaml, upstream: \"http://127.0.0.1:1\"}\n"), 0o600)
	if err := run(context.Background(), []string{"check", "--config", cfg}, func(string) string { return "" }, io.Discard, io.Discard); err == nil {
		t.Fatal("check accepted a configuration naming a missing document")
	}
}
