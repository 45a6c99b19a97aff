package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/admin"
	"github.com/cordon-gateway/cordon/bus"
	"github.com/cordon-gateway/cordon/demo"
	"github.com/cordon-gateway/cordon/deployment"
	"github.com/cordon-gateway/cordon/embednats"
	"github.com/cordon-gateway/cordon/envelope"
	"golang.org/x/sync/errgroup"
)

// devOptions are the flags of `cordon dev`.
type devOptions struct {
	listen, admin, upstream, spec, data, config, mode, auditDSN, signatures string
	timeout                                                                 time.Duration
	set                                                                     map[string]bool
	// ready, if set, receives the running gateway (tests).
	ready func(*devGateway)
}

// devGateway describes a running `cordon dev`, for the banner and tests.
type devGateway struct {
	Public, Admin, Upstream string
	Buses                   map[cordon.Bus]string
	Servers                 map[cordon.Bus]*embednats.Server
	DataDir                 string
	Config                  *deployment.Config
	Signers                 map[cordon.Stage]*envelope.Signer
	Demo                    bool
}

func runDev(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	o, err := parseDevFlags(args, stderr)
	if err != nil {
		return err
	}
	return dev(ctx, o, getenv, stdout, stderr)
}

func parseDevFlags(args []string, stderr io.Writer) (devOptions, error) {
	var o devOptions
	fs := newFlagSet("dev", stderr)
	fs.StringVar(&o.listen, "listen", "127.0.0.1:8080", "public listen address")
	fs.StringVar(&o.admin, "admin", "127.0.0.1:9090", "admin listen address (/livez, /readyz, /metrics)")
	fs.StringVar(&o.upstream, "upstream", "", "base URL of the API to protect (default: the built-in demo API)")
	fs.StringVar(&o.spec, "spec", "", "OpenAPI 3.0/3.1 document of the upstream (required with --upstream)")
	fs.StringVar(&o.data, "data", "./cordon-data", "directory for NATS stores, keys and the embedded audit store")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "request deadline")
	fs.StringVar(&o.config, "config", "", "deployment configuration (flags given explicitly override it)")
	fs.StringVar(&o.mode, "mode", "full", "deployment shape: full, single-nats or single-validation")
	fs.StringVar(&o.signatures, "signatures", "ed25519", "message authentication: ed25519, or hmac (link keys: faster, weaker; docs/security.md)")
	fs.StringVar(&o.auditDSN, "audit-dsn", "", "PostgreSQL DSN of the audit store (default: embedded store under --data)")
	if err := parseFlags(fs, args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, usageError{fmt.Sprintf("dev takes no arguments, got %q", fs.Args())}
	}
	o.set = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { o.set[f.Name] = true })
	if o.upstream != "" && o.spec == "" {
		return o, usageError{"--upstream needs --spec (the OpenAPI document the validators enforce)"}
	}
	return o, nil
}

// devConfig merges the configuration file (if any) with the flags.
func devConfig(o devOptions, getenv func(string) string) (*deployment.Config, error) {
	cfg := &deployment.Config{}
	if o.config != "" {
		c, err := deployment.Load(o.config, getenv)
		if err != nil {
			return nil, err
		}
		cfg = c
	}
	useFlag := func(name string) bool { return o.config == "" || o.set[name] }
	if useFlag("listen") {
		cfg.Components.Frontend.Listen = o.listen
	}
	if useFlag("data") {
		cfg.DataDir = o.data
	}
	if useFlag("timeout") {
		cfg.Timeout = o.timeout
	}
	if useFlag("mode") {
		cfg.Mode = deployment.Mode(o.mode)
	}
	if useFlag("signatures") {
		cfg.Signatures = o.signatures
	}
	if o.auditDSN != "" {
		cfg.Audit.DSN = o.auditDSN
	}
	if o.config == "" {
		// Everything shares one machine in dev: leave the audit's
		// re-verification of kept envelopes to `cordon audit verify`
		// instead of doing it on the hot path's cores.
		cfg.Audit.Capture.DeferSignatures = true
		// The shippers share the request path's cores: frequent batches
		// spread their work instead of a burst every 200 ms (request p99
		// at 64 clients ~15 % lower in cordon bench than at 200 ms), and
		// 50 ms rather than 25 ms halves the transactions for 2 % less CPU
		// per request at the same p99.
		cfg.Audit.FetchWait = 50 * time.Millisecond
	}
	if o.upstream != "" {
		cfg.APIs = []deployment.API{{Name: "api", BasePath: "/", Spec: o.spec, Upstream: o.upstream}}
	}
	cfg.Defaults()
	return cfg, nil
}

