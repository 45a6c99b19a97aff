package isolation_test

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nkeys"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/envelope"
)

// waitLimit bounds every wait for something that happens promptly (a
// process starting, a message being handled). It is a failure bound, not a
// timing assertion.
const waitLimit = 30 * time.Second

// The networks of the full deployment: one per bus, the backend's way to
// the upstream, the audit database's, and the public one. "ops" is the
// provisioning host, attached to all four buses: the network opened on
// purpose for `cordon provision` and for the credential-misuse test.
var fullNets = []netSpec{
	{"bus1", 1, []string{"nats1", "frontend", "reqval", "audit1", "ops"}},
	{"bus2", 2, []string{"nats2", "reqval", "backend", "audit2", "ops"}},
	{"bus3", 3, []string{"nats3", "backend", "respval", "audit3", "ops"}},
	{"bus4", 4, []string{"nats4", "respval", "frontend", "audit4", "ops"}},
	{"upstream", 5, []string{"backend", "upstream"}},
	{"db", 6, []string{"audit1", "audit2", "audit3", "audit4", "db"}},
	{"public", 7, []string{"frontend", "client"}},
}

// The single-validation deployment: two buses, the backend validating
// both ways between them, no validator hosts.
var singleValidationNets = []netSpec{
	{"bus1", 1, []string{"nats1", "frontend", "backend", "audit1", "ops"}},
	{"bus3", 3, []string{"nats3", "backend", "frontend", "audit3", "ops"}},
	{"upstream", 5, []string{"backend", "upstream"}},
	{"db", 6, []string{"audit1", "audit3", "db"}},
	{"public", 7, []string{"frontend", "client"}},
}

// The single-NATS deployment: one server, one network that every
// component shares; only credentials (and signatures) separate them.
var singleNATSNets = []netSpec{
	{"bus", 1, []string{"nats", "frontend", "reqval", "backend", "respval", "audit", "ops"}},
	{"upstream", 5, []string{"backend", "upstream"}},
	{"db", 6, []string{"audit", "db"}},
	{"public", 7, []string{"frontend", "client"}},
}

const (
	natsPort     = 4222
	publicPort   = 8080
	upstreamPort = 8080
	adminPort    = 9090 // every role's admin listener, on its host's loopback only
	dbPort       = 5432
)

// roles holding keys, and the host each runs on.
var roleHost = map[string]string{
	"frontend": "frontend", "request-validator": "reqval", "backend": "backend",
	"response-validator": "respval", "admin": "ops",
}

var stageOf = map[string]cordon.Stage{
	"frontend": cordon.StageFrontend, "request-validator": cordon.StageRequestValidator,
	"backend": cordon.StageBackend, "response-validator": cordon.StageResponseValidator,
}

// deployment is one shape of cordon running in a lab: every NATS server,
// role, the upstream and PostgreSQL as separate processes, each in the
// namespace of its host.
type deployment struct {
	t    *testing.T
	lab  *lab
	mode string // full | single-nats | single-validation
	// link: signatures: hmac, link keys only (no Ed25519 key trusted).
	link  bool
	dir   string
	bin   string
	cfg   string // the one configuration file every process reads
	keys  string
	audit bool // the audit shippers run (else provisioned --no-audit)
	upLog string

	mu    sync.Mutex
	procs []*proc

	// nkey is each key holder's public NKey; signer its signing key. The
	// test holds the rightful keys only to forge "almost right" messages.
	nkey   map[string]string
	signer map[cordon.Stage]*envelope.Signer
	// auditKey is the audit's public checkpoint key, for the auditor.
	auditKey string
}

// proc is one process of the deployment.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

// startDeployment builds the lab for mode and runs the whole deployment
// in it, ready for traffic.
func startDeployment(t *testing.T, mode string) *deployment {
	t.Helper()
	return startDeploymentWith(t, mode, false)
}

