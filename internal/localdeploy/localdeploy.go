// Package localdeploy runs a whole cordon deployment as separate local
// processes — one `cordon nats` per bus, one `cordon run` per role — from
// generated keys and configuration, and lets its caller kill, stop,
// continue and restart each of them and read their CPU time. The chaos
// tests and `cordon bench` use it; it is not for production.
//
// It imports the root package, deployment and envelope, and nothing of the
// roles: it only writes files and manages processes.
package localdeploy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/envelope"
	"github.com/cordon-gateway/cordon/internal/freeport"
	"github.com/nats-io/nkeys"
)

// Options describe the deployment to run.
type Options struct {
	Binary   string // the cordon binary
	Dir      string // working directory for keys, config, stores, logs
	Mode     string // full, single-nats, single-validation
	Spec     string // OpenAPI document (absolute path)
	Upstream string // upstream base URL
	Timeout  time.Duration
	Workers  int
	// AuditDSN, when set, runs one audit shipper per bus into this store;
	// "embedded" uses the embedded store under Dir.
	AuditDSN string
	// RelaxedFsync keeps nats-server's default fsync interval.
	RelaxedFsync bool
	// Signatures is "ed25519" (default) or "hmac": link keys only, no
	// Ed25519 key is trusted, so every hop must carry a valid MAC.
	Signatures string
	// Extra YAML appended to the configuration (e.g. a policy).
	ExtraAPIYAML string
	// Log receives the processes' stderr; nil discards it.
	Log io.Writer
}

// Proc is one process of the deployment.
type Proc struct {
	Name  string
	args  []string
	admin string // admin address, if any
	d     *Deployment

	mu  sync.Mutex
	cmd *exec.Cmd
}

// Deployment is a running local deployment.
type Deployment struct {
	opts   Options
	Config string // path of the configuration file
	Public string // the frontend's URL
	Procs  map[string]*Proc
	order  []string
}

// Start writes keys and configuration, starts every process, provisions
// the streams and waits until the frontend is ready.
func Start(ctx context.Context, o Options) (*Deployment, error) {
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Second
	}
	if o.Workers == 0 {
		o.Workers = 64
	}
	if o.Mode == "" {
		o.Mode = "full"
	}
	d := &Deployment{opts: o, Procs: map[string]*Proc{}}
	keys := filepath.Join(o.Dir, "keys")
	gen := []string{"keys", "generate", "--dir", keys}
	if o.Signatures == "hmac" {
		gen = append(gen, "--link")
	}
	if out, err := exec.CommandContext(ctx, o.Binary, gen...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("keys generate: %v: %s", err, out)
	}
	cfg, admins, err := d.writeConfig(keys)
	if err != nil {
		return nil, err
	}
	d.Config = cfg
	buses := cordon.Buses
	if o.Mode == "single-validation" {
		buses = []cordon.Bus{cordon.BusDirtyReq, cordon.BusDirtyResp}
	} else if o.Mode == "single-nats" {
		buses = []cordon.Bus{cordon.BusDirtyReq}
	}
	for _, b := range buses {
		d.add(fmt.Sprintf("nats-%d", b), "", "nats", "--bus", strconv.Itoa(int(b)), "--config", cfg)
	}
	for _, b := range buses {
		if err := d.Procs[fmt.Sprintf("nats-%d", b)].Start(); err != nil {
			d.Stop()
			return nil, err
		}
	}
	args := []string{"provision", "--config", cfg}
	if o.AuditDSN == "" {
		args = append(args, "--no-audit")
	}
	var perr error
	for range 50 { // the servers may still be starting
		out, err := exec.CommandContext(ctx, o.Binary, args...).CombinedOutput()
		if err == nil {
			perr = nil
			break
		}
		perr = fmt.Errorf("provision: %v: %s", err, out)
		time.Sleep(200 * time.Millisecond)
	}
	if perr != nil {
		d.Stop()
		return nil, perr
	}
	roles := []string{"frontend", "request-validator", "backend", "response-validator"}
	if o.Mode == "single-validation" {
		roles = []string{"frontend", "backend"}
	}
	for _, r := range roles {
		d.add(r, admins[r], "run", r, "--config", cfg)
	}
	if o.AuditDSN != "" {
		for _, b := range buses {
			d.add(fmt.Sprintf("audit-%d", b), "", "run", "audit", "--bus", strconv.Itoa(int(b)), "--config", cfg)
		}
	}
	for _, name := range d.order {
		if strings.HasPrefix(name, "nats-") {
			continue
		}
		if err := d.Procs[name].Start(); err != nil {
			d.Stop()
			return nil, err
		}
	}
	for _, name := range d.order {
		if p := d.Procs[name]; p.admin != "" {
			if err := p.WaitReady(ctx, 30*time.Second); err != nil {
				d.Stop()
				return nil, err
			}
		}
	}
	return d, nil
}

