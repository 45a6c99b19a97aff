package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	_ "embed"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/audit/trail"
	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed schema.sql
var schema string

// SchemaVersion is the schema version this package creates. It reads and
// writes version 1 as well: the two differ only in how records are laid
// out on disk (version 1 kept them in a WITHOUT ROWID table, whose B-tree
// suits rows far smaller than an audit record: inserts cost 13 % more),
// never in columns, keys or queries.
const SchemaVersion = 2

// readable reports whether this package reads and writes schema version v.
func readable(v int) bool { return v == 1 || v == SchemaVersion }

// Store is the embedded audit store.
type Store struct {
	db *sql.DB

	mu    sync.Mutex
	logID string

	// inserts[n-1] is the prepared INSERT of n records, made on first use.
	insertMu sync.Mutex
	inserts  [rowsPerInsert]*sql.Stmt
}

// Open opens (creating if needed) the store in file path.
func Open(ctx context.Context, path string) (*Store, error) {
	q := url.Values{}
	// case_sensitive_like: LIKE behaves as PostgreSQL's.
	pragmas := []string{"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(FULL)", "case_sensitive_like(1)"}
	for _, p := range pragmas {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate") // writers queue at BEGIN, never deadlock on upgrade
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	s := &Store{db: db}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// DB exposes the database, for tests.
func (s *Store) DB() *sql.DB { return s.db }

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

func (s *Store) migrate(ctx context.Context) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'").Scan(&n); err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	if n == 1 {
		var v int
		if err := tx.QueryRowContext(ctx, "SELECT schema_version FROM meta").Scan(&v); err != nil {
			return fmt.Errorf("sqlite: %w", err)
		}
		if !readable(v) {
			return fmt.Errorf("%w: version %d, want 1 or %d", trail.ErrNotMigrated, v, SchemaVersion)
		}
		return nil
	}
	if _, err := tx.ExecContext(ctx, schema); err != nil {
		return fmt.Errorf("sqlite: create schema: %w", err)
	}
	var id cordon.RequestID
	_, _ = rand.Read(id[:])
	id[6] = 0x40 | id[6]&0x0f // UUIDv4
	id[8] = 0x80 | id[8]&0x3f
	if _, err := tx.ExecContext(ctx, "INSERT INTO meta VALUES (1, ?, ?, ?)", id.String(), SchemaVersion, time.Now().UnixMicro()); err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	return tx.Commit()
}

const recordCols = `bus, seq, msg_time, subject, request_id, producer, expected, sig, key_id, signature,
	envelope_sha256, envelope_len, envelope, deadline, expired, method, path, query, host, client, operation,
	status, req_header, resp_header, outcome, outcome_rule, outcome_pointer, policy_version, findings,
	traceparent, capture, body, body_sha256, body_len, masked, leaf`

// rowsPerInsert is how many records one INSERT statement carries: fewer
// statements per batch spend less in database/sql and statement setup
// (cordon bench, full shape: with the version 2 layout, 394 → 375 µs of
// CPU per request). 36 columns × 28 rows stays under SQLite's 32,766
// bound variables.
const rowsPerInsert = 28

// insertRecords is the INSERT of n records.
func insertRecords(n int) string {
	row := "(" + strings.TrimSuffix(strings.Repeat("?,", 36), ",") + ")"
	return "INSERT INTO records (" + recordCols + ") VALUES " +
		strings.TrimSuffix(strings.Repeat(row+",", n), ",") + " ON CONFLICT DO NOTHING"
}

func micros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

func fromMicros(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMicro(v.Int64).UTC()
}

// blob binds nil as NULL and anything else (empty included) as a blob.
// The driver copies the bytes when it binds them: no copy here.
func blob(b []byte) any {
	if b == nil {
		return nil
	}
	return notNull(b)
}

// notNull binds b as a blob, empty for nil.
func notNull(b []byte) []byte {
	if len(b) == 0 {
		return []byte{}
	}
	return b
}

func appendRecordValues(dst []any, r *trail.Record) []any {
	var reqID any
	if !r.RequestID.IsZero() {
		reqID = r.RequestID[:]
	}
	return append(dst, int64(r.Bus), int64(r.Seq), r.Time.UnixMicro(), r.Subject, reqID, int64(r.Producer),
		int64(r.Expected), int64(r.Sig), notNull(r.KeyID), notNull(r.Signature),
		r.EnvelopeSHA256[:], r.EnvelopeLen, blob(r.Envelope), micros(r.Deadline), r.Expired, r.Method, r.Path,
		r.Query, r.Host, r.Client, r.Operation, int64(r.Status), r.ReqHeader, r.RespHeader, int64(r.Outcome),
		r.OutcomeRule, r.OutcomePointer, r.PolicyVersion, r.Findings, r.TraceParent, int64(r.Capture),
		blob(r.Body), r.BodySHA256[:], r.BodyLen, int64(r.Masked), r.Leaf[:])
}