// startDeploymentWith is startDeployment; link runs it on link keys alone
// (signatures: hmac).
func startDeploymentWith(t *testing.T, mode string, link bool) *deployment {
	t.Helper()
	requireLab(t)
	nets := map[string][]netSpec{"full": fullNets, "single-nats": singleNATSNets,
		"single-validation": singleValidationNets}[mode]
	bin := binary.get(t)
	l := newLab(t, nets)
	dir := t.TempDir()
	d := &deployment{t: t, lab: l, mode: mode, link: link, dir: dir, bin: bin,
		cfg: filepath.Join(dir, "cordon.yaml"), keys: filepath.Join(dir, "keys"),
		upLog: filepath.Join(dir, "upstream.log"),
		nkey:  map[string]string{}, signer: map[cordon.Stage]*envelope.Signer{}}
	d.audit = auditShipperAvailable(bin)
	t.Cleanup(func() {
		if t.Failed() {
			d.dumpLogs()
		}
	})
	if link {
		d.run("keys", "generate", "--link", "--dir", d.keys)
	} else {
		d.run("keys", "generate", "--dir", d.keys)
	}
	d.loadKeys()
	d.writeConfig()
	d.startPostgres()
	for _, b := range d.buses() {
		d.start("nats-"+strconv.Itoa(int(b)), d.natsHost(b), nil, bin, "nats", "--bus", strconv.Itoa(int(b)), "--config", d.cfg)
	}
	for _, b := range d.buses() {
		d.waitPort(t, d.natsHost(b), d.natsAddr(b))
	}
	args := []string{"provision", "--config", d.cfg}
	if !d.audit {
		args = append(args, "--no-audit")
	}
	if out, err := d.lab.command("ops", bin, args...).CombinedOutput(); err != nil {
		t.Fatalf("cordon provision from the ops host: %v\n%s", err, out)
	}
	d.start("upstream", "upstream", []string{helperEnv + "=upstream",
		"CDN_UPSTREAM_LISTEN=" + net.JoinHostPort(l.addr("upstream", "upstream"), strconv.Itoa(upstreamPort)),
		"CDN_UPSTREAM_LOG=" + d.upLog}, os.Args[0])
	for _, role := range d.roles() {
		d.start(role, roleHost[role], nil, bin, "run", role, "--config", d.cfg)
	}
	switch {
	case d.audit && d.mode == "single-nats":
		// One shipper for the one server, recording all four streams.
		d.start("audit", "audit", nil, bin, "run", "audit", "--bus", "all", "--config", d.cfg)
	case d.audit:
		// One shipper per bus, on its own host: none touches two buses.
		for _, b := range d.buses() {
			d.start("audit-"+strconv.Itoa(int(b)), d.auditHost(b), nil, bin, "run", "audit", "--bus", strconv.Itoa(int(b)), "--config", d.cfg)
		}
	}
	d.waitPort(t, "upstream", net.JoinHostPort(l.addr("upstream", "upstream"), strconv.Itoa(upstreamPort)))
	for _, h := range d.roleHosts() {
		d.waitReady(t, h)
	}
	return d
}

// auditShipperAvailable reports whether this cordon has `run audit` yet.
func auditShipperAvailable(bin string) bool {
	out, _ := exec.Command(bin, "run", "audit", "-h").CombinedOutput()
	return !strings.Contains(string(out), "pending")
}

// buses are the buses of the deployment, one server each (one server for
// all in single-nats, started as bus 1).
func (d *deployment) buses() []cordon.Bus {
	switch d.mode {
	case "single-nats":
		return []cordon.Bus{cordon.BusDirtyReq}
	case "single-validation":
		return []cordon.Bus{cordon.BusDirtyReq, cordon.BusDirtyResp}
	}
	return cordon.Buses
}

// roles are the pipeline roles running as processes.
func (d *deployment) roles() []string {
	if d.mode == "single-validation" {
		return []string{"frontend", "backend"}
	}
	return []string{"frontend", "request-validator", "backend", "response-validator"}
}