// PublicNKey reads a NATS user seed file and returns its public key.
func PublicNKey(seedFile string) (string, error) {
	seed, err := os.ReadFile(seedFile)
	if err != nil {
		return "", err
	}
	kp, err := nkeys.FromSeed([]byte(strings.TrimSpace(string(seed))))
	if err != nil {
		return "", err
	}
	return kp.PublicKey()
}

// PublicSigningKey reads an Ed25519 PEM key file and returns its public
// key in the configuration's base64 form.
func PublicSigningKey(keyFile string) (string, error) {
	pem, err := os.ReadFile(keyFile)
	if err != nil {
		return "", err
	}
	priv, err := envelope.ParsePrivateKey(pem)
	if err != nil {
		return "", err
	}
	s, err := envelope.NewSigner(cordon.StageFrontend, priv)
	if err != nil {
		return "", err
	}
	return envelope.EncodePublicKey(s.Public()), nil
}

// writeConfig writes the deployment configuration and returns its path and
// the admin address of each role.
func (d *Deployment) writeConfig(keys string) (string, map[string]string, error) {
	o := d.opts
	k := func(name string) string { return filepath.Join(keys, name) }
	nk := map[string]string{}
	sk := map[string]string{}
	for _, r := range []string{"frontend", "request-validator", "backend", "response-validator", "audit", "admin"} {
		pub, err := PublicNKey(k(r + ".nk"))
		if err != nil {
			return "", nil, err
		}
		nk[r] = pub
		if r != "admin" {
			if sk[r], err = PublicSigningKey(k(r + ".key")); err != nil {
				return "", nil, err
			}
		}
	}
	ports := map[cordon.Bus]int{}
	var buses strings.Builder
	for _, b := range cordon.Buses {
		p, err := freeport.Pick()
		if err != nil {
			return "", nil, err
		}
		ports[b] = p
		if o.Mode == "single-nats" {
			ports[b] = ports[cordon.BusDirtyReq]
		}
		fmt.Fprintf(&buses, "  %s: {url: \"nats://127.0.0.1:%d\", admin_nkey_file: %q, admin_nkey: %q, store_dir: %q, max_store: 2GiB, relaxed_fsync: %t}\n",
			strings.ReplaceAll(b.String(), "-", "_"), ports[b], k("admin.nk"), nk["admin"],
			filepath.Join(o.Dir, "nats-"+b.String()), o.RelaxedFsync)
	}
	admins := map[string]string{}
	comp := func(role string) (string, error) {
		p, err := freeport.Pick()
		if err != nil {
			return "", err
		}
		admins[role] = fmt.Sprintf("127.0.0.1:%d", p)
		return fmt.Sprintf("{admin: %q, key_file: %q, nkey_file: %q, nkey: %q, workers: %d}",
			admins[role], k(role+".key"), k(role+".nk"), nk[role], o.Workers), nil
	}
	fePort, err := freeport.Pick()
	if err != nil {
		return "", nil, err
	}
	d.Public = fmt.Sprintf("http://127.0.0.1:%d", fePort)
	feAdmin, err := freeport.Pick()
	if err != nil {
		return "", nil, err
	}
	admins["frontend"] = fmt.Sprintf("127.0.0.1:%d", feAdmin)
	rv, err := comp("request-validator")
	if err != nil {
		return "", nil, err
	}
	be, err := comp("backend")
	if err != nil {
		return "", nil, err
	}
	respv, err := comp("response-validator")
	if err != nil {
		return "", nil, err
	}
	audit := ""
	if o.AuditDSN != "" {
		dsn := o.AuditDSN
		if dsn == "embedded" {
			dsn = ""
		}
		audit = fmt.Sprintf("audit: {dsn: %q, key_file: %q, checkpoint_dir: %q}\n", dsn, k("audit.key"), filepath.Join(o.Dir, "checkpoints"))
	}
	trust := fmt.Sprintf(`trust:
  frontend: [%q]
  request_validator: [%q]
  backend: [%q]
  response_validator: [%q]
`, sk["frontend"], sk["request-validator"], sk["backend"], sk["response-validator"])
	if o.Signatures == "hmac" {
		trust = fmt.Sprintf(`signatures: hmac
link_keys:
  frontend: [%q]
  request_validator: [%q]
  backend: [%q]
  response_validator: [%q]
`, k("frontend.link"), k("request-validator.link"), k("backend.link"), k("response-validator.link"))
	}
	cfg := fmt.Sprintf(`mode: %s
timeout: %s
data_dir: %q
buses:
%scomponents:
  frontend: {listen: "127.0.0.1:%d", admin: %q, key_file: %q, nkey_file: %q, nkey: %q, max_inflight: 8192}
  request_validator: %s
  backend: %s
  response_validator: %s
  audit: {nkey_file: %q, nkey: %q}
%sapis:
  - name: api
    spec: %q
    upstream: %q
%s%s`, o.Mode, o.Timeout, o.Dir, buses.String(), fePort, admins["frontend"], k("frontend.key"), k("frontend.nk"), nk["frontend"],
		rv, be, respv, k("audit.nk"), nk["audit"], trust,
		o.Spec, o.Upstream, o.ExtraAPIYAML, audit)
	path := filepath.Join(o.Dir, "cordon.yaml")
	return path, admins, os.WriteFile(path, []byte(cfg), 0o600)
}

