// Package frontend is the HTTP edge: it turns a client request into a
// signed message on bus 1, waits for the answer addressed to it (from bus 4,
// or a rejection on bus 1), and writes it back. It owns the hardened
// http.Server, admission (in-flight bound, rate limits), deadlines, reply
// correlation and the one table that maps error kinds to HTTP statuses and
// RFC 9457 problem bodies.
//
// A request it answers on its own after handing it to bus 1 (504 deadline,
// 503 bus.dirty-req, or a client that went away) gets a signed terminal
// record on bus 1's final subject, published in the background after the
// answer, so that its audit trail ends explicitly (docs/audit.md).
//
// It imports the root package and the standard library (plus prometheus
// and x/time/rate); it never imports a bus adapter: it publishes through a
// Sender and is handed answers through Deliver.
package frontend
