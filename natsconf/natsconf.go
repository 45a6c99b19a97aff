package natsconf

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"

	"github.com/nats-io/nkeys"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/bus"
)

// Role is what a NATS user does on a server.
type Role string

// The roles. The four stages and the audit shipper are run-time users;
// the admin provisions streams and consumers and must never be held by a
// component at run time; the system user reads auth-error advisories.
const (
	RoleFrontend          Role = "frontend"
	RoleRequestValidator  Role = "request-validator"
	RoleBackend           Role = "backend"
	RoleResponseValidator Role = "response-validator"
	RoleAudit             Role = "audit"
	RoleAdmin             Role = "admin"
	RoleSystem            Role = "system"
)

// The deployment shapes a server can belong to.
const (
	// ModeFull: one server per bus; Buses holds exactly one bus.
	ModeFull = "full"
	// ModeSingleNATS: one server carrying all four buses' subject spaces.
	ModeSingleNATS = "single-nats"
	// ModeSingleValidation: buses 1 and 3 only (on one server or one each);
	// the backend runs both validators.
	ModeSingleValidation = "single-validation"
)

// Account names in the rendered configuration.
const (
	AccountCordon = "CORDON" // every run-time user; JetStream enabled
	AccountSystem = "SYS"    // the system account
)

// User is one NATS user on a server.
type User struct {
	// Name identifies the user in the rendered file and sets its private
	// inbox prefix _INBOX_<Name> (clients use nats.CustomInboxPrefix). A
	// token: lower-case letters, digits, '-' and '_'.
	Name string
	Role Role
	// NKey is the user's public NKey ("U...").
	NKey string
	// FrontendIDs are the frontend instance ids whose replies this user
	// may receive (frontend role only, at least one).
	FrontendIDs []string
	// Buses limits an audit user to the audit consumers of these buses;
	// empty means every bus the server carries (audit role only).
	Buses []cordon.Bus
}

// TLS is server-side TLS material (file paths).
type TLS struct {
	Cert, Key string
	// CA, when set, turns on mutual TLS: peers must present a certificate
	// signed by it (verify: true).
	CA string
}

// Cluster makes the server one node of a cluster, for replicated streams.
// Routes are authenticated by mutual TLS, so TLS with a CA is required.
type Cluster struct {
	Name   string
	Host   string
	Port   int
	Routes []string // nats-route://host:port of the other nodes
	TLS    *TLS
}

// Server is one nats-server of a deployment.
type Server struct {
	Name, Host string
	// Port is the client port; -1 picks a random one (tests).
	Port     int
	StoreDir string
	// Buses the server carries: one in ModeFull, all four in
	// ModeSingleNATS, 1 and/or 3 in ModeSingleValidation.
	Buses    []cordon.Bus
	Mode     string
	Subjects bus.Subjects
	Users    []User
	// SyncAlways renders sync_interval: always, so acknowledged messages
	// survive a power loss. It costs several times the throughput of the
	// default (fsync every 2 minutes); see the README's measurements.
	SyncAlways bool
	// JetStream limits, both required.
	MaxMemory, MaxStore int64
	// MaxPayload is the largest message the server accepts; 0 keeps the
	// server's default of 1 MiB.
	MaxPayload int32
	TLS        *TLS     // optional
	Cluster    *Cluster // optional
}

var (
	nameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	hostRE = regexp.MustCompile(`^[A-Za-z0-9.:_\[\]-]{1,253}$`)
)

// quotable reports whether s can be written between double quotes in a
// nats-server configuration without escaping.
func quotable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == '"' || r == '\\' {
			return false
		}
	}
	return true
}

func checkPath(what, p string) error {
	if p == "" || !quotable(p) {
		return fmt.Errorf("natsconf: %s %q: want a non-empty path without quotes, backslashes or control characters", what, p)
	}
	return nil
}

func checkPort(what string, p int, random bool) error {
	if (p < 1 || p > 65535) && !(random && p == -1) {
		return fmt.Errorf("natsconf: %s %d out of range", what, p)
	}
	return nil
}

func (t *TLS) check(what string) error {
	if err := checkPath(what+" cert", t.Cert); err != nil {
		return err
	}
	if err := checkPath(what+" key", t.Key); err != nil {
		return err
	}
	if t.CA != "" {
		return checkPath(what+" ca", t.CA)
	}
	return nil
}

// checkBuses checks the buses of one server against its mode.
func checkBuses(mode string, buses []cordon.Bus) error {
	seen := map[cordon.Bus]bool{}
	for _, b := range buses {
		if !b.Valid() || seen[b] {
			return fmt.Errorf("natsconf: buses %v: invalid or repeated bus", buses)
		}
		seen[b] = true
	}
	switch mode {
	case ModeFull:
		if len(buses) != 1 {
			return fmt.Errorf("natsconf: mode %s: want exactly one bus per server, got %v", mode, buses)
		}
	case ModeSingleNATS:
		if len(buses) != 4 {
			return fmt.Errorf("natsconf: mode %s: want all four buses, got %v", mode, buses)
		}
	case ModeSingleValidation:
		if len(buses) == 0 || seen[cordon.BusCleanReq] || seen[cordon.BusCleanResp] {
			return fmt.Errorf("natsconf: mode %s: want bus 1 and/or bus 3, got %v", mode, buses)
		}
	default:
		return fmt.Errorf("natsconf: unknown mode %q (want %s, %s or %s)", mode, ModeFull, ModeSingleNATS, ModeSingleValidation)
	}
	return nil
}