func (d *Deployment) add(name, admin string, args ...string) {
	d.Procs[name] = &Proc{Name: name, args: args, admin: admin, d: d}
	d.order = append(d.order, name)
}

// Start starts (or restarts) the process.
func (p *Proc) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	cmd := exec.Command(p.d.opts.Binary, p.args...)
	cmd.Env = os.Environ()
	if w := p.d.opts.Log; w != nil {
		pr, pw := io.Pipe()
		cmd.Stderr = pw
		go func() {
			sc := bufio.NewScanner(pr)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			for sc.Scan() {
				fmt.Fprintf(w, "[%s] %s\n", p.Name, sc.Text())
			}
		}()
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.Name, err)
	}
	p.cmd = cmd
	go func() { _ = cmd.Wait() }()
	return nil
}

// Pid is the current process id, 0 if none.
func (p *Proc) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Signal sends sig to the process.
func (p *Proc) Signal(sig syscall.Signal) error {
	pid := p.Pid()
	if pid == 0 {
		return errors.New(p.Name + " is not running")
	}
	return syscall.Kill(pid, sig)
}

// Kill sends SIGKILL and waits until the process is gone.
func (p *Proc) Kill() error {
	pid := p.Pid()
	if err := p.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	for range 500 {
		if syscall.Kill(pid, 0) != nil {
			return nil
		}
		if s, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil && strings.Contains(string(s), ") Z ") {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("%s survived SIGKILL", p.Name)
}

// WaitReady polls the process's /readyz until it answers 200.
func (p *Proc) WaitReady(ctx context.Context, timeout time.Duration) error {
	if p.admin == "" {
		return nil
	}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + p.admin + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s not ready after %s", p.Name, timeout)
}

// Admin is the process's admin address ("" if none).
func (p *Proc) Admin() string { return p.admin }

// CPU is the process's user+system CPU time so far.
func (p *Proc) CPU() (time.Duration, error) {
	pid := p.Pid()
	if pid == 0 {
		return 0, errors.New(p.Name + " is not running")
	}
	return procCPU(pid)
}

// procCPU reads utime+stime of pid from /proc.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("bad /proc stat")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, errors.New("bad /proc stat")
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	const hz = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / hz, nil
}

// SelfCPU is this process's CPU time so far.
func SelfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Names lists the processes in start order.
func (d *Deployment) Names() []string { return append([]string(nil), d.order...) }

// Stop ends every process: SIGTERM, then SIGKILL after a grace period.
func (d *Deployment) Stop() {
	for i := len(d.order) - 1; i >= 0; i-- {
		p := d.Procs[d.order[i]]
		if p.Pid() == 0 {
			continue
		}
		_ = p.Signal(syscall.SIGTERM)
		pid := p.Pid()
		gone := false
		for range 300 {
			if syscall.Kill(pid, 0) != nil {
				gone = true
				break
			}
			if s, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil && strings.Contains(string(s), ") Z ") {
				gone = true
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if !gone {
			_ = p.Kill()
		}
	}
}
