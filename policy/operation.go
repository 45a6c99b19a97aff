package policy

import (
	"fmt"
	"mime"
	"net/textproto"
	"sort"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/cordon-gateway/cordon/dlp"
	"github.com/cordon-gateway/cordon/jsonstrict"
)

// operation is one compiled API operation.
type operation struct {
	id       string // "api/operationId"
	opID     string
	api      *apiPolicy
	method   string
	route    *route
	reqMode  Mode
	respMode Mode

	pathParams map[string]*param
	query      []*param
	queryNames map[string]*param // every accepted query key, incl. exploded object properties
	deepObject []*param
	headers    []*param
	cookies    []*param
	body       *bodySpec // nil: the operation takes no body

	security []secAlternative // empty: anonymous
	rules    []*celRule

	allowProps     bool
	allowQuery     bool
	allowCookies   bool
	forwardHeaders []string // canonical names
	encodings      map[string]bool
	opaque         map[string]bool
	limits         reqLimits

	responses  map[string]*responseSpec // "200", "2XX", "default"
	minimize   bool
	respAllow  map[string]bool // canonical names
	respMax    int64
	respJSON   jsonstrict.Limits
	dlp        *dlp.Scanner
	credHeader map[string]bool // credential locations, removed unless forwarded
	credQuery  map[string]bool
	credCookie map[string]bool
}

type bodySpec struct {
	required bool
	media    []*mediaSpec // exact types first, then type/*, then */*
}

type mediaSpec struct {
	key    string // as declared, lower case
	schema *jsonschema.Schema
	shape  *shape
	parts  map[string]string  // multipart: part name -> declared contentType
	fields map[string]typeSet // form/multipart: field -> types (of items, for arrays)
	arrays map[string]bool    // form/multipart: fields declared as arrays
}

type responseSpec struct {
	key     string
	media   []*mediaSpec
	headers []*param
}

type apiCompiler struct {
	api     API
	ap      *apiPolicy
	doc     *openapi3.T
	raw     *rawDoc
	dir     string
	files   [][]byte
	schemes map[string]*scheme
	dlp     *dlp.Scanner
	shapes  shapeBuilder
}

