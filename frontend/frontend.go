package frontend

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cordon-gateway/cordon"
	"github.com/prometheus/client_golang/prometheus"
)

// Sender stores messages on bus 1 and returns once they are stored.
type Sender interface {
	// Send stores a client request for the request validator; m's
	// deadline bounds it.
	Send(ctx context.Context, m *cordon.Message) error
	// SendFinal stores the frontend's terminal record of a request it
	// answered on its own (bus/subjects.go, Final), which only the audit
	// reads. ctx alone bounds it: m's deadline has usually passed.
	SendFinal(ctx context.Context, m *cordon.Message) error
}

// Limiter decides whether a client may send another request to an
// operation now. A nil Limiter allows everything.
type Limiter interface {
	Allow(client, operation string) (ok bool, retryAfter time.Duration)
}

// Config configures a Frontend.
type Config struct {
	// ID names this instance in reply subjects.
	ID string
	// Timeout is every request's deadline from arrival.
	Timeout time.Duration
	// MaxBodyBytes, MaxHeaderBytes (fields and values of the head),
	// MaxHeaderFields and MaxURLBytes are refused with 413, 431, 431 and
	// 414 before anything reaches a bus.
	MaxBodyBytes    int64
	MaxHeaderBytes  int
	MaxHeaderFields int
	MaxURLBytes     int
	// MaxInflight bounds requests waiting for an answer (503 beyond).
	MaxInflight int
	// TrustedProxies may name the client in X-Forwarded-For.
	TrustedProxies []netip.Prefix
	// Verbose adds the validators' findings to problem bodies (dev only).
	Verbose bool
	// FinalTimeout bounds the publish of one terminal record (retries
	// included). Default: Timeout, at least 1s and at most 5s.
	FinalTimeout time.Duration
}

// Frontend is the public HTTP edge. It implements http.Handler.
type Frontend struct {
	cfg      Config
	send     Sender
	limiter  Limiter
	classify func(method, path string) string
	log      *slog.Logger
	pending  *pending
	slots    chan struct{}
	now      func() time.Time
	met      metrics
	// finals bounds the terminal records being published; finalWG
	// tracks them for a graceful shutdown (Serve waits).
	finals  chan struct{}
	finalWG sync.WaitGroup
}

type metrics struct {
	requests *prometheus.CounterVec
	latency  prometheus.Histogram
	inflight prometheus.GaugeFunc
	dropped  prometheus.Counter
	finals   *prometheus.CounterVec
}

// New builds a Frontend. classify names the operation of a request for
// rate limiting ("" when unknown); it may be nil with a nil limiter.
func New(cfg Config, send Sender, limiter Limiter, classify func(method, path string) string,
	log *slog.Logger, reg prometheus.Registerer) (*Frontend, error) {
	switch {
	case cfg.ID == "":
		return nil, errors.New("frontend: ID is required")
	case cfg.Timeout <= 0:
		return nil, errors.New("frontend: Timeout must be positive")
	case cfg.MaxBodyBytes <= 0 || cfg.MaxHeaderBytes <= 0 || cfg.MaxURLBytes <= 0 || cfg.MaxInflight <= 0:
		return nil, errors.New("frontend: limits must be positive")
	case send == nil:
		return nil, errors.New("frontend: a Sender is required")
	}
	if cfg.MaxHeaderFields == 0 {
		cfg.MaxHeaderFields = 100
	}
	if cfg.FinalTimeout <= 0 {
		cfg.FinalTimeout = min(max(cfg.Timeout, time.Second), 5*time.Second)
	}
	f := &Frontend{cfg: cfg, send: send, limiter: limiter, classify: classify, log: log,
		pending: newPending(), slots: make(chan struct{}, cfg.MaxInflight), now: time.Now,
		finals: make(chan struct{}, cfg.MaxInflight)}
	f.met.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cordon_frontend_requests_total", Help: "Client requests by answer status.",
	}, []string{"status"})
	f.met.latency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "cordon_frontend_request_seconds", Help: "Time from arrival to answer.",
		Buckets: prometheus.ExponentialBuckets(0.0002, 2, 18),
	})
	f.met.inflight = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "cordon_frontend_inflight", Help: "Requests waiting for an answer.",
	}, func() float64 { return float64(f.pending.len()) })
	f.met.dropped = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "cordon_frontend_unmatched_answers_total", Help: "Answers with no waiting request (late, duplicate or replayed), dropped.",
	})
	f.met.finals = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cordon_frontend_final_records_total",
		Help: "Terminal records of requests the frontend answered on its own after handing them to bus 1, by result (ok, error, dropped).",
	}, []string{"result"})
	for _, r := range []string{"ok", "error", "dropped"} {
		f.met.finals.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(f.met.requests, f.met.latency, f.met.inflight, f.met.dropped, f.met.finals)
	}
	return f, nil
}

// Deliver hands an answer from a bus to the request waiting for it. An
// answer for another frontend, or with no waiter, is dropped.
func (f *Frontend) Deliver(m *cordon.Message) {
	if m.ReplyTo != f.cfg.ID || !f.pending.deliver(m) {
		f.met.dropped.Inc()
		f.log.Info("dropped unmatched answer", "request_id", m.ID.String())
	}
}