func dev(ctx context.Context, o devOptions, getenv func(string) string, stdout, stderr io.Writer) error {
	log := newLogger(stderr, slog.LevelInfo)
	cfg, err := devConfig(o, getenv)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return err
	}
	g := &devGateway{DataDir: cfg.DataDir, Config: cfg, Buses: map[cordon.Bus]string{},
		Servers: map[cordon.Bus]*embednats.Server{}}

	// The built-in demo API, when nothing else is protected.
	var upstreamSrv *http.Server
	if len(cfg.APIs) == 0 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		upstreamSrv = &http.Server{Handler: demo.Handler(), ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = upstreamSrv.Serve(ln) }()
		defer upstreamSrv.Close()
		specPath := filepath.Join(cfg.DataDir, "demo-openapi.yaml")
		if err := os.WriteFile(specPath, demo.Spec, 0o600); err != nil {
			return err
		}
		cfg.APIs = []deployment.API{{Name: "demo", BasePath: "/", Spec: specPath, Upstream: "http://" + ln.Addr().String()}}
		g.Demo = true
		cfg.Defaults()
	}
	g.Upstream = cfg.APIs[0].Upstream
	if cfg.Signatures == deployment.SignaturesHMAC && len(cfg.LinkKeys.Get(cordon.StageFrontend)) == 0 {
		if err := devLinkKeys(cfg); err != nil {
			return err
		}
	}
	if err := cfg.Validate(); err != nil {
		return err
	}

	// Signing keys persist under the data directory, so the audit trail of
	// earlier runs still verifies.
	signers, err := devKeys(filepath.Join(cfg.DataDir, "keys"))
	if err != nil {
		return err
	}
	g.Signers = signers
	cfg.Trust = deployment.StageLists{}
	for s, sg := range signers {
		k := envelope.EncodePublicKey(sg.Public())
		switch s {
		case cordon.StageFrontend:
			cfg.Trust.Frontend = []string{k}
		case cordon.StageRequestValidator:
			cfg.Trust.RequestValidator = []string{k}
		case cordon.StageBackend:
			cfg.Trust.Backend = []string{k}
		case cordon.StageResponseValidator:
			cfg.Trust.ResponseValidator = []string{k}
		}
	}
	if cfg.Signatures == deployment.SignaturesHMAC {
		// The Ed25519 keys stay trusted (earlier runs' records verify);
		// the stages sign with their link keys.
		for s := range signers {
			keys, err := readLinkKeys(cfg.LinkKeys.Get(s))
			if err != nil || len(keys) == 0 {
				return fmt.Errorf("link_keys.%s: %v", deployment.StageKey(s), orNone(err))
			}
			if signers[s], err = envelope.NewLinkSigner(s, keys[0]); err != nil {
				return err
			}
		}
	}

	// One embedded NATS server per bus (one for all in single-nats).
	var shared *embednats.Server
	for _, b := range cfg.BusesUsed() {
		srv := shared
		if srv == nil {
			name, dir := "cordon-"+b.String(), filepath.Join(cfg.DataDir, "nats-"+b.String())
			if cfg.Mode == deployment.ModeSingleNATS {
				name, dir = "cordon-single", filepath.Join(cfg.DataDir, "nats-single")
			}
			srv, err = embednats.Start(embednats.Config{Name: name, StoreDir: dir, MaxStore: serverStore(cfg, b)})
			if err != nil {
				return err
			}
			defer srv.Shutdown()
			if cfg.Mode == deployment.ModeSingleNATS {
				shared = srv
			}
		}
		g.Servers[b] = srv
		g.Buses[b] = srv.ClientURL()
		cfg.Buses.Get(b).URL = srv.ClientURL()
	}
	// Components connect to their embedded servers over loopback TCP, as
	// they would to remote ones: nats.go's in-process connection (a
	// net.Pipe, every write a synchronous hand-over between goroutines)
	// cost 30 % more CPU per request and 25 % of the throughput in cordon
	// bench (full, hmac: 494 vs 384 µs, 3,072 vs 4,043 req/s at c=64).
	if err := provisionAll(ctx, cfg, true, log, func(b cordon.Bus) bus.ConnConfig {
		return bus.ConnConfig{URL: cfg.Buses.Get(b).URL, Name: "admin@" + b.String()}
	}); err != nil {
		return err
	}

	w, err := newWiring(cfg, log, getenv)
	if err != nil {
		return err
	}
	w.signers = signers
	if o.config != "" && o.upstream == "" {
		w.cfgPath = o.config
	}

	fe, pubAddr, err := w.buildFrontend(ctx)
	if err != nil {
		return err
	}
	defer fe.Close()
	g.Public = "http://" + pubAddr.String()
	stages := []*component{}
	builders := []func(context.Context) (*component, error){w.buildBackend}
	if cfg.Mode != deployment.ModeSingleValidation {
		builders = []func(context.Context) (*component, error){w.buildRequestValidator, w.buildBackend, w.buildResponseValidator}
	}
	for _, build := range builders {
		c, err := build(ctx)
		if err != nil {
			return err
		}
		defer c.Close()
		stages = append(stages, c)
	}

	shippers, err := w.buildAuditShippers(ctx, cfg.BusesUsed(), true)
	if err != nil {
		return err
	}
	defer shippers.Close()

	adm := admin.New(w.reg, log.With("role", "admin"))
	for _, c := range append([]*component{fe, shippers}, stages...) {
		for _, ch := range c.checks {
			adm.AddCheck(admin.Check{Name: c.name + "/" + ch.Name, Func: ch.Func})
		}
	}
	adminLn, err := net.Listen("tcp", o.admin)
	if err != nil {
		return fmt.Errorf("admin listen: %w", err)
	}
	g.Admin = "http://" + adminLn.Addr().String()

	printBanner(stdout, g)
	if o.ready != nil {
		o.ready(g)
	}

	// Shut down in reverse order of intake: readiness off and the public
	// listener drained first, then the stages stop pulling and finish
	// what they hold, then the audit shippers flush what the buses hold.
	auditCtx, stopAudit := context.WithCancel(context.WithoutCancel(ctx))
	defer stopAudit()
	auditDone := make(chan error, 1)
	go func() { auditDone <- shippers.run(auditCtx) }()
	stageCtx, stopStages := context.WithCancel(context.WithoutCancel(ctx))
	defer stopStages()
	eg, egctx := errgroup.WithContext(stageCtx)
	for _, c := range stages {
		eg.Go(func() error { return c.run(egctx) })
	}
	eg.Go(func() error { return adm.Serve(egctx, adminLn) })
	eg.Go(func() error { return w.reloadOnHUP(egctx) })
	feErr := make(chan error, 1)
	go func() {
		<-ctx.Done()
		adm.Drain()
	}()
	go func() { feErr <- fe.run(ctx) }()
	select {
	case err = <-feErr:
	case <-egctx.Done():
		err = errors.New("a stage stopped unexpectedly")
		<-feErr
	}
	stopStages()
	if werr := eg.Wait(); werr != nil && err == nil {
		err = werr
	}
	stopAudit()
	if aerr := <-auditDone; aerr != nil && err == nil {
		err = aerr
	}
	log.Info("cordon dev stopped")
	return err
}

