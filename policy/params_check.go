package policy

import (
	"errors"
	"net/http"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/jsonstrict"
)

// checkHeaderLimits: count of field lines and their total size.
func checkHeaderLimits(h http.Header, maxCount, maxBytes int) *cordon.Error {
	n, size := 0, 0
	for k, vs := range h {
		n += len(vs)
		for _, v := range vs {
			size += len(k) + len(v) + 4
		}
	}
	if n > maxCount {
		return &cordon.Error{Op: opRequest, Kind: cordon.KindHeadersTooLarge, Rule: "request.header.too-many", Pointer: "header"}
	}
	if size > maxBytes {
		return &cordon.Error{Op: opRequest, Kind: cordon.KindHeadersTooLarge, Rule: "request.header.too-large", Pointer: "header"}
	}
	return nil
}

// checkHeaderValues refuses header names that are not tokens and values
// with control characters other than HTAB (no CR/LF/NUL can ride along to
// the upstream).
func checkHeaderValues(h http.Header) *cordon.Error {
	for k, vs := range h {
		if !isToken(k) {
			return invalid("request.header.invalid-name", "header")
		}
		for _, v := range vs {
			for i := 0; i < len(v); i++ {
				if c := v[i]; c < 0x20 && c != '\t' || c == 0x7f {
					return invalid("request.header.invalid-value", "header/"+k)
				}
			}
		}
	}
	return nil
}

// parseCookies splits Cookie header lines into name/value pairs (RFC 6265
// cookie-string, values optionally quoted).
func parseCookies(lines []string, max int) ([]pair, *cordon.Error) {
	var out []pair
	for _, line := range lines {
		for part := range strings.SplitSeq(line, ";") {
			part = strings.Trim(part, " \t")
			if part == "" {
				continue
			}
			if len(out) >= max {
				return nil, invalid("request.cookie.too-many", "cookie")
			}
			name, val, ok := strings.Cut(part, "=")
			if !ok || !isToken(name) {
				return nil, invalid("request.cookie.invalid", "cookie")
			}
			if len(val) >= 2 && val[0] == '"' && val[len(val)-1] == '"' {
				val = val[1 : len(val)-1]
			}
			for i := 0; i < len(val); i++ {
				if c := val[i]; c <= 0x20 || c == '"' || c == ',' || c == ';' || c == '\\' || c >= 0x7f {
					return nil, invalid("request.cookie.invalid", "cookie/"+name)
				}
			}
			out = append(out, pair{name, val})
		}
	}
	return out, nil
}

// validateParam runs the parameter's schema.
func (r *reqCheck) validateParam(p *param, v any) *cordon.Error {
	if p.schema == nil {
		return nil
	}
	if err := p.schema.Validate(v); err != nil {
		return r.fail(cordon.KindInvalid, "request."+p.in+".schema", p.pointer, err)
	}
	return nil
}

func (r *reqCheck) checkPath() *cordon.Error {
	op := r.op
	if len(op.pathParams) == 0 {
		return nil
	}
	for i, ts := range op.route.segs {
		if ts.name == "" {
			continue
		}
		p := op.pathParams[ts.name]
		s := r.segs[i][len(ts.prefix) : len(r.segs[i])-len(ts.suffix)]
		var v any
		if p.kind == valArray {
			v = splitCoerce(s, ",", p.items)
		} else {
			v = coerce(s, p.types)
		}
		if e := r.validateParam(p, v); e != nil {
			return e
		}
		r.setVal(&r.pathVals, p.name, v)
	}
	return nil
}

func (r *reqCheck) setVal(m *map[string]any, k string, v any) {
	if len(r.op.rules) == 0 {
		return
	}
	if *m == nil {
		*m = map[string]any{}
	}
	(*m)[k] = v
}

func splitCoerce(s, sep string, t typeSet) []any {
	parts := strings.Split(s, sep)
	out := make([]any, len(parts))
	for i, p := range parts {
		out[i] = coerce(p, t)
	}
	return out
}

