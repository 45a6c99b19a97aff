package postgres_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/audit/audittest"
	"github.com/cordon-gateway/cordon/audit/trail"
	"github.com/cordon-gateway/cordon/internal/testkit"
	"github.com/cordon-gateway/cordon/postgres"
	"github.com/jackc/pgx/v5"
)

// TestRolePrivileges proves, against the real server, what each role
// cannot do. Every statement must fail.
func TestRolePrivileges(t *testing.T) {
	d := openDB(t)
	w := open(t, d.writer)
	f := audittest.NewFixture(t, roleStore{Store: w, reader: open(t, d.reader), retainer: open(t, d.retainer)}, nil)
	f.Ship(f.Message(cordon.BusDirtyReq, nil), f.Message(cordon.BusDirtyReq, nil))
	part := "cordon_audit.records_p" + f.Now.UTC().Format("200601")

	denied := []struct {
		name, dsn, sql string
	}{
		{"writer update", d.writer, "UPDATE cordon_audit.records SET client = 'x'"},
		{"writer update partition", d.writer, "UPDATE " + part + " SET client = 'x'"},
		{"writer delete", d.writer, "DELETE FROM cordon_audit.records"},
		{"writer truncate", d.writer, "TRUNCATE cordon_audit.records"},
		{"writer truncate partition", d.writer, "TRUNCATE " + part},
		{"writer read records", d.writer, "SELECT count(*) FROM cordon_audit.records"},
		{"writer update checkpoints", d.writer, "UPDATE cordon_audit.checkpoints SET note = ''"},
		{"writer delete checkpoints", d.writer, "DELETE FROM cordon_audit.checkpoints"},
		{"writer disable triggers", d.writer, "ALTER TABLE cordon_audit.records DISABLE TRIGGER ALL"},
		{"writer disable partition triggers", d.writer, "ALTER TABLE " + part + " DISABLE TRIGGER refuse_update_delete"},
		{"writer drop trigger", d.writer, "DROP TRIGGER refuse_update_delete ON cordon_audit.records"},
		{"writer replica mode", d.writer, "SET session_replication_role = replica"},
		{"writer set role owner", d.writer, "SET ROLE " + d.roles.Owner},
		{"writer create table", d.writer, "CREATE TABLE cordon_audit.x (a int)"},
		{"writer detach", d.writer, "SELECT cordon_audit.detach_partitions(now(), true)"},
		{"writer drop partition", d.writer, "DROP TABLE " + part},
		{"reader insert", d.reader, "INSERT INTO cordon_audit.checkpoints (bus, size, prev_size, first_seq, last_seq, root, frontier, note) VALUES (1, 99, 98, 1, 1, '', '', '')"},
		{"reader delete", d.reader, "DELETE FROM cordon_audit.records"},
		{"reader partition", d.reader, "SELECT cordon_audit.ensure_partition(now())"},
		{"retention delete", d.retainer, "DELETE FROM cordon_audit.records"},
		{"retention update boundaries", d.retainer, "UPDATE cordon_audit.boundaries SET note = ''"},
		{"retention detach without boundary", d.retainer, "SELECT cordon_audit.detach_partitions(now() + interval '2 months', true)"},
		{"owner login", withUser(d.admin, d.roles.Owner), "SELECT 1"},
	}
	for _, tc := range denied {
		t.Run(tc.name, func(t *testing.T) {
			c, err := pgx.Connect(context.Background(), tc.dsn)
			if err != nil {
				if tc.name == "owner login" {
					return // NOLOGIN: refused at the door
				}
				t.Fatal(err)
			}
			defer c.Close(context.Background())
			_, err = c.Exec(context.Background(), tc.sql)
			if err == nil {
				t.Fatalf("%q succeeded", tc.sql)
			}
			t.Logf("refused: %v", err)
		})
	}
	t.Run("records intact", func(t *testing.T) {
		if rep := f.Verify(); !rep.OK() {
			t.Fatalf("verify: %v", rep.Problems)
		}
	})
}

func withUser(dsn, user string) string {
	c, _ := pgx.ParseConfig(dsn)
	return "postgres://" + user + "@" + c.Host + ":" + strconv.Itoa(int(c.Port)) + "/" + c.Database + "?sslmode=disable"
}

