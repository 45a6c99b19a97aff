package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"

	"github.com/cordon-gateway/cordon/admin"
	"github.com/cordon-gateway/cordon/deployment"
	"golang.org/x/sync/errgroup"
)

// runRole runs one role of a deployment in this process.
func runRole(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "" || args[0][0] == '-' {
		return usageError{"usage: cordon run ROLE --config FILE (ROLE: frontend, request-validator, backend, response-validator, audit)"}
	}
	role := args[0]
	if role == "audit" {
		return runAuditShipper(ctx, args[1:], getenv, stdout, stderr)
	}
	fs := newFlagSet("run "+role, stderr)
	config := fs.String("config", "cordon.yaml", "deployment configuration")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	cfg, err := deployment.Load(*config, getenv)
	if err != nil {
		return err
	}
	log := newLogger(stderr, slog.LevelInfo).With("role", role)
	w, err := newWiring(cfg, log, getenv)
	if err != nil {
		return err
	}
	w.cfgPath = *config
	var c *component
	var adminAddr string
	switch role {
	case "frontend":
		c, _, err = w.buildFrontend(ctx)
		adminAddr = cfg.Components.Frontend.Admin
	case "request-validator":
		if cfg.Mode == deployment.ModeSingleValidation {
			return errors.New("single-validation mode has no request validator process: the backend validates")
		}
		c, err = w.buildRequestValidator(ctx)
		adminAddr = cfg.Components.RequestValidator.Admin
	case "backend":
		c, err = w.buildBackend(ctx)
		adminAddr = cfg.Components.Backend.Admin
	case "response-validator":
		if cfg.Mode == deployment.ModeSingleValidation {
			return errors.New("single-validation mode has no response validator process: the backend validates")
		}
		c, err = w.buildResponseValidator(ctx)
		adminAddr = cfg.Components.ResponseValidator.Admin
	default:
		return usageError{fmt.Sprintf("unknown role %q", role)}
	}
	if err != nil {
		return err
	}
	defer c.Close()
	return serveComponent(ctx, w, c, adminAddr, log)
}

// serveComponent runs c with its admin listener until ctx is cancelled:
// readiness goes off first, then c drains.
func serveComponent(ctx context.Context, w *wiring, c *component, adminAddr string, log *slog.Logger) error {
	adm := admin.New(w.reg, log, c.checks...)
	eg, egctx := errgroup.WithContext(ctx)
	if adminAddr != "" {
		ln, err := net.Listen("tcp", adminAddr)
		if err != nil {
			return fmt.Errorf("admin listen: %w", err)
		}
		eg.Go(func() error { return adm.Serve(egctx, ln) })
	}
	eg.Go(func() error {
		<-egctx.Done()
		adm.Drain()
		return nil
	})
	eg.Go(func() error { return w.reloadOnHUP(egctx) })
	eg.Go(func() error { return c.run(ctx) })
	log.Info("started", "admin", adminAddr)
	err := eg.Wait()
	log.Info("stopped")
	return err
}
