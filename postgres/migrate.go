package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// SchemaVersion is the schema version this package reads and writes.
const SchemaVersion = 2

// Roles names the four roles the schema grants to. Migrate creates them
// (NOLOGIN) if they do not exist.
type Roles struct {
	Owner, Writer, Reader, Retention string
}

// DefaultRolePrefix gives cordon_audit_owner, cordon_audit_writer, …
const DefaultRolePrefix = "cordon_audit"

var roleRE = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,40}$`)

// RolesWithPrefix derives the four role names from prefix.
func RolesWithPrefix(prefix string) (Roles, error) {
	if prefix == "" {
		prefix = DefaultRolePrefix
	}
	if !roleRE.MatchString(prefix) {
		return Roles{}, fmt.Errorf("postgres: role prefix %q: want lower-case letters, digits and '_'", prefix)
	}
	return Roles{Owner: prefix + "_owner", Writer: prefix + "_writer", Reader: prefix + "_reader",
		Retention: prefix + "_retention"}, nil
}

// MigrateOptions configures Migrate.
type MigrateOptions struct {
	Roles Roles
	// Grant* make existing login roles members of the writer, reader and
	// retention roles.
	GrantWriter, GrantReader, GrantRetention []string
}

type migration struct {
	version int
	name    string
	sql     string
}

func loadMigrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFS, "migrations")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		v, err := strconv.Atoi(strings.SplitN(e.Name(), "_", 2)[0])
		if err != nil {
			return nil, fmt.Errorf("postgres: migration %s: no version prefix", e.Name())
		}
		b, err := migrationFS.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

// Migrate brings the schema at dsn up to SchemaVersion, each migration in
// its own transaction, under an advisory lock so that concurrent runs
// serialise. It must run as a superuser (or as a role that may create roles
// and is a member of the owner role). It returns the versions it applied.
func Migrate(ctx context.Context, dsn string, opts MigrateOptions) ([]int, error) {
	return migrate(ctx, dsn, opts, SchemaVersion)
}

// migrate applies the migrations up to version target (below SchemaVersion
// only in tests, which build the databases earlier releases left).
func migrate(ctx context.Context, dsn string, opts MigrateOptions, target int) ([]int, error) {
	if opts.Roles == (Roles{}) {
		r, _ := RolesWithPrefix("")
		opts.Roles = r
	}
	for _, r := range []string{opts.Roles.Owner, opts.Roles.Writer, opts.Roles.Reader, opts.Roles.Retention} {
		if !roleRE.MatchString(r) {
			return nil, fmt.Errorf("postgres: role name %q: want lower-case letters, digits and '_'", r)
		}
	}
	ms, err := loadMigrations()
	if err != nil {
		return nil, err
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock(hashtext('cordon_audit.migrate'))"); err != nil {
		return nil, fmt.Errorf("postgres: migrate lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(hashtext('cordon_audit.migrate'))") //nolint:errcheck
	current, err := currentVersion(ctx, conn)
	if err != nil {
		return nil, err
	}
	if current > SchemaVersion {
		return nil, fmt.Errorf("postgres: schema version %d is newer than this binary (%d)", current, SchemaVersion)
	}
	var db string
	if err := conn.QueryRow(ctx, "SELECT current_database()").Scan(&db); err != nil {
		return nil, err
	}
	subst := strings.NewReplacer(
		"{{owner}}", ident(opts.Roles.Owner), "{{writer}}", ident(opts.Roles.Writer),
		"{{reader}}", ident(opts.Roles.Reader), "{{retention}}", ident(opts.Roles.Retention),
		"{{owner_lit}}", literal(opts.Roles.Owner), "{{writer_lit}}", literal(opts.Roles.Writer),
		"{{reader_lit}}", literal(opts.Roles.Reader), "{{retention_lit}}", literal(opts.Roles.Retention),
		"{{database}}", ident(db))
	var applied []int
	for _, m := range ms {
		if m.version <= current || m.version > target {
			continue
		}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, subst.Replace(m.sql)); err != nil {
				return fmt.Errorf("postgres: migration %s: %w", m.name, err)
			}
			_, err := tx.Exec(ctx, "INSERT INTO cordon_audit.schema_migrations (version) VALUES ($1)", m.version)
			return err
		})
		if err != nil {
			return applied, err
		}
		applied = append(applied, m.version)
	}
	grants := []struct {
		role  string
		users []string
	}{{opts.Roles.Writer, opts.GrantWriter}, {opts.Roles.Reader, opts.GrantReader}, {opts.Roles.Retention, opts.GrantRetention}}
	for _, g := range grants {
		for _, u := range g.users {
			if _, err := conn.Exec(ctx, "GRANT "+ident(g.role)+" TO "+ident(u)); err != nil {
				return applied, fmt.Errorf("postgres: grant %s to %s: %w", g.role, u, err)
			}
		}
	}
	return applied, nil
}

func currentVersion(ctx context.Context, conn *pgx.Conn) (int, error) {
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT to_regclass('cordon_audit.schema_migrations') IS NOT NULL").Scan(&exists); err != nil {
		return 0, fmt.Errorf("postgres: read schema version: %w", err)
	}
	if !exists {
		return 0, nil
	}
	var v int
	err := conn.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM cordon_audit.schema_migrations").Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("postgres: read schema version: %w", err)
	}
	return v, nil
}

func ident(s string) string { return pgx.Identifier{s}.Sanitize() }

func literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

var errNoSchema = errors.New("no schema")
