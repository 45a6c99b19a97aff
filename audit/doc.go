// Package audit is cordon's audit role: the shipper that copies every
// message of a bus into the audit store, and the operator's tools over that
// store (verify, trace, search, export, tail, retain).
//
// The shipper reads its bus through its own durable, read-only JetStream
// consumer (the Source interface, implemented by package bus), turns each
// message into a record (capture.go: signature checked, credentials masked,
// body kept, hashed or redacted), appends batches to the bus's Merkle log
// with a signed checkpoint in one transaction, and acknowledges only after
// the commit. The request path never waits for it; JetStream holds the
// backlog while the database is away.
//
// Stores implement the Writer, Reader and Retainer interfaces declared
// here (package postgres, package sqlite); both pass audit/audittest.
//
// This package imports the root package, envelope, dlp and audit/trail;
// never an adapter (no pgx, no NATS).
package audit
