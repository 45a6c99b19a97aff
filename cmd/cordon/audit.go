//go:build cordon_audit_cli

// The build constraint above goes once runAudit is removed from
// zz_pending.go (two definitions would not compile).

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/cordon-gateway/cordon/audit"
	"github.com/cordon-gateway/cordon/audit/auditcli"
	"github.com/cordon-gateway/cordon/postgres"
	"github.com/cordon-gateway/cordon/sqlite"
)

// runAudit is `cordon audit …` (args after "audit"). The commands live in
// package auditcli; this file only chooses and opens the store.
func runAudit(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	err := auditcli.Run(ctx, args, auditcli.Env{
		Getenv: getenv, Stdout: stdout, Stderr: stderr,
		Open: openAuditStore, Migrate: migrateAuditStore,
	})
	if ue, ok := err.(auditcli.UsageError); ok {
		return usageError{ue.Msg}
	}
	return err
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
