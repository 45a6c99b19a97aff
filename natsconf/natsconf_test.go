package natsconf_test

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/nats-io/nats-server/v2/server"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/bus"
	"github.com/cordon-gateway/cordon/natsconf"
)

var update = flag.Bool("update", false, "rewrite testdata/*.conf from the current renderer")

type perms struct{ pub, sub []string }

func consumer(stream, name string) []string {
	return []string{
		"$JS.API.CONSUMER.MSG.NEXT." + stream + "." + name,
		"$JS.API.CONSUMER.INFO." + stream + "." + name,
		"$JS.ACK." + stream + "." + name + ".>",
	}
}

var ledger = []string{
	"$KV." + ledgerBucket + ".>",
	"$JS.API.STREAM.INFO.KV_" + ledgerBucket,
	"$JS.API.DIRECT.GET.KV_" + ledgerBucket + ".>",
}

// feOut is what a frontend publishes: requests and its terminal records.
var feOut = []string{"cordon.dirty-req.final", "cordon.dirty-req.in"}

func inbox(name string) string { return "_INBOX_" + name + ".>" }

func cat(lists ...[]string) []string { return slices.Concat(lists...) }

var (
	admin  = perms{pub: []string{"$JS.API.>"}, sub: []string{inbox("admin")}}
	system = perms{sub: []string{"$SYS.SERVER.*.CLIENT.AUTH.ERR", "$SYS.ACCOUNT.CLIENT.AUTH.ERR"}}
)

// matrix is the design's least-privilege matrix, per scenario and user. A
// user missing from a scenario must be refused there.
var matrix = map[string]map[string]perms{
	"full-bus-1": {
		"fe-a":              {pub: feOut, sub: []string{inbox("fe-a"), "cordon.dirty-req.reply.fe-a"}},
		"fe-b":              {pub: feOut, sub: []string{inbox("fe-b"), "cordon.dirty-req.reply.fe-b"}},
		"request-validator": {pub: cat(consumer(s1, "request-validator"), []string{"cordon.dirty-req.reply.*"}), sub: []string{inbox("request-validator")}},
		"audit":             {pub: consumer(s1, "audit"), sub: []string{inbox("audit")}},
		"admin":             admin,
		"system":            system,
	},
	"full-bus-2": {
		"request-validator": {pub: []string{"cordon.clean-req.in"}, sub: []string{inbox("request-validator")}},
		"backend":           {pub: cat(consumer(s2, "backend"), ledger), sub: []string{inbox("backend")}},
		"audit":             {pub: consumer(s2, "audit"), sub: []string{inbox("audit")}},
		"admin":             admin,
		"system":            system,
	},
	"full-bus-3": {
		"backend":            {pub: []string{"cordon.dirty-resp.in"}, sub: []string{inbox("backend")}},
		"response-validator": {pub: consumer(s3, "response-validator"), sub: []string{inbox("response-validator")}},
		"audit":              {pub: consumer(s3, "audit"), sub: []string{inbox("audit")}},
		"admin":              admin,
		"system":             system,
	},
	"full-bus-4": {
		"fe-a":               {sub: []string{inbox("fe-a"), "cordon.clean-resp.reply.fe-a"}},
		"fe-b":               {sub: []string{inbox("fe-b"), "cordon.clean-resp.reply.fe-b"}},
		"response-validator": {pub: []string{"cordon.clean-resp.reply.*"}, sub: []string{inbox("response-validator")}},
		"audit":              {pub: consumer(s4, "audit"), sub: []string{inbox("audit")}},
		"admin":              admin,
		"system":             system,
	},
	"single-nats": {
		"fe-a": {pub: feOut, sub: []string{inbox("fe-a"), "cordon.dirty-req.reply.fe-a", "cordon.clean-resp.reply.fe-a"}},
		"fe-b": {pub: feOut, sub: []string{inbox("fe-b"), "cordon.dirty-req.reply.fe-b", "cordon.clean-resp.reply.fe-b"}},
		"request-validator": {
			pub: cat(consumer(s1, "request-validator"), []string{"cordon.dirty-req.reply.*", "cordon.clean-req.in"}),
			sub: []string{inbox("request-validator")},
		},
		"backend": {pub: cat(consumer(s2, "backend"), ledger, []string{"cordon.dirty-resp.in"}), sub: []string{inbox("backend")}},
		"response-validator": {
			pub: cat(consumer(s3, "response-validator"), []string{"cordon.clean-resp.reply.*"}),
			sub: []string{inbox("response-validator")},
		},
		"audit":  {pub: cat(consumer(s1, "audit"), consumer(s2, "audit"), consumer(s3, "audit"), consumer(s4, "audit")), sub: []string{inbox("audit")}},
		"admin":  admin,
		"system": system,
	},
	"single-validation": {
		"fe-a":    {pub: feOut, sub: []string{inbox("fe-a"), "cordon.dirty-req.reply.fe-a", "cordon.dirty-resp.reply.fe-a"}},
		"fe-b":    {pub: feOut, sub: []string{inbox("fe-b"), "cordon.dirty-req.reply.fe-b", "cordon.dirty-resp.reply.fe-b"}},
		"backend": {pub: cat(consumer(s1, "backend"), ledger, []string{"cordon.dirty-resp.reply.*"}), sub: []string{inbox("backend")}},
		"audit":   {pub: cat(consumer(s1, "audit"), consumer(s3, "audit")), sub: []string{inbox("audit")}},
		"admin":   admin,
		"system":  system,
	},
	"single-validation-bus-1": {
		"fe-a":    {pub: feOut, sub: []string{inbox("fe-a"), "cordon.dirty-req.reply.fe-a"}},
		"fe-b":    {pub: feOut, sub: []string{inbox("fe-b"), "cordon.dirty-req.reply.fe-b"}},
		"backend": {pub: cat(consumer(s1, "backend"), ledger), sub: []string{inbox("backend")}},
		"audit":   {pub: consumer(s1, "audit"), sub: []string{inbox("audit")}},
		"admin":   admin,
		"system":  system,
	},
	"single-validation-bus-3": {
		"fe-a":    {sub: []string{inbox("fe-a"), "cordon.dirty-resp.reply.fe-a"}},
		"fe-b":    {sub: []string{inbox("fe-b"), "cordon.dirty-resp.reply.fe-b"}},
		"backend": {pub: []string{"cordon.dirty-resp.reply.*"}, sub: []string{inbox("backend")}},
		"audit":   {pub: consumer(s3, "audit"), sub: []string{inbox("audit")}},
		"admin":   admin,
		"system":  system,
	},
}

