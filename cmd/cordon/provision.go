package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/bus"
	"github.com/cordon-gateway/cordon/deployment"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// streamSpecs says, per bus, which consumers the deployment's mode needs.
// Every stream gets the audit consumer when audit is on: with interest
// retention a message stays until the audit has it.
func streamSpecs(cfg *deployment.Config, audit bool) map[cordon.Bus]bus.StreamSpec {
	spec := func(b cordon.Bus, reader string, ledger bool) bus.StreamSpec {
		return bus.StreamSpec{MaxBytes: int64(cfg.Buses.Get(b).MaxStore), Timeout: cfg.Timeout,
			Reader: reader, Audit: audit, Ledger: ledger}
	}
	if cfg.Mode == deployment.ModeSingleValidation {
		return map[cordon.Bus]bus.StreamSpec{
			cordon.BusDirtyReq:  spec(cordon.BusDirtyReq, bus.ConsumerBackend, true),
			cordon.BusDirtyResp: spec(cordon.BusDirtyResp, "", false),
		}
	}
	return map[cordon.Bus]bus.StreamSpec{
		cordon.BusDirtyReq:  spec(cordon.BusDirtyReq, bus.ConsumerRequestValidator, false),
		cordon.BusCleanReq:  spec(cordon.BusCleanReq, bus.ConsumerBackend, true),
		cordon.BusDirtyResp: spec(cordon.BusDirtyResp, bus.ConsumerResponseValidator, false),
		cordon.BusCleanResp: spec(cordon.BusCleanResp, "", false),
	}
}

// provisionAll creates every stream and consumer of cfg. opts returns the
// admin connection options of a bus.
func provisionAll(ctx context.Context, cfg *deployment.Config, audit bool, log *slog.Logger,
	opts func(cordon.Bus) bus.ConnConfig) error {
	subj, err := bus.NewSubjects(cfg.Prefix)
	if err != nil {
		return err
	}
	for b, spec := range streamSpecs(cfg, audit) {
		cc := opts(b)
		cc.Extra = append(cc.Extra, nats.RetryOnFailedConnect(false))
		nc, err := bus.Connect(ctx, cc, log)
		if err != nil {
			return err
		}
		js, err := jetstream.New(nc)
		if err == nil {
			err = bus.Provision(ctx, js, subj, b, spec)
		}
		nc.Close()
		if err != nil {
			return err
		}
		log.Info("provisioned", "bus", b.String(), "stream", subj.Stream(b), "reader", spec.Reader, "audit", spec.Audit)
	}
	return nil
}

func runProvision(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("provision", stderr)
	config := fs.String("config", "cordon.yaml", "deployment configuration")
	noAudit := fs.Bool("no-audit", false, "create no audit consumers (messages are then kept only until their stage acks them)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := deployment.Load(*config, getenv)
	if err != nil {
		return err
	}
	log := newLogger(stderr, slog.LevelInfo)
	err = provisionAll(ctx, cfg, !*noAudit, log, func(b cordon.Bus) bus.ConnConfig {
		bc := cfg.Buses.Get(b)
		return bus.ConnConfig{URL: bc.URL, Name: "admin@" + b.String(), User: "admin",
			NKeySeedFile: bc.AdminNKeyFile, CAFile: bc.TLS.CA, CertFile: bc.TLS.Cert, KeyFile: bc.TLS.Key}
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, "provisioned", len(cfg.BusesUsed()), "buses")
	return nil
}
