package policy

import (
	"fmt"
	"net/textproto"
	"sort"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// param is one compiled parameter (or response header).
type param struct {
	name       string // as declared; canonical MIME form for headers
	in         string
	required   bool
	allowEmpty bool
	style      string
	explode    bool
	kind       valueKind
	types      typeSet            // primitive
	items      typeSet            // array items
	props      map[string]typeSet // object properties
	schema     *jsonschema.Schema
	json       bool   // content: application/json
	pointer    string // "query/name", "header/X-Foo", ...
}

type valueKind uint8

const (
	valPrimitive valueKind = iota
	valArray
	valObject
)

// typeSet is a set of JSON types; zero means unknown (values stay strings).
type typeSet uint8

const (
	tString typeSet = 1 << iota
	tNumber
	tInteger
	tBoolean
	tNull
	tObject
	tArray
)

func typeSetOf(names []string) typeSet {
	var t typeSet
	for _, n := range names {
		switch n {
		case "string":
			t |= tString
		case "number":
			t |= tNumber
		case "integer":
			t |= tInteger
		case "boolean":
			t |= tBoolean
		case "null":
			t |= tNull
		case "object":
			t |= tObject
		case "array":
			t |= tArray
		}
	}
	return t
}

// typesOf returns the JSON types schema s admits, looking through $ref and
// allOf (first one that says), anyOf and oneOf (union). Zero: unknown.
func typesOf(s *jsonschema.Schema) typeSet {
	return typesOfDepth(s, 0)
}

func typesOfDepth(s *jsonschema.Schema, depth int) typeSet {
	if s == nil || depth > 16 {
		return 0
	}
	if s.Types != nil {
		return typeSetOf(s.Types.ToStrings())
	}
	if t := typesOfDepth(s.Ref, depth+1); t != 0 {
		return t
	}
	for _, a := range s.AllOf {
		if t := typesOfDepth(a, depth+1); t != 0 {
			return t
		}
	}
	var u typeSet
	for _, l := range [][]*jsonschema.Schema{s.AnyOf, s.OneOf} {
		for _, a := range l {
			t := typesOfDepth(a, depth+1)
			if t == 0 {
				return 0
			}
			u |= t
		}
	}
	return u
}

// findSchema returns the first schema reachable from s through $ref and
// allOf/anyOf/oneOf for which ok is true.
func findSchema(s *jsonschema.Schema, ok func(*jsonschema.Schema) bool) *jsonschema.Schema {
	seen := map[*jsonschema.Schema]bool{}
	var walk func(*jsonschema.Schema) *jsonschema.Schema
	walk = func(s *jsonschema.Schema) *jsonschema.Schema {
		if s == nil || seen[s] {
			return nil
		}
		seen[s] = true
		if ok(s) {
			return s
		}
		for _, l := range [][]*jsonschema.Schema{{s.Ref}, s.AllOf, s.AnyOf, s.OneOf} {
			for _, a := range l {
				if f := walk(a); f != nil {
					return f
				}
			}
		}
		return nil
	}
	return walk(s)
}

func (c *apiCompiler) compileParam(ptr string, p *openapi3.Parameter) (*param, error) {
	return c.compileParamDir(ptr, p, false)
}

// compileParamDir compiles a parameter or a response header (response true).
// It returns nil for header parameters that OpenAPI says to ignore.
func (c *apiCompiler) compileParamDir(ptr string, p *openapi3.Parameter, response bool) (*param, error) {
	name := p.Name
	if p.In == openapi3.ParameterInHeader {
		if !isToken(name) {
			return nil, fmt.Errorf("not a header name")
		}
		name = textproto.CanonicalMIMEHeaderKey(name)
		if !response && (name == "Accept" || name == "Content-Type" || name == "Authorization") {
			return nil, nil
		}
	}
	pr := &param{name: name, in: p.In, required: p.Required, allowEmpty: p.AllowEmptyValue,
		pointer: p.In + "/" + name}
	var err error
	switch {
	case p.Schema != nil && len(p.Content) == 0:
		if pr.schema, err = c.raw.compile(ptr+"/schema", response); err != nil {
			return nil, err
		}
	case p.Schema == nil && len(p.Content) == 1:
		for mt := range p.Content {
			if strings.ToLower(mt) != "application/json" {
				return nil, fmt.Errorf("content %q: only application/json parameters are supported", mt)
			}
			pr.json = true
			if p.Content[mt].Schema != nil {
				if pr.schema, err = c.raw.compile(ptr+"/content/"+ptrEscape(mt)+"/schema", response); err != nil {
					return nil, err
				}
			}
		}
		return pr, nil
	default:
		return nil, fmt.Errorf("want exactly one of schema and content")
	}
	sm, err := p.SerializationMethod()
	if err != nil {
		return nil, err
	}
	pr.style, pr.explode = sm.Style, sm.Explode
	t := typesOf(pr.schema)
	switch {
	case t == tArray:
		pr.kind = valArray
		if it := findSchema(pr.schema, func(s *jsonschema.Schema) bool { return s.Items2020 != nil }); it != nil {
			pr.items = typesOf(it.Items2020)
		}
		if pr.items&(tArray|tObject) != 0 {
			return nil, fmt.Errorf("arrays of arrays or objects are not supported in parameters; use content: application/json")
		}
	case t == tObject:
		pr.kind = valObject
		pr.props = map[string]typeSet{}
		seen := map[*jsonschema.Schema]bool{}
		findSchema(pr.schema, func(s *jsonschema.Schema) bool {
			if !seen[s] {
				seen[s] = true
				for n, ps := range s.Properties {
					pr.props[n] = typesOf(ps)
				}
			}
			return false
		})
		if len(pr.props) == 0 {
			return nil, fmt.Errorf("object parameters must declare their properties")
		}
		for n, pt := range pr.props {
			if pt&(tArray|tObject) != 0 {
				return nil, fmt.Errorf("property %q: nested arrays or objects are not supported in parameters; use content: application/json", n)
			}
		}
	case t&(tArray|tObject) != 0:
		return nil, fmt.Errorf("a parameter schema must be an array, an object or primitive, not a mix")
	default:
		pr.types = t
	}
	ok := false
	switch pr.in {
	case "path", "header":
		ok = pr.style == "simple" && pr.kind != valObject
	case "query":
		switch pr.style {
		case "form":
			ok = true
		case "spaceDelimited", "pipeDelimited":
			ok = pr.kind == valArray && !pr.explode
		case "deepObject":
			ok = pr.kind == valObject && pr.explode
		}
	case "cookie":
		ok = pr.style == "form" && (pr.kind == valPrimitive || pr.kind == valArray && !pr.explode)
	}
	if !ok {
		return nil, fmt.Errorf("style %q (explode %v) for a %s parameter of this type is not supported", pr.style, pr.explode, pr.in)
	}
	return pr, nil
}

// addQueryNames registers the query keys p accepts.
func (op *operation) addQueryNames(p *param) error {
	var keys []string
	switch {
	case p.kind == valObject && p.style == "deepObject":
		for n := range p.props {
			keys = append(keys, p.name+"["+n+"]")
		}
		op.deepObject = append(op.deepObject, p)
	case p.kind == valObject && p.explode:
		for n := range p.props {
			keys = append(keys, n)
		}
	default:
		keys = []string{p.name}
	}
	sort.Strings(keys)
	for _, k := range keys {
		if other, dup := op.queryNames[k]; dup {
			return fmt.Errorf("query key %q is also used by parameter %q", k, other.name)
		}
		op.queryNames[k] = p
	}
	return nil
}
