// Package envelope encodes cordon.Message for the buses and signs it.
//
// The wire form is
//
//	"CDN" version(1) | alg(1) | key id(8) | signature(64) | payload
//
// where payload is a compact binary encoding of every field of the message,
// the body last and raw (no base64). The signature covers the whole payload
// (request id, producer and deadline included) with Ed25519ctx under the
// context "cordon/envelope/v1", so a signature can never be replayed in
// another protocol.
//
// Link mode (alg 2) replaces the signature with an HMAC-SHA-512 of the same
// payload under a 32-byte link key shared by the producing stage, its
// consumers and the audit. It costs ~3 µs instead of ~13 µs to sign and
// ~28 µs to verify, at a price: whoever can check a link key's MAC can also
// forge it (docs/security.md, "Link keys"). Ed25519 is the default; a
// verifier trusts the kinds of keys it is given and no others.
//
// A consumer opens a message with the Verifier of the one stage it expects
// to have produced it; anything else (no signature, unknown key, altered
// byte, wrong producer) is refused before a single field is believed.
//
// Seal and Open sign and verify with curve25519-voi, which gives the same
// signatures and the same decisions as crypto/ed25519 at less than half the
// cost; VerifyWith (the audit's offline check) uses crypto/ed25519 itself,
// and so does everything under GODEBUG=fips140=on (see ed25519.go).
//
// This package is pure (no I/O) and imports only the standard library,
// curve25519-voi and the root package. It parses attacker-controlled
// bytes: it is fuzzed, every length is checked against what remains, and
// counts are capped.
package envelope
