// Package postgres is the PostgreSQL audit store, on pgx v5: embedded
// migrations (roles, an append-only partitioned schema, triggers that fire
// always), batched writes through COPY into a staging table and INSERT …
// ON CONFLICT DO NOTHING, and the reads that verify, trace, search, export
// and tail need.
//
// It is an adapter: it imports pgx, the root package and the audit trail
// vocabulary (audit/trail), never a role. It passes the conformance suite
// in audit/audittest.
package postgres
