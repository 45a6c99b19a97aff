package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/cordon-gateway/cordon/demo"
	"github.com/cordon-gateway/cordon/internal/freeport"
	"github.com/cordon-gateway/cordon/internal/localdeploy"
)

// runBench measures cordon against the peer a user would pick instead (a
// tuned httputil.ReverseProxy) and against the upstream itself, under the
// same closed-loop load, alternating them, and prints throughput,
// latencies, CPU per request per process and the ratios.
func runBench(ctx context.Context, args []string, _ func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench", stderr)
	duration := fs.Duration("duration", 10*time.Second, "length of each measured run")
	warmup := fs.Duration("warmup", 2*time.Second, "unmeasured load before each run")
	concs := fs.String("concurrency", "1,16,64", "closed-loop client counts")
	modes := fs.String("modes", "full", "cordon deployment shapes: full, single-nats, single-validation")
	rounds := fs.Int("rounds", 1, "alternations of proxy and cordon per concurrency")
	audit := fs.String("audit", "embedded", `audit store: "embedded", a postgres:// DSN, or "none"`)
	relaxed := fs.Bool("relaxed-fsync", false, "run the NATS servers with the default 2-minute fsync interval instead of sync: always")
	keep := fs.String("dir", "", "working directory (default: a temporary one, removed)")
	sigs := fs.String("signatures", "ed25519", `message authentication of cordon: "ed25519", "hmac" (link keys), or both ("ed25519,hmac")`)
	shape := fs.String("shape", "dev", `"dev": cordon dev, one process; "processes": one process per NATS server and role, with CPU per request per process`)
	profile := fs.String("profile", "", "with --shape dev: write a CPU profile of cordon dev during its run at the highest concurrency to this directory (one file per mode)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var cs []int
	for _, c := range strings.Split(*concs, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil || n < 1 || n > 4096 {
			return usageError{fmt.Sprintf("bad concurrency %q", c)}
		}
		cs = append(cs, n)
	}
	bin, err := os.Executable()
	if err != nil {
		return err
	}
	dir := *keep
	if dir == "" {
		if dir, err = os.MkdirTemp("", "cordon-bench-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	spec := filepath.Join(dir, "openapi.yaml")
	if err := os.WriteFile(spec, demo.Spec, 0o600); err != nil {
		return err
	}
	upstream, err := startChild(ctx, bin, "upstream", "bench-upstream")
	if err != nil {
		return err
	}
	defer upstream.stop()
	proxy, err := startChild(ctx, bin, "proxy", "bench-proxy", "--to", upstream.url)
	if err != nil {
		return err
	}
	defer proxy.stop()

	fmt.Fprintf(stdout, "cordon bench: %s per run, warm-up %s, concurrency %v, audit %s, fsync %s\n",
		*duration, *warmup, cs, *audit, map[bool]string{true: "relaxed", false: "always"}[*relaxed])
	fmt.Fprintf(stdout, "load: 80%% GET /accounts/acc-1, 20%% POST /payments (demo bank spec), keep-alive clients\n\n")
	if *shape != "dev" && *shape != "processes" {
		return usageError{fmt.Sprintf("--shape %q: want dev or processes", *shape)}
	}
	for _, sig := range strings.Split(*sigs, ",") {
		if sig != "ed25519" && sig != "hmac" {
			return usageError{fmt.Sprintf("--signatures %q: want ed25519 or hmac", sig)}
		}
	}
	for _, run := range benchRuns(*modes, *sigs) {
		mode, sig := run[0], run[1]
		auditDSN := *audit
		if auditDSN == "none" {
			auditDSN = ""
		}
		var procs []proc
		var public string
		var auditMetrics []string
		stop := func() {}
		if *shape == "dev" {
			if !*relaxed {
				fmt.Fprintln(stdout, "note: cordon dev runs its embedded servers with the default fsync interval (as --relaxed-fsync)")
			}
			if *audit == "none" {
				return usageError{"--audit none needs --shape processes (cordon dev always audits)"}
			}
			c, err := startDevChild(ctx, bin, filepath.Join(dir, mode+"-"+sig), mode, sig, spec, upstream.url, auditDSN)
			if err != nil {
				return fmt.Errorf("start cordon dev (%s): %w", mode, err)
			}
			procs, public, stop = []proc{{"cordon-dev", c.cpu, c.admin}}, c.url, c.stop
			auditMetrics = []string{c.admin + "/metrics"}
		} else {
			d, err := localdeploy.Start(ctx, localdeploy.Options{Binary: bin, Dir: filepath.Join(dir, mode+"-"+sig), Mode: mode,
				Spec: spec, Upstream: upstream.url, Timeout: 10 * time.Second, AuditDSN: auditDSN, RelaxedFsync: *relaxed,
				Signatures: sig})
			if err != nil {
				return fmt.Errorf("start %s deployment: %w", mode, err)
			}
			for _, n := range d.Names() {
				p := d.Procs[n]
				procs = append(procs, proc{name: n, cpu: func() time.Duration { c, _ := p.CPU(); return c }})
				if strings.HasPrefix(n, "audit") && p.Admin() != "" {
					auditMetrics = append(auditMetrics, "http://"+p.Admin()+"/metrics")
				}
			}
			public, stop = d.Public, d.Stop
		}
		label := mode + " (" + *shape + ")"
		if sig != "ed25519" {
			label = mode + " (" + *shape + ", " + sig + ")"
		}
		var profileTo string
		if *profile != "" {
			profileTo = filepath.Join(*profile, "cordon-"+mode+"-"+sig+".pprof")
		}
		err := benchMode(ctx, stdout, label, public, procs, auditMetrics, upstream, proxy, cs, *rounds, *duration, *warmup, profileTo)
		stop()
		if err != nil {
			return err
		}
	}
	return nil
}

// benchRuns is every (mode, signatures) pair to measure, in order.
func benchRuns(modes, sigs string) [][2]string {
	var out [][2]string
	for _, m := range strings.Split(modes, ",") {
		for _, s := range strings.Split(sigs, ",") {
			out = append(out, [2]string{strings.TrimSpace(m), strings.TrimSpace(s)})
		}
	}
	return out
}

type proc struct {
	name  string
	cpu   func() time.Duration
	admin string // base URL of its admin listener, "" if unknown
}

// startDevChild runs `cordon dev` as a child process and waits until it
// is ready.
func startDevChild(ctx context.Context, bin, dir, mode, sig, spec, upstream, auditDSN string) (*child, error) {
	pub, err := freeport.Addr()
	if err != nil {
		return nil, err
	}
	adm, err := freeport.Addr()
	if err != nil {
		return nil, err
	}
	args := []string{"dev", "--listen", pub, "--admin", adm, "--upstream", upstream, "--spec", spec,
		"--data", dir, "--mode", mode, "--timeout", "10s", "--signatures", sig}
	if auditDSN != "" && auditDSN != "embedded" {
		args = append(args, "--audit-dsn", auditDSN)
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{name: "cordon-dev", url: "http://" + pub, admin: "http://" + adm, cmd: cmd}
	for range 300 {
		if resp, err := http.Get("http://" + adm + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return c, nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.stop()
	return nil, errors.New("cordon dev not ready after 15s")
}

type child struct {
	name, url, admin string
	cmd              *exec.Cmd
}

func (c *child) stop() { _ = c.cmd.Process.Kill(); _ = c.cmd.Wait() }

func (c *child) cpu() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b)[strings.LastIndexByte(string(b), ')')+1:])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// startChild runs a hidden subcommand that prints its URL on stdout.
func startChild(ctx context.Context, bin, name string, args ...string) (*child, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line := make([]byte, 128)
	n, err := out.Read(line)
	if err != nil {
		_ = cmd.Process.Kill()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &child{name: name, url: strings.TrimSpace(string(line[:n])), cmd: cmd}, nil
}

// runBenchUpstream serves the demo API and prints its URL.
func runBenchUpstream(ctx context.Context, stdout io.Writer) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "http://%s\n", ln.Addr())
	srv := &http.Server{Handler: demo.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { <-ctx.Done(); _ = srv.Close() }()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// runBenchProxy serves a tuned ReverseProxy to --to and prints its URL.
func runBenchProxy(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench-proxy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	to := fs.String("to", "", "upstream URL")
	if err := fs.Parse(args); err != nil {
		return err
	}
	u, err := url.Parse(*to)
	if err != nil {
		return err
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.Transport = &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024, IdleConnTimeout: 90 * time.Second}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "http://%s\n", ln.Addr())
	srv := &http.Server{Handler: rp, ReadHeaderTimeout: 5 * time.Second}
	go func() { <-ctx.Done(); _ = srv.Close() }()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// loadResult is one measured run.
type loadResult struct {
	target      string
	conc        int
	n, errs     int
	dur         time.Duration
	p50, p99    time.Duration
	cpu         map[string]time.Duration // per process
	sampleError string
}

func (r loadResult) rps() float64 { return float64(r.n) / r.dur.Seconds() }

// load runs a closed loop of conc clients against base for d.
func load(ctx context.Context, base string, conc int, d time.Duration) loadResult {
	client := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{
		MaxIdleConns: conc * 2, MaxIdleConnsPerHost: conc * 2, IdleConnTimeout: 90 * time.Second}}
	defer client.CloseIdleConnections()
	var (
		mu       sync.Mutex
		lats     []time.Duration
		errs     atomic.Int64
		firstErr atomic.Value
		seq      atomic.Int64
	)
	stop := time.Now().Add(d)
	var wg sync.WaitGroup
	start := time.Now()
	for range conc {
		wg.Go(func() {
			local := make([]time.Duration, 0, 1024)
			for time.Now().Before(stop) && ctx.Err() == nil {
				i := seq.Add(1)
				t0 := time.Now()
				var resp *http.Response
				var err error
				if i%5 == 0 {
					resp, err = client.Post(base+"/payments", "application/json",
						strings.NewReader(`{"from":"acc-1","to":"acc-2","amount":12.5,"currency":"EUR","reference":"bench"}`))
				} else {
					resp, err = client.Get(base + "/accounts/acc-1")
				}
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode/100 != 2 {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				local = append(local, time.Since(t0))
			}
			mu.Lock()
			lats = append(lats, local...)
			mu.Unlock()
		})
	}
	wg.Wait()
	r := loadResult{conc: conc, n: len(lats), errs: int(errs.Load()), dur: time.Since(start)}
	if e, ok := firstErr.Load().(string); ok {
		r.sampleError = e
	}
	slices.Sort(lats)
	if len(lats) > 0 {
		r.p50 = lats[len(lats)/2]
		r.p99 = lats[min(len(lats)-1, len(lats)*99/100)]
	}
	return r
}

func benchMode(ctx context.Context, w io.Writer, mode, public string, cordonProcs []proc, auditMetrics []string,
	upstream, proxy *child, cs []int, rounds int, dur, warm time.Duration, profileTo string) error {
	var maxLag time.Duration // the audit shippers' lag at commit, the highest seen while cordon ran
	measure := func(target, base string, procs []proc, conc int) loadResult {
		load(ctx, base, conc, warm)
		before := map[string]time.Duration{}
		all := append([]proc{{name: "upstream", cpu: upstream.cpu}}, procs...)
		for _, p := range all {
			before[p.name] = p.cpu()
		}
		var stopWatch func() time.Duration
		var profiled chan error
		if target == "cordon" {
			stopWatch = watchAuditLag(auditMetrics)
			if profileTo != "" && conc == cs[len(cs)-1] && len(procs) == 1 && procs[0].admin != "" {
				profiled = make(chan error, 1)
				to := profileTo
				go func() { profiled <- fetchProfile(procs[0].admin, dur-time.Second, to) }()
				profileTo = "" // one profile per mode
			}
		}
		r := load(ctx, base, conc, dur)
		if profiled != nil {
			if err := <-profiled; err != nil {
				fmt.Fprintf(w, "profile: %v\n", err)
			}
		}
		if stopWatch != nil {
			maxLag = max(maxLag, stopWatch())
		}
		r.target = target
		r.cpu = map[string]time.Duration{}
		for _, p := range all {
			r.cpu[p.name] = p.cpu() - before[p.name]
		}
		return r
	}
	fmt.Fprintf(w, "== mode %s\n", mode)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\tc\treq/s\tp50\tp99\terrors\tCPU µs/req (gateway)\t")
	var results []loadResult
	for _, conc := range cs {
		for range rounds {
			targets := []struct {
				name, url string
				procs     []proc
			}{
				{"direct", upstream.url, nil},
				{"proxy", proxy.url, []proc{{name: "proxy", cpu: proxy.cpu}}},
				{"cordon", public, cordonProcs},
			}
			for _, t := range targets {
				if t.name == "direct" && conc != 1 {
					continue
				}
				r := measure(t.name, t.url, t.procs, conc)
				results = append(results, r)
				var gw time.Duration
				for _, p := range t.procs {
					gw += r.cpu[p.name]
				}
				perReq := 0.0
				if r.n > 0 {
					perReq = float64(gw.Microseconds()) / float64(r.n)
				}
				fmt.Fprintf(tw, "%s\t%d\t%.0f\t%s\t%s\t%d\t%.0f\t\n", t.name, conc, r.rps(),
					r.p50.Round(10*time.Microsecond), r.p99.Round(10*time.Microsecond), r.errs, perReq)
				if r.sampleError != "" {
					fmt.Fprintf(tw, "\t\t\t\t\tfirst error: %s\t\t\n", r.sampleError)
				}
			}
		}
	}
	_ = tw.Flush()
	// Per-process CPU at the highest concurrency, for capacity planning.
	top := cs[len(cs)-1]
	for _, r := range results {
		if r.target == "cordon" && r.conc == top && r.n > 0 {
			fmt.Fprintf(w, "\nCPU per request by process at c=%d:", top)
			for _, p := range cordonProcs {
				fmt.Fprintf(w, " %s %.0fµs;", p.name, float64(r.cpu[p.name].Microseconds())/float64(r.n))
			}
			fmt.Fprintln(w)
			break
		}
	}
	avg := func(target string, conc int, f func(loadResult) float64) float64 {
		var s float64
		var n int
		for _, r := range results {
			if r.target == target && r.conc == conc {
				s += f(r)
				n++
			}
		}
		if n == 0 {
			return 0
		}
		return s / float64(n)
	}
	rps := func(r loadResult) float64 { return r.rps() }
	p50 := func(r loadResult) float64 { return float64(r.p50) }
	p99 := func(r loadResult) float64 { return float64(r.p99) }
	fmt.Fprintf(w, "\nratios (%s):\n", mode)
	if slices.Contains(cs, 1) {
		fmt.Fprintf(w, "  added p50 latency at c=1 vs direct: %s (target ≤ 1.5ms)\n",
			time.Duration(avg("cordon", 1, p50)-avg("direct", 1, p50)).Round(10*time.Microsecond))
	}
	fmt.Fprintf(w, "  throughput at c=%d vs proxy: %.2f× (target ≥ 0.3×)\n", top, avg("cordon", top, rps)/avg("proxy", top, rps))
	fmt.Fprintf(w, "  p99 at c=%d vs proxy: %.2f× (target ≤ 3×)\n", top, avg("cordon", top, p99)/avg("proxy", top, p99))
	if len(auditMetrics) > 0 {
		fmt.Fprintf(w, "  audit lag at commit, highest while cordon ran: %s (target: seconds at most)\n", maxLag.Round(time.Millisecond))
	}
	fmt.Fprintln(w)
	return nil
}

// watchAuditLag polls the audit shippers' /metrics until the returned
// function is called, which returns the highest cordon_audit_lag_seconds
// seen on any bus.
func watchAuditLag(urls []string) func() time.Duration {
	done := make(chan struct{})
	result := make(chan time.Duration, 1)
	go func() {
		var highest time.Duration
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			for _, u := range urls {
				highest = max(highest, scrapeAuditLag(u))
			}
			select {
			case <-done:
				result <- highest
				return
			case <-tick.C:
			}
		}
	}()
	return func() time.Duration { close(done); return <-result }
}

// scrapeAuditLag reads the highest cordon_audit_lag_seconds of one /metrics page.
func scrapeAuditLag(url string) time.Duration {
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return 0
	}
	var highest time.Duration
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(line, "cordon_audit_lag_seconds{") {
			continue
		}
		f := strings.Fields(line)
		if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
			highest = max(highest, time.Duration(v*float64(time.Second)))
		}
	}
	return highest
}

// fetchProfile writes a CPU profile of d from the admin listener at base
// to path.
func fetchProfile(base string, d time.Duration, path string) error {
	secs := max(1, int(d.Seconds()))
	resp, err := http.Get(fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", base, secs))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("profile: %s", resp.Status)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
