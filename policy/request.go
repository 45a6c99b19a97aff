package policy

import (
	"net/http"
	"strings"

	"github.com/cordon-gateway/cordon"
)

// reqCheck is the state of one CheckRequest call. Checks never modify the
// message; enforce mode applies the rewrite at the end, monitor mode never.
type reqCheck struct {
	m        *cordon.Message
	op       *operation
	findings []cordon.Finding

	path    string   // canonical
	segs    []string // decoded, API-relative after routing
	query   []pair
	cookies []pair

	pathVals   map[string]any
	queryVals  map[string]any
	headerVals map[string]any
	cookieVals map[string]any
	bodyVal    any

	fwdQuery    []pair
	fwdCookies  []pair
	fwdHeader   http.Header
	body        []byte // forwarded body
	contentType string // forwarded Content-Type, "" for none
	who         principal
	credQuery   map[string]bool // query keys that carry credentials
	credCookie  map[string]bool
	credHeader  map[string]bool
}

// fail records the blocking finding and returns the error.
func (r *reqCheck) fail(kind cordon.ErrorKind, rule, pointer string, detail error) *cordon.Error {
	f := cordon.Finding{Stage: cordon.StageRequestValidator, Rule: rule, Action: cordon.ActionBlock, Pointer: pointer}
	if detail != nil {
		f.Detail = detail.Error()
	}
	r.findings = append(r.findings, f)
	return &cordon.Error{Op: opRequest, Kind: kind, Rule: rule, Pointer: pointer, Err: detail}
}

// failErr records a prepared *cordon.Error.
func (r *reqCheck) failErr(e *cordon.Error) *cordon.Error {
	return r.fail(e.Kind, e.Rule, e.Pointer, e.Err)
}

// CheckRequest judges m.Request and m.Body.
//
// In enforce mode a passing request is rewritten: m.Request.Path becomes
// the canonical path (exactly what the upstream gets), RawQuery the
// canonical query, Header only the forward allow-list (declared header
// parameters, configured forward_headers, the Content-Type cordon sets, a
// Cookie header rebuilt from declared cookies, and credentials only if
// auth.forward_credentials), Body the canonical re-serialisation (JSON:
// jsonstrict.AppendCanonical; urlencoded: sorted and re-escaped; multipart:
// re-encoded with only Content-Disposition and Content-Type part headers
// and a new boundary; opaque: unchanged, decompressed), and
// m.Request.Operation "api/operationId". A rejection is a *cordon.Error
// whose Rule and Pointer say what failed; the findings include it.
//
// In monitor mode every check runs as in enforce, the findings (with Action
// report) are returned, the error is nil and m is left as received except
// Request.Operation. In off mode only routing runs. Modes apply from the
// moment an API is known: a malformed path, a URL or header block over the
// largest limit of any API, or a path under no API's base path is refused
// in every mode.
func (p *Policy) CheckRequest(m *cordon.Message) ([]cordon.Finding, error) {
	r := &reqCheck{m: m}
	mode, err := p.checkRequest(r)
	if r.op != nil {
		m.Request.Operation = r.op.id
	}
	switch {
	case mode == ModeOff:
		return nil, nil
	case mode == ModeMonitor:
		return monitorFindings(r.findings), nil
	case err != nil:
		return r.findings, err
	}
	r.apply()
	return r.findings, nil
}

// monitorFindings turns what enforce would have done into reports.
func monitorFindings(fs []cordon.Finding) []cordon.Finding {
	for i := range fs {
		fs[i].Action = cordon.ActionReport
	}
	return fs
}

// checkRequest runs every check in order and returns the mode that applies
// and the first blocking error.
func (p *Policy) checkRequest(r *reqCheck) (Mode, *cordon.Error) {
	m := r.m
	// Limits first, against the most generous API, before any parsing.
	if len(m.Request.Path)+1+len(m.Request.RawQuery) > p.maxURL() {
		return ModeEnforce, r.fail(cordon.KindURITooLong, "request.url.too-long", "", nil)
	}
	if e := checkHeaderLimits(m.Request.Header, p.maxHeaderCount(), p.maxHeaderBytes()); e != nil {
		return ModeEnforce, r.failErr(e)
	}
	canon, segs, perr := NormalizePath(m.Request.Path)
	if perr != nil {
		return ModeEnforce, r.failErr(perr.(*cordon.Error))
	}
	r.path = canon
	ap, rest := p.api(segs)
	if ap == nil {
		return ModeEnforce, r.fail(cordon.KindNotFound, "request.route.not-found", "path", nil)
	}
	mode := ap.reqMode
	if len(m.Request.Path)+1+len(m.Request.RawQuery) > ap.limits.url {
		return mode, r.fail(cordon.KindURITooLong, "request.url.too-long", "", nil)
	}
	if e := checkHeaderLimits(m.Request.Header, ap.limits.headerCount, ap.limits.headerBytes); e != nil {
		return mode, r.failErr(e)
	}
	op, found := ap.router.match(m.Request.Method, rest)
	if op == nil {
		if found {
			return mode, r.fail(cordon.KindMethodNotAllowed, "request.method.not-allowed", "method", nil)
		}
		return mode, r.fail(cordon.KindNotFound, "request.route.not-found", "path", nil)
	}
	r.op, r.segs = op, rest
	if op.reqMode == ModeOff {
		return ModeOff, nil
	}
	return op.reqMode, r.checkOperation()
}

func (r *reqCheck) checkOperation() *cordon.Error {
	op, m := r.op, r.m
	r.credHeader, r.credQuery, r.credCookie = op.credHeader, op.credQuery, op.credCookie
	if int64(len(m.Body)) > op.limits.body {
		return r.fail(cordon.KindTooLarge, "request.body.too-large", "body", nil)
	}
	if e := checkHeaderValues(m.Request.Header); e != nil {
		return r.failErr(e)
	}
	var e *cordon.Error
	if r.query, e = parseForm(m.Request.RawQuery, "query", op.limits.params, nil); e != nil {
		return r.failErr(e)
	}
	if r.cookies, e = parseCookies(m.Request.Header["Cookie"], op.limits.params); e != nil {
		return r.failErr(e)
	}
	if e := r.authenticate(); e != nil {
		return e
	}
	if e := r.checkPath(); e != nil {
		return e
	}
	if e := r.checkQuery(); e != nil {
		return e
	}
	if e := r.checkHeaders(); e != nil {
		return e
	}
	if e := r.checkCookies(); e != nil {
		return e
	}
	if e := r.checkBody(); e != nil {
		return e
	}
	return r.checkRules()
}

// apply rewrites the message into what the upstream receives.
func (r *reqCheck) apply() {
	m := r.m
	m.Request.Path = r.path
	m.Request.RawQuery = encodeForm(r.fwdQuery)
	h := r.fwdHeader
	if h == nil {
		h = http.Header{}
	}
	if r.contentType != "" {
		h["Content-Type"] = []string{r.contentType}
	}
	if len(r.fwdCookies) > 0 {
		var b strings.Builder
		sortPairs(r.fwdCookies)
		for i, c := range r.fwdCookies {
			if i > 0 {
				b.WriteString("; ")
			}
			b.WriteString(c.key)
			b.WriteByte('=')
			b.WriteString(c.value)
		}
		h["Cookie"] = []string{b.String()}
	}
	m.Request.Header = h
	m.Body = r.body
}
