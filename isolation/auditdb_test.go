package isolation_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
)

// auditDatabase stands on an audit shipper's host, as whoever owns it:
// the database answers it only as the shipper role, which may add records
// but never change, delete or truncate them; the superuser and the
// auditor cannot log in from there.
func (d *deployment) auditDatabase(t *testing.T) {
	if !d.audit {
		t.Skip("this cordon has no audit shipper yet")
	}
	from := d.auditHost(d.buses()[0])
	connect := func(user string) (*pgx.Conn, error) {
		cfg, err := pgx.ParseConfig(d.dsn(user))
		if err != nil {
			t.Fatal(err)
		}
		cfg.DialFunc = d.lab.dialer(from)
		return pgx.ConnectConfig(probeContext(t), cfg)
	}
	for _, user := range []string{"postgres", auditorRole, "cordon_audit_owner"} {
		if c, err := connect(user); err == nil {
			c.Close(context.Background())
			t.Errorf("%s logged in to the audit database as %s", from, user)
		} else {
			t.Logf("as %s: %v", user, err)
		}
	}
	c, err := connect(shipperRole)
	if err != nil {
		t.Fatalf("the shipper role from %s: %v", from, err)
	}
	defer c.Close(context.Background())
	var n int
	if err := c.QueryRow(probeContext(t), "SELECT count(*) FROM cordon_audit.records").Scan(&n); err == nil && n == 0 {
		t.Fatal("no audit records yet: the refusals below would prove less")
	}
	for _, stmt := range []string{
		"UPDATE cordon_audit.records SET path = '/rewritten'",
		"DELETE FROM cordon_audit.records",
		"TRUNCATE cordon_audit.records",
		"UPDATE cordon_audit.checkpoints SET size = size",
		"DELETE FROM cordon_audit.checkpoints",
		"DROP TABLE cordon_audit.records",
		"ALTER TABLE cordon_audit.records DISABLE TRIGGER ALL",
		"SET session_replication_role = replica",
	} {
		if _, err := c.Exec(probeContext(t), stmt); err == nil {
			t.Errorf("the shipper role may %q", stmt)
		} else {
			t.Logf("%s: %v", stmt, err)
		}
	}
}
