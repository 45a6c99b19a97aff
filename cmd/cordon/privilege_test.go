package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/deployment"
	"github.com/cordon-gateway/cordon/embednats"
	"github.com/cordon-gateway/cordon/internal/localdeploy"
	"github.com/cordon-gateway/cordon/internal/testkit"
	"github.com/cordon-gateway/cordon/natsconf"
	"github.com/nats-io/nkeys"
)

func publicNKey(t *testing.T, seedFile string) string {
	t.Helper()
	pub, err := localdeploy.PublicNKey(seedFile)
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

func publicSigningKey(t *testing.T, keyFile string) string {
	t.Helper()
	pub, err := localdeploy.PublicSigningKey(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

// TestRolesRunWithLeastPrivilege runs every role with its own NKey against
// servers configured by `cordon nats` (the natsconf renderer), after
// `cordon keys generate` and `cordon provision`: the permissions are
// exactly enough for the real clients, and traffic flows.
func TestRolesRunWithLeastPrivilege(t *testing.T) {
	for _, mode := range []string{"full", "single-nats", "single-validation"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			keys := filepath.Join(dir, "keys")
			if err := run(context.Background(), []string{"keys", "generate", "--dir", keys}, os.Getenv, io.Discard, io.Discard); err != nil {
				t.Fatal(err)
			}
			up := httptest.NewServer(newUpstream())
			t.Cleanup(up.Close)
			spec, _ := filepath.Abs("testdata/items.yaml")
			k := func(name string) string { return filepath.Join(keys, name) }
			var buses strings.Builder
			ports := map[cordon.Bus]int{}
			for _, b := range cordon.Buses {
				ports[b] = freePort(t)
				if mode == "single-nats" {
					ports[b] = ports[cordon.BusDirtyReq]
				}
				audit := ""
				if mode == "full" {
					// Each bus's audit shipper has its own credential.
					seed := filepath.Join(keys, "audit-"+b.String()+".nk")
					writeUserSeed(t, seed)
					audit = fmt.Sprintf(", audit_nkey_file: %q, audit_nkey: %q", seed, publicNKey(t, seed))
				}
				fmt.Fprintf(&buses, "  %s: {url: \"nats://127.0.0.1:%d\", admin_nkey_file: %q, admin_nkey: %q, store_dir: %q, max_store: 64MiB, relaxed_fsync: true%s}\n",
					strings.ReplaceAll(b.String(), "-", "_"), ports[b], k("admin.nk"), publicNKey(t, k("admin.nk")),
					filepath.Join(dir, "nats-"+b.String()), audit)
			}
			comp := func(role string) string {
				return fmt.Sprintf("{key_file: %q, nkey_file: %q, nkey: %q, workers: 4}", k(role+".key"), k(role+".nk"), publicNKey(t, k(role+".nk")))
			}
			yaml := fmt.Sprintf(`mode: %s
timeout: 5s
data_dir: %q
buses:
%scomponents:
  frontend: {listen: "127.0.0.1:0", key_file: %q, nkey_file: %q, nkey: %q}
  request_validator: %s
  backend: %s
  response_validator: %s
  audit: {nkey_file: %q, nkey: %q}
trust:
  frontend: [%q]
  request_validator: [%q]
  backend: [%q]
  response_validator: [%q]
apis:
  - {name: api, spec: %q, upstream: %q}
`, mode, dir, buses.String(), k("frontend.key"), k("frontend.nk"), publicNKey(t, k("frontend.nk")),
				comp("request-validator"), comp("backend"), comp("response-validator"),
				k("audit.nk"), publicNKey(t, k("audit.nk")),
				publicSigningKey(t, k("frontend.key")), publicSigningKey(t, k("request-validator.key")),
				publicSigningKey(t, k("backend.key")), publicSigningKey(t, k("response-validator.key")),
				spec, up.URL)
			cfgPath := filepath.Join(dir, "cordon.yaml")
			if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := deployment.Load(cfgPath, func(string) string { return "" })
			if err != nil {
				t.Fatal(err)
			}
			started := map[int]bool{}
			for _, b := range cfg.BusesUsed() {
				if started[ports[b]] {
					continue
				}
				started[ports[b]] = true
				s, err := natsServer(cfg, b)
				if err != nil {
					t.Fatal(err)
				}
				opts, err := natsconf.Options(s)
				if err != nil {
					t.Fatal(err)
				}
				srv, err := embednats.StartOptions(opts)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(srv.Shutdown)
			}
			if err := run(context.Background(), []string{"provision", "--config", cfgPath}, os.Getenv, io.Discard, io.Discard); err != nil {
				t.Fatal(err)
			}
			s := startRoles(t, cfg)
			stopAudit := startAudit(t, cfg)
			resp, err := http.Get(s + "/items/abc")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.Contains(string(body), "widget") {
				t.Fatalf("GET through least-privilege deployment: %d %s", resp.StatusCode, body)
			}
			getID := resp.Header.Get("X-Request-Id")
			req, _ := http.NewRequest("POST", s+"/items", strings.NewReader(`{"name":"x"}`))
			req.Header.Set("Content-Type", "application/json")
			resp, err = http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 201 {
				t.Fatalf("POST: %d", resp.StatusCode)
			}
			// The audit shippers, each with only its credentials, recorded
			// the request on every bus of the mode.
			want := len(cfg.BusesUsed())
			testkit.Eventually(t, 10*time.Second, func() bool {
				var out strings.Builder
				err := run(context.Background(), []string{"audit", "trace", "--config", cfgPath, "--json", getID}, os.Getenv, &out, io.Discard)
				return err == nil && strings.Count(out.String(), `"bus":`) == want
			}, "request %s not recorded on %d buses", getID, want)
			stopAudit()
		})
	}
}

// writeUserSeed writes a fresh NATS user seed to path.
func writeUserSeed(t *testing.T, path string) {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := kp.Seed()
	if err := os.WriteFile(path, seed, 0o600); err != nil {
		t.Fatal(err)
	}
}

// startAudit runs the audit shippers of cfg as `cordon run audit` would.
func startAudit(t *testing.T, cfg *deployment.Config) func() {
	t.Helper()
	w, err := newWiring(cfg, quietLog(), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c, err := w.buildAuditShippers(ctx, cfg.BusesUsed(), true)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = c.run(ctx) }()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done; c.Close() }) }
	t.Cleanup(stop)
	return stop
}

