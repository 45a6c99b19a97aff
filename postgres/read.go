package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/audit/trail"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

func scanRecord(rows pgx.Rows, r *trail.Record) error {
	var (
		bus, producer, expected, sig, outcome, capture int16
		seq                                            int64
		reqID                                          pgtype.UUID
		deadline                                       pgtype.Timestamptz
		status                                         int32
		envSum, bodySum, leaf                          []byte
	)
	err := rows.Scan(&bus, &seq, &r.Time, &r.Subject, &reqID, &producer, &expected, &sig, &r.KeyID,
		&r.Signature, &envSum, &r.EnvelopeLen, &r.Envelope, &deadline, &r.Expired, &r.Method, &r.Path,
		&r.Query, &r.Host, &r.Client, &r.Operation, &status, &r.ReqHeader, &r.RespHeader, &outcome,
		&r.OutcomeRule, &r.OutcomePointer, &r.PolicyVersion, &r.Findings, &r.TraceParent, &capture, &r.Body,
		&bodySum, &r.BodyLen, &r.Masked, &leaf)
	if err != nil {
		return err
	}
	r.Bus, r.Seq = cordon.Bus(bus), uint64(seq)
	r.Time = r.Time.UTC()
	r.RequestID = cordon.RequestID{}
	if reqID.Valid {
		r.RequestID = reqID.Bytes
	}
	r.Producer, r.Expected, r.Sig = cordon.Stage(producer), cordon.Stage(expected), trail.SigStatus(sig)
	r.Deadline = time.Time{}
	if deadline.Valid {
		r.Deadline = deadline.Time.UTC()
	}
	r.Status, r.Outcome, r.Capture = int(status), cordon.ErrorKind(outcome), trail.Capture(capture)
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

// each runs q and calls fn with every record, one reused value at a time.
func (s *Store) each(ctx context.Context, q string, args []any, fn func(*trail.Record) error) error {
	rows, err := s.pool.Query(ctx, q, args...)
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
	q := "SELECT " + recordCols + " FROM cordon_audit.records WHERE bus = $1 AND seq > $2 ORDER BY seq, msg_time"
	if limit > 0 {
		q += " LIMIT " + strconv.Itoa(limit)
	}
	return s.each(ctx, q, []any{int16(b), int64(after)}, fn)
}

// Search implements audit.Reader.
func (s *Store) Search(ctx context.Context, f trail.Filter, fn func(*trail.Record) error) error {
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if !f.From.IsZero() {
		add("msg_time >= ?", f.From)
	}
	if !f.To.IsZero() {
		add("msg_time < ?", f.To)
	}
	if !f.RequestID.IsZero() {
		add("request_id = ?", pgtype.UUID{Bytes: f.RequestID, Valid: true})
	}
	if f.Bus != 0 {
		add("bus = ?", int16(f.Bus))
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
		add("status = ?", int32(f.Status))
	}
	if f.Rejected != nil {
		if *f.Rejected {
			where = append(where, "outcome <> 0")
		} else {
			where = append(where, "outcome = 0")
		}
	}
	if f.Outcome != nil {
		add("outcome = ?", int16(*f.Outcome))
	}
	if f.Rule != "" {
		args = append(args, f.Rule, trail.RulePattern(f.Rule))
		n := len(args)
		where = append(where, fmt.Sprintf(`(outcome_rule = $%d OR findings LIKE $%d ESCAPE '\')`, n-1, n))
	}
	if f.Client != "" {
		add("client = ?", f.Client)
	}
	if f.Refused {
		where = append(where, fmt.Sprintf("sig NOT IN (%d, %d)", trail.SigVerified, trail.SigUnchecked))
	}
	q := "SELECT " + recordCols + " FROM cordon_audit.records"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY msg_time, bus, seq"
	if f.Limit > 0 {
		q += " LIMIT " + strconv.Itoa(f.Limit)
	}
	return s.each(ctx, q, args, fn)
}

// Partitions implements audit.Retainer.
func (s *Store) Partitions(ctx context.Context) ([]trail.Partition, error) {
	rows, err := s.pool.Query(ctx, `SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'cordon_audit.records'::regclass ORDER BY c.relname`)
	if err != nil {
		return nil, wrap("partitions", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, wrap("partitions", err)
	}
	var ps []trail.Partition
	for _, n := range names {
		from, err := time.Parse("200601", strings.TrimPrefix(n, "records_p"))
		if err != nil {
			continue // not one of ours
		}
		ps = append(ps, trail.Partition{Name: n, From: from, To: from.AddDate(0, 1, 0)})
	}
	return ps, nil
}

// Retain implements audit.Retainer.
func (s *Store) Retain(ctx context.Context, cut time.Time, boundaries []trail.Checkpoint, drop bool) ([]string, error) {
	var names []string
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for _, b := range boundaries {
			_, err := tx.Exec(ctx, `INSERT INTO cordon_audit.boundaries
				(bus, size, prev_size, before, first_seq, last_seq, last_time, root, frontier, note)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
				int16(b.Bus), int64(b.Size), int64(b.PrevSize), b.Before, int64(b.FirstSeq), int64(b.LastSeq),
				nullTime(b.LastTime), b.Root[:], b.Frontier, string(b.Note))
			if err != nil {
				return wrap("boundary", err)
			}
		}
		return tx.QueryRow(ctx, "SELECT cordon_audit.detach_partitions($1, $2)", cut, drop).Scan(&names)
	})
	if err != nil {
		return nil, wrap("retain", err)
	}
	s.mu.Lock()
	s.months = map[time.Time]bool{}
	s.mu.Unlock()
	return names, nil
}
