package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/audit/trail"
)

// optBlob tells NULL (nil) from an empty blob ([]byte{}), which the leaf
// hash distinguishes.
type optBlob struct{ b *[]byte }

func (o optBlob) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*o.b = nil
	case []byte:
		*o.b = append([]byte{}, v...)
	case string:
		*o.b = []byte(v)
	default:
		return fmt.Errorf("sqlite: blob column holds %T", src)
	}
	return nil
}

func scanRecord(rows *sql.Rows, r *trail.Record) error {
	var (
		bus, seq, msgTime, producer, expected, sig, status, outcome, capture, masked int64
		deadline                                                                     sql.NullInt64
		reqID, envSum, bodySum, leaf                                                 []byte
	)
	err := rows.Scan(&bus, &seq, &msgTime, &r.Subject, optBlob{&reqID}, &producer, &expected, &sig, optBlob{&r.KeyID},
		optBlob{&r.Signature}, &envSum, &r.EnvelopeLen, optBlob{&r.Envelope}, &deadline, &r.Expired, &r.Method, &r.Path,
		&r.Query, &r.Host, &r.Client, &r.Operation, &status, &r.ReqHeader, &r.RespHeader, &outcome,
		&r.OutcomeRule, &r.OutcomePointer, &r.PolicyVersion, &r.Findings, &r.TraceParent, &capture,
		optBlob{&r.Body}, &bodySum, &r.BodyLen, &masked, &leaf)
	if err != nil {
		return err
	}
	r.Bus, r.Seq, r.Time = cordon.Bus(bus), uint64(seq), time.UnixMicro(msgTime).UTC()
	copy(r.RequestID[:], reqID)
	r.Producer, r.Expected, r.Sig = cordon.Stage(producer), cordon.Stage(expected), trail.SigStatus(sig)
	r.Deadline = fromMicros(deadline)
	r.Status, r.Outcome, r.Capture, r.Masked = int(status), cordon.ErrorKind(outcome), trail.Capture(capture), int32(masked)
	copy(r.EnvelopeSHA256[:], envSum)
	copy(r.BodySHA256[:], bodySum)
	copy(r.Leaf[:], leaf)
	if len(r.KeyID) == 0 {
		r.KeyID = nil
	}
	if len(r.Signature) == 0 {
		r.Signature = nil
	}
	return nil
}

func (s *Store) each(ctx context.Context, q string, args []any, fn func(*trail.Record) error) error {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return wrap("query", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r trail.Record
		if err := scanRecord(rows, &r); err != nil {
			return wrap("scan", err)
		}
		if err := fn(&r); err != nil {
			return err
		}
	}
	return wrap("query", rows.Err())
}

// Records implements audit.Reader.
func (s *Store) Records(ctx context.Context, b cordon.Bus, after uint64, limit int, fn func(*trail.Record) error) error {
	q := "SELECT " + recordCols + " FROM records WHERE bus = ? AND seq > ? ORDER BY seq, msg_time"
	if limit > 0 {
		q += " LIMIT " + strconv.Itoa(limit)
	}
	return s.each(ctx, q, []any{int64(b), int64(after)}, fn)
}