// startRoles builds and runs each role of cfg as `cordon run` would, each
// with its own wiring, and returns the public URL.
func startRoles(t *testing.T, cfg *deployment.Config) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var comps []*component
	var public string
	newW := func() *wiring {
		w, err := newWiring(cfg, quietLog(), func(string) string { return "" })
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	fe, addr, err := newW().buildFrontend(ctx)
	if err != nil {
		t.Fatal(err)
	}
	public = "http://" + addr.String()
	comps = append(comps, fe)
	builders := []func(*wiring) (*component, error){
		func(w *wiring) (*component, error) { return w.buildBackend(ctx) },
	}
	if cfg.Mode != deployment.ModeSingleValidation {
		builders = append(builders,
			func(w *wiring) (*component, error) { return w.buildRequestValidator(ctx) },
			func(w *wiring) (*component, error) { return w.buildResponseValidator(ctx) })
	}
	for _, build := range builders {
		c, err := build(newW())
		if err != nil {
			t.Fatal(err)
		}
		comps = append(comps, c)
	}
	done := make(chan struct{}, len(comps))
	for _, c := range comps {
		go func() { _ = c.run(ctx); done <- struct{}{} }()
	}
	t.Cleanup(func() {
		cancel()
		for range comps {
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Error("a role did not stop")
			}
		}
		for _, c := range comps {
			c.Close()
		}
	})
	return public
}