func (c *apiCompiler) compileOperation(rt *route, item *openapi3.PathItem, itemPtr, method string, o *openapi3.Operation) (*operation, error) {
	s := c.api.Settings
	os := s.Operations[o.OperationID]
	op := &operation{
		id: c.ap.name + "/" + o.OperationID, opID: o.OperationID, api: c.ap,
		method: method, route: rt, dlp: c.dlp,
		pathParams: map[string]*param{}, queryNames: map[string]*param{},
		responses: map[string]*responseSpec{},
	}
	var err error
	if op.reqMode, err = resolveMode(os.RequestMode, c.ap.reqMode); err != nil {
		return nil, fmt.Errorf("request_mode: %w", err)
	}
	apiResp, err := resolveMode(s.Response.Mode, ModeEnforce)
	if err != nil {
		return nil, fmt.Errorf("response.mode: %w", err)
	}
	if op.respMode, err = resolveMode(os.ResponseMode, apiResp); err != nil {
		return nil, fmt.Errorf("response_mode: %w", err)
	}
	op.allowProps = pick(os.AllowUndeclaredProperties, s.Request.AllowUndeclaredProperties)
	op.allowQuery = pick(os.AllowUndeclaredQuery, s.Request.AllowUndeclaredQuery)
	op.allowCookies = pick(os.AllowUndeclaredCookies, s.Request.AllowUndeclaredCookies)
	op.minimize = pick(os.Minimize, s.Response.Minimize)
	if op.limits, err = resolveReqLimits(s.Request.Limits, os.MaxBodyBytes); err != nil {
		return nil, err
	}
	if os.MaxResponseBytes < 0 || s.Response.MaxBodyBytes < 0 {
		return nil, fmt.Errorf("response limits must not be negative")
	}
	op.respMax = or64(os.MaxResponseBytes, or64(s.Response.MaxBodyBytes, DefaultMaxResponseBytes))
	op.respJSON = jsonLimits(s.Response.JSON, op.respMax)
	if negativeJSON(s.Response.JSON) {
		return nil, fmt.Errorf("response.json limits must not be negative")
	}
	if op.forwardHeaders, err = headerList(append(append([]string{}, s.Request.ForwardHeaders...), os.ForwardHeaders...)); err != nil {
		return nil, fmt.Errorf("forward_headers: %w", err)
	}
	allow, err := headerList(append(append([]string{}, s.Response.AllowHeaders...), os.ResponseAllowHeaders...))
	if err != nil {
		return nil, fmt.Errorf("response allow_headers: %w", err)
	}
	op.respAllow = map[string]bool{}
	for _, h := range append(allow, basicResponseHeaders...) {
		op.respAllow[h] = true
	}
	encs := s.Request.ContentEncodings
	if os.ContentEncodings != nil {
		encs = os.ContentEncodings
	}
	op.encodings = map[string]bool{}
	for _, e := range encs {
		if e != "gzip" && e != "deflate" {
			return nil, fmt.Errorf("content_encodings: %q: want gzip or deflate", e)
		}
		op.encodings[e] = true
	}
	opPtr := itemPtr + "/" + strings.ToLower(method)

	// Parameters: the operation's override the path item's by (in, name).
	type key struct{ in, name string }
	ptrs := map[key]string{}
	params := map[key]*openapi3.Parameter{}
	var order []key
	for _, lvl := range []struct {
		ptr string
		ps  openapi3.Parameters
	}{{itemPtr, item.Parameters}, {opPtr, o.Parameters}} {
		for i, pr := range lvl.ps {
			if pr == nil || pr.Value == nil {
				continue
			}
			ptr, err := c.raw.deref(fmt.Sprintf("%s/parameters/%d", lvl.ptr, i))
			if err != nil {
				return nil, err
			}
			k := key{pr.Value.In, pr.Value.Name}
			if pr.Value.In == openapi3.ParameterInHeader {
				k.name = textproto.CanonicalMIMEHeaderKey(k.name)
			}
			if _, ok := params[k]; !ok {
				order = append(order, k)
			}
			params[k], ptrs[k] = pr.Value, ptr
		}
	}
	for _, k := range order {
		p, err := c.compileParam(ptrs[k], params[k])
		if err != nil {
			return nil, fmt.Errorf("parameter %s %q: %w", k.in, k.name, err)
		}
		if p == nil {
			continue // Accept, Content-Type, Authorization: ignored by OpenAPI
		}
		switch p.in {
		case "path":
			op.pathParams[p.name] = p
		case "query":
			op.query = append(op.query, p)
			if err := op.addQueryNames(p); err != nil {
				return nil, fmt.Errorf("parameter query %q: %w", p.name, err)
			}
		case "header":
			op.headers = append(op.headers, p)
		case "cookie":
			op.cookies = append(op.cookies, p)
		}
	}
	for _, ts := range rt.segs {
		if ts.name != "" && op.pathParams[ts.name] == nil {
			return nil, fmt.Errorf("path parameter %q is not declared", ts.name)
		}
	}
	if len(op.pathParams) != countParams(rt.segs) {
		return nil, fmt.Errorf("a declared path parameter is not in the path template")
	}

	if o.RequestBody != nil && o.RequestBody.Value != nil {
		ptr, err := c.raw.deref(opPtr + "/requestBody")
		if err != nil {
			return nil, err
		}
		if op.body, err = c.compileBody(ptr, o.RequestBody.Value); err != nil {
			return nil, fmt.Errorf("requestBody: %w", err)
		}
	}
	op.opaque = map[string]bool{}
	for _, lst := range [][]string{s.Request.OpaqueMediaTypes, os.OpaqueMediaTypes} {
		for _, mt := range lst {
			mt = strings.ToLower(mt)
			if bodyKindOf(mt) != kindOpaque {
				return nil, fmt.Errorf("opaque_media_types: %q is always parsed and validated", mt)
			}
			op.opaque[mt] = true
		}
	}
	for _, mt := range os.OpaqueMediaTypes {
		if op.body == nil || findMedia(op.body.media, strings.ToLower(mt)) == nil {
			return nil, fmt.Errorf("opaque_media_types: %q is not a declared request media type", mt)
		}
	}

	if o.Responses == nil || o.Responses.Len() == 0 {
		return nil, fmt.Errorf("no responses declared")
	}
	for _, code := range o.Responses.Keys() {
		ptr, err := c.raw.deref(opPtr + "/responses/" + ptrEscape(code))
		if err != nil {
			return nil, err
		}
		rs, err := c.compileResponse(ptr, code, o.Responses.Value(code).Value)
		if err != nil {
			return nil, fmt.Errorf("response %s: %w", code, err)
		}
		op.responses[strings.ToUpper(code)] = rs
	}

	if err := c.compileSecurity(op, o); err != nil {
		return nil, err
	}
	if op.rules, err = compileRules(append(append([]Rule{}, s.Rules...), os.Rules...)); err != nil {
		return nil, err
	}
	return op, nil
}

func countParams(segs []tmplSeg) int {
	n := 0
	for _, s := range segs {
		if s.name != "" {
			n++
		}
	}
	return n
}

func pick(op *bool, api bool) bool {
	if op != nil {
		return *op
	}
	return api
}

// basicResponseHeaders always pass the response header allow-list.
var basicResponseHeaders = []string{"Content-Type", "Content-Length", "Content-Language",
	"Cache-Control", "Expires", "Etag", "Last-Modified", "Vary"}

// isDeniedResponseHeader: removed even when declared or allowed.
func isDeniedResponseHeader(h string) bool {
	switch h {
	case "Server", "X-Powered-By", "X-Aspnet-Version", "X-Aspnetmvc-Version", "X-Runtime",
		"X-Sourcefiles", "X-Debug-Token", "X-Debug-Token-Link":
		return true
	}
	return strings.HasPrefix(h, "X-Debug-")
}

