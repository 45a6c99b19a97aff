// Package natsconf renders least-privilege nats-server configurations for
// cordon's buses, for the official nats-server and for the embedded one
// (`cordon nats`), which parses the very same text (Options).
//
// Every component has its own NKey user per bus, allowed exactly the
// subjects of its flows and nothing else (Permissions is the matrix). In
// particular, reading a stream goes through publish permissions on the
// JetStream API, not through subscribe permissions (nats-server #3202,
// #3295), so a reading user may only publish the pull, info and ack
// subjects of its own durable consumer, and may subscribe only below its
// own inbox prefix _INBOX_<user>. Nobody but the provisioning admin may
// touch $JS.API.STREAM.> or create and delete consumers; there is no
// no_auth_user, and a separate system account receives auth-error
// advisories.
//
// It is an adapter: it may import the root package, package bus (subject
// names only), nats-server (to parse its own output) and nkeys; never a
// role.
package natsconf
