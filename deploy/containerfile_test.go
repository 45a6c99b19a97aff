package deploy_test

import (
	"bufio"
	"os"
	"strings"
	"testing"
)

// instruction is one Containerfile instruction with its arguments.
type instruction struct {
	line int
	op   string // upper case
	args string
}

// parseContainerfile splits a Containerfile into stages of instructions,
// joining continuation lines and dropping comments.
func parseContainerfile(t *testing.T, path string) [][]instruction {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var stages [][]instruction
	var cur strings.Builder
	start := 0
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if cur.Len() == 0 {
			start = n
		}
		if cont, ok := strings.CutSuffix(line, `\`); ok {
			cur.WriteString(cont + " ")
			continue
		}
		cur.WriteString(line)
		op, args, _ := strings.Cut(cur.String(), " ")
		cur.Reset()
		in := instruction{start, strings.ToUpper(op), strings.TrimSpace(args)}
		switch {
		case in.op == "FROM":
			stages = append(stages, []instruction{in})
		case len(stages) == 0 && in.op == "ARG":
			// ARG before the first FROM
		case len(stages) == 0:
			t.Fatalf("%s:%d: %s before FROM", path, in.line, in.op)
		default:
			stages[len(stages)-1] = append(stages[len(stages)-1], in)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return stages
}

// TestIsolationContainerfile: the image is a static binary on a base
// without a shell, and runs as a non-root user.
func TestIsolationContainerfile(t *testing.T) {
	stages := parseContainerfile(t, "Containerfile")
	if len(stages) < 2 {
		t.Fatalf("want a multi-stage build, got %d stage(s)", len(stages))
	}
	build, final := stages[0], stages[len(stages)-1]

	static := false
	for _, in := range build {
		if in.op == "RUN" && strings.Contains(in.args, "CGO_ENABLED=0") && strings.Contains(in.args, "go build") {
			static = true
		}
	}
	if !static {
		t.Error("the build stage does not build with CGO_ENABLED=0")
	}

	base := strings.Fields(final[0].args)[0]
	if base != "scratch" && !strings.HasPrefix(base, "gcr.io/distroless/static") {
		t.Errorf("final stage FROM %s: want scratch or distroless/static (no shell)", base)
	}
	var user, entrypoint string
	for _, in := range final[1:] {
		switch in.op {
		case "RUN", "SHELL":
			t.Errorf("line %d: %s in the final stage needs a shell", in.line, in.op)
		case "HEALTHCHECK":
			if !strings.HasPrefix(in.args, "CMD [") && in.args != "NONE" {
				t.Errorf("line %d: HEALTHCHECK in shell form needs a shell", in.line)
			}
		case "USER":
			user = in.args
		case "ENTRYPOINT":
			entrypoint = in.args
		case "COPY", "ADD":
			if in.op == "ADD" || !strings.Contains(in.args, "--from=") {
				t.Errorf("line %d: the final stage should only copy from the build stage: %s %s", in.line, in.op, in.args)
			}
		}
	}
	uid, _, _ := strings.Cut(user, ":")
	if uid != "65532" {
		t.Errorf("final stage USER %q, want 65532 (non-root)", user)
	}
	if !strings.HasPrefix(entrypoint, `["`) {
		t.Errorf("ENTRYPOINT %s: want the exec (JSON) form, the shell form needs /bin/sh", entrypoint)
	}
}
