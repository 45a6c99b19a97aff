package main

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

// TestDevDemoKeepsTheBannersPromises runs `cordon dev` with no upstream
// (the built-in demo API) and checks every curl line of the banner.
func TestDevDemoKeepsTheBannersPromises(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *devGateway, 1)
	done := make(chan error, 1)
	var banner strings.Builder
	o := devOptions{listen: "127.0.0.1:0", admin: "127.0.0.1:0", data: t.TempDir(), timeout: 5 * time.Second,
		mode: "full", ready: func(g *devGateway) { ready <- g }}
	go func() { done <- dev(ctx, o, func(string) string { return "" }, &banner, io.Discard) }()
	defer func() { cancel(); <-done }()
	g := <-ready
	if !strings.Contains(banner.String(), g.Public) || !strings.Contains(banner.String(), "built-in demo API") {
		t.Fatalf("banner:\n%s", banner.String())
	}
	tests := []struct {
		method, path, body string
		status             int
		contains           string
	}{
		{"GET", "/accounts/acc-1", "", 200, `"Ada Lovelace"`},
		{"POST", "/payments", `{"from":"acc-1","to":"acc-2","amount":10,"currency":"EUR"}`, 201, `"accepted"`},
		{"GET", "/accounts?debug=true", "", 400, `"request.query.undeclared"`},
		{"GET", "/accounts/leaky", "", 200, `**** **** **** 1111`},
		{"GET", "/accounts/extra", "", 502, `"response.body.undeclared"`},
		{"GET", "/accounts/crash", "", 502, `"response.status.undeclared"`},
	}
	for _, tt := range tests {
		hdr := map[string]string{}
		if tt.body != "" {
			hdr["Content-Type"] = "application/json"
		}
		resp, body := do(t, tt.method, g.Public+tt.path, tt.body, hdr)
		if resp.StatusCode != tt.status || !strings.Contains(string(body), tt.contains) {
			t.Errorf("%s %s: %d %s; want %d with %s", tt.method, tt.path, resp.StatusCode, body, tt.status, tt.contains)
		}
		if strings.Contains(string(body), "4111 1111") || strings.Contains(string(body), "NullPointer") {
			t.Errorf("%s %s leaked: %s", tt.method, tt.path, body)
		}
	}
}
