package isolation_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
)

// dsn is the audit database as PostgreSQL role user.
func (d *deployment) dsn(user string) string {
	return fmt.Sprintf("postgres://%s@%s/cordon_audit?sslmode=disable", user, d.dbAddr())
}

// startPostgres runs a private PostgreSQL cluster on the db host, as the
// postgres OS user, listening only on the db network, trusting the lab.
func (d *deployment) startPostgres() {
	t := d.t
	const pgBin = "/usr/lib/postgresql/15/bin"
	if _, err := os.Stat(filepath.Join(pgBin, "initdb")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL server binaries not found in %s", pgBin)
		}
		t.Skipf("PostgreSQL server binaries not found in %s; skipped", pgBin)
	}
	dir, err := os.MkdirTemp("", d.lab.id+"-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if out, err := exec.Command("chown", "postgres:postgres", dir).CombinedOutput(); err != nil {
		t.Fatalf("chown %s: %v %s", dir, err, out)
	}
	data := filepath.Join(dir, "data")
	asPG := func(args ...string) []string {
		return append([]string{"--reuid=postgres", "--regid=postgres", "--init-groups", "--"}, args...)
	}
	if out, err := exec.Command("setpriv", asPG(filepath.Join(pgBin, "initdb"), "-D", data, "-U", "postgres",
		"--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions")...).CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	hba, err := os.OpenFile(filepath.Join(data, "pg_hba.conf"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The audit hosts may log in as the shipper role only (the writer:
	// insert, nothing else); the db host itself as anyone (migrations, the
	// auditor's reads). Trust, not passwords: the lab is the test's own.
	_, err = fmt.Fprintf(hba, "host cordon_audit %s 10.200.%d.0/24 trust\nhost all all %s/32 trust\n",
		shipperRole, d.lab.netOctet("db"), d.lab.addr("db", "db"))
	if cerr := hba.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = exec.Command("setpriv", asPG(filepath.Join(pgBin, "pg_ctl"), "-D", data, "-m", "immediate", "-w", "stop")...).Run()
	})
	opts := fmt.Sprintf("-h %s -p %d -k %s -c fsync=off -c max_connections=50", d.lab.addr("db", "db"), dbPort, dir)
	if out, err := d.lab.command("db", "setpriv", asPG(filepath.Join(pgBin, "pg_ctl"), "-D", data,
		"-l", filepath.Join(dir, "log"), "-o", opts, "-w", "-t", "60", "start")...).CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "log"))
		t.Fatalf("pg_ctl start on the db host: %v\n%s\n%s", err, out, log)
	}
	for _, c := range [][]string{{"createdb", "cordon_audit"}, {"createuser", shipperRole}, {"createuser", auditorRole}} {
		if out, err := exec.Command("setpriv", asPG(filepath.Join(pgBin, c[0]), "-h", dir, "-p", strconv.Itoa(dbPort),
			"-U", "postgres", c[1])...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", c[0], err, out)
		}
	}
	if d.audit {
		if out, err := d.lab.command("db", d.bin, "audit", "migrate", "--audit-dsn", d.dsn("postgres"),
			"--grant-writer", shipperRole, "--grant-reader", auditorRole).CombinedOutput(); err != nil {
			t.Fatalf("cordon audit migrate on the db host: %v\n%s", err, out)
		}
	}
}

// PostgreSQL login roles: the shippers write (insert only), the auditor
// reads; the audit schema's own roles are granted to them by migrate.
const (
	shipperRole = "cordon_shipper"
	auditorRole = "cordon_auditor"
)

// auditCLI runs `cordon audit COMMAND` as the auditor, on the db host
// (flags before arguments).
func (d *deployment) auditCLI(command string, args ...string) (string, error) {
	out, err := d.lab.command("db", d.bin, append([]string{"audit", command, "--audit-dsn", d.dsn(auditorRole)}, args...)...).CombinedOutput()
	return string(out), err
}