// serverStore sizes the store of the server carrying bus b: its stream (all
// four in single-nats mode) and the ledger.
func serverStore(cfg *deployment.Config, b cordon.Bus) int64 {
	if cfg.Mode == deployment.ModeSingleNATS {
		var sum int64
		for _, x := range cordon.Buses {
			sum += int64(cfg.Buses.Get(x).MaxStore)
		}
		return bus.ServerStore(sum, true)
	}
	return bus.ServerStore(int64(cfg.Buses.Get(b).MaxStore), true)
}

// devLinkKeyPath is where `cordon dev --signatures hmac` keeps stage s's
// link key.
func devLinkKeyPath(dataDir string, s cordon.Stage) string {
	return filepath.Join(dataDir, "keys", s.String()+".link")
}

// devLinkKeys points cfg's link keys at the dev key directory, creating
// the keys on first use.
func devLinkKeys(cfg *deployment.Config) error {
	if err := os.MkdirAll(filepath.Join(cfg.DataDir, "keys"), 0o700); err != nil {
		return err
	}
	for _, s := range cordon.Stages {
		path := devLinkKeyPath(cfg.DataDir, s)
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			if err := writeSecret(path, envelope.MarshalLinkKey(envelope.GenerateLinkKey()), false); err != nil {
				return err
			}
		}
		switch s {
		case cordon.StageFrontend:
			cfg.LinkKeys.Frontend = []string{path}
		case cordon.StageRequestValidator:
			cfg.LinkKeys.RequestValidator = []string{path}
		case cordon.StageBackend:
			cfg.LinkKeys.Backend = []string{path}
		case cordon.StageResponseValidator:
			cfg.LinkKeys.ResponseValidator = []string{path}
		}
	}
	return nil
}

