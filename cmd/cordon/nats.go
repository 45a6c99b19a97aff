package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/bus"
	"github.com/cordon-gateway/cordon/deployment"
	"github.com/cordon-gateway/cordon/embednats"
	"github.com/cordon-gateway/cordon/natsconf"
)

// natsServer describes the nats-server that carries bus b: its users are
// the components that need b, each with exactly its permissions.
func natsServer(cfg *deployment.Config, b cordon.Bus) (natsconf.Server, error) {
	subj, err := bus.NewSubjects(cfg.Prefix)
	if err != nil {
		return natsconf.Server{}, err
	}
	bc := cfg.Buses.Get(b)
	host, port, err := listenOf(bc)
	if err != nil {
		return natsconf.Server{}, fmt.Errorf("buses.%s: %w", strings.ReplaceAll(b.String(), "-", "_"), err)
	}
	buses := []cordon.Bus{b}
	name := "cordon-" + b.String()
	var store int64
	switch cfg.Mode {
	case deployment.ModeSingleNATS:
		buses, name = cordon.Buses, "cordon-single"
		for _, x := range cordon.Buses {
			store += int64(cfg.Buses.Get(x).MaxStore)
		}
	default:
		store = int64(bc.MaxStore)
	}
	s := natsconf.Server{
		Name: name, Host: host, Port: port, StoreDir: bc.StoreDir, Buses: buses,
		Mode: string(cfg.Mode), Subjects: subj, SyncAlways: !bc.RelaxedFsync,
		MaxMemory: 64 << 20, MaxStore: bus.ServerStore(store, true), MaxPayload: 16 << 20,
	}
	if bc.TLS.Cert != "" {
		s.TLS = &natsconf.TLS{Cert: bc.TLS.Cert, Key: bc.TLS.Key, CA: bc.TLS.CA}
	}
	type cand struct {
		role  natsconf.Role
		nkey  string
		needs []cordon.Bus
	}
	comps := cfg.Components
	sv := cfg.Mode == deployment.ModeSingleValidation
	cands := []cand{
		{natsconf.RoleFrontend, comps.Frontend.NKey, pick(sv, []cordon.Bus{1, 3}, cordon.BusesOf(cordon.StageFrontend))},
		{natsconf.RoleBackend, comps.Backend.NKey, pick(sv, []cordon.Bus{1, 3}, cordon.BusesOf(cordon.StageBackend))},
		{natsconf.RoleAdmin, bc.AdminNKey, cordon.Buses},
	}
	if !sv {
		cands = append(cands,
			cand{natsconf.RoleRequestValidator, comps.RequestValidator.NKey, cordon.BusesOf(cordon.StageRequestValidator)},
			cand{natsconf.RoleResponseValidator, comps.ResponseValidator.NKey, cordon.BusesOf(cordon.StageResponseValidator)})
	}
	for _, c := range cands {
		if c.nkey == "" || !overlaps(c.needs, buses) {
			continue
		}
		u := natsconf.User{Name: string(c.role), Role: c.role, NKey: c.nkey}
		if c.role == natsconf.RoleFrontend {
			u.FrontendIDs = []string{comps.Frontend.ID}
		}
		s.Users = append(s.Users, u)
	}
	// Audit users: one per bus that has its own audit credential, and the
	// shared one for the others.
	var shared []cordon.Bus
	for _, x := range buses {
		if k := cfg.Buses.Get(x).AuditNKey; k != "" {
			s.Users = append(s.Users, natsconf.User{Name: auditUser(cfg, x), Role: natsconf.RoleAudit, NKey: k, Buses: []cordon.Bus{x}})
		} else {
			shared = append(shared, x)
		}
	}
	if comps.Audit.NKey != "" && len(shared) > 0 {
		u := natsconf.User{Name: "audit", Role: natsconf.RoleAudit, NKey: comps.Audit.NKey}
		if len(shared) < len(buses) {
			u.Buses = shared
		}
		s.Users = append(s.Users, u)
	}
	return s, nil
}

// auditUser is the NATS user of bus b's audit shipper.
func auditUser(cfg *deployment.Config, b cordon.Bus) string {
	if cfg.Buses.Get(b).AuditNKey != "" || cfg.Buses.Get(b).AuditNKeyFile != "" {
		return "audit-" + b.String()
	}
	return "audit"
}

func pick(cond bool, a, b []cordon.Bus) []cordon.Bus {
	if cond {
		return a
	}
	return b
}

func overlaps(a, b []cordon.Bus) bool {
	for _, x := range a {
		for _, y := range b {
			if x == y {
				return true
			}
		}
	}
	return false
}

// listenOf is the bus's listen address, or the host and port of its URL.
func listenOf(bc *deployment.Bus) (string, int, error) {
	addr := bc.Listen
	if addr == "" {
		u, err := url.Parse(strings.TrimSpace(strings.Split(bc.URL, ",")[0]))
		if err != nil || u.Host == "" {
			return "", 0, fmt.Errorf("no listen address and no url to take one from")
		}
		addr = u.Host
	}
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("listen %q: %w", addr, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, fmt.Errorf("listen %q: bad port", addr)
	}
	return host, port, nil
}

func runNATSConfig(_ context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	s, _, err := serverFromFlags("nats-config", args, getenv, stderr)
	if err != nil {
		return err
	}
	text, err := natsconf.Render(s)
	if err != nil {
		return err
	}
	_, err = stdout.Write(text)
	return err
}

// runNATS runs the nats-server of one bus in this process, with the same
// configuration `cordon nats-config` prints.
func runNATS(ctx context.Context, args []string, getenv func(string) string, _, stderr io.Writer) error {
	s, b, err := serverFromFlags("nats", args, getenv, stderr)
	if err != nil {
		return err
	}
	opts, err := natsconf.Options(s)
	if err != nil {
		return err
	}
	srv, err := embednats.StartOptions(opts)
	if err != nil {
		return err
	}
	log := newLogger(stderr, slog.LevelInfo)
	log.Info("nats server ready", "bus", b.String(), "url", srv.ClientURL(), "store", s.StoreDir, "users", len(s.Users))
	return srv.Run(ctx)
}

// serverFromFlags parses --config and --bus and describes that bus's server.
func serverFromFlags(name string, args []string, getenv func(string) string, stderr io.Writer) (natsconf.Server, cordon.Bus, error) {
	fs := newFlagSet(name, stderr)
	config := fs.String("config", "cordon.yaml", "deployment configuration")
	busName := fs.String("bus", "", "bus number (1-4) or name (dirty-req, clean-req, dirty-resp, clean-resp)")
	if err := parseFlags(fs, args); err != nil {
		return natsconf.Server{}, 0, err
	}
	cfg, b, err := loadForBus(*config, *busName, getenv)
	if err != nil {
		return natsconf.Server{}, 0, err
	}
	s, err := natsServer(cfg, b)
	return s, b, err
}

func loadForBus(path, busName string, getenv func(string) string) (*deployment.Config, cordon.Bus, error) {
	if busName == "" {
		return nil, 0, usageError{"--bus is required"}
	}
	b, err := cordon.ParseBus(busName)
	if err != nil {
		return nil, 0, usageError{err.Error()}
	}
	cfg, err := deployment.Load(path, getenv)
	if err != nil {
		return nil, 0, err
	}
	for _, used := range cfg.BusesUsed() {
		if used == b {
			return cfg, b, nil
		}
	}
	return nil, 0, fmt.Errorf("mode %s does not use bus %s", cfg.Mode, b)
}
