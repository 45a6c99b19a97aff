package natsconf

import (
	"fmt"
	"slices"
	"strings"
)

// allowedConnectionTypes: plain client connections only; no websocket,
// MQTT, leafnode or in-process entry points (nothing of cordon's uses them).
var allowedConnectionTypes = []string{"STANDARD"}

// Render returns the nats-server configuration of s. The output is
// deterministic (users in the given order, subjects sorted), so it can be
// diffed and golden-tested.
func Render(s Server) ([]byte, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	w := &writer{}
	names := make([]string, len(s.Buses))
	for i, b := range s.Buses {
		names[i] = fmt.Sprintf("%d (%s)", b, b)
	}
	w.line("# nats-server configuration for cordon: server %s, mode %s, bus %s.", s.Name, s.Mode, strings.Join(names, ", "))
	w.line("# Rendered by cordon (package natsconf). Do not edit: change the deployment")
	w.line("# configuration and render again.")
	w.line("")
	w.kv("server_name", s.Name)
	w.kv("host", s.Host)
	w.line("port: %d", s.Port)
	if s.MaxPayload > 0 {
		w.line("max_payload: %d", s.MaxPayload)
	}
	w.line("")
	w.open("jetstream")
	w.kv("store_dir", s.StoreDir)
	w.line("max_memory_store: %d", s.MaxMemory)
	w.line("max_file_store: %d", s.MaxStore)
	if s.SyncAlways {
		w.line("# fsync every write: acknowledged messages survive a power loss.")
		w.line("sync_interval: always")
	} else {
		w.line("# Default sync interval (2 minutes): a power loss can lose acknowledged")
		w.line("# messages; a process crash cannot.")
	}
	w.close()
	if s.TLS != nil {
		w.line("")
		w.tls(s.TLS)
	}
	if c := s.Cluster; c != nil {
		w.line("")
		w.open("cluster")
		w.kv("name", c.Name)
		w.kv("host", c.Host)
		w.line("port: %d", c.Port)
		if len(c.Routes) > 0 {
			w.list("routes", c.Routes)
		}
		w.tls(c.TLS)
		w.close()
	}

	w.line("")
	w.line("# One account for every cordon user; a separate system account. There is")
	w.line("# no no_auth_user: every connection authenticates with its own NKey.")
	w.open("accounts")
	w.open(AccountCordon)
	w.line("jetstream: enabled")
	w.users(&s, func(u User) bool { return u.Role != RoleSystem })
	w.close()
	w.open(AccountSystem)
	w.users(&s, func(u User) bool { return u.Role == RoleSystem })
	w.close()
	w.close()
	w.kv("system_account", AccountSystem)
	return []byte(w.String()), nil
}

type writer struct {
	strings.Builder
	depth int
}

func (w *writer) line(format string, args ...any) {
	if format != "" {
		w.WriteString(strings.Repeat("  ", w.depth))
		fmt.Fprintf(w, format, args...)
	}
	w.WriteByte('\n')
}

// kv writes a quoted string value; check() made sure it needs no escaping.
func (w *writer) kv(k, v string) { w.line("%s: %q", k, v) }

func (w *writer) open(name string) {
	if name == "" {
		w.line("{")
	} else {
		w.line("%s {", name)
	}
	w.depth++
}

func (w *writer) close() { w.depth--; w.line("}") }

func (w *writer) list(k string, vs []string) {
	if len(vs) == 0 {
		w.line("%s: []", k)
		return
	}
	w.line("%s: [", k)
	w.depth++
	for _, v := range vs {
		w.line("%q", v)
	}
	w.depth--
	w.line("]")
}

func (w *writer) tls(t *TLS) {
	w.open("tls")
	w.kv("cert_file", t.Cert)
	w.kv("key_file", t.Key)
	if t.CA != "" {
		w.kv("ca_file", t.CA)
		w.line("verify: true")
	}
	w.kv("min_version", "1.3")
	w.close()
}

func (w *writer) users(s *Server, keep func(User) bool) {
	us := slices.DeleteFunc(slices.Clone(s.Users), func(u User) bool { return !keep(u) })
	if len(us) == 0 {
		w.line("users: []")
		return
	}
	w.line("users: [")
	w.depth++
	for _, u := range us {
		pub, sub := s.grants(u)
		w.line("# %s: %s%s", u.Name, u.Role, userNote(u))
		w.open("")
		w.kv("nkey", u.NKey)
		w.list("allowed_connection_types", allowedConnectionTypes)
		w.open("permissions")
		w.perm("publish", pub)
		w.perm("subscribe", sub)
		w.close()
		w.close()
	}
	w.depth--
	w.line("]")
}

// perm writes one direction. An empty allow list would mean "everything"
// to nats-server, so nothing allowed is written as a deny of everything.
func (w *writer) perm(dir string, allow []string) {
	w.open(dir)
	if len(allow) == 0 {
		w.list("deny", []string{">"})
	} else {
		w.list("allow", allow)
	}
	w.close()
}

func userNote(u User) string {
	switch {
	case len(u.FrontendIDs) > 0:
		return " (frontend ids " + strings.Join(u.FrontendIDs, ", ") + ")"
	case len(u.Buses) > 0:
		bs := make([]string, len(u.Buses))
		for i, b := range u.Buses {
			bs[i] = b.String()
		}
		return " (buses " + strings.Join(bs, ", ") + ")"
	}
	return ""
}