func TestPermissionsMatrix(t *testing.T) {
	sorted := cmpopts.SortSlices(func(a, b string) bool { return a < b })
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			want := matrix[sc.name]
			if want == nil {
				t.Fatal("scenario missing from the matrix")
			}
			s := sc.server(t)
			s.Users = nil
			for _, c := range candidates {
				pub, sub, err := natsconf.Permissions(s, c.user(t))
				w, ok := want[c.name]
				if !ok {
					if err == nil {
						t.Errorf("%s: granted pub %q sub %q, want refused", c.name, pub, sub)
					}
					continue
				}
				if err != nil {
					t.Errorf("%s: %v", c.name, err)
					continue
				}
				if !slices.IsSorted(pub) || !slices.IsSorted(sub) {
					t.Errorf("%s: lists not sorted", c.name)
				}
				if diff := cmp.Diff(w, perms{pub, sub}, cmp.AllowUnexported(perms{}), sorted, cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("%s (-want +got):\n%s", c.name, diff)
				}
			}
		})
	}
}

// TestPermissionsInvariants checks, for every user of every scenario, the
// rules the matrix must never break, whatever a later edit does to it.
func TestPermissionsInvariants(t *testing.T) {
	for _, sc := range scenarios {
		s := sc.server(t)
		for _, u := range s.Users {
			pub, sub, err := natsconf.Permissions(s, u)
			if err != nil {
				t.Fatalf("%s/%s: %v", sc.name, u.Name, err)
			}
			for _, p := range pub {
				bad := p == ">" || strings.HasPrefix(p, "_INBOX") || strings.HasPrefix(p, "$SYS") ||
					strings.Contains(p, "CONSUMER.CREATE") || strings.Contains(p, "CONSUMER.DURABLE") ||
					strings.Contains(p, "CONSUMER.DELETE") ||
					(strings.HasPrefix(p, "$JS.API.STREAM.") && p != "$JS.API.STREAM.INFO.KV_"+ledgerBucket) ||
					(strings.HasPrefix(p, "$JS.API.") && strings.HasSuffix(p, ">") && u.Role != natsconf.RoleAdmin &&
						p != "$JS.API.DIRECT.GET.KV_"+ledgerBucket+".>")
				if bad {
					t.Errorf("%s/%s may publish %q", sc.name, u.Name, p)
				}
				if strings.HasSuffix(p, ".final") && u.Role != natsconf.RoleFrontend {
					t.Errorf("%s/%s may publish terminal records: %q", sc.name, u.Name, p)
				}
				if strings.HasPrefix(p, "$JS.API.CONSUMER.") || strings.HasPrefix(p, "$JS.ACK.") {
					// Only its own consumer: the name is the role's.
					own := string(u.Role)
					if !strings.HasSuffix(p, "."+own) && !strings.HasSuffix(p, "."+own+".>") {
						t.Errorf("%s/%s may use another consumer: %q", sc.name, u.Name, p)
					}
				}
			}
			for _, p := range sub {
				own := p == inbox(u.Name) || strings.HasPrefix(p, "$SYS.") && u.Role == natsconf.RoleSystem
				for _, id := range u.FrontendIDs {
					own = own || strings.HasSuffix(p, ".reply."+id)
				}
				if !own {
					t.Errorf("%s/%s may subscribe to %q", sc.name, u.Name, p)
				}
			}
			if len(pub) == 0 && len(sub) == 0 {
				t.Errorf("%s/%s has no permissions at all", sc.name, u.Name)
			}
		}
	}
}

