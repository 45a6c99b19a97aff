package postgres_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/audit"
	"github.com/cordon-gateway/cordon/audit/audittest"
	"github.com/cordon-gateway/cordon/audit/trail"
	"github.com/cordon-gateway/cordon/internal/testkit"
	"github.com/cordon-gateway/cordon/postgres"
	"github.com/jackc/pgx/v5"
)

// db is a migrated database with its own roles and a login user per role.
type db struct {
	admin                    string // superuser DSN
	roles                    postgres.Roles
	writer, reader, retainer string // DSNs of login users holding each role
}

// openDB creates a fresh database, migrates it, and creates login users
// for the writer, reader and retention roles. Roles are cluster-wide, so
// their names are unique per test and dropped after the database.
func openDB(t testing.TB) *db {
	t.Helper()
	prefix := "ct_" + testkit.RandomHex(4)
	roles, err := postgres.RolesWithPrefix(prefix)
	if err != nil {
		t.Fatal(err)
	}
	users := []string{prefix + "_w", prefix + "_r", prefix + "_x"}
	base := testkit.PostgresDSN()
	// Registered before the database so it runs after the database is dropped.
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), base)
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		for _, r := range append(users, roles.Owner, roles.Writer, roles.Reader, roles.Retention) {
			if _, err := c.Exec(context.Background(), "DROP ROLE IF EXISTS "+pgx.Identifier{r}.Sanitize()); err != nil {
				t.Errorf("drop role %s: %v", r, err)
			}
		}
	})
	admin := testkit.OpenPostgres(t)
	c, err := pgx.Connect(context.Background(), admin)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	for _, u := range users {
		if _, err := c.Exec(context.Background(), "CREATE ROLE "+pgx.Identifier{u}.Sanitize()+" LOGIN"); err != nil {
			t.Fatal(err)
		}
	}
	_, err = postgres.Migrate(context.Background(), admin, postgres.MigrateOptions{Roles: roles,
		GrantWriter: users[:1], GrantReader: users[1:2], GrantRetention: users[2:]})
	if err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return &db{admin: admin, roles: roles, writer: testkit.WithUser(t, admin, users[0]),
		reader: testkit.WithUser(t, admin, users[1]), retainer: testkit.WithUser(t, admin, users[2])}
}

