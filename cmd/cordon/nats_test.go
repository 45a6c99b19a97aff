package main

import (
	"slices"
	"testing"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/deployment"
	"github.com/cordon-gateway/cordon/natsconf"
	"github.com/nats-io/nkeys"
)

func userKey(t *testing.T) string {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	return pub
}

// TestNATSServerUsers: each bus's server admits exactly the components the
// design connects to it, and a per-bus audit credential opens its bus only.
func TestNATSServerUsers(t *testing.T) {
	cfg := &deployment.Config{}
	cfg.APIs = []deployment.API{{Name: "api", Spec: "x.yaml", Upstream: "http://127.0.0.1:1"}}
	for i, b := range cordon.Buses {
		bc := cfg.Buses.Get(b)
		bc.URL = "nats://127.0.0.1:" + string(rune('1'+i)) + "4222"
		bc.AdminNKey = userKey(t)
	}
	cfg.Buses.CleanReq.AuditNKey = userKey(t)
	c := &cfg.Components
	c.Frontend.NKey, c.RequestValidator.NKey, c.Backend.NKey = userKey(t), userKey(t), userKey(t)
	c.ResponseValidator.NKey, c.Audit.NKey = userKey(t), userKey(t)
	cfg.Defaults()
	want := map[cordon.Bus][]string{
		cordon.BusDirtyReq:  {"admin", "audit", "frontend", "request-validator"},
		cordon.BusCleanReq:  {"admin", "audit-clean-req", "backend", "request-validator"},
		cordon.BusDirtyResp: {"admin", "audit", "backend", "response-validator"},
		cordon.BusCleanResp: {"admin", "audit", "frontend", "response-validator"},
	}
	for b, names := range want {
		s, err := natsServer(cfg, b)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, u := range s.Users {
			got = append(got, u.Name)
			if u.Name == "audit-clean-req" && (u.NKey != cfg.Buses.CleanReq.AuditNKey || u.Role != natsconf.RoleAudit) {
				t.Errorf("bus 2 audit user %+v", u)
			}
			if u.Name == "audit" && u.NKey == cfg.Buses.CleanReq.AuditNKey {
				t.Error("bus 2's audit key opens another bus")
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, names) {
			t.Errorf("bus %s users %v, want %v", b, got, names)
		}
		if _, err := natsconf.Render(s); err != nil {
			t.Errorf("bus %s: %v", b, err)
		}
	}
}
