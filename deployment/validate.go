package deployment

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/envelope"
)

// Defaults fills every unset field with its documented default.
func (c *Config) Defaults() {
	setIf(&c.Version, 1)
	setIf(&c.Mode, ModeFull)
	setIf(&c.Prefix, "cordon")
	setIf(&c.DataDir, "./cordon-data")
	setIf(&c.Timeout, 30*time.Second)
	setIf(&c.Signatures, SignaturesEd25519)
	for _, b := range cordon.Buses {
		bc := c.Buses.Get(b)
		setIf(&bc.MaxStore, 1<<30)
		setIf(&bc.StoreDir, filepath.Join(c.DataDir, "nats-"+b.String()))
	}
	fe := &c.Components.Frontend
	setIf(&fe.ID, "fe1")
	setIf(&fe.Listen, "127.0.0.1:8080")
	setIf(&fe.MaxInflight, 4096)
	for _, co := range []*Component{&fe.Component, &c.Components.RequestValidator,
		&c.Components.Backend.Component, &c.Components.ResponseValidator} {
		setIf(&co.Workers, 64)
	}
	setIf(&c.Components.Backend.MaxIdleConnsPerHost, c.Components.Backend.Workers)
	for i := range c.APIs {
		setIf(&c.APIs[i].BasePath, "/")
	}
	l := &c.Limits
	setIf(&l.MaxBodyBytes, 1<<20)
	setIf(&l.MaxResponseBytes, 8<<20)
	setIf(&l.MaxHeaderBytes, 32<<10)
	setIf(&l.MaxURLBytes, 4<<10)
	setIf(&l.ReadHeaderTimeout, 5*time.Second)
	setIf(&l.ReadTimeout, 30*time.Second)
	setIf(&l.IdleTimeout, 60*time.Second)
}

func setIf[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}

// Validate reports every problem of the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Version != 1 {
		bad("version: %d is not supported (want 1)", c.Version)
	}
	switch c.Mode {
	case ModeFull, ModeSingleNATS, ModeSingleValidation:
	default:
		bad("mode: %q (want full, single-nats or single-validation)", c.Mode)
	}
	if !validToken(c.Prefix) {
		bad("prefix: %q (want lower-case letters, digits, '-' or '_')", c.Prefix)
	}
	if c.Timeout < 100*time.Millisecond || c.Timeout > 10*time.Minute {
		bad("timeout: %s (want between 100ms and 10m)", c.Timeout)
	}
	for _, st := range cordon.Stages {
		for i, k := range c.Trust.Get(st) {
			if _, err := envelope.ParsePublicKey(k); err != nil {
				bad("trust.%s[%d]: %v", StageKey(st), i, err)
			}
		}
	}
	switch c.Signatures {
	case SignaturesEd25519:
	case SignaturesHMAC:
		for _, st := range cordon.Stages {
			if len(c.LinkKeys.Get(st)) == 0 {
				bad("link_keys.%s: required with signatures: hmac", StageKey(st))
			}
		}
	default:
		bad("signatures: %q (want ed25519 or hmac)", c.Signatures)
	}
	if !validToken(c.Components.Frontend.ID) {
		bad("components.frontend.id: %q (want lower-case letters, digits, '-' or '_')", c.Components.Frontend.ID)
	}
	for _, b := range c.BusesUsed() {
		if u := c.Buses.Get(b).URL; u != "" {
			for _, one := range strings.Split(u, ",") {
				if p, err := url.Parse(strings.TrimSpace(one)); err != nil || (p.Scheme != "nats" && p.Scheme != "tls") || p.Host == "" {
					bad("buses.%s.url: %q (want nats://host:port or tls://host:port)", yamlBus(b), one)
				}
			}
		}
	}
	names := map[string]bool{}
	for i, a := range c.APIs {
		if !validToken(a.Name) {
			bad("apis[%d].name: %q (want a token)", i, a.Name)
		}
		if names[a.Name] {
			bad("apis[%d].name: %q appears twice", i, a.Name)
		}
		names[a.Name] = true
		if !strings.HasPrefix(a.BasePath, "/") {
			bad("apis[%d].base_path: %q must start with /", i, a.BasePath)
		}
		if a.Spec == "" {
			bad("apis[%d].spec: required", i)
		}
		if u, err := url.Parse(a.Upstream); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("apis[%d].upstream: %q (want http(s)://host[:port][/path])", i, a.Upstream)
		}
	}
	if err := c.Audit.Validate(); err != nil {
		bad("audit: %w", err)
	}
	return errors.Join(errs...)
}

// BusesUsed lists the buses this deployment's mode uses.
func (c *Config) BusesUsed() []cordon.Bus {
	if c.Mode == ModeSingleValidation {
		return []cordon.Bus{cordon.BusDirtyReq, cordon.BusDirtyResp}
	}
	return cordon.Buses
}

func yamlBus(b cordon.Bus) string { return strings.ReplaceAll(b.String(), "-", "_") }

// StageKey is a stage's key in the file (components, trust, link_keys):
// request_validator for the request-validator stage.
func StageKey(s cordon.Stage) string { return strings.ReplaceAll(s.String(), "-", "_") }

func validToken(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
		case (r == '-' || r == '_') && i > 0:
		default:
			return false
		}
	}
	return true
}
