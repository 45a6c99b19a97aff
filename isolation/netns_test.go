package isolation_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A lab is a set of network namespaces wired like the hosts and networks
// of one deployment shape. Every host is a namespace; every network is a
// bridge inside a "switch" namespace of its own, with one veth pair per
// member (one end in the switch, enslaved to the bridge; the other in the
// member, addressed 10.200.<net>.<host>/24). The test machine's own
// namespace is never touched: no link, address or route of the lab lives
// there, so nothing can route between two networks but a member attached
// to both, and every member has IPv4 forwarding off.
type lab struct {
	t     *testing.T
	id    string // "cdn" + 5 hex digits: unique per run, prefixes every namespace
	nets  []netSpec
	hosts map[string]*host
	names []string // hosts in creation order
}

// netSpec is one network of the design and the hosts attached to it.
type netSpec struct {
	name    string // also the interface name inside every member
	octet   int    // 10.200.<octet>.0/24
	members []string
}

type host struct {
	name  string
	ns    string            // namespace name
	num   int               // last octet of every address
	addrs map[string]string // network name -> IPv4 address
}

// hostNums gives every host of every shape a fixed last octet, so
// addresses read the same in every run and every failure message.
var hostNums = map[string]int{
	"nats": 10, "nats1": 11, "nats2": 12, "nats3": 13, "nats4": 14,
	"frontend": 20, "reqval": 21, "backend": 22, "respval": 23,
	"upstream": 30,
	"audit":    40, "audit1": 41, "audit2": 42, "audit3": 43, "audit4": 44,
	"db": 50, "client": 60, "ops": 99,
}

// netnsAvailable says why the lab cannot be built here, or "" if it can.
func netnsAvailable() string {
	if os.Geteuid() != 0 {
		return "the isolation tests need root (ip netns, veth, bridges)"
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return "the isolation tests need iproute2's `ip`"
	}
	return ""
}

// requireLab skips (or, in CI, fails) a test that cannot build a lab here.
func requireLab(t *testing.T) {
	t.Helper()
	why := netnsAvailable()
	if why == "" && testing.Short() && os.Getenv("CI") != "true" {
		t.Skip("the isolation lab takes ~20s: skipped in -short mode (never in CI)")
	}
	if why == "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s; CI=true, so this is a failure, not a skip", why)
	}
	t.Skipf("%s; skipped (they run, and must pass, in CI as root)", why)
}

// newLab creates the namespaces and networks of nets. Everything it
// creates is removed when the test ends, pass or fail; processes started
// later in the lab are registered later, so they are stopped first.
func newLab(t *testing.T, nets []netSpec) *lab {
	t.Helper()
	requireLab(t)
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	l := &lab{t: t, id: "cdn" + hex.EncodeToString(b)[:5], nets: nets, hosts: map[string]*host{}}
	for _, n := range nets {
		for _, m := range n.members {
			h := l.hosts[m]
			if h == nil {
				num, ok := hostNums[m]
				if !ok {
					t.Fatalf("lab: host %q has no number", m)
				}
				h = &host{name: m, ns: l.id + "-" + m, num: num, addrs: map[string]string{}}
				l.hosts[m] = h
				l.names = append(l.names, m)
			}
			h.addrs[n.name] = fmt.Sprintf("10.200.%d.%d", n.octet, h.num)
		}
	}
	var namespaces []string
	for _, n := range nets {
		namespaces = append(namespaces, l.switchNS(n))
	}
	for _, name := range l.names {
		namespaces = append(namespaces, l.hosts[name].ns)
	}
	sweepStaleLabs(t)
	marker := writeLabMarker(t, l.id, namespaces)
	t.Cleanup(func() {
		for _, ns := range namespaces {
			if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil &&
				!strings.Contains(string(out), "No such file") {
				t.Errorf("lab: delete namespace %s: %v %s", ns, err, out)
			}
		}
		if !t.Failed() {
			_ = os.Remove(marker)
		}
	})
	for _, ns := range namespaces {
		l.ip("netns", "add", ns)
	}
	for _, name := range l.names {
		h := l.hosts[name]
		l.batch(h.ns, "link set lo up")
		// New namespaces may inherit the initial namespace's IPv4
		// settings; forwarding is switched off explicitly.
		if err := l.inNS(name, func() error {
			return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("0\n"), 0)
		}); err != nil {
			t.Fatalf("lab: %s: ip_forward: %v", name, err)
		}
	}
	for _, n := range nets {
		sw := l.switchNS(n)
		cmds := []string{"link add name sw type bridge", "link set sw up"}
		for _, m := range n.members {
			port := "p-" + m
			cmds = append(cmds,
				fmt.Sprintf("link add name %s type veth peer name %s netns %s", port, n.name, l.hosts[m].ns),
				fmt.Sprintf("link set %s master sw", port),
				fmt.Sprintf("link set %s up", port))
		}
		l.batch(sw, cmds...)
		for _, m := range n.members {
			h := l.hosts[m]
			l.batch(h.ns, fmt.Sprintf("addr add %s/24 dev %s", h.addrs[n.name], n.name),
				fmt.Sprintf("link set %s up", n.name))
		}
	}
	return l
}

