package policy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

// API is one protected API: its OpenAPI 3.0/3.1 document and cordon's
// settings for it.
type API struct {
	Name     string   // token, used in operation ids "name/operationId"
	BasePath string   // e.g. "/" or "/v1"; requests are matched under it
	Spec     []byte   // the OpenAPI document (YAML or JSON)
	SpecPath string   // for error messages and for resolving relative files
	Settings Settings // cordon's policy for this API
}

// Policy is a compiled, immutable set of APIs. It is safe for concurrent
// use; a reload compiles a new Policy and swaps it in.
type Policy struct {
	apis    []*apiPolicy // longest base path first
	ops     map[string]*operation
	version string
	// the most generous URL and header limits, checked before routing
	maxURLBytes, maxHdrCount, maxHdrBytes int
}

func (p *Policy) maxURL() int         { return p.maxURLBytes }
func (p *Policy) maxHeaderCount() int { return p.maxHdrCount }
func (p *Policy) maxHeaderBytes() int { return p.maxHdrBytes }

type apiPolicy struct {
	name     string
	basePath string
	base     []string // decoded base path segments; none for "/"
	router   router
	is30     bool
	settings Settings
	reqMode  Mode
	limits   reqLimits // API level, for checks before routing
	ops      []*operation
	title    string
	version  string // info.version
}

const (
	opRequest  = "policy.request"
	opResponse = "policy.response"
)

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// Compile validates every document and setting and compiles them. Errors
// name the file, the operation and the field. A panic in one of the
// parsers it relies on (YAML, OpenAPI, JSON Schema, CEL) is returned as an
// error: a bad document must be refused, and on a hot reload the running
// policy kept, never the process crashed.
func Compile(apis []API) (p *Policy, err error) {
	defer func() {
		if r := recover(); r != nil {
			p, err = nil, fmt.Errorf("policy: a document could not be parsed (the parser failed: %v)", r)
		}
	}()
	return compileAll(apis)
}

// compileAll is compile; a variable so that a test can make it panic.
var compileAll = compile

