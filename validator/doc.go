// Package validator holds the two validating stages: the request validator
// (bus 1 -> bus 2, rejections back on bus 1) and the response validator
// (bus 3 -> bus 4). Each judges a message with a policy engine behind a
// small interface, records the verdict in the message for the audit trail,
// and forwards what passes; the same Judge functions serve the
// single-validation deployment, where the backend runs both in-process.
//
// It imports the root package only (plus prometheus); engines and buses are
// handed in by cmd/cordon.
package validator
