package cordon_test

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/cordon-gateway/cordon"

// The layering rule (STYLE.md): roles never import adapters, adapters never
// import roles, and the pure engines import neither. cmd/cordon is the only
// place where they meet. audit/trail is the audit's pure vocabulary, shared
// by the role and the stores.
var (
	roles    = []string{"frontend", "validator", "backend", "audit", "audit/auditcli"}
	adapters = []string{"bus", "embednats", "natsconf", "postgres", "sqlite"}
	engines  = []string{"envelope", "jsonstrict", "policy", "dlp", "audit/trail"}
)

func deps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "./"+pkg).Output()
	if err != nil {
		t.Fatalf("go list %s: %v", pkg, err)
	}
	var own []string
	for _, d := range strings.Fields(string(out)) {
		if rest, ok := strings.CutPrefix(d, module+"/"); ok {
			own = append(own, rest)
		}
	}
	return own
}

func forbid(t *testing.T, from []string, banned []string, why string) {
	t.Helper()
	for _, p := range from {
		for _, d := range deps(t, p) {
			for _, b := range banned {
				if d == b {
					t.Errorf("%s imports %s: %s", p, d, why)
				}
			}
		}
	}
}

func TestLayering(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	forbid(t, roles, adapters, "roles never import adapters")
	forbid(t, adapters, roles, "adapters never import roles")
	forbid(t, engines, append(append([]string{}, roles...), adapters...), "pure engines import neither roles nor adapters")
	// The configuration names the settings types of the roles and engines
	// it configures, never an adapter.
	forbid(t, []string{"deployment"}, adapters, "the configuration does no I/O")
}
