package policy

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/dlp"
	"github.com/cordon-gateway/cordon/jsonstrict"
)

// respCheck is the state of one CheckResponse call.
type respCheck struct {
	m        *cordon.Message
	op       *operation
	findings []cordon.Finding
	header   http.Header
	body     []byte
	changed  bool
}

func (c *respCheck) add(rule string, action cordon.Action, pointer, detail string) {
	c.findings = append(c.findings, cordon.Finding{Stage: cordon.StageResponseValidator,
		Rule: rule, Action: action, Pointer: pointer, Detail: detail})
}

func (c *respCheck) block(rule, pointer string, detail error) *cordon.Error {
	d := ""
	if detail != nil {
		d = detail.Error()
	}
	c.add(rule, cordon.ActionBlock, pointer, d)
	return &cordon.Error{Op: opResponse, Kind: cordon.KindBlocked, Rule: rule, Pointer: pointer, Err: detail}
}

// CheckResponse judges m.Response and m.Body for the operation named by
// m.Request.Operation. A blocked response is a *cordon.Error of
// KindBlocked (the frontend answers a generic 502).
//
// In enforce mode a passing response is rewritten: headers are reduced to
// the allow-list (the ones the document declares for the status, the basic
// representation headers and response.allow_headers; Server, X-Powered-By
// and debug headers always go), a compressed body is decompressed,
// undeclared members are removed if minimising, and DLP redactions are
// applied. Monitor mode reports the same findings (Action report) and
// changes nothing; off mode checks nothing.
func (p *Policy) CheckResponse(m *cordon.Message) ([]cordon.Finding, error) {
	c := &respCheck{m: m, op: p.ops[m.Request.Operation]}
	mode := ModeEnforce
	if c.op != nil {
		mode = c.op.respMode
	}
	if mode == ModeOff {
		return nil, nil
	}
	err := c.check()
	if mode == ModeMonitor {
		return monitorFindings(c.findings), nil
	}
	if err != nil {
		return c.findings, err
	}
	m.Response.Header = c.header
	if c.changed {
		m.Body = c.body
		if _, ok := c.header["Content-Length"]; ok {
			c.header["Content-Length"] = []string{strconv.Itoa(len(c.body))}
		}
	}
	return c.findings, nil
}

func (c *respCheck) check() *cordon.Error {
	op, m := c.op, c.m
	if op == nil {
		return c.block("response.operation.unknown", "", nil)
	}
	if m.Response == nil {
		return c.block("response.missing", "", nil)
	}
	rs := op.responseFor(m.Response.Status)
	if rs == nil {
		return c.block("response.status.undeclared", "status", fmt.Errorf("status %d", m.Response.Status))
	}
	if e := c.checkHeaders(rs); e != nil {
		return e
	}
	c.body = m.Body
	if int64(len(c.body)) > op.respMax {
		return c.block("response.body.too-large", "body", nil)
	}
	if e := c.decompress(); e != nil {
		return e
	}
	if e := c.checkBody(rs); e != nil {
		return e
	}
	return c.scan()
}

func (c *respCheck) checkHeaders(rs *responseSpec) *cordon.Error {
	src := c.m.Response.Header
	c.header = make(http.Header, len(src))
	var leaked []string
	for k, vs := range src {
		for _, v := range vs {
			if strings.ContainsAny(v, "\r\n\x00") {
				return c.block("response.header.invalid-value", "header/"+k, nil)
			}
		}
		switch {
		case isDeniedResponseHeader(k):
			leaked = append(leaked, k)
		case k == "Content-Encoding" || c.op.respAllow[k] || rs.declares(k):
			c.header[k] = vs
		}
	}
	if len(leaked) > 0 {
		sort.Strings(leaked)
		c.add("response.header.removed", cordon.ActionDrop, "header/"+leaked[0], strings.Join(leaked, ", "))
	}
	for _, p := range rs.headers {
		vs := src[p.name]
		if len(vs) == 0 {
			if p.required {
				return c.block("response.header.missing", p.pointer, nil)
			}
			continue
		}
		v, e := headerValue(p, vs, c.op.respJSON)
		if e != nil {
			return c.block("response.header.invalid", p.pointer, e)
		}
		if p.schema != nil {
			if err := p.schema.Validate(v); err != nil {
				return c.block("response.header.schema", p.pointer, err)
			}
		}
	}
	return nil
}

func (rs *responseSpec) declares(h string) bool {
	for _, p := range rs.headers {
		if p.name == h {
			return true
		}
	}
	return false
}

