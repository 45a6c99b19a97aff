package deploy_test

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/google/go-cmp/cmp"

	"github.com/cordon-gateway/cordon"
)

// service is every key a service of compose.yaml may use. Decoding is
// strict, so any other key (privileged, network_mode, cap_add, pid,
// devices, …) fails the test: the file stays within what both docker
// compose and podman-compose understand, and nothing widens isolation.
type service struct {
	Image       string            `yaml:"image"`
	User        string            `yaml:"user"`
	ReadOnly    bool              `yaml:"read_only"`
	Tmpfs       []string          `yaml:"tmpfs"`
	CapDrop     []string          `yaml:"cap_drop"`
	SecurityOpt []string          `yaml:"security_opt"`
	Restart     string            `yaml:"restart"`
	Volumes     []string          `yaml:"volumes"`
	Command     []string          `yaml:"command"`
	Networks    []string          `yaml:"networks"`
	Ports       []string          `yaml:"ports"`
	Secrets     []string          `yaml:"secrets"`
	DependsOn   []string          `yaml:"depends_on"`
	Profiles    []string          `yaml:"profiles"`
	Environment map[string]string `yaml:"environment"`
}

type composeFile struct {
	Name     string             `yaml:"name"`
	XCordon  service            `yaml:"x-cordon"`
	Services map[string]service `yaml:"services"`
	Networks map[string]struct {
		Internal bool `yaml:"internal"`
	} `yaml:"networks"`
	Volumes map[string]struct{} `yaml:"volumes"`
	Secrets map[string]struct {
		File string `yaml:"file"`
	} `yaml:"secrets"`
}

func loadCompose(t *testing.T) (composeFile, map[string]map[string]any) {
	t.Helper()
	data, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.UnmarshalWithOptions(data, &c, yaml.Strict()); err != nil {
		t.Fatalf("compose.yaml:\n%v", err)
	}
	var raw struct {
		Services map[string]map[string]any `yaml:"services"`
	}
	if err := yaml.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	return c, raw.Services
}

const (
	cordonImage = "localhost/cordon:latest"
	configFile  = "/etc/cordon/cordon.yaml"
)

func busNet(b cordon.Bus) string { return fmt.Sprintf("bus%d", b) }

// TestIsolationComposeMatrix holds compose.yaml to the design: which
// service is attached to which network, which networks are internal, who
// publishes ports, and that nothing runs privileged or on the host network.
func TestIsolationComposeMatrix(t *testing.T) {
	c, raw := loadCompose(t)

	want := map[string][]string{
		"frontend":           {"public", "bus1", "bus4"},
		"request-validator":  {"bus1", "bus2"},
		"backend":            {"bus2", "bus3", "upstream"},
		"response-validator": {"bus3", "bus4"},
		"postgres":           {"audit-db"},
		"upstream":           {"upstream"},
		"provision":          {"bus1", "bus2", "bus3", "bus4"}, // one-shot, admin credentials, profile "provision"
	}
	for _, b := range cordon.Buses {
		want[fmt.Sprintf("nats-%d", b)] = []string{busNet(b)}
		want[fmt.Sprintf("audit-%d", b)] = []string{busNet(b), "audit-db"}
	}
	got := map[string][]string{}
	for name, s := range c.Services {
		got[name] = s.Networks
	}
	sorted := cmp.Transformer("sort", func(in []string) []string { return slices.Sorted(slices.Values(in)) })
	if diff := cmp.Diff(want, got, sorted); diff != "" {
		t.Errorf("network matrix (-design +compose.yaml):\n%s", diff)
	}

	// The same matrix, derived from the domain vocabulary: each stage is on
	// exactly the buses cordon.BusesOf names.
	for _, st := range cordon.Stages {
		var buses []string
		for _, b := range cordon.BusesOf(st) {
			buses = append(buses, busNet(b))
		}
		nets := slices.DeleteFunc(slices.Clone(c.Services[st.String()].Networks), func(n string) bool {
			return !strings.HasPrefix(n, "bus")
		})
		if diff := cmp.Diff(buses, nets, sorted); diff != "" {
			t.Errorf("%s buses (-cordon.BusesOf +compose.yaml):\n%s", st, diff)
		}
	}

	wantInternal := map[string]bool{"public": false, "upstream": false, "audit-db": true,
		"bus1": true, "bus2": true, "bus3": true, "bus4": true}
	gotInternal := map[string]bool{}
	for name, n := range c.Networks {
		gotInternal[name] = n.Internal
	}
	if diff := cmp.Diff(wantInternal, gotInternal); diff != "" {
		t.Errorf("networks and internal flags (-want +got):\n%s", diff)
	}

	for name, s := range c.Services {
		if len(s.Ports) > 0 && name != "frontend" {
			t.Errorf("%s publishes ports %q: only the frontend may", name, s.Ports)
		}
		for _, k := range []string{"privileged", "network_mode", "pid", "ipc", "uts", "userns_mode",
			"cap_add", "devices", "cgroup_parent", "extra_hosts", "links", "external_links", "expose"} {
			if _, ok := raw[name][k]; ok {
				t.Errorf("%s sets %s", name, k)
			}
		}
		for _, o := range s.SecurityOpt {
			if strings.Contains(o, "unconfined") || strings.Contains(o, "disable") {
				t.Errorf("%s weakens confinement: security_opt %q", name, o)
			}
		}
		if !slices.Contains(s.SecurityOpt, "no-new-privileges:true") {
			t.Errorf("%s lacks no-new-privileges", name)
		}
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			host := strings.HasPrefix(src, "/") || strings.HasPrefix(src, ".")
			if host && v != "./cordon.yaml:"+configFile+":ro" && v != "./openapi.yaml:/etc/cordon/openapi.yaml:ro" {
				t.Errorf("%s mounts host path %q (only the configuration and the API document, read-only, are allowed)", name, v)
			}
		}
	}
	if len(c.Services["frontend"].Ports) != 1 {
		t.Errorf("frontend ports %q, want exactly one", c.Services["frontend"].Ports)
	}
}