func TestRenderRefuses(t *testing.T) {
	base := func(t *testing.T) natsconf.Server { return scenarios[0].server(t) }
	fe := func(s *natsconf.Server) *natsconf.User { return &s.Users[0] }
	tests := []struct {
		name string
		edit func(s *natsconf.Server)
	}{
		{"unknown mode", func(s *natsconf.Server) { s.Mode = "fast" }},
		{"empty mode", func(s *natsconf.Server) { s.Mode = "" }},
		{"full mode with two buses", func(s *natsconf.Server) { s.Buses = []cordon.Bus{1, 2} }},
		{"full mode without bus", func(s *natsconf.Server) { s.Buses = nil }},
		{"bus 0", func(s *natsconf.Server) { s.Buses = []cordon.Bus{0} }},
		{"single-nats with three buses", func(s *natsconf.Server) { s.Mode = natsconf.ModeSingleNATS; s.Buses = []cordon.Bus{1, 2, 3} }},
		{"single-nats with a bus twice", func(s *natsconf.Server) { s.Mode = natsconf.ModeSingleNATS; s.Buses = []cordon.Bus{1, 2, 3, 3} }},
		{"single-validation on bus 2", func(s *natsconf.Server) { s.Mode = natsconf.ModeSingleValidation; s.Buses = []cordon.Bus{1, 2} }},
		{"request validator in single-validation", func(s *natsconf.Server) {
			s.Mode = natsconf.ModeSingleValidation
			s.Users = []natsconf.User{candidates[2].user(t)}
		}},
		{"subjects unset", func(s *natsconf.Server) { s.Subjects = bus.Subjects{} }},
		{"server name with space", func(s *natsconf.Server) { s.Name = "bus 1" }},
		{"host with quote", func(s *natsconf.Server) { s.Host = `0.0.0.0"` }},
		{"port 0", func(s *natsconf.Server) { s.Port = 0 }},
		{"port 65536", func(s *natsconf.Server) { s.Port = 65536 }},
		{"store dir empty", func(s *natsconf.Server) { s.StoreDir = "" }},
		{"store dir with quote", func(s *natsconf.Server) { s.StoreDir = `/x"; include "/etc/passwd` }},
		{"store dir with newline", func(s *natsconf.Server) { s.StoreDir = "/x\nno_auth_user: admin" }},
		{"store dir with backslash", func(s *natsconf.Server) { s.StoreDir = `/x\` }},
		{"no memory limit", func(s *natsconf.Server) { s.MaxMemory = 0 }},
		{"no store limit", func(s *natsconf.Server) { s.MaxStore = 0 }},
		{"payload over 64MiB", func(s *natsconf.Server) { s.MaxPayload = 64<<20 + 1 }},
		{"tls without key", func(s *natsconf.Server) { s.TLS = &natsconf.TLS{Cert: "/c.pem"} }},
		{"cluster without tls", func(s *natsconf.Server) { s.Cluster = &natsconf.Cluster{Name: "c", Host: "0.0.0.0", Port: 6222} }},
		{"cluster tls without ca", func(s *natsconf.Server) {
			s.Cluster = &natsconf.Cluster{Name: "c", Host: "0.0.0.0", Port: 6222, TLS: &natsconf.TLS{Cert: "/c", Key: "/k"}}
		}},
		{"cluster route with credentials", func(s *natsconf.Server) {
			s.Cluster = validCluster()
			s.Cluster.Routes = []string{"nats-route://user:pw@10.0.0.2:6222"}
		}},
		{"cluster route with other scheme", func(s *natsconf.Server) {
			s.Cluster = validCluster()
			s.Cluster.Routes = []string{"nats://10.0.0.2:6222"}
		}},
		{"cluster route without port", func(s *natsconf.Server) {
			s.Cluster = validCluster()
			s.Cluster.Routes = []string{"nats-route://10.0.0.2"}
		}},
		{"cluster port -1", func(s *natsconf.Server) { s.Cluster = validCluster(); s.Cluster.Port = -1 }},
		{"user name not a token", func(s *natsconf.Server) { fe(s).Name = "FE.A" }},
		{"user name with wildcard", func(s *natsconf.Server) { fe(s).Name = "fe-*" }},
		{"user names repeated", func(s *natsconf.Server) { s.Users[1].Name = s.Users[0].Name }},
		{"nkey repeated", func(s *natsconf.Server) { s.Users[1].NKey = s.Users[0].NKey }},
		{"nkey is a seed", func(s *natsconf.Server) { seed, _ := userKey(t, 1).Seed(); fe(s).NKey = string(seed) }},
		{"nkey of an account", func(s *natsconf.Server) { fe(s).NKey = "A" + fe(s).NKey[1:] }},
		{"nkey empty", func(s *natsconf.Server) { fe(s).NKey = "" }},
		{"unknown role", func(s *natsconf.Server) { fe(s).Role = "root" }},
		{"frontend without ids", func(s *natsconf.Server) { fe(s).FrontendIDs = nil }},
		{"frontend id not a token", func(s *natsconf.Server) { fe(s).FrontendIDs = []string{"a.>"} }},
		{"frontend id shared", func(s *natsconf.Server) { s.Users[1].FrontendIDs = s.Users[0].FrontendIDs }},
		{"frontend ids on another role", func(s *natsconf.Server) { s.Users[2].FrontendIDs = []string{"fe-c"} }},
		{"buses on a non-audit user", func(s *natsconf.Server) { s.Users[2].Buses = []cordon.Bus{1} }},
		{"audit bus not on the server", func(s *natsconf.Server) {
			for i := range s.Users {
				if s.Users[i].Role == natsconf.RoleAudit {
					s.Users[i].Buses = []cordon.Bus{2}
				}
			}
		}},
		{"backend on bus 1 in full mode", func(s *natsconf.Server) { s.Users = append(s.Users, candidates[3].user(t)) }},
		{"response validator on bus 1", func(s *natsconf.Server) { s.Users = append(s.Users, candidates[4].user(t)) }},
	}
	if _, err := natsconf.Render(base(t)); err != nil {
		t.Fatalf("base server refused: %v", err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := base(t)
			tc.edit(&s)
			if out, err := natsconf.Render(s); err == nil {
				t.Errorf("Render accepted:\n%s", out)
			}
			if _, err := natsconf.Options(s); err == nil {
				t.Error("Options accepted")
			}
		})
	}
}

func validCluster() *natsconf.Cluster {
	return &natsconf.Cluster{
		Name: "cordon-bus-2", Host: "0.0.0.0", Port: 6222,
		Routes: []string{"nats-route://10.0.2.11:6222", "nats-route://10.0.2.12:6222"},
		TLS:    &natsconf.TLS{Cert: "/etc/cordon/tls/route.pem", Key: "/etc/cordon/tls/route-key.pem", CA: "/etc/cordon/tls/ca.pem"},
	}
}

// goldens are the rendered configurations kept under testdata/.
func goldens(t *testing.T) map[string]natsconf.Server {
	out := map[string]natsconf.Server{}
	for _, sc := range scenarios {
		out[sc.name] = sc.server(t)
	}
	// A clustered bus 2 with mutual TLS, default sync, default payload.
	s := scenarios[1].server(t)
	s.Name = "cordon-bus-2-a"
	s.TLS = &natsconf.TLS{Cert: "/etc/cordon/tls/bus-2.pem", Key: "/etc/cordon/tls/bus-2-key.pem", CA: "/etc/cordon/tls/ca.pem"}
	s.Cluster = validCluster()
	s.SyncAlways = false
	s.MaxPayload = 0
	out["full-bus-2-tls-cluster"] = s
	return out
}

func TestRenderGolden(t *testing.T) {
	for name, s := range goldens(t) {
		t.Run(name, func(t *testing.T) {
			got, err := natsconf.Render(s)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", name+".conf")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("rendered configuration changed (-golden +now):\n%s", diff)
			}
		})
	}
}

// TestOptionsMatchPermissions: what nats-server itself parses out of the
// rendered text is exactly the matrix, in the right accounts, with the
// server-wide settings the design requires.
func TestOptionsMatchPermissions(t *testing.T) {
	for name, s := range goldens(t) {
		if s.TLS != nil {
			continue // nats-server loads the certificate files while parsing
		}
		t.Run(name, func(t *testing.T) {
			opts, err := natsconf.Options(s)
			if err != nil {
				t.Fatal(err)
			}
			if opts.NoAuthUser != "" || opts.SystemAccount != natsconf.AccountSystem || !opts.JetStream ||
				opts.StoreDir != s.StoreDir || opts.JetStreamMaxStore != s.MaxStore ||
				opts.JetStreamMaxMemory != s.MaxMemory || opts.SyncAlways != s.SyncAlways ||
				opts.MaxPayload != s.MaxPayload || opts.ServerName != s.Name || opts.Port != s.Port {
				t.Errorf("server settings differ: %+v", opts)
			}
			if len(opts.Users) != 0 {
				t.Errorf("password users rendered: %d", len(opts.Users))
			}
			if len(opts.Nkeys) != len(s.Users) {
				t.Fatalf("%d nkey users parsed, want %d", len(opts.Nkeys), len(s.Users))
			}
			for _, u := range s.Users {
				i := slices.IndexFunc(opts.Nkeys, func(n *server.NkeyUser) bool { return n.Nkey == u.NKey })
				if i < 0 {
					t.Fatalf("user %s missing", u.Name)
				}
				n := opts.Nkeys[i]
				wantAcc := natsconf.AccountCordon
				if u.Role == natsconf.RoleSystem {
					wantAcc = natsconf.AccountSystem
				}
				if n.Account == nil || n.Account.Name != wantAcc {
					t.Errorf("%s: account %v, want %s", u.Name, n.Account, wantAcc)
				}
				if _, ok := n.AllowedConnectionTypes["STANDARD"]; !ok || len(n.AllowedConnectionTypes) != 1 {
					t.Errorf("%s: connection types %v", u.Name, n.AllowedConnectionTypes)
				}
				pub, sub, err := natsconf.Permissions(s, u)
				if err != nil {
					t.Fatal(err)
				}
				p := n.Permissions
				if p == nil || p.Publish == nil || p.Subscribe == nil || p.Response != nil {
					t.Fatalf("%s: permissions %+v", u.Name, p)
				}
				check := func(dir string, sp *server.SubjectPermission, allow []string) {
					if len(allow) == 0 {
						if len(sp.Allow) != 0 || !slices.Equal(sp.Deny, []string{">"}) {
							t.Errorf("%s %s: %+v, want deny >", u.Name, dir, sp)
						}
						return
					}
					if !slices.Equal(sp.Allow, allow) || len(sp.Deny) != 0 {
						t.Errorf("%s %s: allow %q deny %q, want allow %q", u.Name, dir, sp.Allow, sp.Deny, allow)
					}
				}
				check("publish", p.Publish, pub)
				check("subscribe", p.Subscribe, sub)
			}
		})
	}
}