// TestTriggersFireAlways checks every append-only trigger, on every table
// and on partitions created later by the writer, is ENABLE ALWAYS.
func TestTriggersFireAlways(t *testing.T) {
	d := openDB(t)
	w := open(t, d.writer)
	f := audittest.NewFixture(t, w, nil)
	for _, m := range []time.Time{time.Date(2024, 11, 5, 0, 0, 0, 0, time.UTC), time.Date(2030, 1, 5, 0, 0, 0, 0, time.UTC)} {
		f.Now = m
		f.Ship(f.Message(cordon.BusCleanReq, nil))
	}
	c, err := pgx.Connect(context.Background(), d.admin)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	rows, err := c.Query(context.Background(), `SELECT c.relname::text, t.tgname::text, t.tgenabled::text
		FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'cordon_audit' AND NOT t.tgisinternal ORDER BY 1, 2`)
	if err != nil {
		t.Fatal(err)
	}
	type trig struct{ table, name, enabled string }
	got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (trig, error) {
		var x trig
		err := r.Scan(&x.table, &x.name, &x.enabled)
		return x, err
	})
	if err != nil {
		t.Fatal(err)
	}
	tables := map[string]int{}
	for _, x := range got {
		tables[x.table]++
		if x.enabled != "A" {
			t.Errorf("%s.%s is %q, want A (ENABLE ALWAYS)", x.table, x.name, x.enabled)
		}
	}
	for _, table := range []string{"records", "records_p202411", "records_p203001", "checkpoints", "boundaries", "retentions", "meta"} {
		if tables[table] != 2 {
			t.Errorf("%s has %d append-only triggers, want 2", table, tables[table])
		}
	}
}

func TestMigrateIsIdempotent(t *testing.T) {
	d := openDB(t)
	applied, err := postgres.Migrate(context.Background(), d.admin, postgres.MigrateOptions{Roles: d.roles})
	if err != nil || len(applied) != 0 {
		t.Fatalf("second migrate applied %v, err %v", applied, err)
	}
	// The store refuses a database that was never migrated.
	s := open(t, testkit.OpenPostgres(t))
	if _, err := s.LogID(context.Background()); !errors.Is(err, trail.ErrNotMigrated) {
		t.Fatalf("unmigrated database: %v, want ErrNotMigrated", err)
	}
}

// TestWriterReadsStoredTimesOnly: the shipper's role may not read records,
// yet it must tell a redelivered message from a stream that handed out a
// sequence again. It gets the stream time of the record at one (bus, seq)
// through cordon_audit.stored_time(), and nothing else of it.
func TestWriterReadsStoredTimesOnly(t *testing.T) {
	d := openDB(t)
	w := open(t, d.writer)
	f := audittest.NewFixture(t, roleStore{Store: w, reader: open(t, d.reader), retainer: open(t, d.retainer)}, nil)
	first := f.Message(cordon.BusDirtyReq, nil)
	f.Ship(first, f.Message(cordon.BusDirtyReq, nil))
	ctx := context.Background()
	got, ok, err := w.StoredTime(ctx, cordon.BusDirtyReq, first.Seq)
	if err != nil || !ok || !got.Equal(trail.Micro(first.Time)) {
		t.Fatalf("writer: stored time %v, %v, %v; want %v", got, ok, err, trail.Micro(first.Time))
	}
	for _, q := range []struct {
		bus cordon.Bus
		seq uint64
	}{{cordon.BusDirtyReq, 3}, {cordon.BusCleanReq, first.Seq}} {
		if _, ok, err := w.StoredTime(ctx, q.bus, q.seq); err != nil || ok {
			t.Fatalf("writer: stored time of %s seq %d: %v, %v; want none", q.bus, q.seq, ok, err)
		}
	}
	c, err := pgx.Connect(ctx, d.writer)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "SELECT client FROM cordon_audit.records"); err == nil {
		t.Fatal("the writer read records")
	}
}

// TestMigrateUpgradesVersion1: a database an earlier release left at
// version 1 is refused by this one until `cordon audit migrate` applies
// version 2; then it works, stored_time() included.
func TestMigrateUpgradesVersion1(t *testing.T) {
	ctx := context.Background()
	prefix := testkit.PostgresRolePrefix(t) // dropped after the database
	dsn := testkit.OpenPostgres(t)
	roles, err := postgres.RolesWithPrefix(prefix)
	if err != nil {
		t.Fatal(err)
	}
	if applied, err := postgres.MigrateTo(ctx, dsn, postgres.MigrateOptions{Roles: roles}, 1); err != nil || !slices.Equal(applied, []int{1}) {
		t.Fatalf("version 1: applied %v, err %v", applied, err)
	}
	s := open(t, dsn)
	if _, err := s.LogID(ctx); !errors.Is(err, trail.ErrNotMigrated) {
		t.Fatalf("version 1 database: %v, want ErrNotMigrated", err)
	}
	if applied, err := postgres.Migrate(ctx, dsn, postgres.MigrateOptions{Roles: roles}); err != nil || !slices.Equal(applied, []int{2}) {
		t.Fatalf("upgrade: applied %v, err %v", applied, err)
	}
	f := audittest.NewFixture(t, s, nil)
	first := f.Message(cordon.BusCleanResp, nil)
	f.Ship(first)
	if got, ok, err := s.StoredTime(ctx, cordon.BusCleanResp, first.Seq); err != nil || !ok || !got.Equal(trail.Micro(first.Time)) {
		t.Fatalf("after the upgrade: stored time %v, %v, %v", got, ok, err)
	}
}