// check validates s and every user in it.
func (s *Server) check() error {
	if !nameRE.MatchString(s.Name) {
		return fmt.Errorf("natsconf: server name %q: want 1-64 letters, digits, '-' or '_'", s.Name)
	}
	if !hostRE.MatchString(s.Host) {
		return fmt.Errorf("natsconf: server %s: bad host %q", s.Name, s.Host)
	}
	if err := checkPort("port", s.Port, true); err != nil {
		return err
	}
	if err := checkPath("store dir", s.StoreDir); err != nil {
		return err
	}
	if s.Subjects.Prefix() == "" {
		return errors.New("natsconf: Subjects not set (use bus.NewSubjects)")
	}
	if err := checkBuses(s.Mode, s.Buses); err != nil {
		return err
	}
	if s.MaxMemory <= 0 || s.MaxStore <= 0 {
		return fmt.Errorf("natsconf: server %s: MaxMemory and MaxStore must be set", s.Name)
	}
	if s.MaxPayload < 0 || s.MaxPayload > 64<<20 {
		return fmt.Errorf("natsconf: server %s: MaxPayload %d out of range (0..64MiB)", s.Name, s.MaxPayload)
	}
	if s.TLS != nil {
		if err := s.TLS.check("tls"); err != nil {
			return err
		}
	}
	if c := s.Cluster; c != nil {
		if !nameRE.MatchString(c.Name) || !hostRE.MatchString(c.Host) {
			return fmt.Errorf("natsconf: cluster name %q / host %q invalid", c.Name, c.Host)
		}
		if err := checkPort("cluster port", c.Port, false); err != nil {
			return err
		}
		if c.TLS == nil || c.TLS.CA == "" {
			return errors.New("natsconf: a cluster needs TLS with a CA: routes authenticate each other by mutual TLS")
		}
		if err := c.TLS.check("cluster tls"); err != nil {
			return err
		}
		for _, r := range c.Routes {
			u, err := url.Parse(r)
			if err != nil || u.Scheme != "nats-route" || u.User != nil || u.Path != "" || !quotable(r) {
				return fmt.Errorf("natsconf: cluster route %q: want nats-route://host:port", r)
			}
			if _, port, err := net.SplitHostPort(u.Host); err != nil || port == "" {
				return fmt.Errorf("natsconf: cluster route %q: want nats-route://host:port", r)
			} else if p, _ := strconv.Atoi(port); checkPort("route port", p, false) != nil {
				return fmt.Errorf("natsconf: cluster route %q: bad port", r)
			}
		}
	}

	names, keys, fids := map[string]bool{}, map[string]bool{}, map[string]string{}
	for _, u := range s.Users {
		if err := s.checkUser(u); err != nil {
			return err
		}
		if names[u.Name] {
			return fmt.Errorf("natsconf: user name %q repeated", u.Name)
		}
		if keys[u.NKey] {
			return fmt.Errorf("natsconf: user %s: nkey used by another user", u.Name)
		}
		names[u.Name], keys[u.NKey] = true, true
		for _, id := range u.FrontendIDs {
			if other, ok := fids[id]; ok {
				// Two users would read each other's answers.
				return fmt.Errorf("natsconf: frontend id %q given to both %s and %s", id, other, u.Name)
			}
			fids[id] = u.Name
		}
	}
	return nil
}

// checkUser validates u against s, and refuses a user with nothing to do on
// this server: credentials exist only where a component needs them.
func (s *Server) checkUser(u User) error {
	if !bus.ValidToken(u.Name) {
		return fmt.Errorf("natsconf: user name %q: want lower-case letters, digits, '-' or '_'", u.Name)
	}
	if !nkeys.IsValidPublicUserKey(u.NKey) {
		return fmt.Errorf("natsconf: user %s: not a public user nkey", u.Name)
	}
	switch u.Role {
	case RoleFrontend, RoleRequestValidator, RoleBackend, RoleResponseValidator, RoleAudit, RoleAdmin, RoleSystem:
	default:
		return fmt.Errorf("natsconf: user %s: unknown role %q", u.Name, u.Role)
	}
	if (u.Role == RoleFrontend) != (len(u.FrontendIDs) > 0) {
		return fmt.Errorf("natsconf: user %s: frontend ids are required for, and only for, the frontend role", u.Name)
	}
	for _, id := range u.FrontendIDs {
		if !bus.ValidToken(id) {
			return fmt.Errorf("natsconf: user %s: frontend id %q is not a token", u.Name, id)
		}
	}
	if len(u.Buses) > 0 && u.Role != RoleAudit {
		return fmt.Errorf("natsconf: user %s: Buses is for audit users only", u.Name)
	}
	for _, b := range u.Buses {
		if !slices.Contains(s.Buses, b) {
			return fmt.Errorf("natsconf: audit user %s: bus %v is not on server %s", u.Name, b, s.Name)
		}
	}
	if s.Mode == ModeSingleValidation && (u.Role == RoleRequestValidator || u.Role == RoleResponseValidator) {
		return fmt.Errorf("natsconf: user %s: no %s in mode %s (the backend validates)", u.Name, u.Role, s.Mode)
	}
	if pub, sub := s.grants(u); len(pub) == 0 && len(sub) == 0 {
		return fmt.Errorf("natsconf: user %s: role %s has nothing to do on buses %v; leave it out", u.Name, u.Role, s.Buses)
	}
	return nil
}