// DeliverRejection is Deliver for a bus on which only rejections may
// arrive (bus 1, from the request validator): a message carrying an
// upstream response there is dropped, so a taken-over request validator can
// refuse requests but never answer one in the backend's and the response
// validator's place.
func (f *Frontend) DeliverRejection(m *cordon.Message) {
	if m.Response != nil || m.Outcome.Kind == cordon.KindNone || len(m.Body) > 0 {
		f.met.dropped.Inc()
		f.log.Warn("dropped a non-rejection on the rejection bus", "request_id", m.ID.String())
		return
	}
	f.Deliver(m)
}

// ServeHTTP admits, forwards and answers one client request.
func (f *Frontend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := f.now()
	id := cordon.NewRequestID(start)
	w.Header().Set("X-Request-Id", id.String())
	status := f.serve(w, r, id, start, reqLog{f.log, id})
	f.met.requests.WithLabelValues(strconv.Itoa(status)).Inc()
	f.met.latency.Observe(time.Since(start).Seconds())
}

func (f *Frontend) fail(w http.ResponseWriter, id cordon.RequestID, o cordon.Outcome, findings []cordon.Finding) int {
	p := NewProblem(id, o)
	if f.cfg.Verbose {
		for _, fd := range findings {
			p.Findings = append(p.Findings, fd.Rule+" "+fd.Pointer+": "+fd.Detail)
		}
	}
	WriteProblem(w, p, o.Kind)
	return p.Status
}

func (f *Frontend) serve(w http.ResponseWriter, r *http.Request, id cordon.RequestID, start time.Time, log reqLog) int {
	// A request with Transfer-Encoding is refused and its connection
	// closed: the validators need the whole body anyway, so requiring a
	// length costs clients nothing and removes every Content-Length /
	// Transfer-Encoding desynchronisation (net/http would silently drop a
	// conflicting Content-Length).
	if len(r.TransferEncoding) > 0 {
		w.Header().Set("Connection", "close")
		return f.fail(w, id, cordon.Outcome{Kind: cordon.KindInvalid, Rule: "http.transfer-encoding"}, nil)
	}
	if len(r.RequestURI) > f.cfg.MaxURLBytes {
		return f.fail(w, id, cordon.Outcome{Kind: cordon.KindURITooLong, Rule: "limits.url"}, nil)
	}
	if n, size := headerSize(r.Header); n > f.cfg.MaxHeaderFields || size > f.cfg.MaxHeaderBytes {
		w.Header().Set("Connection", "close")
		return f.fail(w, id, cordon.Outcome{Kind: cordon.KindHeadersTooLarge, Rule: "limits.headers"}, nil)
	}
	if r.ContentLength > f.cfg.MaxBodyBytes {
		w.Header().Set("Connection", "close")
		return f.fail(w, id, cordon.Outcome{Kind: cordon.KindTooLarge, Rule: "limits.body"}, nil)
	}
	client := f.clientAddr(r)
	if f.limiter != nil {
		op := ""
		if f.classify != nil {
			op = f.classify(r.Method, r.URL.EscapedPath())
		}
		if ok, after := f.limiter.Allow(client, op); !ok {
			secs := max(1, int(after.Round(time.Second)/time.Second))
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			p := NewProblem(id, cordon.Outcome{Kind: cordon.KindRateLimited, Rule: "ratelimit"})
			WriteProblem(w, p, cordon.KindNone) // Retry-After set above
			return p.Status
		}
	}
	select {
	case f.slots <- struct{}{}:
		defer func() { <-f.slots }()
	default:
		return f.fail(w, id, cordon.Outcome{Kind: cordon.KindUnavailable, Rule: "admission.inflight"}, nil)
	}

	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, f.cfg.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			w.Header().Set("Connection", "close")
			return f.fail(w, id, cordon.Outcome{Kind: cordon.KindTooLarge, Rule: "limits.body"}, nil)
		}
		log.Info("reading body failed", "err", err)
		w.Header().Set("Connection", "close")
		return f.fail(w, id, cordon.Outcome{Kind: cordon.KindInvalid, Rule: "http.body"}, nil)
	}

	deadline := start.Add(f.cfg.Timeout)
	header := r.Header.Clone()
	stripHopByHop(header)
	m := &cordon.Message{
		ID:       id,
		Deadline: deadline,
		ReplyTo:  f.cfg.ID,
		Trace:    cordon.Trace{Parent: header.Get("Traceparent"), State: header.Get("Tracestate")},
		Request: cordon.RequestHead{
			Method:   r.Method,
			Path:     r.URL.EscapedPath(),
			RawQuery: r.URL.RawQuery,
			Host:     r.Host,
			Header:   header,
			Client:   client,
		},
		Body: body,
	}
	ctx, cancel := context.WithDeadline(r.Context(), deadline)
	defer cancel()
	answer := f.pending.add(id)
	defer f.pending.remove(id)
	// Wait for the publish ack and the answer at once: the answer can only
	// come after the message was stored, and overlapping the two saves a
	// round trip on every request.
	sent := make(chan error, 1)
	go func() { sent <- f.send.Send(ctx, m) }()
	for {
		select {
		case err := <-sent:
			if err != nil {
				kind := cordon.KindOf(err)
				if kind != cordon.KindExpired {
					kind = cordon.KindUnavailable
				}
				log.Warn("publish to bus 1 failed", "err", err)
				// Whether the request was stored is unknown (an ack can
				// be lost after the store): say how it ended.
				o := cordon.Outcome{Kind: kind, Rule: "bus.dirty-req"}
				status := f.fail(w, id, o, nil)
				f.final(m, status, o, log)
				return status
			}
			sent = nil // stored; keep waiting for the answer
		case a := <-answer:
			return f.answer(w, id, a, log)
		case <-ctx.Done():
			if r.Context().Err() != nil {
				log.Info("client went away")
				f.final(m, 499, cordon.Outcome{Rule: "client.gone"}, log)
				return 499
			}
			log.Info("deadline passed")
			o := cordon.Outcome{Kind: cordon.KindExpired, Rule: "deadline"}
			status := f.fail(w, id, o, nil)
			f.final(m, status, o, log)
			return status
		}
	}
}

