// Package trail is the vocabulary of cordon's audit trail, shared by the
// audit role and the stores that keep it: the record of one bus message as
// stored, its leaf in the bus's verifiable log, the Merkle tree over those
// leaves, and the signed checkpoints that pin the tree.
//
// Each bus's records form an RFC 6962 Merkle tree in stream order (hashes
// from golang.org/x/mod/sumdb/tlog). A checkpoint states a tree size and
// root in the signed-note format (golang.org/x/mod/sumdb/note) under the
// audit Ed25519 key. Anyone holding the public key can recompute the tree
// from the stored records and prove that no record was changed, removed,
// inserted or reordered after the checkpoint was signed.
//
// The package is pure: no I/O. It imports the standard library, the root
// package and x/mod/sumdb; the audit role and the store adapters both
// import it, and it imports neither.
package trail
