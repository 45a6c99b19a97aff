package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/audit"
	"github.com/cordon-gateway/cordon/audit/audittest"
	"github.com/cordon-gateway/cordon/audit/trail"
	"github.com/cordon-gateway/cordon/sqlite"
)

func openStore(t *testing.T) (audit.Store, audittest.Tamperer) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.db")
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, &tamperer{db: s.DB()}
}

func TestConformance(t *testing.T) {
	audittest.Run(t, audittest.Harness{Open: openStore})
}

// createV1 makes an empty store of schema version 1, as earlier releases
// created it.
func createV1(t *testing.T, path string, version int) {
	t.Helper()
	v1, err := os.ReadFile("testdata/schema-v1.sql")
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(string(v1)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("INSERT INTO meta VALUES (1, 'v1-log', ?, 0)", version); err != nil {
		t.Fatal(err)
	}
}

// A store created by an earlier release (schema version 1) keeps every
// guarantee: the whole conformance suite runs on that layout.
func TestConformanceSchemaVersion1(t *testing.T) {
	audittest.Run(t, audittest.Harness{Open: func(t *testing.T) (audit.Store, audittest.Tamperer) {
		t.Helper()
		path := filepath.Join(t.TempDir(), "audit.db")
		createV1(t, path, 1)
		s, err := sqlite.Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s, &tamperer{db: s.DB()}
	}})
}

func TestUnknownSchemaVersionIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.db")
	createV1(t, path, sqlite.SchemaVersion+1)
	s, err := sqlite.Open(context.Background(), path)
	if err == nil {
		s.Close()
		t.Fatal("opened a store of a newer schema version")
	}
	if !errors.Is(err, trail.ErrNotMigrated) {
		t.Fatalf("error %v, want ErrNotMigrated", err)
	}
}

func TestReopenKeepsLogID(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.db")
	ctx := context.Background()
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	id1, err := s.LogID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	id2, _ := s.LogID(ctx)
	if id1 != id2 || id1 == "" {
		t.Fatalf("log id %q then %q", id1, id2)
	}
}

// tamperer acts as whoever can write the file: it drops the triggers,
// changes what it likes and puts the triggers back.
type tamperer struct{ db *sql.DB }

var triggerRE = regexp.MustCompile(`(?s)CREATE TRIGGER (\w+) .*?END;`)

func (tm *tamperer) raw(t testing.TB, q string, args ...any) {
	t.Helper()
	ctx := context.Background()
	triggers := triggerRE.FindAllStringSubmatch(sqlite.Schema, -1)
	for _, tr := range triggers {
		if _, err := tm.db.ExecContext(ctx, "DROP TRIGGER "+tr[1]); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tm.db.ExecContext(ctx, q, args...); err != nil {
		t.Fatalf("tamper %q: %v", q, err)
	}
	for _, tr := range triggers {
		if _, err := tm.db.ExecContext(ctx, tr[0]); err != nil {
			t.Fatal(err)
		}
	}
}

func (tm *tamperer) ReplaceRecord(t testing.TB, b cordon.Bus, seq uint64, r trail.Record) {
	tm.DeleteRecord(t, b, seq)
	tm.InsertRecord(t, r)
}

func (tm *tamperer) DeleteRecord(t testing.TB, b cordon.Bus, seq uint64) {
	tm.raw(t, "DELETE FROM records WHERE bus = ? AND seq = ?", int64(b), int64(seq))
}

func (tm *tamperer) InsertRecord(t testing.TB, r trail.Record) {
	tm.raw(t, sqlite.InsertRecord, sqlite.RecordValues(&r)...)
}

func (tm *tamperer) TruncateRecords(t testing.TB) { tm.raw(t, "DELETE FROM records") }

func (tm *tamperer) DropPartition(t testing.TB, month time.Time) {
	from := trail.MonthStart(month)
	tm.raw(t, "DELETE FROM records WHERE msg_time >= ? AND msg_time < ?", from.UnixMicro(), from.AddDate(0, 1, 0).UnixMicro())
}

func (tm *tamperer) DeleteCheckpoints(t testing.TB, b cordon.Bus, from uint64) {
	tm.raw(t, "DELETE FROM checkpoints WHERE bus = ? AND size >= ?", int64(b), int64(from))
}

func (tm *tamperer) InsertCheckpoint(t testing.TB, cp trail.Checkpoint) {
	var lt any
	if !cp.LastTime.IsZero() {
		lt = cp.LastTime.UnixMicro()
	}
	tm.raw(t, `INSERT INTO checkpoints (bus, size, prev_size, first_seq, last_seq, last_time, root, frontier, note, created)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0)`, int64(cp.Bus), int64(cp.Size), int64(cp.PrevSize), int64(cp.FirstSeq),
		int64(cp.LastSeq), lt, cp.Root[:], cp.Frontier, string(cp.Note))
}

func (tm *tamperer) TryUpdate(b cordon.Bus, seq uint64) error {
	_, err := tm.db.Exec("UPDATE records SET client = 'x' WHERE bus = ? AND seq = ?", int64(b), int64(seq))
	return err
}

func (tm *tamperer) TryDelete(b cordon.Bus, seq uint64) error {
	_, err := tm.db.Exec("DELETE FROM records WHERE bus = ? AND seq = ?", int64(b), int64(seq))
	return err
}

func (tm *tamperer) TryTruncate() error {
	_, err := tm.db.Exec("DELETE FROM records")
	return err
}
