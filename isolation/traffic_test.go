package isolation_test

import (
	"net/http"
	"strings"
	"testing"
)

// trafficFlows sends requests from the client host through the isolated
// deployment: a GET and a POST reach the upstream exactly once and come
// back validated; a request the policy refuses never reaches it.
func (d *deployment) trafficFlows(t *testing.T) {
	before := d.upstreamCalls()
	resp, body := d.request(http.MethodGet, "/items/abc", "", nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"widget"`) {
		t.Fatalf("GET /items/abc: %d %s", resp.StatusCode, body)
	}
	getID := resp.Header.Get("X-Request-Id")
	resp, body = d.request(http.MethodPost, "/items", `{"name":"x"}`, map[string]string{"Content-Type": "application/json"})
	if resp.StatusCode != http.StatusCreated || !strings.Contains(body, `"x"`) {
		t.Fatalf("POST /items: %d %s", resp.StatusCode, body)
	}
	postID := resp.Header.Get("X-Request-Id")
	resp, body = d.request(http.MethodPost, "/items", `{"name":42}`, map[string]string{"Content-Type": "application/json"})
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("POST /items with a wrong body: %d %s, want 400", resp.StatusCode, body)
	}
	rejectedID := resp.Header.Get("X-Request-Id")
	calls := d.upstreamCalls()
	for name, id := range map[string]string{"GET": getID, "POST": postID} {
		if id == "" || calls[id] != 1 {
			t.Errorf("%s %q reached the upstream %d times, want once", name, id, calls[id])
		}
	}
	if rejectedID == "" || calls[rejectedID] != 0 {
		t.Errorf("rejected request %q reached the upstream %d times", rejectedID, calls[rejectedID])
	}
	if n, m := total(calls), total(before); n != m+2 {
		t.Errorf("upstream saw %d requests, want %d", n-m, 2)
	}
}

func total(calls map[string]int) int {
	n := 0
	for _, c := range calls {
		n += c
	}
	return n
}
