// Package isolation proves, with tests that try to break it, the isolation
// cordon's deployments promise: "if an attacker compromises one component,
// they cannot access messages from other stages".
//
// It holds no code, only tests (all named TestIsolation…, so that
// `go test -run Isolation ./...` runs exactly them, with the in-process
// permission tests of package natsconf). They build a deployment as
// separate processes — one `cordon nats` per bus, one `cordon run` per
// role, a private PostgreSQL cluster for the audit, a stand-in upstream API
// — each in its own Linux network namespace, one namespace per host of the
// design, wired together with one bridge per network of the design. Each
// bridge lives in a "switch" namespace of its own, so the test machine's
// namespace has no link, no address and no route into the lab, and nothing
// routes between two networks: a namespace reaches exactly the networks it
// is attached to (every namespace has IPv4 forwarding off and no default
// route; the tests check both). Only private 10.200.x.0/24 addresses are
// used, and only inside namespaces the test created.
//
// Then they show, across processes and namespaces: the reachability
// matrix (only the design's edges connect); that each component's NATS
// credential is refused by every bus not its own even when the network is
// opened on purpose; that every user's attempts to read, ack, purge, roll
// up or publish outside its permissions are refused while real traffic
// flows, and no user ever receives another stage's message; that forged,
// altered, expired and replayed approvals injected onto the clean buses
// are refused and never reach the upstream or a client; and that traffic
// flows end to end with a complete audit trail. docs/security.md maps each
// claim of each deployment to the test that proves it.
//
// The tests need root (network namespaces). Without it they skip with a
// message, except when CI=true, where they fail: CI must never skip them
// silently. A probe runs "inside" a namespace by creating its socket on an
// OS thread that joined the namespace (setns), so one test process can
// stand on every host of the lab; processes are started with
// `ip netns exec`. Namespace names start with "cdn" and five random hex
// digits, unique per run; everything is removed when the test ends, and a
// run that was killed before it could clean up is swept by the next one
// (marker files under $TMPDIR/cdn-labs name each lab and its process).
//
// The package may import anything of cordon's (it is a test of the whole);
// nothing imports it.
package isolation