func headerList(names []string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for _, n := range names {
		if !isToken(n) {
			return nil, fmt.Errorf("%q is not a header name", n)
		}
		c := textproto.CanonicalMIMEHeaderKey(n)
		if !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	sort.Strings(out)
	return out, nil
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(isUnreserved(c) || strings.IndexByte("!#$%&'*+^`|", c) >= 0) {
			return false
		}
	}
	return true
}

type bodyKind uint8

const (
	kindOpaque bodyKind = iota
	kindJSON
	kindForm
	kindMultipart
)

// bodyKindOf says how a concrete media type (lower case, no parameters) is
// parsed.
func bodyKindOf(mt string) bodyKind {
	switch {
	case mt == "application/json" || strings.HasSuffix(mt, "+json") && strings.Count(mt, "/") == 1:
		return kindJSON
	case mt == "application/x-www-form-urlencoded":
		return kindForm
	case mt == "multipart/form-data":
		return kindMultipart
	}
	return kindOpaque
}

// findMedia picks the declared media type for mt: exact, then type/*, then
// */*.
func findMedia(list []*mediaSpec, mt string) *mediaSpec {
	for _, m := range list {
		if m.key == mt {
			return m
		}
	}
	if i := strings.IndexByte(mt, '/'); i > 0 {
		for _, m := range list {
			if m.key == mt[:i]+"/*" {
				return m
			}
		}
	}
	for _, m := range list {
		if m.key == "*/*" {
			return m
		}
	}
	return nil
}

func (c *apiCompiler) compileContent(ptr string, content openapi3.Content, response bool) ([]*mediaSpec, error) {
	var out []*mediaSpec
	for _, key := range sortedContentKeys(content) {
		mt, _, err := mime.ParseMediaType(key)
		if err != nil {
			return nil, fmt.Errorf("content %q: not a media type", key)
		}
		m := &mediaSpec{key: mt}
		mptr := ptr + "/content/" + ptrEscape(key)
		if content[key].Schema != nil {
			if m.schema, err = c.raw.compile(mptr+"/schema", response); err != nil {
				return nil, fmt.Errorf("content %q: %w", key, err)
			}
		}
		m.shape = c.shapes.of(m.schema)
		m.fields, m.arrays = map[string]typeSet{}, map[string]bool{}
		if m.schema != nil {
			for _, sub := range expand([]*jsonschema.Schema{m.schema}) {
				for n, ps := range sub.Properties {
					t := typesOf(ps)
					if t == tArray {
						m.arrays[n] = true
						if it := findSchema(ps, func(s *jsonschema.Schema) bool { return s.Items2020 != nil }); it != nil {
							t = typesOf(it.Items2020)
						} else {
							t = 0
						}
					}
					m.fields[n] |= t
				}
			}
		}
		if mt == "multipart/form-data" {
			m.parts = map[string]string{}
			for name, enc := range content[key].Encoding {
				if enc != nil && enc.ContentType != "" {
					m.parts[name] = strings.ToLower(enc.ContentType)
				}
			}
		}
		out = append(out, m)
	}
	sort.SliceStable(out, func(i, j int) bool { return wildness(out[i].key) < wildness(out[j].key) })
	return out, nil
}

func wildness(mt string) int {
	switch {
	case mt == "*/*":
		return 2
	case strings.HasSuffix(mt, "/*"):
		return 1
	}
	return 0
}

func sortedContentKeys(c openapi3.Content) []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (c *apiCompiler) compileBody(ptr string, rb *openapi3.RequestBody) (*bodySpec, error) {
	if len(rb.Content) == 0 {
		return nil, fmt.Errorf("no content declared")
	}
	media, err := c.compileContent(ptr, rb.Content, false)
	if err != nil {
		return nil, err
	}
	return &bodySpec{required: rb.Required, media: media}, nil
}

func (c *apiCompiler) compileResponse(ptr, code string, r *openapi3.Response) (*responseSpec, error) {
	rs := &responseSpec{key: strings.ToUpper(code)}
	if r == nil {
		return nil, fmt.Errorf("empty")
	}
	var err error
	if rs.media, err = c.compileContent(ptr, r.Content, true); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(r.Headers))
	for n := range r.Headers {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		h := r.Headers[n]
		if h == nil || h.Value == nil {
			continue
		}
		hptr, err := c.raw.deref(ptr + "/headers/" + ptrEscape(n))
		if err != nil {
			return nil, err
		}
		pr := h.Value.Parameter
		pr.Name, pr.In = n, openapi3.ParameterInHeader
		p, err := c.compileParamDir(hptr, &pr, true)
		if err != nil {
			return nil, fmt.Errorf("header %q: %w", n, err)
		}
		if p != nil && textproto.CanonicalMIMEHeaderKey(n) != "Content-Type" {
			rs.headers = append(rs.headers, p)
		}
	}
	return rs, nil
}

// responseFor finds the declared response for status: exact, then range
// ("2XX"), then "default".
func (op *operation) responseFor(status int) *responseSpec {
	if status < 100 || status > 599 {
		return nil
	}
	if rs := op.responses[strconv.Itoa(status)]; rs != nil {
		return rs
	}
	if rs := op.responses[strconv.Itoa(status/100)+"XX"]; rs != nil {
		return rs
	}
	return op.responses["DEFAULT"]
}
