package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/admin"
	"github.com/cordon-gateway/cordon/backend"
	"github.com/cordon-gateway/cordon/bus"
	"github.com/cordon-gateway/cordon/deployment"
	"github.com/cordon-gateway/cordon/envelope"
	"github.com/cordon-gateway/cordon/frontend"
	"github.com/cordon-gateway/cordon/policy"
	"github.com/cordon-gateway/cordon/validator"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// wiring builds roles from one deployment configuration. In `cordon run`
// it builds one role per process; in `cordon dev` all of them, sharing a
// registry.
type wiring struct {
	cfg    *deployment.Config
	subj   bus.Subjects
	log    *slog.Logger
	reg    *prometheus.Registry
	getenv func(string) string
	// signers may be preset (dev); otherwise keys are loaded from files.
	signers map[cordon.Stage]*envelope.Signer

	busMet *bus.Metrics
	valMet *validator.Metrics

	policy    *policy.Policy
	reloaders []func(*policy.Policy)
	// cfgPath is the configuration file, re-read on reload ("" in dev
	// without --config: the API documents are still watched).
	cfgPath string
}

func newWiring(cfg *deployment.Config, log *slog.Logger, getenv func(string) string) (*wiring, error) {
	subj, err := bus.NewSubjects(cfg.Prefix)
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return &wiring{cfg: cfg, subj: subj, log: log, reg: reg, getenv: getenv,
		signers: map[cordon.Stage]*envelope.Signer{},
		busMet:  bus.NewMetrics(reg), valMet: validator.NewMetrics(reg)}, nil
}

// component is one built role: Run blocks until ctx is cancelled and its
// work is drained.
type component struct {
	name   string
	run    func(ctx context.Context) error
	checks []admin.Check
	close  []func()
}

func (c *component) Close() {
	for i := len(c.close) - 1; i >= 0; i-- {
		c.close[i]()
	}
}

// busConn is one component's connection to one bus.
type busConn struct {
	bus cordon.Bus
	nc  *nats.Conn
	js  jetstream.JetStream
}

func (w *wiring) connect(ctx context.Context, c *component, user string, b cordon.Bus, nkeyFile string) (*busConn, error) {
	bc := w.cfg.Buses.Get(b)
	nc, err := bus.Connect(ctx, bus.ConnConfig{
		URL: bc.URL, Name: user + "@" + b.String(), User: user, NKeySeedFile: nkeyFile,
		CAFile: bc.TLS.CA, CertFile: bc.TLS.Cert, KeyFile: bc.TLS.Key,
	}, w.log)
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	c.close = append(c.close, nc.Close)
	c.checks = append(c.checks, admin.Check{Name: b.String(), Func: func(context.Context) error {
		if s := nc.Status(); s != nats.CONNECTED {
			return fmt.Errorf("connection %s", s)
		}
		return nil
	}})
	return &busConn{bus: b, nc: nc, js: js}, nil
}

func consumerCheck(bc *busConn, stream, name string) admin.Check {
	return admin.Check{Name: bc.bus.String() + "/" + name, Func: func(ctx context.Context) error {
		_, err := bc.js.Consumer(ctx, stream, name)
		return err
	}}
}

// signer returns stage's signer: preset; in hmac mode its first link key;
// else its Ed25519 key from the component's key file, or from
// CORDON_<ROLE>_KEY holding the PEM itself.
func (w *wiring) signer(s cordon.Stage, keyFile string) (*envelope.Signer, error) {
	if sg, ok := w.signers[s]; ok {
		return sg, nil
	}
	if w.cfg.Signatures == deployment.SignaturesHMAC {
		keys, err := readLinkKeys(w.cfg.LinkKeys.Get(s))
		if err != nil || len(keys) == 0 {
			return nil, fmt.Errorf("link_keys.%s: %v", deployment.StageKey(s), orNone(err))
		}
		sg, err := envelope.NewLinkSigner(s, keys[0])
		if err != nil {
			return nil, err
		}
		w.signers[s] = sg
		return sg, nil
	}
	var pem []byte
	if keyFile != "" {
		b, err := os.ReadFile(keyFile)
		if err != nil {
			return nil, fmt.Errorf("%s key: %w", s, err)
		}
		pem = b
	} else if v := w.getenv("CORDON_" + strings.ToUpper(strings.ReplaceAll(s.String(), "-", "_")) + "_KEY"); v != "" {
		pem = []byte(v)
	} else {
		return nil, fmt.Errorf("%s: no signing key (set components.%s.key_file)", s, deployment.StageKey(s))
	}
	priv, err := envelope.ParsePrivateKey(pem)
	if err != nil {
		return nil, fmt.Errorf("%s key: %w", s, err)
	}
	sg, err := envelope.NewSigner(s, priv)
	if err != nil {
		return nil, err
	}
	w.signers[s] = sg
	return sg, nil
}