// devKeys loads the four stages' signing keys from dir, creating them on
// first use.
func devKeys(dir string) (map[cordon.Stage]*envelope.Signer, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	out := map[cordon.Stage]*envelope.Signer{}
	for _, s := range cordon.Stages {
		path := filepath.Join(dir, s.String()+".key")
		var priv ed25519.PrivateKey
		pem, err := os.ReadFile(path)
		switch {
		case err == nil:
			if priv, err = envelope.ParsePrivateKey(pem); err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
		case errors.Is(err, os.ErrNotExist):
			if _, err = writeSigningKey(path, false); err != nil {
				return nil, err
			}
			pem, err := os.ReadFile(path)
			if err != nil {
				return nil, err
			}
			if priv, err = envelope.ParsePrivateKey(pem); err != nil {
				return nil, err
			}
		default:
			return nil, err
		}
		sg, err := envelope.NewSigner(s, priv)
		if err != nil {
			return nil, err
		}
		out[s] = sg
	}
	return out, nil
}

func printBanner(w io.Writer, g *devGateway) {
	var b strings.Builder
	fmt.Fprintf(&b, "\ncordon dev — %s mode, every stage in this process\n\n", g.Config.Mode)
	fmt.Fprintf(&b, "  public    %s\n", g.Public)
	fmt.Fprintf(&b, "  admin     %s   (/livez /readyz /metrics)\n", g.Admin)
	up := g.Upstream
	if g.Demo {
		up += "   (built-in demo API)"
	}
	fmt.Fprintf(&b, "  upstream  %s\n", up)
	for _, bus := range g.Config.BusesUsed() {
		fmt.Fprintf(&b, "  bus %d     %-10s %s\n", bus, bus.String(), g.Buses[bus])
	}
	fmt.Fprintf(&b, "  data      %s   (NATS stores, signing keys, audit)\n", g.DataDir)
	store := "embedded, " + filepath.Join(g.DataDir, "audit.db")
	if dsn := g.Config.Audit.DSN; dsn != "" {
		store = "PostgreSQL"
	}
	fmt.Fprintf(&b, "  audit     %s   (cordon audit verify|trace|tail --data %s)\n\n", store, g.DataDir)
	if g.Demo {
		fmt.Fprintf(&b, "Try:\n")
		fmt.Fprintf(&b, "  curl -i %s/accounts/acc-1\n", g.Public)
		fmt.Fprintf(&b, "  curl -i -X POST %s/payments -H 'Content-Type: application/json' \\\n       -d '{\"from\":\"acc-1\",\"to\":\"acc-2\",\"amount\":10,\"currency\":\"EUR\"}'\n", g.Public)
		fmt.Fprintf(&b, "  curl -i '%s/accounts?debug=true'     # undeclared parameter: 400\n", g.Public)
		fmt.Fprintf(&b, "  curl -i %s/accounts/leaky            # card number in a declared field: redacted\n", g.Public)
		fmt.Fprintf(&b, "  curl -i %s/accounts/extra            # undeclared field: 502\n", g.Public)
		fmt.Fprintf(&b, "  curl -i %s/accounts/crash            # upstream stack trace: 502\n\n", g.Public)
	}
	_, _ = io.WriteString(w, b.String())
}
