package main

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/audit"
	"github.com/cordon-gateway/cordon/audit/auditcli"
	"github.com/cordon-gateway/cordon/deployment"
	"github.com/cordon-gateway/cordon/envelope"
	"github.com/cordon-gateway/cordon/postgres"
	"github.com/cordon-gateway/cordon/sqlite"
)

// runAudit is `cordon audit …` (args after "audit"). The commands live in
// package auditcli; this file only chooses and opens the store.
func runAudit(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	env := auditcli.Env{
		Getenv: getenv, Stdout: stdout, Stderr: stderr,
		Open: openAuditStore, Migrate: migrateAuditStore,
	}
	args, cfgPath := takeConfigFlag(args)
	switch {
	case cfgPath != "":
		// The deployment configuration supplies the store, the data
		// directory and the producer keys; flags still override them.
		cfg, err := deployment.Load(cfgPath, getenv)
		if err != nil {
			return err
		}
		env.Config, env.DataDir, env.Trust = cfg.Audit, cfg.DataDir, trustMap(cfg)
		if env.LinkKeys, _, err = linkKeyMap(cfg); err != nil {
			return err
		}
	default:
		// `cordon dev` keeps its signing keys under <data>/keys: an audit of
		// a dev data directory checks the envelope signatures with them.
		env.Trust, env.LinkKeys = devTrust(dataFlag(args))
	}
	err := auditcli.Run(ctx, args, env)
	if ue, ok := err.(auditcli.UsageError); ok {
		return usageError{ue.Msg}
	}
	return err
}

// takeConfigFlag removes --config FILE (or --config=FILE) from args.
func takeConfigFlag(args []string) ([]string, string) {
	out := make([]string, 0, len(args))
	path := ""
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case (a == "--config" || a == "-config") && i+1 < len(args):
			path = args[i+1]
			i++
		case strings.HasPrefix(a, "--config="), strings.HasPrefix(a, "-config="):
			path = a[strings.IndexByte(a, '=')+1:]
		default:
			out = append(out, a)
		}
	}
	return out, path
}

// dataFlag finds --data in args (default ./cordon-data, as auditcli's).
func dataFlag(args []string) string {
	for i, a := range args {
		if (a == "--data" || a == "-data") && i+1 < len(args) {
			return args[i+1]
		}
		if strings.HasPrefix(a, "--data=") || strings.HasPrefix(a, "-data=") {
			return a[strings.IndexByte(a, '=')+1:]
		}
	}
	return "./cordon-data"
}

// devTrust reads the public keys of the stage keys `cordon dev` keeps in
// <dataDir>/keys; nil when there are none.
func devTrust(dataDir string) (map[string][]string, map[string][]envelope.LinkKey) {
	trust, links := map[string][]string{}, map[string][]envelope.LinkKey{}
	for _, s := range cordon.Stages {
		if pem, err := os.ReadFile(filepath.Join(dataDir, "keys", s.String()+".key")); err == nil {
			if priv, err := envelope.ParsePrivateKey(pem); err == nil {
				trust[s.String()] = []string{envelope.EncodePublicKey(priv.Public().(ed25519.PublicKey))}
			}
		}
		if keys, err := readLinkKeys([]string{devLinkKeyPath(dataDir, s)}); err == nil {
			links[s.String()] = keys
		}
	}
	return trust, links
}

// embeddedAuditFile is the embedded store's file under the data directory.
const embeddedAuditFile = "audit.db"

func isPostgresDSN(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// openAuditStore opens the audit store: PostgreSQL for a postgres:// DSN,
// else (empty DSN) the embedded store in dataDir.
func openAuditStore(ctx context.Context, dsn, dataDir string) (audit.Store, error) {
	switch {
	case dsn == "":
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return nil, fmt.Errorf("audit: data directory: %w", err)
		}
		return sqlite.Open(ctx, filepath.Join(dataDir, embeddedAuditFile))
	case isPostgresDSN(dsn):
		return postgres.Open(ctx, dsn)
	}
	return nil, usageError{"audit: --audit-dsn must be a postgres:// URL (or empty for the embedded store)"}
}

func migrateAuditStore(ctx context.Context, dsn, dataDir string, o auditcli.MigrateOptions) (string, error) {
	if dsn == "" {
		st, err := openAuditStore(ctx, dsn, dataDir) // the embedded store creates its schema on open
		if err != nil {
			return "", err
		}
		defer st.Close()
		return "embedded audit store ready: " + filepath.Join(dataDir, embeddedAuditFile), nil
	}
	if !isPostgresDSN(dsn) {
		return "", usageError{"audit: --audit-dsn must be a postgres:// URL"}
	}
	roles, err := postgres.RolesWithPrefix(o.RolePrefix)
	if err != nil {
		return "", usageError{err.Error()}
	}
	applied, err := postgres.Migrate(ctx, dsn, postgres.MigrateOptions{Roles: roles,
		GrantWriter: o.GrantWriter, GrantReader: o.GrantReader, GrantRetention: o.GrantRetention})
	if err != nil {
		return "", err
	}
	if len(applied) == 0 {
		return fmt.Sprintf("audit schema up to date (version %d); roles %s, %s, %s, %s", postgres.SchemaVersion,
			roles.Owner, roles.Writer, roles.Reader, roles.Retention), nil
	}
	return fmt.Sprintf("audit schema migrated to version %d (applied %v); roles %s, %s, %s, %s", postgres.SchemaVersion,
		applied, roles.Owner, roles.Writer, roles.Reader, roles.Retention), nil
}