func (r *reqCheck) checkQuery() *cordon.Error {
	op := r.op
	r.fwdQuery = make([]pair, 0, len(r.query))
	for _, q := range r.query {
		if op.queryNames[q.key] != nil {
			r.fwdQuery = append(r.fwdQuery, q)
			continue
		}
		if r.credQuery[q.key] {
			if op.api.settings.Auth.ForwardCredentials {
				r.fwdQuery = append(r.fwdQuery, q)
			}
			continue
		}
		for k := range op.queryNames {
			if strings.EqualFold(k, q.key) {
				return r.fail(cordon.KindInvalid, "request.query.case-mismatch", "query/"+q.key, nil)
			}
		}
		if !op.allowQuery {
			return r.fail(cordon.KindInvalid, "request.query.undeclared", "query/"+q.key, nil)
		}
		r.fwdQuery = append(r.fwdQuery, q)
	}
	for _, p := range op.query {
		v, present, e := r.queryValue(p)
		if e != nil {
			return r.failErr(e)
		}
		if !present {
			if p.required {
				return r.fail(cordon.KindInvalid, "request.query.missing", p.pointer, nil)
			}
			continue
		}
		if e := r.validateParam(p, v); e != nil {
			return e
		}
		r.setVal(&r.queryVals, p.name, v)
	}
	return nil
}

// queryValue assembles p's value from its pairs.
func (r *reqCheck) queryValue(p *param) (any, bool, *cordon.Error) {
	var vals []pair
	for _, q := range r.query {
		if r.op.queryNames[q.key] == p {
			vals = append(vals, q)
		}
	}
	if len(vals) == 0 {
		return nil, false, nil
	}
	dup := invalid("request.query.duplicate", p.pointer)
	empty := invalid("request.query.empty", p.pointer)
	for _, q := range vals {
		if q.value == "" && !p.allowEmpty {
			return nil, true, empty
		}
	}
	switch {
	case p.json:
		if len(vals) > 1 {
			return nil, true, dup
		}
		v, err := jsonstrict.Parse([]byte(vals[0].value), r.op.limits.json)
		if err != nil {
			e := jsonError(err, p.pointer)
			return nil, true, e
		}
		return v, true, nil
	case p.kind == valPrimitive:
		if len(vals) > 1 {
			return nil, true, dup
		}
		return coerce(vals[0].value, p.types), true, nil
	case p.kind == valArray:
		if p.style == "form" && p.explode {
			out := make([]any, len(vals))
			for i, q := range vals {
				out[i] = coerce(q.value, p.items)
			}
			return out, true, nil
		}
		if len(vals) > 1 {
			return nil, true, dup
		}
		sep := ","
		switch p.style {
		case "spaceDelimited":
			sep = " "
		case "pipeDelimited":
			sep = "|"
		}
		return splitCoerce(vals[0].value, sep, p.items), true, nil
	}
	// objects
	obj := map[string]any{}
	switch {
	case p.style == "deepObject":
		for _, q := range vals {
			prop := q.key[len(p.name)+1 : len(q.key)-1]
			if _, ok := obj[prop]; ok {
				return nil, true, dup
			}
			obj[prop] = coerce(q.value, p.props[prop])
		}
	case p.explode:
		for _, q := range vals {
			if _, ok := obj[q.key]; ok {
				return nil, true, dup
			}
			obj[q.key] = coerce(q.value, p.props[q.key])
		}
	default:
		if len(vals) > 1 {
			return nil, true, dup
		}
		parts := strings.Split(vals[0].value, ",")
		if len(parts)%2 != 0 {
			return nil, true, invalid("request.query.malformed", p.pointer)
		}
		for i := 0; i < len(parts); i += 2 {
			if _, ok := obj[parts[i]]; ok {
				return nil, true, dup
			}
			obj[parts[i]] = coerce(parts[i+1], p.props[parts[i]])
		}
	}
	return obj, true, nil
}

func (r *reqCheck) checkHeaders() *cordon.Error {
	op, h := r.op, r.m.Request.Header
	r.fwdHeader = make(http.Header, len(op.headers)+len(op.forwardHeaders)+2)
	for _, p := range op.headers {
		vs := h[p.name]
		if len(vs) == 0 {
			if p.required {
				return r.fail(cordon.KindInvalid, "request.header.missing", p.pointer, nil)
			}
			continue
		}
		v, e := headerValue(p, vs, r.op.limits.json)
		if e != nil {
			return r.failErr(e)
		}
		if e := r.validateParam(p, v); e != nil {
			return e
		}
		if !r.credHeader[p.name] {
			r.fwdHeader[p.name] = vs
		}
		r.setVal(&r.headerVals, strings.ToLower(p.name), v)
	}
	for _, name := range op.forwardHeaders {
		if vs, ok := h[name]; ok && r.fwdHeader[name] == nil && !r.credHeader[name] {
			r.fwdHeader[name] = vs
		}
	}
	if op.api.settings.Auth.ForwardCredentials {
		for name := range r.credHeader {
			if vs, ok := h[name]; ok {
				r.fwdHeader[name] = vs
			}
		}
	}
	return nil
}

