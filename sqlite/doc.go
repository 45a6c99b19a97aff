// Package sqlite is the embedded audit store for `cordon dev` and small
// deployments without PostgreSQL: one database file (modernc.org/sqlite,
// pure Go) with the same guarantees as package postgres. Rows are keyed by
// (bus, seq, time) so a redelivery cannot double; triggers refuse UPDATE and
// DELETE (DELETE is allowed only for rows a signed retention boundary
// already stands in for); every transaction is fsynced (WAL,
// synchronous=FULL). There are no roles: whoever can write the file is the
// superuser, which is why the signed checkpoints and their external copies
// matter here as much as in PostgreSQL.
//
// It is an adapter: it imports database/sql, modernc.org/sqlite, the root
// package and audit/trail, never a role. It passes audit/audittest.
package sqlite