// Append implements audit.Writer.
func (s *Store) Append(ctx context.Context, recs []trail.Record, cp trail.Checkpoint) error {
	if len(recs) == 0 {
		return errors.New("sqlite: append of no records")
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return wrap("begin", err)
	}
	defer tx.Rollback() //nolint:errcheck
	args := make([]any, 0, 36*min(len(recs), rowsPerInsert))
	for start := 0; start < len(recs); start += rowsPerInsert {
		chunk := recs[start:min(start+rowsPerInsert, len(recs))]
		args = args[:0]
		for i := range chunk {
			args = appendRecordValues(args, &chunk[i])
		}
		stmt, err := s.insert(ctx, len(chunk))
		if err != nil {
			return wrap("prepare", err)
		}
		res, err := tx.StmtContext(ctx, stmt).ExecContext(ctx, args...)
		if err != nil {
			return wrap("insert", err)
		}
		if n, _ := res.RowsAffected(); n != int64(len(chunk)) {
			return trail.ErrConflict // already there: another writer is ahead of our head
		}
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO checkpoints
		(bus, size, prev_size, first_seq, last_seq, last_time, root, frontier, note, created)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		int64(cp.Bus), int64(cp.Size), int64(cp.PrevSize), int64(cp.FirstSeq), int64(cp.LastSeq),
		micros(cp.LastTime), cp.Root[:], append([]byte{}, cp.Frontier...), string(cp.Note), time.Now().UnixMicro())
	if err != nil {
		return wrap("checkpoint", err)
	}
	return wrap("commit", tx.Commit())
}

// insert is the prepared INSERT of n (1 ≤ n ≤ rowsPerInsert) records.
func (s *Store) insert(ctx context.Context, n int) (*sql.Stmt, error) {
	s.insertMu.Lock()
	defer s.insertMu.Unlock()
	if st := s.inserts[n-1]; st != nil {
		return st, nil
	}
	st, err := s.db.PrepareContext(ctx, insertRecords(n))
	if err != nil {
		return nil, err
	}
	s.inserts[n-1] = st
	return st, nil
}

// wrap classifies err: a constraint violation is a conflict with another writer.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	var se *sqlite.Error
	if errors.As(err, &se) && (se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY || se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE) {
		return trail.ErrConflict
	}
	return fmt.Errorf("sqlite: %s: %w", op, err)
}

// LogID implements audit.Reader.
func (s *Store) LogID(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.logID == "" {
		if err := s.db.QueryRowContext(ctx, "SELECT log_id FROM meta").Scan(&s.logID); err != nil {
			return "", wrap("log id", err)
		}
	}
	return s.logID, nil
}

const checkpointCols = `bus, size, prev_size, first_seq, last_seq, last_time, root, frontier, note`

func scanCheckpoint(sc interface{ Scan(...any) error }, k trail.Kind) (*trail.Checkpoint, error) {
	var (
		bus, size, prev, first, last int64
		lastTime, before             sql.NullInt64
		root, frontier               []byte
		note                         string
	)
	dst := []any{&bus, &size, &prev, &first, &last, &lastTime, &root, &frontier, &note}
	if k == trail.KindBoundary {
		dst = append(dst, &before)
	}
	if err := sc.Scan(dst...); err != nil {
		return nil, err
	}
	cp := &trail.Checkpoint{Kind: k, Bus: cordon.Bus(bus), Size: uint64(size), PrevSize: uint64(prev),
		FirstSeq: uint64(first), LastSeq: uint64(last), LastTime: fromMicros(lastTime), Before: fromMicros(before),
		Frontier: frontier, Note: []byte(note)}
	copy(cp.Root[:], root)
	return cp, nil
}

// Head implements audit.Writer.
func (s *Store) Head(ctx context.Context, b cordon.Bus) (trail.Checkpoint, error) {
	id, err := s.LogID(ctx)
	if err != nil {
		return trail.Checkpoint{}, err
	}
	row := s.db.QueryRowContext(ctx, "SELECT "+checkpointCols+" FROM checkpoints WHERE bus = ? ORDER BY size DESC LIMIT 1", int64(b))
	cp, err := scanCheckpoint(row, trail.KindCheckpoint)
	if errors.Is(err, sql.ErrNoRows) {
		return trail.Checkpoint{Kind: trail.KindCheckpoint, LogID: id, Bus: b}, nil
	}
	if err != nil {
		return trail.Checkpoint{}, wrap("head", err)
	}
	cp.LogID = id
	return *cp, nil
}

// StoredTime implements audit.Writer.
func (s *Store) StoredTime(ctx context.Context, b cordon.Bus, seq uint64) (time.Time, bool, error) {
	if seq > math.MaxInt64 {
		return time.Time{}, false, nil
	}
	var us int64
	err := s.db.QueryRowContext(ctx, "SELECT msg_time FROM records WHERE bus = ? AND seq = ? ORDER BY msg_time LIMIT 1", int64(b), int64(seq)).Scan(&us)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, wrap("stored time", err)
	}
	return time.UnixMicro(us).UTC(), true, nil
}

// Checkpoints implements audit.Reader.
func (s *Store) Checkpoints(ctx context.Context, b cordon.Bus, k trail.Kind, fn func(*trail.Checkpoint) error) error {
	id, err := s.LogID(ctx)
	if err != nil {
		return err
	}
	q := "SELECT " + checkpointCols + " FROM checkpoints WHERE bus = ? ORDER BY size"
	if k == trail.KindBoundary {
		q = "SELECT " + checkpointCols + ", before FROM boundaries WHERE bus = ? ORDER BY size"
	}
	rows, err := s.db.QueryContext(ctx, q, int64(b))
	if err != nil {
		return wrap("checkpoints", err)
	}
	defer rows.Close()
	for rows.Next() {
		cp, err := scanCheckpoint(rows, k)
		if err != nil {
			return wrap("checkpoints", err)
		}
		cp.LogID = id
		if err := fn(cp); err != nil {
			return err
		}
	}
	return wrap("checkpoints", rows.Err())
}
