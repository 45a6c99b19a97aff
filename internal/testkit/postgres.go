package testkit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/cordon-gateway/cordon/internal/freeport"
	"github.com/jackc/pgx/v5"
)

// DefaultPostgresDSN is the test server of DEVELOPERS.md: trust auth, user
// postgres, database test. CORDON_TEST_PG_DSN overrides it.
const DefaultPostgresDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// PostgresDSN is the DSN of the shared test server.
func PostgresDSN() string {
	if dsn := os.Getenv("CORDON_TEST_PG_DSN"); dsn != "" {
		return dsn
	}
	return DefaultPostgresDSN
}

// skipOrFail skips a test whose server is missing, except in CI, where a
// missing server is a broken pipeline, not a reason to pass.
func skipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// OpenPostgres creates a fresh database on the test server (as its
// superuser) and returns its DSN; the database is dropped when the test
// ends. Without a reachable server the test is skipped with the reason, or
// fails when CI=true.
func OpenPostgres(t testing.TB) string {
	t.Helper()
	base := PostgresDSN()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		skipOrFail(t, "PostgreSQL unreachable at %s (set CORDON_TEST_PG_DSN): %v", redactDSN(base), err)
	}
	defer conn.Close(context.Background())
	name := "cordon_t_" + RandomHex(6)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("testkit: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("testkit: drop database %s: %v", name, err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("testkit: drop database %s: %v", name, err)
		}
	})
	return WithDatabase(t, base, name)
}

// PostgresRolePrefix returns a role-name prefix unique to this test and
// drops every role starting with it when the test ends. Roles are
// cluster-wide: call it before OpenPostgres, so that the cleanup runs after
// the database (which holds the roles' grants) is dropped.
func PostgresRolePrefix(t testing.TB) string {
	t.Helper()
	prefix := "t_" + RandomHex(4)
	base := PostgresDSN()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		rows, err := c.Query(ctx, "SELECT rolname::text FROM pg_roles WHERE starts_with(rolname, $1)", prefix)
		if err != nil {
			t.Errorf("testkit: list roles: %v", err)
			return
		}
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Errorf("testkit: list roles: %v", err)
			return
		}
		for _, n := range names {
			if _, err := c.Exec(ctx, "DROP ROLE "+pgx.Identifier{n}.Sanitize()); err != nil {
				t.Errorf("testkit: drop role %s: %v", n, err)
			}
		}
	})
	return prefix
}

// WithDatabase returns dsn with its database replaced by name.
func WithDatabase(t testing.TB, dsn, name string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("testkit: DSN must be a URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// WithUser returns dsn with its user replaced (no password: trust auth).
func WithUser(t testing.TB, dsn, name string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("testkit: DSN must be a URL: %v", err)
	}
	u.User = url.User(name)
	return u.String()
}

// RandomHex returns 2n random hex digits, for unique names.
func RandomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func redactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unparseable DSN)"
	}
	return u.Redacted()
}

// PostgresBin is where Debian installs the PostgreSQL 15 server binaries.
const PostgresBin = "/usr/lib/postgresql/15/bin"

// Cluster is a private PostgreSQL server for tests that stop and start the
// database under load. It runs as the `postgres` OS user when the test runs
// as root (PostgreSQL refuses root), in a temporary directory, on a free
// port, and is destroyed when the test ends.
type Cluster struct {
	dir  string
	port int
	cred *syscall.Credential
}

// StartPostgresCluster initialises and starts a private cluster. Without the
// binaries (or the postgres user, when root) the test is skipped, or fails
// when CI=true.
func StartPostgresCluster(t testing.TB) *Cluster {
	t.Helper()
	if _, err := os.Stat(filepath.Join(PostgresBin, "initdb")); err != nil {
		skipOrFail(t, "PostgreSQL server binaries not found in %s", PostgresBin)
	}
	c := &Cluster{}
	dir, err := os.MkdirTemp("", "cordon-pg-")
	if err != nil {
		t.Fatal(err)
	}
	c.dir = dir
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			skipOrFail(t, "running as root and no `postgres` OS user to run a private cluster: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		// Temporary directories are private; the server user must reach its own.
		if err := os.Chmod(dir, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	c.port = freePort(t)
	c.run(t, "initdb", "-D", c.data(), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions")
	c.Start(t)
	t.Cleanup(func() {
		// Immediate: the data directory is thrown away anyway.
		_ = c.command("pg_ctl", "-D", c.data(), "-m", "immediate", "-w", "stop").Run()
	})
	return c
}

func (c *Cluster) data() string { return filepath.Join(c.dir, "data") }

// DSN is the superuser DSN of database db on the cluster.
func (c *Cluster) DSN(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, db)
}

// Start starts the (stopped) cluster and waits until it accepts connections.
func (c *Cluster) Start(t testing.TB) {
	t.Helper()
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50", c.port, c.dir)
	c.run(t, "pg_ctl", "-D", c.data(), "-l", filepath.Join(c.dir, "log"), "-o", opts, "-w", "-t", "60", "start")
}

// Stop stops the cluster; fast mode disconnects every client at once.
func (c *Cluster) Stop(t testing.TB) {
	t.Helper()
	c.run(t, "pg_ctl", "-D", c.data(), "-m", "fast", "-w", "stop")
}

func (c *Cluster) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(PostgresBin, name), args...)
	cmd.Dir = c.dir
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	return cmd
}

func (c *Cluster) run(t testing.TB, name string, args ...string) {
	t.Helper()
	out, err := c.command(name, args...).CombinedOutput()
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "log"))
		t.Fatalf("testkit: %s: %v\n%s\n%s", name, err, out, log)
	}
}

func freePort(t testing.TB) int {
	t.Helper()
	p, err := freeport.Pick()
	if err != nil {
		t.Fatal(err)
	}
	return p
}
