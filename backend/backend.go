// Package backend is the stage that calls the upstream API: it reads
// validated requests from bus 2, calls the upstream at most once for a
// non-idempotent method (a ledger claim per request id decides), and
// publishes the raw answer on bus 3 for the response validator.
//
// It imports the root package and the standard library (plus prometheus);
// the bus and the ledger are handed in by cmd/cordon.
package backend

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cordon-gateway/cordon"
)

// Sender stores a message on bus 3.
type Sender interface {
	Send(ctx context.Context, m *cordon.Message) error
}

// Ledger remembers which requests were taken: Claim reports whether this is
// the first claim of id.
type Ledger interface {
	Claim(ctx context.Context, id cordon.RequestID) (bool, error)
}

// Upstream is one API's base URL, under the base path the frontend serves
// it at.
type Upstream struct {
	API      string
	BasePath string
	URL      *url.URL
}

// Config configures the backend.
type Config struct {
	Upstreams           []Upstream
	MaxResponseBytes    int64
	MaxIdleConnsPerHost int
}

// Backend is the upstream-calling stage.
type Backend struct {
	cfg    Config
	client *http.Client
	ledger Ledger
	out    Sender
	log    *slog.Logger
}

// New builds a Backend with a transport tuned for many concurrent
// keep-alive requests to a few hosts.
func New(cfg Config, ledger Ledger, out Sender, log *slog.Logger) (*Backend, error) {
	if len(cfg.Upstreams) == 0 {
		return nil, errors.New("backend: no upstream configured")
	}
	if cfg.MaxResponseBytes <= 0 {
		return nil, errors.New("backend: MaxResponseBytes must be positive")
	}
	if ledger == nil {
		return nil, errors.New("backend: a ledger is required (at-most-once)")
	}
	if cfg.MaxIdleConnsPerHost <= 0 {
		cfg.MaxIdleConnsPerHost = 64
	}
	tr := &http.Transport{
		Proxy:                 nil, // never an ambient proxy between cordon and the upstream
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          4 * cfg.MaxIdleConnsPerHost,
		MaxIdleConnsPerHost:   cfg.MaxIdleConnsPerHost,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     true,
		// Responses must arrive uncompressed so the response validator
		// can read them; Accept-Encoding is set to identity below.
		DisableCompression: true,
	}
	client := &http.Client{
		Transport: tr,
		// Redirects are answers for the response validator to judge,
		// never followed: following one could reach another host.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return &Backend{cfg: cfg, client: client, ledger: ledger, out: out, log: log}, nil
}

// Handle calls the upstream for one validated request and publishes the
// answer (or the outcome that replaces it) on bus 3.
func (b *Backend) Handle(ctx context.Context, m *cordon.Message, attempt int) error {
	if err := b.Call(ctx, m, attempt); err != nil {
		return err
	}
	return b.out.Send(ctx, m)
}

// Idempotent reports whether a method may be sent again when the outcome
// of an earlier attempt is unknown (RFC 9110 §9.2.2).
func Idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// Call turns m from a request into its answer, in place: on return m
// carries either the upstream response or an outcome. It returns an error
// only when the ledger is unreachable (retry).
func (b *Backend) Call(ctx context.Context, m *cordon.Message, attempt int) error {
	log := b.log.With("request_id", m.ID.String()) // only logged on failures
	first, err := b.ledger.Claim(ctx, m.ID)
	if err != nil {
		return err
	}
	if !first {
		// The id was taken before. A first delivery of it is a replay, or
		// a redelivery whose count the bus lost in a restart: either way
		// it is never sent again, whatever the method. A redelivery of a
		// non-idempotent request is not sent again either. Both answer
		// "outcome unknown" under the same message id as the real answer,
		// so the stream's dedupe drops this if the real one was stored.
		if attempt <= 1 || !Idempotent(m.Request.Method) {
			log.Warn("already-claimed request not sent again", "method", m.Request.Method, "attempt", attempt)
			b.toOutcome(m, cordon.Outcome{Kind: cordon.KindDuplicate, Rule: "backend.at-most-once"})
			return nil
		}
	}
	up, err := b.upstreamFor(m)
	if err != nil {
		log.Warn("no upstream", "err", err)
		b.toOutcome(m, cordon.Outcome{Kind: cordon.KindInternal, Rule: "backend.route"})
		return nil
	}
	// The upstream gets what is left of the request's deadline.
	ctx, cancel := context.WithDeadline(ctx, m.Deadline)
	defer cancel()
	req, err := b.newRequest(ctx, up, m)
	if err != nil {
		log.Warn("bad upstream request", "err", err)
		b.toOutcome(m, cordon.Outcome{Kind: cordon.KindInternal, Rule: "backend.request"})
		return nil
	}
	resp, err := b.client.Do(req)
	if err != nil {
		rule := "upstream.unreachable"
		if errors.Is(err, context.DeadlineExceeded) {
			rule = "upstream.timeout"
		}
		log.Warn("upstream call failed", "err", err)
		b.toOutcome(m, cordon.Outcome{Kind: cordon.KindUpstream, Rule: rule})
		return nil
	}
	defer resp.Body.Close()
	if resp.StatusCode < 100 || resp.StatusCode > 599 {
		log.Warn("upstream answered a status outside HTTP's range", "status", resp.StatusCode)
		b.toOutcome(m, cordon.Outcome{Kind: cordon.KindUpstream, Rule: "upstream.bad-status"})
		return nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, b.cfg.MaxResponseBytes+1))
	switch {
	case err != nil:
		log.Warn("reading upstream body failed", "err", err)
		b.toOutcome(m, cordon.Outcome{Kind: cordon.KindUpstream, Rule: "upstream.body"})
		return nil
	case int64(len(body)) > b.cfg.MaxResponseBytes:
		log.Warn("upstream body over limit", "limit", b.cfg.MaxResponseBytes)
		b.toOutcome(m, cordon.Outcome{Kind: cordon.KindUpstream, Rule: "upstream.response-too-large"})
		return nil
	}
	h := resp.Header.Clone()
	for _, k := range []string{"Connection", "Keep-Alive", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade"} {
		delete(h, k)
	}
	m.Request.Header = nil
	m.Response = &cordon.ResponseHead{Status: resp.StatusCode, Header: h}
	m.Body = body
	return nil
}

