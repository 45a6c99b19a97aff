package isolation_test

import "testing"

// TestIsolation builds the full-isolation deployment — four NATS servers,
// four roles, the audit shippers, PostgreSQL, the upstream, a client and
// the provisioning host, each a separate process on a host of its own —
// and tries to break its isolation.
func TestIsolation(t *testing.T) {
	d := startDeployment(t, "full")
	t.Run("Reachability", d.reachability)
	t.Run("CredentialMisuse", d.credentialMisuse)
	t.Run("Permissions", d.permissions)
	t.Run("ForgedApprovals", d.forgedApprovals)
	t.Run("TrafficFlows", d.trafficFlows)
}