// netOctet is the third octet of network net's addresses.
func (l *lab) netOctet(net string) int {
	for _, n := range l.nets {
		if n.name == net {
			return n.octet
		}
	}
	l.t.Fatalf("lab: no network %q", net)
	return 0
}

func (l *lab) switchNS(n netSpec) string { return l.id + "-sw-" + n.name }

func (l *lab) ip(args ...string) {
	l.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		l.t.Fatalf("lab: ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// batch runs ip commands inside namespace ns, in one process.
func (l *lab) batch(ns string, cmds ...string) {
	l.t.Helper()
	cmd := exec.Command("ip", "-n", ns, "-batch", "-")
	cmd.Stdin = strings.NewReader(strings.Join(cmds, "\n") + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		l.t.Fatalf("lab: ip -n %s: %v\n%s\n%s", ns, err, strings.Join(cmds, "\n"), out)
	}
}

func (l *lab) host(name string) *host {
	h := l.hosts[name]
	if h == nil {
		l.t.Fatalf("lab: no host %q", name)
	}
	return h
}

// addr is host's address on network net.
func (l *lab) addr(hostName, net string) string {
	a := l.host(hostName).addrs[net]
	if a == "" {
		l.t.Fatalf("lab: host %s is not on network %s", hostName, net)
	}
	return a
}

// inNS runs f on an OS thread that joined host's network namespace. The
// thread is never handed back to the runtime: it ends with the goroutine,
// so no other goroutine ever runs in the wrong namespace.
func (l *lab) inNS(hostName string, f func() error) error {
	path := "/run/netns/" + l.host(hostName).ns
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // deliberately never unlocked
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			done <- fmt.Errorf("open %s: %w", path, err)
			return
		}
		err = unix.Setns(fd, unix.CLONE_NEWNET)
		unix.Close(fd)
		if err != nil {
			done <- fmt.Errorf("setns %s: %w", path, err)
			return
		}
		done <- f()
	}()
	return <-done
}

