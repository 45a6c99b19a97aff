// Package bus is the JetStream adapter: the names of every subject, stream,
// consumer and header (subjects.go), provisioning of streams and consumers,
// the signing publisher, and the consumer loop that verifies, checks expiry,
// calls a role's handler and acks its input only after the handler's output
// was stored.
//
// Roles never see a *nats.Msg: they get verified cordon.Message values and
// return classified errors. This package imports nats.go, the root package
// and envelope; it never imports a role.
package bus
