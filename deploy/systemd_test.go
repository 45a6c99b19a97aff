package deploy_test

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// unitFiles are the shipped units; templates are verified as instances too.
var unitFiles = []string{
	"cordon-frontend.service",
	"cordon-request-validator.service",
	"cordon-backend.service",
	"cordon-response-validator.service",
	"cordon-audit@.service",
	"cordon-nats@.service",
}

const binary = "/usr/local/bin/cordon"

// unit maps "Section.Key" to its values in order (keys may repeat).
type unit map[string][]string

func parseUnit(t *testing.T, path string) unit {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	u := unit{}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[':
			section = strings.Trim(line, "[]")
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("%s: bad line %q", path, line)
			}
			u[section+"."+k] = append(u[section+"."+k], v)
		}
	}
	return u
}

// hardening is what every unit sets, exactly.
var hardening = map[string][]string{
	"DynamicUser":             {"yes"},
	"NoNewPrivileges":         {"yes"},
	"ProtectSystem":           {"strict"},
	"ProtectHome":             {"yes"},
	"PrivateTmp":              {"yes"},
	"PrivateDevices":          {"yes"},
	"PrivateIPC":              {"yes"},
	"PrivateMounts":           {"yes"},
	"PrivateUsers":            {"yes"},
	"ProtectKernelTunables":   {"yes"},
	"ProtectKernelModules":    {"yes"},
	"ProtectKernelLogs":       {"yes"},
	"ProtectControlGroups":    {"yes"},
	"ProtectClock":            {"yes"},
	"ProtectHostname":         {"yes"},
	"ProtectProc":             {"invisible"},
	"ProcSubset":              {"pid"},
	"CapabilityBoundingSet":   {""},
	"AmbientCapabilities":     {""},
	"RestrictAddressFamilies": {"AF_INET AF_INET6 AF_UNIX"},
	"RestrictNamespaces":      {"yes"},
	"RestrictRealtime":        {"yes"},
	"RestrictSUIDSGID":        {"yes"},
	"LockPersonality":         {"yes"},
	"MemoryDenyWriteExecute":  {"yes"},
	"SystemCallArchitectures": {"native"},
	"SystemCallFilter":        {"@system-service", "~@privileged @resources"},
	"SystemCallErrorNumber":   {"EPERM"},
	"DevicePolicy":            {"closed"},
	"KeyringMode":             {"private"},
	"UMask":                   {"0077"},
	"ConfigurationDirectory":  {"cordon"},
}

// TestIsolationSystemdHardening: every unit runs its role as a dynamic,
// unprivileged user in a read-only system, with its secrets passed as
// credentials, and nothing in any unit loosens that.
func TestIsolationSystemdHardening(t *testing.T) {
	exec := func(args string) string { return binary + " " + args + " --config /etc/cordon/cordon.yaml" }
	stage := func(role string) []string {
		return []string{"signing-key:/etc/cordon/keys/" + role + ".key", "nkey:/etc/cordon/keys/" + role + ".nk"}
	}
	want := map[string]struct {
		exec        string
		credentials []string
		state       string
	}{
		"cordon-frontend.service":           {exec("run frontend"), stage("frontend"), ""},
		"cordon-request-validator.service":  {exec("run request-validator"), stage("request-validator"), ""},
		"cordon-backend.service":            {exec("run backend"), stage("backend"), ""},
		"cordon-response-validator.service": {exec("run response-validator"), stage("response-validator"), ""},
		"cordon-audit@.service": {exec("run audit --bus %i"),
			[]string{"checkpoint-key:/etc/cordon/keys/audit.key", "nkey:/etc/cordon/keys/audit.nk"}, "cordon/audit-%i"},
		"cordon-nats@.service": {exec("nats --bus %i"), nil, "cordon/nats-%i"},
	}
	for _, name := range unitFiles {
		t.Run(name, func(t *testing.T) {
			u := parseUnit(t, filepath.Join("systemd", name))
			w := want[name]
			for k, v := range hardening {
				if got := u["Service."+k]; !slices.Equal(got, v) {
					t.Errorf("%s=%q, want %q", k, got, v)
				}
			}
			if got := u["Service.ExecStart"]; !slices.Equal(got, []string{w.exec}) {
				t.Errorf("ExecStart=%q, want %q", got, w.exec)
			}
			if got := u["Service.LoadCredential"]; !slices.Equal(got, w.credentials) {
				t.Errorf("LoadCredential=%q, want %q", got, w.credentials)
			}
			if got := strings.Join(u["Service.StateDirectory"], " "); got != w.state {
				t.Errorf("StateDirectory=%q, want %q", got, w.state)
			}
			// Nothing that would undo the sandbox or hand out privileges.
			for _, k := range []string{"User", "Group", "SupplementaryGroups", "ReadWritePaths", "BindPaths",
				"PermissionsStartOnly", "RootDirectory", "Environment", "EnvironmentFile", "ExecStartPre", "DeviceAllow"} {
				if v, ok := u["Service."+k]; ok {
					t.Errorf("%s=%q set", k, v)
				}
			}
			if got := u["Install.WantedBy"]; !slices.Equal(got, []string{"multi-user.target"}) {
				t.Errorf("WantedBy=%q", got)
			}
		})
	}
}

// TestSystemdAnalyzeVerify lints the units with systemd's own checker and
// requires a low exposure score from `systemd-analyze security`. The units
// are copied with ExecStart pointing at a stub, because verify checks that
// the binary exists. Without systemd-analyze the test skips, except in CI.
func TestSystemdAnalyzeVerify(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("systemd-analyze not found; CI must install systemd (apt-get install -y systemd)")
		}
		t.Skip("systemd-analyze not found (apt-get install -y systemd); the units were not verified")
	}
	dir := t.TempDir()
	stub := filepath.Join(dir, "cordon")
	if err := os.WriteFile(stub, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, name := range unitFiles {
		data, err := os.ReadFile(filepath.Join("systemd", name))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, bytes.ReplaceAll(data, []byte(binary), []byte(stub)), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	run := func(t *testing.T, args ...string) string {
		t.Helper()
		cmd := exec.Command(sa, args...)
		cmd.Dir = dir
		// Instances of the templates are found through the unit path.
		cmd.Env = append(os.Environ(), "SYSTEMD_UNIT_PATH="+dir+":", "SYSTEMD_LOG_COLOR=0", "SYSTEMD_PAGER=")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("systemd-analyze %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	t.Run("verify", func(t *testing.T) {
		args := append([]string{"verify"}, paths...)
		args = append(args, "cordon-audit@1.service", "cordon-nats@4.service")
		if out := run(t, args...); strings.TrimSpace(out) != "" {
			t.Errorf("systemd-analyze verify has remarks:\n%s", out)
		}
	})
	t.Run("security", func(t *testing.T) {
		if out, _ := exec.Command(sa, "security", "--help").CombinedOutput(); !bytes.Contains(out, []byte("--offline")) {
			t.Skip("this systemd-analyze has no offline security review (systemd < 250)")
		}
		for _, p := range paths {
			// Exposure is 0.0 (best) to 10.0; the units score 1.1 today.
			run(t, "security", "--offline=true", "--threshold=15", "--no-pager", p)
		}
	})
}
