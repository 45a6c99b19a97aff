package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/audit/trail"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Store is the PostgreSQL audit store. Connect as a member of the role
// that fits the use: writer for the shipper, reader for verify and search,
// retention for retain.
type Store struct {
	pool *pgxpool.Pool

	mu     sync.Mutex
	months map[time.Time]bool // partitions known to exist
	logID  string
}

// Open connects to dsn and checks the schema version.
func Open(ctx context.Context, dsn string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, errors.New("postgres: bad DSN") // the parse error may quote a password
	}
	if cfg.MaxConns < 4 {
		cfg.MaxConns = 4
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s := &Store{pool: pool, months: map[time.Time]bool{}}
	return s, nil
}

// Close releases every connection.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// Pool exposes the pool, for tests and diagnostics.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// recordCols is the column order of records, the staging table and scans.
const recordCols = `bus, seq, msg_time, subject, request_id, producer, expected, sig, key_id, signature,
	envelope_sha256, envelope_len, envelope, deadline, expired, method, path, query, host, client, operation,
	status, req_header, resp_header, outcome, outcome_rule, outcome_pointer, policy_version, findings,
	traceparent, capture, body, body_sha256, body_len, masked, leaf`

var recordColNames = func() []string {
	var out []string
	for _, c := range strings.Split(recordCols, ",") {
		out = append(out, strings.TrimSpace(c))
	}
	return out
}()

// The staging table lives per connection and empties at every commit.
const stageDDL = `CREATE TEMP TABLE IF NOT EXISTS cordon_audit_stage (
	bus smallint, seq bigint, msg_time timestamptz, subject text, request_id uuid, producer smallint,
	expected smallint, sig smallint, key_id bytea, signature bytea, envelope_sha256 bytea, envelope_len bigint,
	envelope bytea, deadline timestamptz, expired boolean, method text, path text, query text, host text,
	client text, operation text, status integer, req_header text, resp_header text, outcome smallint,
	outcome_rule text, outcome_pointer text, policy_version text, findings text, traceparent text,
	capture smallint, body bytea, body_sha256 bytea, body_len bigint, masked integer, leaf bytea
) ON COMMIT DELETE ROWS`

func nullTime(t time.Time) pgtype.Timestamptz {
	return pgtype.Timestamptz{Time: t, Valid: !t.IsZero()}
}

func nullUUID(id cordon.RequestID) pgtype.UUID {
	return pgtype.UUID{Bytes: id, Valid: !id.IsZero()}
}

