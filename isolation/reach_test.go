package isolation_test

import (
	"fmt"
	"net"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// A target is a listening port of the deployment, probed at every address
// of its host.
type target struct {
	name     string
	host     string
	port     int
	loopback bool // listens on its host's loopback only (admin listeners)
}

// designEdges is what the design allows to connect, written down apart
// from the lab's wiring (netSpec): a network wired wrongly makes a cell
// disagree. Every host may of course reach its own listeners.
var designEdges = map[string]map[string][]string{
	"full": {
		"nats1":    {"frontend", "reqval", "audit1", "ops"},
		"nats2":    {"reqval", "backend", "audit2", "ops"},
		"nats3":    {"backend", "respval", "audit3", "ops"},
		"nats4":    {"respval", "frontend", "audit4", "ops"},
		"db":       {"audit1", "audit2", "audit3", "audit4"},
		"public":   {"client"},
		"upstream": {"backend"},
	},
	"single-validation": {
		"nats1":    {"frontend", "backend", "audit1", "ops"},
		"nats3":    {"backend", "frontend", "audit3", "ops"},
		"db":       {"audit1", "audit3"},
		"public":   {"client"},
		"upstream": {"backend"},
	},
	"single-nats": {
		"nats":     {"frontend", "reqval", "backend", "respval", "audit", "ops"},
		"db":       {"audit"},
		"public":   {"client"},
		"upstream": {"backend"},
	},
}

func (d *deployment) targets() []target {
	var ts []target
	for _, b := range d.buses() {
		ts = append(ts, target{name: d.natsHost(b), host: d.natsHost(b), port: natsPort})
	}
	ts = append(ts,
		target{name: "db", host: "db", port: dbPort},
		target{name: "public", host: "frontend", port: publicPort},
		target{name: "upstream", host: "upstream", port: upstreamPort})
	for _, h := range d.roleHosts() {
		ts = append(ts, target{name: h + ":admin", host: h, port: adminPort, loopback: true})
	}
	return ts
}

// allowed says whether the design lets from connect to tg.
func (d *deployment) allowed(from string, tg target) bool {
	if from == tg.host {
		return true
	}
	return slices.Contains(designEdges[d.mode][tg.name], from)
}

// reachability tries, from every host of the lab, a TCP connection to
// every listener of the deployment at every address of its host (and, for
// its own host, on loopback), and requires exactly the design's edges to
// connect. It also checks what makes that hold beyond this moment: no
// host forwards IPv4 and none has a route but its own networks'.
func (d *deployment) reachability(t *testing.T) {
	l := d.lab
	for _, name := range l.names {
		if f := l.forwarding(name); f != "0" {
			t.Errorf("%s forwards IPv4 (ip_forward=%s)", name, f)
		}
		var want []string
		for net, a := range l.hosts[name].addrs {
			want = append(want, net+" "+a)
		}
		var got []string
		for _, r := range l.routes(name) {
			// "10.200.1.0/24 dev bus1 proto kernel scope link src 10.200.1.21"
			f := strings.Fields(r)
			dev, src := field(f, "dev"), field(f, "src")
			if !strings.HasPrefix(f[0], "10.200.") || !strings.HasSuffix(f[0], ".0/24") || field(f, "proto") != "kernel" {
				t.Errorf("%s has a route that is not one of its own networks: %q", name, r)
				continue
			}
			got = append(got, dev+" "+src)
		}
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s routes to %q, want exactly its own networks %q", name, got, want)
		}
	}

	ts := d.targets()
	cells := map[string]map[string]string{} // from -> target -> outcome
	var wrong int
	for _, from := range l.names {
		cells[from] = map[string]string{}
		for _, tg := range ts {
			var addrs []string
			for _, a := range l.hosts[tg.host].addrs {
				addrs = append(addrs, net.JoinHostPort(a, strconv.Itoa(tg.port)))
			}
			if tg.loopback && from == tg.host {
				addrs = []string{net.JoinHostPort("127.0.0.1", strconv.Itoa(tg.port))}
			}
			slices.Sort(addrs)
			outcome := "no"
			var seen []string
			for _, a := range addrs {
				r := l.probe(from, a)
				if r == "ok" {
					outcome = "ok"
				}
				seen = append(seen, a+" "+r)
			}
			if (outcome == "ok") != d.allowed(from, tg) {
				wrong++
				outcome = "!" + outcome
				t.Errorf("%s -> %s: %s (design allows: %v)", from, tg.name, strings.Join(seen, ", "), d.allowed(from, tg))
			}
			cells[from][tg.name] = outcome
		}
	}
	d.routesThroughNeighbours(t)

	matrix := formatMatrix(l.names, ts, cells)
	if wrong > 0 {
		t.Errorf("%d cells disagree with the design (! marks them; ok = connected):\n%s", wrong, matrix)
	} else {
		t.Logf("reachability (%d hosts x %d listeners, ok = connected):\n%s", len(l.names), len(ts), matrix)
	}
}