func (b *Backend) toOutcome(m *cordon.Message, o cordon.Outcome) {
	m.Request.Header = nil
	m.Response = nil
	m.Body = nil
	m.Outcome = o
}

func (b *Backend) upstreamFor(m *cordon.Message) (*Upstream, error) {
	api, _, _ := strings.Cut(m.Request.Operation, "/")
	if api == "" && len(b.cfg.Upstreams) == 1 {
		return &b.cfg.Upstreams[0], nil
	}
	for i := range b.cfg.Upstreams {
		if b.cfg.Upstreams[i].API == api {
			return &b.cfg.Upstreams[i], nil
		}
	}
	return nil, fmt.Errorf("operation %q names no configured API", m.Request.Operation)
}

func (b *Backend) newRequest(ctx context.Context, up *Upstream, m *cordon.Message) (*http.Request, error) {
	rest := m.Request.Path
	if base := strings.TrimSuffix(up.BasePath, "/"); base != "" {
		if rest != base && !strings.HasPrefix(rest, base+"/") {
			return nil, fmt.Errorf("path %q outside base path %q", rest, up.BasePath)
		}
		rest = strings.TrimPrefix(rest, base)
	}
	u := *up.URL
	u.RawPath = strings.TrimSuffix(up.URL.EscapedPath(), "/") + rest
	p, err := url.PathUnescape(u.RawPath)
	if err != nil {
		return nil, err
	}
	u.Path = p
	u.RawQuery = m.Request.RawQuery
	u.Fragment = ""
	var body io.Reader
	if len(m.Body) > 0 {
		body = bytes.NewReader(m.Body)
	}
	req, err := http.NewRequestWithContext(ctx, m.Request.Method, u.String(), body)
	if err != nil {
		return nil, err
	}
	for k, vs := range m.Request.Header {
		req.Header[k] = vs
	}
	req.Header.Del("Host")
	req.Header.Del("Content-Length")
	req.Header.Set("Accept-Encoding", "identity")
	req.Header.Set("X-Request-Id", m.ID.String())
	if m.Trace.Parent != "" {
		req.Header.Set("Traceparent", m.Trace.Parent)
	}
	req.ContentLength = int64(len(m.Body))
	return req, nil
}