func (c *respCheck) decompress() *cordon.Error {
	ces := c.header["Content-Encoding"]
	if len(ces) == 0 {
		return nil
	}
	delete(c.header, "Content-Encoding")
	enc := strings.ToLower(strings.TrimSpace(ces[0]))
	if len(ces) > 1 || enc != "gzip" && enc != "deflate" && enc != "identity" {
		return c.block("response.content-encoding.unsupported", "header/Content-Encoding", nil)
	}
	if enc == "identity" {
		return nil
	}
	var zr io.Reader
	var err error
	if enc == "gzip" {
		zr, err = gzip.NewReader(bytes.NewReader(c.body))
	} else {
		zr, err = zlib.NewReader(bytes.NewReader(c.body))
	}
	if err != nil {
		return c.block("response.content-encoding.corrupt", "body", err)
	}
	out, err := io.ReadAll(io.LimitReader(zr, c.op.respMax+1))
	if err != nil {
		return c.block("response.content-encoding.corrupt", "body", err)
	}
	if int64(len(out)) > c.op.respMax {
		return c.block("response.body.too-large", "body", nil)
	}
	c.body, c.changed = out, true
	return nil
}

func (c *respCheck) checkBody(rs *responseSpec) *cordon.Error {
	status := c.m.Response.Status
	if len(c.body) == 0 {
		if len(rs.media) > 0 && c.m.Request.Method != http.MethodHead && status != 204 && status != 304 {
			return c.block("response.body.missing", "body", nil)
		}
		return nil
	}
	if len(rs.media) == 0 || status == 204 || status == 304 {
		return c.block("response.body.unexpected", "body", nil)
	}
	cts := c.header["Content-Type"]
	if len(cts) != 1 {
		return c.block("response.content-type.missing", "header/Content-Type", nil)
	}
	mt, params, err := mime.ParseMediaType(cts[0])
	if err != nil {
		return c.block("response.content-type.invalid", "header/Content-Type", err)
	}
	media := findMedia(rs.media, mt)
	if media == nil {
		return c.block("response.content-type.undeclared", "header/Content-Type", nil)
	}
	if bodyKindOf(mt) != kindJSON {
		return nil // declared non-JSON types pass as opaque; DLP still runs
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return c.block("response.content-type.charset", "header/Content-Type", nil)
	}
	v, err := jsonstrict.Parse(c.body, c.op.respJSON)
	if err != nil {
		var je *jsonstrict.Error
		if errors.As(err, &je) {
			return c.block(je.Rule, je.Pointer, err)
		}
		return c.block("json.syntax", "", err)
	}
	w := shapeWalk{response: true, minimize: c.op.minimize}
	if viol := w.check(v, media.shape); viol != nil {
		return c.block("response.body."+viol.kind, viol.pointer, nil)
	}
	for _, d := range w.dropped {
		c.add("response.body."+d.kind, cordon.ActionDrop, d.pointer, "removed by minimisation")
	}
	if media.schema != nil {
		if err := media.schema.Validate(v); err != nil {
			return c.block("response.body.schema", schemaPointer(err), err)
		}
	}
	if len(w.dropped) > 0 {
		out, err := jsonstrict.AppendCanonical(make([]byte, 0, len(c.body)), v)
		if err != nil {
			return c.block("response.body.canonical", "body", err)
		}
		c.body, c.changed = out, true
	}
	return nil
}

// scan runs the DLP detectors over the body and the kept header values.
// One finding per detector and action, with the match count as detail.
func (c *respCheck) scan() *cordon.Error {
	sc := c.op.dlp
	for _, k := range sortedHeaderKeys(c.header) {
		for i, v := range c.header[k] {
			ms := sc.Scan([]byte(v))
			if len(ms) == 0 {
				continue
			}
			for _, mt := range ms {
				if mt.Action == cordon.ActionBlock {
					return c.block("dlp."+mt.Detector, "header/"+k, nil)
				}
			}
			c.report(ms, "header/"+k)
			if red := redactions(ms); len(red) > 0 {
				c.header[k] = append([]string(nil), c.header[k]...)
				c.header[k][i] = string(sc.Redact([]byte(v), red))
			}
		}
	}
	ms := sc.Scan(c.body)
	if len(ms) == 0 {
		return nil
	}
	for _, mt := range ms {
		if mt.Action == cordon.ActionBlock {
			return c.block("dlp."+mt.Detector, "body", fmt.Errorf("bytes %d-%d", mt.Start, mt.End))
		}
	}
	c.report(ms, "body")
	if red := redactions(ms); len(red) > 0 {
		c.body, c.changed = sc.Redact(c.body, red), true
	}
	return nil
}

func redactions(ms []dlp.Match) []dlp.Match {
	var out []dlp.Match
	for _, m := range ms {
		if m.Action == cordon.ActionRedact {
			out = append(out, m)
		}
	}
	return out
}

// report adds one finding per (detector, action).
func (c *respCheck) report(ms []dlp.Match, pointer string) {
	type key struct {
		det string
		a   cordon.Action
	}
	counts := map[key]int{}
	var order []key
	for _, m := range ms {
		k := key{m.Detector, m.Action}
		if counts[k] == 0 {
			order = append(order, k)
		}
		counts[k]++
	}
	for _, k := range order {
		c.add("dlp."+k.det, k.a, pointer, fmt.Sprintf("%d match(es)", counts[k]))
	}
}

func sortedHeaderKeys(h http.Header) []string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