// headerValue builds a header parameter's (or response header's) value:
// style simple, one field line unless an array.
func headerValue(p *param, vs []string, lim jsonstrict.Limits) (any, *cordon.Error) {
	if p.json {
		if len(vs) > 1 {
			return nil, invalid("request.header.duplicate", p.pointer)
		}
		v, err := jsonstrict.Parse([]byte(vs[0]), lim)
		if err != nil {
			return nil, jsonError(err, p.pointer)
		}
		return v, nil
	}
	if p.kind == valArray {
		parts := strings.Split(strings.Join(vs, ","), ",")
		out := make([]any, len(parts))
		for i, s := range parts {
			out[i] = coerce(strings.Trim(s, " \t"), p.items)
		}
		return out, nil
	}
	if len(vs) > 1 {
		return nil, invalid("request.header.duplicate", p.pointer)
	}
	v := strings.Trim(vs[0], " \t")
	if v == "" && !p.allowEmpty {
		return nil, invalid("request.header.empty", p.pointer)
	}
	return coerce(v, p.types), nil
}

func (r *reqCheck) checkCookies() *cordon.Error {
	op := r.op
	for _, c := range r.cookies {
		if r.credCookie[c.key] {
			if op.api.settings.Auth.ForwardCredentials {
				r.fwdCookies = append(r.fwdCookies, c)
			}
			continue
		}
		if cookieParam(op, c.key) != nil {
			continue
		}
		for _, p := range op.cookies {
			if strings.EqualFold(p.name, c.key) {
				return r.fail(cordon.KindInvalid, "request.cookie.case-mismatch", "cookie/"+c.key, nil)
			}
		}
		if !op.allowCookies {
			return r.fail(cordon.KindInvalid, "request.cookie.undeclared", "cookie/"+c.key, nil)
		}
	}
	for _, p := range op.cookies {
		var val string
		n := 0
		for _, c := range r.cookies {
			if c.key == p.name {
				val = c.value
				n++
			}
		}
		switch {
		case n > 1:
			return r.fail(cordon.KindInvalid, "request.cookie.duplicate", p.pointer, nil)
		case n == 0:
			if p.required {
				return r.fail(cordon.KindInvalid, "request.cookie.missing", p.pointer, nil)
			}
			continue
		case val == "" && !p.allowEmpty:
			return r.fail(cordon.KindInvalid, "request.cookie.empty", p.pointer, nil)
		}
		var v any
		if p.kind == valArray {
			v = splitCoerce(val, ",", p.items)
		} else {
			v = coerce(val, p.types)
		}
		if e := r.validateParam(p, v); e != nil {
			return e
		}
		r.fwdCookies = append(r.fwdCookies, pair{p.name, val})
		r.setVal(&r.cookieVals, p.name, v)
	}
	return nil
}

func cookieParam(op *operation, name string) *param {
	for _, p := range op.cookies {
		if p.name == name {
			return p
		}
	}
	return nil
}

// jsonError maps a jsonstrict error to a 400 with its rule; the pointer is
// prefixed with where (e.g. "query/filter") unless where is "" (a body).
func jsonError(err error, where string) *cordon.Error {
	var je *jsonstrict.Error
	rule, ptr := "json.syntax", ""
	if errors.As(err, &je) {
		rule, ptr = je.Rule, je.Pointer
	}
	if where != "" {
		ptr = where + ptr
	}
	kindOf := cordon.KindInvalid
	if rule == jsonstrict.RuleSize {
		kindOf = cordon.KindTooLarge
	}
	return &cordon.Error{Op: opRequest, Kind: kindOf, Rule: rule, Pointer: ptr, Err: err}
}

// schemaPointer returns the JSON pointer of the first leaf error of a
// jsonschema validation error; for a missing required member, the member.
func schemaPointer(err error) string {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return ""
	}
	for len(ve.Causes) > 0 {
		ve = ve.Causes[0]
	}
	loc := ve.InstanceLocation
	if req, ok := ve.ErrorKind.(*kind.Required); ok && len(req.Missing) > 0 {
		return pointerOf(loc, req.Missing[0])
	}
	return joinPointer(loc)
}