// final publishes the terminal record of request m, which the frontend
// answered on its own with status (499: the client went away) after
// handing it to bus 1: no stage will ever say how it ended, so the
// frontend does, for the audit. The record carries m's id, deadline,
// reply target, trace context and request line (no headers, no body), the
// status the client got and the outcome it was answered with.
//
// It never delays the answer: the publish runs in the background, bounded
// by FinalTimeout (retrying an unacknowledged attempt within it under the
// same message id) and, in number, by MaxInflight; a record that cannot be
// published is counted and logged, and the client's answer stands.
func (f *Frontend) final(m *cordon.Message, status int, o cordon.Outcome, log reqLog) {
	// Send may still be sealing m (it sets m.Producer): read only the
	// fields the frontend set before handing it over.
	rec := &cordon.Message{
		ID: m.ID, Deadline: m.Deadline, ReplyTo: m.ReplyTo, Trace: m.Trace,
		Request: cordon.RequestHead{Method: m.Request.Method, Path: m.Request.Path,
			RawQuery: m.Request.RawQuery, Host: m.Request.Host, Client: m.Request.Client},
		Response: &cordon.ResponseHead{Status: status},
		Outcome:  o,
	}
	select {
	case f.finals <- struct{}{}:
	default:
		f.met.finals.WithLabelValues("dropped").Inc()
		log.Warn("terminal record not published: too many in flight", "status", status, "rule", o.Rule)
		return
	}
	f.finalWG.Add(1)
	go func() {
		defer func() { <-f.finals; f.finalWG.Done() }()
		ctx, cancel := context.WithTimeout(context.Background(), f.cfg.FinalTimeout)
		defer cancel()
		if err := f.send.SendFinal(ctx, rec); err != nil {
			f.met.finals.WithLabelValues("error").Inc()
			log.Warn("terminal record not published", "status", status, "rule", o.Rule, "err", err)
			return
		}
		f.met.finals.WithLabelValues("ok").Inc()
	}()
}

// waitFinals waits for the terminal records being published (each is
// bounded by FinalTimeout). Call it only once no request is being served.
func (f *Frontend) waitFinals() { f.finalWG.Wait() }

func (f *Frontend) answer(w http.ResponseWriter, id cordon.RequestID, a *cordon.Message, log reqLog) int {
	if a.Outcome.Kind != cordon.KindNone || a.Response == nil {
		o := a.Outcome
		if o.Kind == cordon.KindNone {
			o.Kind = cordon.KindInternal
		}
		log.Info("request refused", "kind", o.Kind.String(), "rule", o.Rule, "pointer", o.Pointer)
		return f.fail(w, id, o, a.Verdict.Findings)
	}
	h := w.Header()
	for k, vs := range a.Response.Header {
		h[k] = vs
	}
	stripHopByHop(h)
	h.Del("Content-Length")
	h.Set("X-Request-Id", id.String())
	h.Set("Content-Length", strconv.Itoa(len(a.Body)))
	w.WriteHeader(a.Response.Status)
	_, _ = w.Write(a.Body)
	return a.Response.Status
}

// clientAddr is the TCP peer, or the right-most untrusted address of
// X-Forwarded-For when the peer is a trusted proxy.
func (f *Frontend) clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || !f.trusted(peer) {
		return host
	}
	xff := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(xff) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(xff[i]))
		if err != nil {
			return host
		}
		if !f.trusted(a) {
			return a.String()
		}
	}
	return host
}

func (f *Frontend) trusted(a netip.Addr) bool {
	for _, p := range f.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// reqLog logs with the request id, without building a logger per request:
// the common path logs nothing.
type reqLog struct {
	l  *slog.Logger
	id cordon.RequestID
}

func (r reqLog) Info(msg string, args ...any) {
	r.l.Info(msg, append([]any{"request_id", r.id.String()}, args...)...)
}

func (r reqLog) Warn(msg string, args ...any) {
	r.l.Warn(msg, append([]any{"request_id", r.id.String()}, args...)...)
}