// verifier accepts messages produced by stage s under the configured
// trust: its Ed25519 keys and its link keys, whichever are listed.
func (w *wiring) verifier(s cordon.Stage) (*envelope.Verifier, error) {
	var keys []ed25519.PublicKey
	for _, k := range w.cfg.Trust.Get(s) {
		pub, err := envelope.ParsePublicKey(k)
		if err != nil {
			return nil, fmt.Errorf("trust.%s: %w", deployment.StageKey(s), err)
		}
		keys = append(keys, pub)
	}
	links, err := readLinkKeys(w.cfg.LinkKeys.Get(s))
	if err != nil {
		return nil, fmt.Errorf("link_keys.%s: %w", deployment.StageKey(s), err)
	}
	return envelope.NewMixedVerifier(s, keys, links)
}

// readLinkKeys reads link key files (PEM).
func readLinkKeys(paths []string) ([]envelope.LinkKey, error) {
	var out []envelope.LinkKey
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		k, err := envelope.ParseLinkKey(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		out = append(out, k)
	}
	return out, nil
}

func orNone(err error) any {
	if err == nil {
		return "none configured"
	}
	return err
}

// replyRoutes are the buses on which a frontend receives answers, and who
// must have signed them.
func (w *wiring) replyRoutes() []struct {
	bus      cordon.Bus
	producer cordon.Stage
} {
	type route = struct {
		bus      cordon.Bus
		producer cordon.Stage
	}
	if w.cfg.Mode == deployment.ModeSingleValidation {
		return []route{{cordon.BusDirtyResp, cordon.StageBackend}}
	}
	return []route{{cordon.BusDirtyReq, cordon.StageRequestValidator}, {cordon.BusCleanResp, cordon.StageResponseValidator}}
}

// buildFrontend binds the public listener and wires the frontend.
func (w *wiring) buildFrontend(ctx context.Context) (*component, net.Addr, error) {
	fc := w.cfg.Components.Frontend
	c := &component{name: "frontend"}
	fail := func(err error) (*component, net.Addr, error) { c.Close(); return nil, nil, err }
	signer, err := w.signer(cordon.StageFrontend, fc.KeyFile)
	if err != nil {
		return fail(err)
	}
	in, err := w.connect(ctx, c, "frontend", cordon.BusDirtyReq, fc.NKeyFile)
	if err != nil {
		return fail(err)
	}
	var proxies []netip.Prefix
	for _, p := range fc.TrustedProxies {
		pp, err := netip.ParsePrefix(p)
		if err != nil {
			return fail(fmt.Errorf("components.frontend.trusted_proxies: %w", err))
		}
		proxies = append(proxies, pp)
	}
	pol, err := w.compilePolicy()
	if err != nil {
		return fail(err)
	}
	var cur atomic.Pointer[policy.Policy]
	cur.Store(pol)
	w.onReload(func(p *policy.Policy) { cur.Store(p) })
	limiter := w.rateLimiter()
	lim := w.cfg.Limits
	fe, err := frontend.New(frontend.Config{
		ID: fc.ID, Timeout: w.cfg.Timeout,
		MaxBodyBytes: int64(lim.MaxBodyBytes), MaxHeaderBytes: int(lim.MaxHeaderBytes),
		MaxURLBytes: int(lim.MaxURLBytes), MaxInflight: fc.MaxInflight,
		TrustedProxies: proxies, Verbose: fc.VerboseErrors,
	}, bus.NewInPublisher(in.js, w.subj, cordon.BusDirtyReq, signer, w.busMet), limiter,
		func(method, path string) string { op, _ := cur.Load().Operation(method, path); return op },
		w.log.With("role", "frontend"), w.reg)
	if err != nil {
		return fail(err)
	}
	conns := map[cordon.Bus]*busConn{cordon.BusDirtyReq: in}
	for _, r := range w.replyRoutes() {
		bc := conns[r.bus]
		if bc == nil {
			if bc, err = w.connect(ctx, c, "frontend", r.bus, fc.NKeyFile); err != nil {
				return fail(err)
			}
			conns[r.bus] = bc
		}
		v, err := w.verifier(r.producer)
		if err != nil {
			return fail(err)
		}
		deliver := fe.Deliver
		if r.producer == cordon.StageRequestValidator {
			deliver = fe.DeliverRejection
		}
		if _, err := bus.SubscribeReplies(bc.nc, w.subj.Reply(r.bus, fc.ID), r.bus, v, w.busMet,
			w.log.With("role", "frontend"), deliver); err != nil {
			return fail(err)
		}
	}
	ln, err := net.Listen("tcp", fc.Listen)
	if err != nil {
		return fail(fmt.Errorf("frontend listen: %w", err))
	}
	c.close = append(c.close, func() { ln.Close() })
	srv := frontend.NewServer(fe, frontend.ServerConfig{
		ReadHeaderTimeout: lim.ReadHeaderTimeout, ReadTimeout: lim.ReadTimeout,
		WriteTimeout: w.cfg.Timeout + 5*time.Second, IdleTimeout: lim.IdleTimeout,
		MaxHeaderBytes: 2 * int(lim.MaxHeaderBytes),
	}, w.log)
	c.run = func(ctx context.Context) error {
		return frontend.Serve(ctx, srv, ln, w.cfg.Timeout+time.Second)
	}
	return c, ln.Addr(), nil
}