func field(f []string, key string) string {
	for i := 0; i+1 < len(f); i++ {
		if f[i] == key {
			return f[i+1]
		}
	}
	return ""
}

func formatMatrix(rows []string, ts []target, cells map[string]map[string]string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-10s", "from\\to")
	for _, tg := range ts {
		fmt.Fprintf(&b, " %-*s", colWidth(tg), tg.name)
	}
	b.WriteString("\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "%-10s", r)
		for _, tg := range ts {
			c := cells[r][tg.name]
			if c == "no" {
				c = "."
			}
			fmt.Fprintf(&b, " %-*s", colWidth(tg), c)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func colWidth(tg target) int { return max(len(tg.name), 3) }

// detour is a compromised host trying to reach a listener through a
// neighbour attached to the listener's network.
type detour struct{ from, via, target string }

var detours = map[string][]detour{
	"full": {
		{"frontend", "reqval", "nats2"},    // the dirty edge reaching the clean request bus
		{"backend", "reqval", "nats1"},     // the backend reaching the dirty request bus
		{"respval", "backend", "upstream"}, // the response validator reaching the API
		{"client", "frontend", "nats1"},    // the internet reaching a bus
		{"audit2", "audit1", "nats1"},      // an audit shipper reaching another bus
		{"db", "audit1", "nats1"},          // the database reaching a bus
	},
	"single-validation": {
		{"client", "frontend", "nats1"},
		{"frontend", "backend", "upstream"}, // the dirty edge reaching the API
		{"audit3", "audit1", "nats1"},
		{"db", "audit1", "nats1"},
	},
	"single-nats": {
		{"client", "frontend", "nats"},
		{"reqval", "backend", "upstream"},
	},
}

// routesThroughNeighbours: whoever owns a host can add routes to it, but a
// route through a neighbour leads nowhere: the neighbour does not forward
// (checked above), and the target has no route back. Each attacker routes
// the target's network via a neighbour it shares a network with, and the
// connection still fails.
func (d *deployment) routesThroughNeighbours(t *testing.T) {
	l := d.lab
	ts := map[string]target{}
	for _, tg := range d.targets() {
		ts[tg.name] = tg
	}
	var wg sync.WaitGroup
	for _, dt := range detours[d.mode] {
		tg := ts[dt.target]
		var shared, targetNet string
		for n := range l.hosts[dt.from].addrs {
			if _, ok := l.hosts[dt.via].addrs[n]; ok {
				shared = n
			}
		}
		for n := range l.hosts[tg.host].addrs {
			if _, ok := l.hosts[dt.via].addrs[n]; ok {
				targetNet = n
			}
		}
		if shared == "" || targetNet == "" {
			t.Fatalf("detour %v: %s shares no network with both", dt, dt.via)
		}
		route := []string{"route", "add", fmt.Sprintf("10.200.%d.0/24", l.netOctet(targetNet)), "via", l.addr(dt.via, shared)}
		l.batch(l.host(dt.from).ns, strings.Join(route, " "))
		addr := net.JoinHostPort(l.addr(tg.host, targetNet), strconv.Itoa(tg.port))
		wg.Go(func() {
			// The namespace goes with the test anyway; the route goes now.
			defer exec.Command("ip", append([]string{"-n", l.host(dt.from).ns, "route", "del"}, route[2:]...)...).Run()
			if r := l.probeWithin(dt.from, addr, time.Second); r == "ok" {
				t.Errorf("%s reached %s (%s) through %s", dt.from, dt.target, addr, dt.via)
			} else {
				t.Logf("%s -> %s via %s: %s", dt.from, dt.target, dt.via, r)
			}
		})
	}
	wg.Wait()
}
