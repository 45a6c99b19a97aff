package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"

	"github.com/cordon-gateway/cordon/deployment"
)

// runCheck validates a configuration and every document it names, and
// prints the effective policy.
func runCheck(_ context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("check", stderr)
	config := fs.String("config", "cordon.yaml", "deployment configuration")
	quiet := fs.Bool("q", false, "print nothing when the configuration is valid")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := deployment.Load(*config, getenv)
	if err != nil {
		return err
	}
	w, err := newWiring(cfg, newLogger(stderr, slog.LevelWarn), getenv)
	if err != nil {
		return err
	}
	p, err := w.compilePolicy()
	if err != nil {
		return err
	}
	if *quiet {
		return nil
	}
	out, err := json.MarshalIndent(map[string]any{
		"mode": cfg.Mode, "prefix": cfg.Prefix, "timeout": cfg.Timeout.String(),
		"buses": cfg.BusesUsed(), "policy_version": p.Version(), "policy": p.Describe(),
	}, "", "  ")
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s\n", out)
	return nil
}