// TestIsolationComposeCordonServices: every cordon container runs the one
// image as the non-root user, read-only, without capabilities, with the
// right command and only its own secrets.
func TestIsolationComposeCordonServices(t *testing.T) {
	c, _ := loadCompose(t)
	type spec struct {
		command []string
		secrets []string
	}
	run := func(role string, extra ...string) []string {
		return append(append([]string{"run", role}, extra...), "--config", configFile)
	}
	own := func(role string) []string { return []string{role + "-key", role + "-nkey"} }
	want := map[string]spec{
		"frontend":           {run("frontend"), own("frontend")},
		"request-validator":  {run("request-validator"), own("request-validator")},
		"backend":            {run("backend"), own("backend")},
		"response-validator": {run("response-validator"), own("response-validator")},
		"provision":          {[]string{"provision", "--config", configFile}, []string{"admin-nkey"}},
	}
	for _, b := range cordon.Buses {
		n := fmt.Sprint(int(b))
		want["nats-"+n] = spec{[]string{"nats", "--bus", n, "--config", configFile}, nil}
		want["audit-"+n] = spec{run("audit", "--bus", n), []string{"audit-key", "audit-nkey", "postgres-password"}}
	}
	for name, w := range want {
		s, ok := c.Services[name]
		if !ok {
			t.Errorf("service %s missing", name)
			continue
		}
		if s.Image != cordonImage || s.User != "65532:65532" || !s.ReadOnly || !slices.Equal(s.CapDrop, []string{"ALL"}) {
			t.Errorf("%s: image %q user %q read_only %v cap_drop %q", name, s.Image, s.User, s.ReadOnly, s.CapDrop)
		}
		if !slices.Equal(s.Command, w.command) {
			t.Errorf("%s: command %q, want %q", name, s.Command, w.command)
		}
		if !slices.Equal(s.Secrets, w.secrets) {
			t.Errorf("%s: secrets %q, want %q", name, s.Secrets, w.secrets)
		}
		for _, sec := range s.Secrets {
			if _, ok := c.Secrets[sec]; !ok {
				t.Errorf("%s: secret %s is not defined", name, sec)
			}
		}
	}
	if p := c.Services["provision"]; !slices.Equal(p.Profiles, []string{"provision"}) {
		t.Errorf("provision must only run on request (profile), has profiles %q", p.Profiles)
	}
}