func open(t testing.TB, dsn string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// roleStore writes as the writer, reads as the reader and retains as the
// retention role: the conformance suite then also proves the grants suffice.
type roleStore struct {
	*postgres.Store  // writer
	reader, retainer *postgres.Store
}

func (s roleStore) Records(ctx context.Context, b cordon.Bus, after uint64, limit int, fn func(*trail.Record) error) error {
	return s.reader.Records(ctx, b, after, limit, fn)
}

func (s roleStore) Checkpoints(ctx context.Context, b cordon.Bus, k trail.Kind, fn func(*trail.Checkpoint) error) error {
	return s.reader.Checkpoints(ctx, b, k, fn)
}

func (s roleStore) Search(ctx context.Context, f trail.Filter, fn func(*trail.Record) error) error {
	return s.reader.Search(ctx, f, fn)
}

func (s roleStore) Partitions(ctx context.Context) ([]trail.Partition, error) {
	return s.retainer.Partitions(ctx)
}

func (s roleStore) Retain(ctx context.Context, cut time.Time, bs []trail.Checkpoint, drop bool) ([]string, error) {
	return s.retainer.Retain(ctx, cut, bs, drop)
}

func TestConformance(t *testing.T) {
	audittest.Run(t, audittest.Harness{Open: func(t *testing.T) (audit.Store, audittest.Tamperer) {
		d := openDB(t)
		s := roleStore{Store: open(t, d.writer), reader: open(t, d.reader), retainer: open(t, d.retainer)}
		return s, &tamperer{dsn: d.admin, writer: d.writer}
	}})
}

// tamperer is a superuser: it disables the append-only triggers (on the
// tables and on every partition), changes rows, and enables them again.
type tamperer struct{ dsn, writer string }

func (tm *tamperer) exec(t testing.TB, dsn, q string, args ...any) error {
	t.Helper()
	c, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	_, err = c.Exec(context.Background(), q, args...)
	return err
}

const toggle = `DO $$
DECLARE r regclass;
BEGIN
	FOR r IN SELECT 'cordon_audit.records'::regclass UNION ALL SELECT 'cordon_audit.checkpoints'::regclass
		UNION ALL SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = 'cordon_audit.records'::regclass
	LOOP
		EXECUTE format('ALTER TABLE %s %s TRIGGER refuse_update_delete', r, '%s');
		EXECUTE format('ALTER TABLE %s %s TRIGGER refuse_truncate', r, '%s');
	END LOOP;
END $$`

func (tm *tamperer) raw(t testing.TB, q string, args ...any) {
	t.Helper()
	if err := tm.exec(t, tm.dsn, strings.ReplaceAll(toggle, "%s'", "DISABLE'")); err != nil {
		t.Fatalf("disable triggers: %v", err)
	}
	if err := tm.exec(t, tm.dsn, q, args...); err != nil {
		t.Fatalf("tamper %q: %v", q, err)
	}
	if err := tm.exec(t, tm.dsn, strings.ReplaceAll(toggle, "%s'", "ENABLE ALWAYS'")); err != nil {
		t.Fatalf("enable triggers: %v", err)
	}
}

func (tm *tamperer) ReplaceRecord(t testing.TB, b cordon.Bus, seq uint64, r trail.Record) {
	tm.DeleteRecord(t, b, seq)
	tm.InsertRecord(t, r)
}

func (tm *tamperer) DeleteRecord(t testing.TB, b cordon.Bus, seq uint64) {
	tm.raw(t, "DELETE FROM cordon_audit.records WHERE bus = $1 AND seq = $2", int16(b), int64(seq))
}

func (tm *tamperer) InsertRecord(t testing.TB, r trail.Record) {
	n := strings.Count(postgres.RecordCols, ",") + 1
	ph := make([]string, n)
	for i := range ph {
		ph[i] = "$" + strconv.Itoa(i+1)
	}
	tm.raw(t, "INSERT INTO cordon_audit.records ("+postgres.RecordCols+") VALUES ("+strings.Join(ph, ", ")+")",
		postgres.RecordValues(&r)...)
}

func (tm *tamperer) TruncateRecords(t testing.TB) { tm.raw(t, "TRUNCATE cordon_audit.records") }

func (tm *tamperer) DropPartition(t testing.TB, month time.Time) {
	name := "records_p" + trail.MonthStart(month).Format("200601")
	tm.raw(t, "DROP TABLE cordon_audit."+name)
}

func (tm *tamperer) DeleteCheckpoints(t testing.TB, b cordon.Bus, from uint64) {
	tm.raw(t, "DELETE FROM cordon_audit.checkpoints WHERE bus = $1 AND size >= $2", int16(b), int64(from))
}

func (tm *tamperer) InsertCheckpoint(t testing.TB, cp trail.Checkpoint) {
	tm.raw(t, `INSERT INTO cordon_audit.checkpoints (bus, size, prev_size, first_seq, last_seq, last_time, root, frontier, note)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, int16(cp.Bus), int64(cp.Size), int64(cp.PrevSize),
		int64(cp.FirstSeq), int64(cp.LastSeq), cp.LastTime, cp.Root[:], cp.Frontier, string(cp.Note))
}

// The append-only attempts run as the superuser without disabling
// anything, and under session_replication_role = replica, which skips
// ordinary triggers: only ENABLE ALWAYS ones stop it.
func (tm *tamperer) try(q string, args ...any) error {
	c, err := pgx.Connect(context.Background(), tm.dsn)
	if err != nil {
		return nil // report as "succeeded": the test fails loudly
	}
	defer c.Close(context.Background())
	if _, err := c.Exec(context.Background(), "SET session_replication_role = replica"); err != nil {
		return nil
	}
	_, err = c.Exec(context.Background(), q, args...)
	return err
}

func (tm *tamperer) TryUpdate(b cordon.Bus, seq uint64) error {
	return tm.try("UPDATE cordon_audit.records SET client = 'x' WHERE bus = $1 AND seq = $2", int16(b), int64(seq))
}

func (tm *tamperer) TryDelete(b cordon.Bus, seq uint64) error {
	return tm.try("DELETE FROM cordon_audit.records WHERE bus = $1 AND seq = $2", int16(b), int64(seq))
}

func (tm *tamperer) TryTruncate() error { return tm.try("TRUNCATE cordon_audit.records") }

// TestWriterRecoversFromAFailedFirstTransaction: the staging table is
// created in a connection's first transaction; when that transaction
// rolls back (here a conflict with another writer), the table goes with
// it, and the connection's next append must create it again instead of
// failing for ever with "relation does not exist" (seen in the isolation
// suite: a shipper stuck retrying a batch it could never store).
func TestWriterRecoversFromAFailedFirstTransaction(t *testing.T) {
	ctx := context.Background()
	d := openDB(t)
	ahead := open(t, d.writer)
	f := audittest.NewFixture(t, ahead, nil)
	b := cordon.BusDirtyReq
	l, err := audit.NewLog(f.Head(b), f.Signer)
	if err != nil {
		t.Fatal(err)
	}
	recs := f.Records(f.Message(b, nil))
	cp, err := l.Next(recs)
	if err != nil {
		t.Fatal(err)
	}
	if err := ahead.Append(ctx, recs, cp); err != nil {
		t.Fatal(err)
	}

	behind := open(t, d.writer) // no connection yet
	for range 3 {
		if err := behind.Append(ctx, recs, cp); !errors.Is(err, trail.ErrConflict) {
			t.Fatalf("append of a stored batch: err = %v, want a conflict", err)
		}
	}
	if err := l.Advance(cp); err != nil {
		t.Fatal(err)
	}
	recs = f.Records(f.Message(b, nil))
	if cp, err = l.Next(recs); err != nil {
		t.Fatal(err)
	}
	if err := behind.Append(ctx, recs, cp); err != nil {
		t.Fatalf("append after a rolled-back first transaction: %v", err)
	}
}