// Search implements audit.Reader.
func (s *Store) Search(ctx context.Context, f trail.Filter, fn func(*trail.Record) error) error {
	var where []string
	var args []any
	add := func(cond string, v ...any) {
		where = append(where, cond)
		args = append(args, v...)
	}
	if !f.From.IsZero() {
		add("msg_time >= ?", f.From.UnixMicro())
	}
	if !f.To.IsZero() {
		add("msg_time < ?", f.To.UnixMicro())
	}
	if !f.RequestID.IsZero() {
		add("request_id = ?", f.RequestID[:])
	}
	if f.Bus != 0 {
		add("bus = ?", int64(f.Bus))
	}
	if f.Operation != "" {
		add("operation = ?", f.Operation)
	}
	if f.Path != "" {
		if p, like := trail.PathPattern(f.Path); like {
			add(`path LIKE ? ESCAPE '\'`, p)
		} else {
			add("path = ?", p)
		}
	}
	if f.Status != 0 {
		add("status = ?", int64(f.Status))
	}
	if f.Rejected != nil {
		if *f.Rejected {
			add("outcome <> 0")
		} else {
			add("outcome = 0")
		}
	}
	if f.Outcome != nil {
		add("outcome = ?", int64(*f.Outcome))
	}
	if f.Rule != "" {
		add(`(outcome_rule = ? OR findings LIKE ? ESCAPE '\')`, f.Rule, trail.RulePattern(f.Rule))
	}
	if f.Client != "" {
		add("client = ?", f.Client)
	}
	if f.Refused {
		add(fmt.Sprintf("sig NOT IN (%d, %d)", trail.SigVerified, trail.SigUnchecked))
	}
	q := "SELECT " + recordCols + " FROM records"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY msg_time, bus, seq"
	if f.Limit > 0 {
		q += " LIMIT " + strconv.Itoa(f.Limit)
	}
	return s.each(ctx, q, args, fn)
}

// Partitions implements audit.Retainer. The embedded store has no real
// partitions; records are grouped by calendar month of their stream time,
// as PostgreSQL's partitions are.
func (s *Store) Partitions(ctx context.Context) ([]trail.Partition, error) {
	rows, err := s.db.QueryContext(ctx,
		`SELECT DISTINCT strftime('%Y%m', msg_time / 1000000, 'unixepoch') AS m FROM records ORDER BY m`)
	if err != nil {
		return nil, wrap("partitions", err)
	}
	defer rows.Close()
	var ps []trail.Partition
	for rows.Next() {
		var m string
		if err := rows.Scan(&m); err != nil {
			return nil, wrap("partitions", err)
		}
		from, err := time.Parse("200601", m)
		if err != nil {
			return nil, fmt.Errorf("sqlite: partition %q: %w", m, err)
		}
		ps = append(ps, trail.Partition{Name: "records_p" + m, From: from, To: from.AddDate(0, 1, 0)})
	}
	return ps, wrap("partitions", rows.Err())
}

// Retain implements audit.Retainer. The removed records are deleted (the
// delete trigger lets through only rows a boundary stands in for); with
// drop false they are first copied to a sibling archive table.
func (s *Store) Retain(ctx context.Context, cut time.Time, boundaries []trail.Checkpoint, drop bool) ([]string, error) {
	parts, err := s.Partitions(ctx)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, p := range parts {
		if !p.To.After(cut) {
			names = append(names, p.Name)
		}
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, wrap("begin", err)
	}
	defer tx.Rollback() //nolint:errcheck
	for _, b := range boundaries {
		_, err := tx.ExecContext(ctx, `INSERT INTO boundaries
			(bus, size, prev_size, before, first_seq, last_seq, last_time, root, frontier, note, created)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			int64(b.Bus), int64(b.Size), int64(b.PrevSize), b.Before.UnixMicro(), int64(b.FirstSeq), int64(b.LastSeq),
			micros(b.LastTime), b.Root[:], append([]byte{}, b.Frontier...), string(b.Note), time.Now().UnixMicro())
		if err != nil {
			return nil, wrap("boundary", err)
		}
	}
	if !drop && len(names) > 0 {
		archive := "records_detached_" + strconv.FormatInt(time.Now().Unix(), 10)
		if _, err := tx.ExecContext(ctx, "CREATE TABLE "+archive+" AS SELECT * FROM records WHERE msg_time < ?", cut.UnixMicro()); err != nil {
			return nil, wrap("archive", err)
		}
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM records WHERE msg_time < ?", cut.UnixMicro()); err != nil {
		return nil, wrap("retain", err)
	}
	_, err = tx.ExecContext(ctx, "INSERT INTO retentions (cut, partitions, dropped, at) VALUES (?, ?, ?, ?)",
		cut.UnixMicro(), strings.Join(names, ","), drop, time.Now().UnixMicro())
	if err != nil {
		return nil, wrap("retain", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, wrap("commit", err)
	}
	return names, nil
}