// dialer returns a DialContext whose sockets are created in host's
// namespace: a connection from that host. It serves net/http transports
// and (through natsDialer) NATS clients, reconnects included.
func (l *lab) dialer(hostName string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := l.inNS(hostName, func() error {
			var d net.Dialer
			var err error
			c, err = d.DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
}

// natsDialer adapts a lab dialer to nats.CustomDialer.
type natsDialer struct {
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

func (d natsDialer) Dial(network, address string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return d.dial(ctx, network, address)
}

// probe tries one TCP connection from host to addr and says what
// happened: "ok", "refused", "unreachable" (no route) or "timeout".
func (l *lab) probe(from, addr string) string { return l.probeWithin(from, addr, 2*time.Second) }

func (l *lab) probeWithin(from, addr string, limit time.Duration) string {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	c, err := l.dialer(from)(ctx, "tcp", addr)
	switch {
	case err == nil:
		c.Close()
		return "ok"
	case errors.Is(err, unix.ECONNREFUSED):
		return "refused"
	case errors.Is(err, unix.ENETUNREACH), errors.Is(err, unix.EHOSTUNREACH):
		return "unreachable"
	case errors.Is(err, context.DeadlineExceeded), os.IsTimeout(err):
		return "timeout"
	}
	return "error: " + err.Error()
}

// routes lists host's IPv4 routes, one per line, as `ip route` prints them.
func (l *lab) routes(hostName string) []string {
	l.t.Helper()
	out, err := exec.Command("ip", "-n", l.host(hostName).ns, "-4", "route", "show").CombinedOutput()
	if err != nil {
		l.t.Fatalf("lab: routes of %s: %v\n%s", hostName, err, out)
	}
	return slices.DeleteFunc(strings.Split(strings.TrimSpace(string(out)), "\n"), func(s string) bool { return s == "" })
}

// forwarding reads host's net.ipv4.ip_forward.
func (l *lab) forwarding(hostName string) string {
	l.t.Helper()
	var v []byte
	if err := l.inNS(hostName, func() error {
		var err error
		v, err = os.ReadFile("/proc/sys/net/ipv4/ip_forward")
		return err
	}); err != nil {
		l.t.Fatalf("lab: %s: %v", hostName, err)
	}
	return strings.TrimSpace(string(v))
}

// command builds a process that runs in host's namespace.
func (l *lab) command(hostName, bin string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", l.host(hostName).ns, bin}, args...)...)
}

// labsDir holds one marker file per lab: the test process's pid, then the
// namespaces it created. A test binary killed before its cleanups ran
// (Ctrl-C, a timeout, SIGPIPE) leaves its lab behind; the next run
// removes the labs whose process is gone.
var labsDir = filepath.Join(os.TempDir(), "cdn-labs")

func writeLabMarker(t *testing.T, id string, namespaces []string) string {
	t.Helper()
	if err := os.MkdirAll(labsDir, 0o700); err != nil {
		t.Fatalf("lab: %v", err)
	}
	path := filepath.Join(labsDir, id)
	body := strconv.Itoa(os.Getpid()) + "\n" + strings.Join(namespaces, "\n") + "\n"
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatalf("lab: %v", err)
	}
	return path
}

// sweepStaleLabs removes the labs of test processes that no longer exist:
// the processes still running in their namespaces (cordon, PostgreSQL,
// the upstream, all started by that run), the namespaces, and the lab's
// temporary PostgreSQL directory. Labs of live processes are left alone.
func sweepStaleLabs(t *testing.T) {
	// The cordon binary of a killed run: no run lasts an hour.
	if bins, _ := filepath.Glob(filepath.Join(os.TempDir(), "cdn-bin-*")); len(bins) > 0 {
		for _, b := range bins {
			if fi, err := os.Stat(b); err == nil && time.Since(fi.ModTime()) > time.Hour {
				_ = os.RemoveAll(b)
			}
		}
	}
	entries, err := os.ReadDir(labsDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		path := filepath.Join(labsDir, e.Name())
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		lines := strings.Fields(string(data))
		if len(lines) == 0 {
			continue
		}
		pid, err := strconv.Atoi(lines[0])
		if err != nil || pid <= 0 || unix.Kill(pid, 0) != unix.ESRCH {
			continue // alive (or not ours to judge)
		}
		for _, ns := range lines[1:] {
			if !strings.HasPrefix(ns, e.Name()+"-") {
				continue // only what that lab named
			}
			out, _ := exec.Command("ip", "netns", "pids", ns).Output()
			for _, f := range strings.Fields(string(out)) {
				if p, err := strconv.Atoi(f); err == nil {
					_ = unix.Kill(p, unix.SIGKILL)
				}
			}
			_ = exec.Command("ip", "netns", "del", ns).Run()
		}
		if dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), e.Name()+"-pg-*")); len(dirs) > 0 {
			for _, d := range dirs {
				_ = os.RemoveAll(d)
			}
		}
		_ = os.Remove(path)
		t.Logf("lab: removed the stale lab %s of dead process %d", e.Name(), pid)
	}
}