func compile(apis []API) (*Policy, error) {
	if len(apis) == 0 {
		return nil, errors.New("policy: no APIs")
	}
	p := &Policy{ops: map[string]*operation{}}
	h := sha256.New()
	seenName := map[string]bool{}
	seenBase := map[string]string{}
	var errs []error
	for _, api := range apis {
		where := api.SpecPath
		if where == "" {
			where = "api " + api.Name
		}
		ap, files, err := compileAPI(api)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
			continue
		}
		if seenName[ap.name] {
			errs = append(errs, fmt.Errorf("%s: API name %q used twice", where, ap.name))
		}
		seenName[ap.name] = true
		if other, ok := seenBase[ap.basePath]; ok {
			errs = append(errs, fmt.Errorf("%s: base path %q already used by API %q", where, ap.basePath, other))
		}
		seenBase[ap.basePath] = ap.name
		p.apis = append(p.apis, ap)
		p.maxURLBytes = max(p.maxURLBytes, ap.limits.url)
		p.maxHdrCount = max(p.maxHdrCount, ap.limits.headerCount)
		p.maxHdrBytes = max(p.maxHdrBytes, ap.limits.headerBytes)
		for _, op := range ap.ops {
			p.ops[op.id] = op
		}
		settings, _ := json.Marshal(api.Settings)
		for _, part := range [][]byte{[]byte(api.Name), []byte(ap.basePath), api.Spec, settings} {
			fmt.Fprintf(h, "%d:", len(part))
			h.Write(part)
		}
		for _, f := range files {
			fmt.Fprintf(h, "%d:", len(f))
			h.Write(f)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	sort.SliceStable(p.apis, func(i, j int) bool { return len(p.apis[i].base) > len(p.apis[j].base) })
	p.version = hex.EncodeToString(h.Sum(nil))[:16]
	return p, nil
}

// Version is a short stable hash of every input: documents, settings and
// the files they name.
func (p *Policy) Version() string { return p.version }

// Operation returns the operation id ("api/operationId") that method and
// the escaped path route to, for per-operation rate limits at the
// frontend. It normalises the path exactly as CheckRequest does.
func (p *Policy) Operation(method, escapedPath string) (op string, ok bool) {
	_, segs, err := NormalizePath(escapedPath)
	if err != nil {
		return "", false
	}
	ap, rest := p.api(segs)
	if ap == nil {
		return "", false
	}
	o, _ := ap.router.match(method, rest)
	if o == nil {
		return "", false
	}
	return o.id, true
}

// api finds the API whose base path prefixes segs and returns the rest.
func (p *Policy) api(segs []string) (*apiPolicy, []string) {
	for _, ap := range p.apis {
		if len(segs) < len(ap.base) {
			continue
		}
		match := true
		for i, b := range ap.base {
			if segs[i] != b {
				match = false
				break
			}
		}
		if match {
			return ap, segs[len(ap.base):]
		}
	}
	return nil, nil
}

// compileAPI compiles one API; files are the contents of every file read,
// for the version hash.
func compileAPI(api API) (*apiPolicy, [][]byte, error) {
	if !nameRE.MatchString(api.Name) {
		return nil, nil, fmt.Errorf("API name %q: want a token of a-z, 0-9, _ and -", api.Name)
	}
	ap := &apiPolicy{name: api.Name, settings: api.Settings}
	base := api.BasePath
	if base == "" {
		base = "/"
	}
	canon, segs, err := NormalizePath(base)
	if err != nil || canon != base {
		return nil, nil, fmt.Errorf("base path %q: must be a canonical path", api.BasePath)
	}
	base = strings.TrimSuffix(base, "/")
	if base == "" {
		base, segs = "/", nil
	} else {
		segs = segs[:len(segs)-boolInt(strings.HasSuffix(api.BasePath, "/"))]
	}
	ap.basePath, ap.base = base, segs

	loader := openapi3.NewLoader()
	loader.IsExternalRefsAllowed = false
	doc, err := loader.LoadFromData(api.Spec)
	if err != nil {
		return nil, nil, fmt.Errorf("load: %w", err)
	}
	if !doc.IsOpenAPI30() && !doc.IsOpenAPI31OrLater() || doc.IsOpenAPI32OrLater() {
		return nil, nil, fmt.Errorf("openapi %q: want 3.0.x or 3.1.x", doc.OpenAPI)
	}
	if d := doc.JSONSchemaDialect; d != "" && d != "https://spec.openapis.org/oas/3.1/dialect/base" && d != "https://json-schema.org/draft/2020-12/schema" {
		return nil, nil, fmt.Errorf("jsonSchemaDialect %q: not supported", d)
	}
	if err := doc.Validate(context.Background(), openapi3.DisableExamplesValidation()); err != nil {
		return nil, nil, fmt.Errorf("invalid document: %w", err)
	}
	ap.is30 = doc.IsOpenAPI30()
	if doc.Info != nil {
		ap.title, ap.version = doc.Info.Title, doc.Info.Version
	}
	raw, err := parseRawDoc(api, ap.is30)
	if err != nil {
		return nil, nil, err
	}
	if ap.reqMode, err = resolveMode(api.Settings.Request.Mode, ModeEnforce); err != nil {
		return nil, nil, fmt.Errorf("request.mode: %w", err)
	}
	if ap.limits, err = resolveReqLimits(api.Settings.Request.Limits, 0); err != nil {
		return nil, nil, fmt.Errorf("request.limits: %w", err)
	}
	c := &apiCompiler{api: api, ap: ap, doc: doc, raw: raw, dir: filepath.Dir(api.SpecPath)}
	if err := c.compileAuth(); err != nil {
		return nil, nil, err
	}
	if c.dlp, err = compileDLP(api.Settings.Response.DLP); err != nil {
		return nil, nil, fmt.Errorf("response.dlp: %w", err)
	}
	seenOp := map[string]string{}
	var errs []error
	for _, path := range doc.Paths.InMatchingOrder() {
		item := doc.Paths.Value(path)
		segs, err := parseTemplate(path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		rt := &route{template: path, segs: segs, ops: map[string]*operation{}}
		itemPtr, err := raw.deref("/paths/" + ptrEscape(path))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for method, o := range item.Operations() {
			if method != strings.ToUpper(method) || method == http.MethodConnect {
				errs = append(errs, fmt.Errorf("%s %s: method not supported", method, path))
				continue
			}
			where := fmt.Sprintf("%s %s", method, path)
			if o.OperationID == "" {
				errs = append(errs, fmt.Errorf("%s: no operationId (cordon needs one for policy, metrics and logs)", where))
				continue
			}
			if !opIDRE.MatchString(o.OperationID) {
				errs = append(errs, fmt.Errorf("%s: operationId %q: want letters, digits, _ . and -", where, o.OperationID))
				continue
			}
			if prev, dup := seenOp[o.OperationID]; dup {
				errs = append(errs, fmt.Errorf("%s: operationId %q also used by %s", where, o.OperationID, prev))
				continue
			}
			seenOp[o.OperationID] = where
			op, err := c.compileOperation(rt, item, itemPtr, method, o)
			if err != nil {
				errs = append(errs, fmt.Errorf("operation %s (%s): %w", o.OperationID, where, err))
				continue
			}
			rt.ops[method] = op
			ap.ops = append(ap.ops, op)
		}
		if err := ap.router.add(rt); err != nil {
			errs = append(errs, err)
		}
	}
	for id := range api.Settings.Operations {
		if _, ok := seenOp[id]; !ok {
			errs = append(errs, fmt.Errorf("operations.%s: no such operationId in the document", id))
		}
	}
	sort.Slice(ap.ops, func(i, j int) bool { return ap.ops[i].id < ap.ops[j].id })
	if err := errors.Join(errs...); err != nil {
		return nil, nil, err
	}
	return ap, c.files, nil
}

var opIDRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,128}$`)

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func resolveMode(m, def Mode) (Mode, error) {
	switch m {
	case "":
		return def, nil
	case ModeEnforce, ModeMonitor, ModeOff:
		return m, nil
	}
	return "", fmt.Errorf("mode %q: want enforce, monitor or off", m)
}
