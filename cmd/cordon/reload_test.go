package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cordon-gateway/cordon/internal/testkit"
)

// TestPolicyReloadsOnFileChangeAndKeepsTheOldOneWhenBad edits the API
// document under a running gateway: a valid change takes effect, an
// invalid one is refused and the previous policy keeps running.
func TestPolicyReloadsOnFileChangeAndKeepsTheOldOneWhenBad(t *testing.T) {
	old := reloadPoll
	reloadPoll = 50 * time.Millisecond
	t.Cleanup(func() { reloadPoll = old })

	orig, err := os.ReadFile("testdata/items.yaml")
	if err != nil {
		t.Fatal(err)
	}
	spec := filepath.Join(t.TempDir(), "items.yaml")
	if err := os.WriteFile(spec, orig, 0o600); err != nil {
		t.Fatal(err)
	}
	up := newUpstream()
	g := startDevSpec(t, up, spec)
	status := func() int { resp, _ := do(t, "GET", g.Public+"/items/abc", "", nil); return resp.StatusCode }
	if s := status(); s != 200 {
		t.Fatalf("before: %d", s)
	}
	// Remove the GET operation: the route now answers 405.
	edited := strings.Replace(string(orig), "    get:\n      operationId: getItem", "    put:\n      operationId: getItem", 1)
	if edited == string(orig) {
		t.Fatal("test spec changed shape")
	}
	if err := os.WriteFile(spec, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, func() bool { return status() == 405 }, "edited policy never took effect")
	// A broken document is refused; the edited policy stays in force.
	if err := os.WriteFile(spec, []byte("openapi: [not a document"), 0o600); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // several poll periods
	if s := status(); s != 405 {
		t.Fatalf("after a bad edit: %d, want the previous policy's 405", s)
	}
}
