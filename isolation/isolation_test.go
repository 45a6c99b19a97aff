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
	t.Run("AuditDatabase", d.auditDatabase)
}

// TestIsolationSingleValidation builds the single-validation deployment:
// two buses, the backend running both validators in-process, the frontend
// and the backend each on both buses.
func TestIsolationSingleValidation(t *testing.T) {
	d := startDeployment(t, "single-validation")
	t.Run("Reachability", d.reachability)
	t.Run("CredentialMisuse", d.credentialMisuse)
	t.Run("Permissions", d.permissions)
	t.Run("ForgedApprovals", d.forgedApprovals)
	t.Run("TrafficFlows", d.trafficFlows)
	t.Run("AuditDatabase", d.auditDatabase)
}

// TestIsolationSingleNATS builds the single-NATS deployment: one server
// carrying all four subject spaces, every component on one shared
// network, separated only by its credentials — and signatures, which make
// a forged "clean" message useless even where a credential could place it.
func TestIsolationSingleNATS(t *testing.T) {
	d := startDeployment(t, "single-nats")
	t.Run("Reachability", d.reachability)
	t.Run("Permissions", d.permissions)
	t.Run("ForgedApprovals", d.forgedApprovals)
	t.Run("TrafficFlows", d.trafficFlows)
	t.Run("AuditDatabase", d.auditDatabase)
}

// TestIsolationLinkKeys builds the full-isolation deployment on link keys
// alone (signatures: hmac, no Ed25519 key trusted) and repeats the attacks
// whose outcome depends on message authentication: forged, altered,
// replayed and misaddressed messages with misused credentials, then
// traffic and an audit whose MACs the auditor re-checks with the keys.
func TestIsolationLinkKeys(t *testing.T) {
	d := startDeploymentWith(t, "full", true)
	t.Run("ForgedApprovals", d.forgedApprovals)
	t.Run("TrafficFlows", d.trafficFlows)
}