func recordValues(r *trail.Record) []any {
	return []any{int16(r.Bus), int64(r.Seq), r.Time, r.Subject, nullUUID(r.RequestID), int16(r.Producer),
		int16(r.Expected), int16(r.Sig), nonNil(r.KeyID), nonNil(r.Signature), r.EnvelopeSHA256[:], r.EnvelopeLen,
		r.Envelope, nullTime(r.Deadline), r.Expired, r.Method, r.Path, r.Query, r.Host, r.Client, r.Operation,
		int32(r.Status), r.ReqHeader, r.RespHeader, int16(r.Outcome), r.OutcomeRule, r.OutcomePointer,
		r.PolicyVersion, r.Findings, r.TraceParent, int16(r.Capture), r.Body, r.BodySHA256[:], r.BodyLen,
		r.Masked, r.Leaf[:]}
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// ensureMonths creates the monthly partitions recs need, through the
// SECURITY DEFINER function (the writer cannot create tables).
func (s *Store) ensureMonths(ctx context.Context, recs []trail.Record) error {
	s.mu.Lock()
	var need []time.Time
	for i := range recs {
		m := trail.MonthStart(recs[i].Time)
		if !s.months[m] {
			s.months[m] = true // optimistic; undone below on failure
			need = append(need, m)
		}
	}
	s.mu.Unlock()
	for i, m := range need {
		if _, err := s.pool.Exec(ctx, "SELECT cordon_audit.ensure_partition($1)", m); err != nil {
			s.mu.Lock()
			for _, m := range need[i:] {
				delete(s.months, m)
			}
			s.mu.Unlock()
			return wrap("ensure partition", err)
		}
	}
	return nil
}

// Append implements audit.Writer.
func (s *Store) Append(ctx context.Context, recs []trail.Record, cp trail.Checkpoint) error {
	if len(recs) == 0 {
		return errors.New("postgres: append of no records")
	}
	if err := s.ensureMonths(ctx, recs); err != nil {
		return err
	}
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	defer c.Release()
	// The staging table is created in the connection's first transaction,
	// and a transaction that rolls back takes it along: the connection
	// counts as having it only once a transaction that made it committed.
	custom := c.Conn().PgConn().CustomData()
	created := false
	err = pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error {
		if custom["stage"] == nil {
			if _, err := tx.Exec(ctx, stageDDL); err != nil {
				return wrap("staging table", err)
			}
			created = true
		}
		n, err := tx.CopyFrom(ctx, pgx.Identifier{"cordon_audit_stage"}, recordColNames,
			pgx.CopyFromSlice(len(recs), func(i int) ([]any, error) { return recordValues(&recs[i]), nil }))
		if err != nil {
			return wrap("copy", err)
		}
		if n != int64(len(recs)) {
			return fmt.Errorf("postgres: copy stored %d of %d rows", n, len(recs))
		}
		tag, err := tx.Exec(ctx, "INSERT INTO cordon_audit.records ("+recordCols+") SELECT "+recordCols+
			" FROM cordon_audit_stage ON CONFLICT DO NOTHING")
		if err != nil {
			return wrap("insert", err)
		}
		if tag.RowsAffected() != int64(len(recs)) {
			// Some were already there: another writer is ahead of our head.
			return trail.ErrConflict
		}
		_, err = tx.Exec(ctx, `INSERT INTO cordon_audit.checkpoints
			(bus, size, prev_size, first_seq, last_seq, last_time, root, frontier, note)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			int16(cp.Bus), int64(cp.Size), int64(cp.PrevSize), int64(cp.FirstSeq), int64(cp.LastSeq),
			nullTime(cp.LastTime), cp.Root[:], cp.Frontier, string(cp.Note))
		if err != nil {
			return wrap("checkpoint", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if created {
		custom["stage"] = true
	}
	return nil
}

// wrap classifies err: a unique violation is a conflict with another
// writer, a missing relation is a missing schema.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505":
			return trail.ErrConflict
		case "42P01", "3F000", "42883":
			return fmt.Errorf("%w: %s", trail.ErrNotMigrated, pe.Message)
		}
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

// LogID implements audit.Reader.
func (s *Store) LogID(ctx context.Context) (string, error) {
	s.mu.Lock()
	id := s.logID
	s.mu.Unlock()
	if id != "" {
		return id, nil
	}
	var v int
	if err := s.pool.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM cordon_audit.schema_migrations").Scan(&v); err != nil {
		return "", wrap("schema version", err)
	}
	if v != SchemaVersion {
		return "", fmt.Errorf("%w: version %d, want %d", trail.ErrNotMigrated, v, SchemaVersion)
	}
	var u pgtype.UUID
	if err := s.pool.QueryRow(ctx, "SELECT log_id FROM cordon_audit.meta").Scan(&u); err != nil {
		return "", wrap("log id", err)
	}
	id = cordon.RequestID(u.Bytes).String()
	s.mu.Lock()
	s.logID = id
	s.mu.Unlock()
	return id, nil
}

const checkpointCols = `bus, size, prev_size, first_seq, last_seq, last_time, root, frontier, note`

func scanCheckpoint(row pgx.Row, k trail.Kind) (*trail.Checkpoint, error) {
	var (
		bus                     int16
		size, prev, first, last int64
		lastTime, before        pgtype.Timestamptz
		root, frontier          []byte
		note                    string
	)
	dst := []any{&bus, &size, &prev, &first, &last, &lastTime, &root, &frontier, &note}
	if k == trail.KindBoundary {
		dst = append(dst, &before)
	}
	if err := row.Scan(dst...); err != nil {
		return nil, err
	}
	cp := &trail.Checkpoint{Kind: k, Bus: cordon.Bus(bus), Size: uint64(size), PrevSize: uint64(prev),
		FirstSeq: uint64(first), LastSeq: uint64(last), Frontier: frontier, Note: []byte(note)}
	if lastTime.Valid {
		cp.LastTime = lastTime.Time.UTC()
	}
	if before.Valid {
		cp.Before = before.Time.UTC()
	}
	copy(cp.Root[:], root)
	return cp, nil
}

// Head implements audit.Writer.
func (s *Store) Head(ctx context.Context, b cordon.Bus) (trail.Checkpoint, error) {
	id, err := s.LogID(ctx)
	if err != nil {
		return trail.Checkpoint{}, err
	}
	row := s.pool.QueryRow(ctx, "SELECT "+checkpointCols+" FROM cordon_audit.checkpoints WHERE bus = $1 ORDER BY size DESC LIMIT 1", int16(b))
	cp, err := scanCheckpoint(row, trail.KindCheckpoint)
	if errors.Is(err, pgx.ErrNoRows) {
		return trail.Checkpoint{Kind: trail.KindCheckpoint, LogID: id, Bus: b}, nil
	}
	if err != nil {
		return trail.Checkpoint{}, wrap("head", err)
	}
	cp.LogID = id
	return *cp, nil
}

// StoredTime implements audit.Writer through cordon_audit.stored_time(),
// which the writer role may call although it may not read records.
func (s *Store) StoredTime(ctx context.Context, b cordon.Bus, seq uint64) (time.Time, bool, error) {
	if seq > math.MaxInt64 {
		return time.Time{}, false, nil
	}
	var t *time.Time
	if err := s.pool.QueryRow(ctx, "SELECT cordon_audit.stored_time($1, $2)", int16(b), int64(seq)).Scan(&t); err != nil {
		return time.Time{}, false, wrap("stored time", err)
	}
	if t == nil {
		return time.Time{}, false, nil
	}
	return t.UTC(), true, nil
}

// Checkpoints implements audit.Reader.
func (s *Store) Checkpoints(ctx context.Context, b cordon.Bus, k trail.Kind, fn func(*trail.Checkpoint) error) error {
	table, cols := "checkpoints", checkpointCols
	if k == trail.KindBoundary {
		table, cols = "boundaries", checkpointCols+", before"
	}
	id, err := s.LogID(ctx)
	if err != nil {
		return err
	}
	rows, err := s.pool.Query(ctx, "SELECT "+cols+" FROM cordon_audit."+table+" WHERE bus = $1 ORDER BY size", int16(b))
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