// giveUp answers the waiting client when a stage abandons a message after
// its last delivery.
func giveUp(out interface {
	Send(context.Context, *cordon.Message) error
}, log *slog.Logger) bus.GiveUp {
	return func(ctx context.Context, m *cordon.Message, err error) {
		m.Request.Header, m.Response, m.Body = nil, nil, nil
		m.Outcome = cordon.Outcome{Kind: cordon.KindUnavailable, Rule: "delivery.limit"}
		if cordon.KindOf(err) == cordon.KindTooLarge {
			m.Outcome = cordon.Outcome{Kind: cordon.KindUpstream, Rule: "bus.message-too-large"}
		}
		if serr := out.Send(ctx, m); serr != nil {
			log.Warn("could not answer abandoned message", "request_id", m.ID.String(), "err", serr)
		}
	}
}

func (w *wiring) buildRequestValidator(ctx context.Context) (*component, error) {
	cc := w.cfg.Components.RequestValidator
	c := &component{name: "request-validator"}
	fail := func(err error) (*component, error) { c.Close(); return nil, err }
	signer, err := w.signer(cordon.StageRequestValidator, cc.KeyFile)
	if err != nil {
		return fail(err)
	}
	v, err := w.verifier(cordon.StageFrontend)
	if err != nil {
		return fail(err)
	}
	pol, err := w.compilePolicy()
	if err != nil {
		return fail(err)
	}
	in, err := w.connect(ctx, c, "request-validator", cordon.BusDirtyReq, cc.NKeyFile)
	if err != nil {
		return fail(err)
	}
	out, err := w.connect(ctx, c, "request-validator", cordon.BusCleanReq, cc.NKeyFile)
	if err != nil {
		return fail(err)
	}
	log := w.log.With("role", "request-validator")
	reject := bus.NewReplyPublisher(in.js, w.subj, cordon.BusDirtyReq, signer, w.busMet).Retrying()
	holder := validator.NewPolicy[validator.RequestChecker](pol)
	w.onReload(func(p *policy.Policy) { holder.Store(p) })
	stage := validator.NewRequest(holder, bus.NewInPublisher(out.js, w.subj, cordon.BusCleanReq, signer, w.busMet).Retrying(),
		reject, w.valMet, log)
	stream := w.subj.Stream(cordon.BusDirtyReq)
	c.checks = append(c.checks, consumerCheck(in, stream, bus.ConsumerRequestValidator))
	c.run = func(ctx context.Context) error {
		return bus.Consume(ctx, in.js, bus.ConsumerConfig{
			Bus: cordon.BusDirtyReq, Stream: stream, Consumer: bus.ConsumerRequestValidator,
			Verifier: v, Workers: cc.Workers, Logger: log, Metrics: w.busMet, GiveUp: giveUp(reject, log),
		}, stage.Handle)
	}
	return c, nil
}

func (w *wiring) buildResponseValidator(ctx context.Context) (*component, error) {
	cc := w.cfg.Components.ResponseValidator
	c := &component{name: "response-validator"}
	fail := func(err error) (*component, error) { c.Close(); return nil, err }
	signer, err := w.signer(cordon.StageResponseValidator, cc.KeyFile)
	if err != nil {
		return fail(err)
	}
	v, err := w.verifier(cordon.StageBackend)
	if err != nil {
		return fail(err)
	}
	pol, err := w.compilePolicy()
	if err != nil {
		return fail(err)
	}
	in, err := w.connect(ctx, c, "response-validator", cordon.BusDirtyResp, cc.NKeyFile)
	if err != nil {
		return fail(err)
	}
	out, err := w.connect(ctx, c, "response-validator", cordon.BusCleanResp, cc.NKeyFile)
	if err != nil {
		return fail(err)
	}
	log := w.log.With("role", "response-validator")
	holder := validator.NewPolicy[validator.ResponseChecker](pol)
	w.onReload(func(p *policy.Policy) { holder.Store(p) })
	fwd := bus.NewReplyPublisher(out.js, w.subj, cordon.BusCleanResp, signer, w.busMet).Retrying()
	stage := validator.NewResponse(holder, fwd, w.valMet, log)
	stream := w.subj.Stream(cordon.BusDirtyResp)
	c.checks = append(c.checks, consumerCheck(in, stream, bus.ConsumerResponseValidator))
	c.run = func(ctx context.Context) error {
		return bus.Consume(ctx, in.js, bus.ConsumerConfig{
			Bus: cordon.BusDirtyResp, Stream: stream, Consumer: bus.ConsumerResponseValidator,
			Verifier: v, Workers: cc.Workers, Logger: log, Metrics: w.busMet, GiveUp: giveUp(fwd, log),
		}, stage.Handle)
	}
	return c, nil
}