func (d *deployment) busNet(b cordon.Bus) string {
	if d.mode == "single-nats" {
		return "bus"
	}
	return "bus" + strconv.Itoa(int(b))
}

// natsHost is the host serving bus b.
func (d *deployment) natsHost(b cordon.Bus) string {
	if d.mode == "single-nats" {
		return "nats"
	}
	return "nats" + strconv.Itoa(int(b))
}

func (d *deployment) natsAddr(b cordon.Bus) string {
	return net.JoinHostPort(d.lab.addr(d.natsHost(b), d.busNet(b)), strconv.Itoa(natsPort))
}

func (d *deployment) natsURL(b cordon.Bus) string { return "nats://" + d.natsAddr(b) }

func (d *deployment) auditHost(b cordon.Bus) string {
	if d.mode == "single-nats" {
		return "audit"
	}
	return "audit" + strconv.Itoa(int(b))
}

// hostOf is where key holder role connects to bus b from.
func (d *deployment) hostOf(role string, b cordon.Bus) string {
	if role == "audit" {
		return d.auditHost(b)
	}
	return roleHost[role]
}

// roleHosts are the hosts running a role with an admin listener.
func (d *deployment) roleHosts() []string {
	var hs []string
	for _, r := range d.roles() {
		hs = append(hs, roleHost[r])
	}
	if d.audit {
		for _, b := range d.buses() {
			hs = append(hs, d.auditHost(b))
		}
	}
	return hs
}

func (d *deployment) publicURL() string {
	return "http://" + net.JoinHostPort(d.lab.addr("frontend", "public"), strconv.Itoa(publicPort))
}

func (d *deployment) dbAddr() string {
	return net.JoinHostPort(d.lab.addr("db", "db"), strconv.Itoa(dbPort))
}