func (w *wiring) upstreams() ([]backend.Upstream, error) {
	var ups []backend.Upstream
	for _, a := range w.cfg.APIs {
		u, err := url.Parse(a.Upstream)
		if err != nil {
			return nil, fmt.Errorf("apis %s: upstream: %w", a.Name, err)
		}
		ups = append(ups, backend.Upstream{API: a.Name, BasePath: a.BasePath, URL: u})
	}
	if len(ups) == 0 {
		return nil, errors.New("no apis configured")
	}
	return ups, nil
}

// buildBackend wires the backend. In single-validation mode it reads bus 1,
// runs both validators in-process (the same code as the validator stages)
// and answers the frontend on bus 3.
func (w *wiring) buildBackend(ctx context.Context) (*component, error) {
	cc := w.cfg.Components.Backend
	c := &component{name: "backend"}
	fail := func(err error) (*component, error) { c.Close(); return nil, err }
	single := w.cfg.Mode == deployment.ModeSingleValidation
	inBus, producer := cordon.BusCleanReq, cordon.StageRequestValidator
	if single {
		inBus, producer = cordon.BusDirtyReq, cordon.StageFrontend
	}
	signer, err := w.signer(cordon.StageBackend, cc.KeyFile)
	if err != nil {
		return fail(err)
	}
	v, err := w.verifier(producer)
	if err != nil {
		return fail(err)
	}
	in, err := w.connect(ctx, c, "backend", inBus, cc.NKeyFile)
	if err != nil {
		return fail(err)
	}
	out, err := w.connect(ctx, c, "backend", cordon.BusDirtyResp, cc.NKeyFile)
	if err != nil {
		return fail(err)
	}
	ledger, err := bus.NewLedger(ctx, in.js, w.subj)
	if err != nil {
		return fail(fmt.Errorf("backend ledger: %w", err))
	}
	ups, err := w.upstreams()
	if err != nil {
		return fail(err)
	}
	log := w.log.With("role", "backend")
	var pub *bus.Publisher
	if single {
		pub = bus.NewReplyPublisher(out.js, w.subj, cordon.BusDirtyResp, signer, w.busMet).Retrying()
	} else {
		pub = bus.NewInPublisher(out.js, w.subj, cordon.BusDirtyResp, signer, w.busMet).Retrying()
	}
	be, err := backend.New(backend.Config{Upstreams: ups, MaxResponseBytes: int64(w.cfg.Limits.MaxResponseBytes),
		MaxIdleConnsPerHost: cc.MaxIdleConnsPerHost}, ledger, pub, log)
	if err != nil {
		return fail(err)
	}
	handle := be.Handle
	if single {
		pol, err := w.compilePolicy()
		if err != nil {
			return fail(err)
		}
		reqPol := validator.NewPolicy[validator.RequestChecker](pol)
		respPol := validator.NewPolicy[validator.ResponseChecker](pol)
		w.onReload(func(p *policy.Policy) { reqPol.Store(p); respPol.Store(p) })
		handle = func(ctx context.Context, m *cordon.Message, attempt int) error {
			if validator.JudgeRequest(reqPol.Load(), m, w.valMet, log) {
				if err := be.Call(ctx, m, attempt); err != nil {
					return err
				}
				validator.JudgeResponse(respPol.Load(), m, w.valMet, log)
			}
			return pub.Send(ctx, m)
		}
	}
	stream := w.subj.Stream(inBus)
	c.checks = append(c.checks, consumerCheck(in, stream, bus.ConsumerBackend))
	c.run = func(ctx context.Context) error {
		return bus.Consume(ctx, in.js, bus.ConsumerConfig{
			Bus: inBus, Stream: stream, Consumer: bus.ConsumerBackend,
			Verifier: v, Workers: cc.Workers, Logger: log, Metrics: w.busMet, GiveUp: giveUp(pub, log),
		}, handle)
	}
	return c, nil
}

func (w *wiring) rateLimiter() frontend.Limiter {
	rl := w.cfg.Limits.RateLimit
	l := frontend.NewRateLimiter(frontend.RateConfig{PerClient: rl.PerClient, Burst: rl.Burst, PerOperation: rl.PerOperation})
	if l == nil {
		return nil // a nil *RateLimiter in the interface would not be nil
	}
	return l
}