// run runs cordon on the test machine (no network needed) and returns
// its output.
func (d *deployment) run(args ...string) string {
	d.t.Helper()
	out, err := exec.Command(d.bin, args...).CombinedOutput()
	if err != nil {
		d.t.Fatalf("cordon %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (d *deployment) loadKeys() {
	t := d.t
	for _, role := range []string{"frontend", "request-validator", "backend", "response-validator", "audit", "admin"} {
		seed, err := os.ReadFile(d.seedFile(role))
		if err != nil {
			t.Fatal(err)
		}
		kp, err := nkeys.FromSeed([]byte(strings.TrimSpace(string(seed))))
		if err != nil {
			t.Fatal(err)
		}
		if d.nkey[role], err = kp.PublicKey(); err != nil {
			t.Fatal(err)
		}
		if role == "audit" {
			pem, err := os.ReadFile(filepath.Join(d.keys, "audit.key"))
			if err != nil {
				t.Fatal(err)
			}
			priv, err := envelope.ParsePrivateKey(pem)
			if err != nil {
				t.Fatal(err)
			}
			d.auditKey = envelope.EncodePublicKey(priv.Public().(ed25519.PublicKey))
		}
		if s, ok := stageOf[role]; ok {
			pem, err := os.ReadFile(filepath.Join(d.keys, role+".key"))
			if err != nil {
				t.Fatal(err)
			}
			priv, err := envelope.ParsePrivateKey(pem)
			if err != nil {
				t.Fatal(err)
			}
			if d.signer[s], err = envelope.NewSigner(s, priv); err != nil {
				t.Fatal(err)
			}
			if d.link {
				b, err := os.ReadFile(filepath.Join(d.keys, role+".link"))
				if err != nil {
					t.Fatal(err)
				}
				key, err := envelope.ParseLinkKey(b)
				if err != nil {
					t.Fatal(err)
				}
				if d.signer[s], err = envelope.NewLinkSigner(s, key); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

// configuredBuses are the buses the configuration names (in single-NATS
// all four, on one server).
func (d *deployment) configuredBuses() []cordon.Bus {
	if d.mode == "single-validation" {
		return d.buses()
	}
	return cordon.Buses
}

func (d *deployment) checkpointDir() string { return filepath.Join(d.dir, "checkpoints") }

func (d *deployment) seedFile(role string) string { return filepath.Join(d.keys, role+".nk") }

// writeConfig writes the one configuration every process reads.
func (d *deployment) writeConfig() {
	t, l := d.t, d.lab
	k := func(name string) string { return filepath.Join(d.keys, name) }
	spec, err := filepath.Abs("testdata/items.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "mode: %s\ntimeout: 10s\ndata_dir: %q\nbuses:\n", d.mode, filepath.Join(d.dir, "data"))
	for _, bus := range d.configuredBuses() {
		fmt.Fprintf(&b, "  %s: {url: %q, admin_nkey_file: %q, admin_nkey: %q, store_dir: %q, max_store: 64MiB}\n",
			strings.ReplaceAll(bus.String(), "-", "_"), d.natsURL(bus), k("admin.nk"), d.nkey["admin"],
			filepath.Join(d.dir, "nats-"+strconv.Itoa(int(bus))))
	}
	comp := func(role string) string {
		return fmt.Sprintf("{admin: \"127.0.0.1:%d\", key_file: %q, nkey_file: %q, nkey: %q, workers: 8}",
			adminPort, k(role+".key"), k(role+".nk"), d.nkey[role])
	}
	fmt.Fprintf(&b, "components:\n")
	fmt.Fprintf(&b, "  frontend: {id: fe1, listen: %q, admin: \"127.0.0.1:%d\", key_file: %q, nkey_file: %q, nkey: %q, workers: 8}\n",
		net.JoinHostPort(l.addr("frontend", "public"), strconv.Itoa(publicPort)), adminPort,
		k("frontend.key"), k("frontend.nk"), d.nkey["frontend"])
	fmt.Fprintf(&b, "  request_validator: %s\n  backend: %s\n  response_validator: %s\n",
		comp("request-validator"), comp("backend"), comp("response-validator"))
	fmt.Fprintf(&b, "  audit: {admin: \"127.0.0.1:%d\", nkey_file: %q, nkey: %q}\n", adminPort, k("audit.nk"), d.nkey["audit"])
	if d.link {
		fmt.Fprintf(&b, "signatures: hmac\nlink_keys:\n")
		for _, role := range []string{"frontend", "request-validator", "backend", "response-validator"} {
			fmt.Fprintf(&b, "  %s: [%q]\n", strings.ReplaceAll(role, "-", "_"), k(role+".link"))
		}
	} else {
		fmt.Fprintf(&b, "trust:\n")
		for _, role := range []string{"frontend", "request-validator", "backend", "response-validator"} {
			fmt.Fprintf(&b, "  %s: [%q]\n", strings.ReplaceAll(role, "-", "_"), envelope.EncodePublicKey(d.signer[stageOf[role]].Public()))
		}
	}
	fmt.Fprintf(&b, "apis:\n  - {name: api, spec: %q, upstream: %q}\n", spec,
		"http://"+net.JoinHostPort(l.addr("upstream", "upstream"), strconv.Itoa(upstreamPort)))
	fmt.Fprintf(&b, "audit:\n  dsn: %q\n  checkpoint_dir: %q\n  key_file: %q\n  checkpoint_interval: 1s\n", d.dsn(shipperRole),
		d.checkpointDir(), k("audit.key"))
	if err := os.WriteFile(d.cfg, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

// start runs bin in host's namespace as a process of the deployment; it
// is stopped (SIGTERM, then SIGKILL) when the test ends.
func (d *deployment) start(name, hostName string, env []string, bin string, args ...string) *proc {
	d.t.Helper()
	p := &proc{name: name, log: filepath.Join(d.dir, "log", name+".log"), done: make(chan struct{})}
	if err := os.MkdirAll(filepath.Dir(p.log), 0o700); err != nil {
		d.t.Fatal(err)
	}
	f, err := os.Create(p.log)
	if err != nil {
		d.t.Fatal(err)
	}
	p.cmd = d.lab.command(hostName, bin, args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	if err := p.cmd.Start(); err != nil {
		f.Close()
		d.t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		f.Close()
		close(p.done)
	}()
	d.mu.Lock()
	d.procs = append(d.procs, p)
	d.mu.Unlock()
	d.t.Cleanup(func() { p.stop(d.t) })
	return p
}

func (p *proc) stop(t *testing.T) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Errorf("%s did not stop on SIGTERM; killed", p.name)
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// exited reports a process of the deployment that ended early.
func (d *deployment) exited() *proc {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, p := range d.procs {
		select {
		case <-p.done:
			return p
		default:
		}
	}
	return nil
}

// waitFor polls cond (bounded) and fails early when a process died.
func (d *deployment) waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	if !d.poll(t, what, cond) {
		t.Fatalf("%s: not after %s", what, waitLimit)
	}
}

// poll is waitFor that reports a timeout instead of failing, so that the
// caller can say what it saw last.
func (d *deployment) poll(t testing.TB, what string, cond func() bool) bool {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if p := d.exited(); p != nil {
			t.Fatalf("waiting for %s: %s exited: %v\n%s", what, p.name, p.err, tail(p.log, 30))
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

func (d *deployment) waitPort(t testing.TB, hostName, addr string) {
	t.Helper()
	d.waitFor(t, addr+" listening on "+hostName, func() bool { return d.lab.probe(hostName, addr) == "ok" })
}

// httpClient makes requests from host.
func (d *deployment) httpClient(hostName string) *http.Client {
	return &http.Client{Timeout: waitLimit, Transport: &http.Transport{DialContext: d.lab.dialer(hostName)}}
}

func (d *deployment) adminURL(path string) string {
	return "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(adminPort)) + path
}

// waitReady waits until host's role answers /readyz on its own loopback.
func (d *deployment) waitReady(t testing.TB, hostName string) {
	t.Helper()
	c := d.httpClient(hostName)
	d.waitFor(t, hostName+" ready", func() bool {
		resp, err := c.Get(d.adminURL("/readyz"))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// metric sums every series of name whose labels contain all of labels
// (each `key="value"`), as host's role reports it on its admin listener.
func (d *deployment) metric(t testing.TB, hostName, name string, labels ...string) float64 {
	t.Helper()
	resp, err := d.httpClient(hostName).Get(d.adminURL("/metrics"))
	if err != nil {
		t.Fatalf("metrics of %s: %v", hostName, err)
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		series, value, ok := strings.Cut(line[len(name):], " ")
		if !ok {
			continue
		}
		match := true
		for _, l := range labels {
			match = match && strings.Contains(series, l)
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(value), 64); err == nil && match {
			sum += v
		}
	}
	return sum
}

// upstreamCalls counts, per X-Request-Id, the requests that reached the
// upstream.
func (d *deployment) upstreamCalls(t testing.TB) map[string]int {
	t.Helper()
	data, err := os.ReadFile(d.upLog)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	calls := map[string]int{}
	for line := range strings.Lines(string(data)) {
		if id, _, ok := strings.Cut(line, " "); ok {
			calls[id]++
		}
	}
	return calls
}

// request sends one request from the client host.
func (d *deployment) request(t testing.TB, method, path, body string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, d.publicURL()+path, r)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := d.httpClient("client").Do(req)
	if err != nil {
		t.Fatalf("%s %s from the client host: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (d *deployment) dumpLogs() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, p := range d.procs {
		d.t.Logf("--- %s (%s)\n%s", p.name, p.log, tail(p.log, 20))
	}
}

// tail is the last n lines of a file.
func tail(path string, n int) string {
	data, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// probeContext bounds one probe.
func probeContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	t.Cleanup(cancel)
	return ctx
}
