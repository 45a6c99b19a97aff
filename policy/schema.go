package policy

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Every schema (bodies and parameters, requests and responses, OpenAPI 3.0
// and 3.1) is compiled once with santhosh-tekuri/jsonschema/v6 as JSON
// Schema 2020-12, straight from the raw document: the document is a
// jsonschema resource and each schema is compiled by its JSON pointer, so
// "#/components/schemas/X" references resolve as written. 3.0 documents are
// rewritten first (see convert30). External references are refused.

// rawDoc is the document as plain JSON values (json.Number for numbers),
// with two compilers: one over a request view of the document and one over
// a response view. In the request view a readOnly property is not
// "required" (OpenAPI: required applies to it in responses only); in the
// response view the same holds for writeOnly.
type rawDoc struct {
	root    any
	url     string // resource URL for jsonschema
	is30    bool
	schemas []string // pointers of every schema object
	reqC    *jsonschema.Compiler
	respC   *jsonschema.Compiler
}

func parseRawDoc(api API, is30 bool) (*rawDoc, error) {
	js, err := yaml.YAMLToJSON(api.Spec)
	if err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	root, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	d := &rawDoc{root: root, url: "cordon:///" + api.Name + "/openapi.json", is30: is30}
	if err := d.prepare(); err != nil {
		return nil, err
	}
	if d.reqC, err = d.compiler("readOnly"); err != nil {
		return nil, err
	}
	if d.respC, err = d.compiler("writeOnly"); err != nil {
		return nil, err
	}
	return d, nil
}

// compiler returns a compiler over a copy of the document in which
// properties flagged with flag are removed from "required".
func (d *rawDoc) compiler(flag string) (*jsonschema.Compiler, error) {
	view := &rawDoc{root: deepCopy(d.root)}
	for _, p := range d.schemas {
		n, _ := view.at(p)
		s, ok := n.(map[string]any)
		if !ok {
			continue
		}
		req, _ := s["required"].([]any)
		props, _ := s["properties"].(map[string]any)
		if len(req) == 0 || props == nil {
			continue
		}
		kept := req[:0:0]
		for _, r := range req {
			name, _ := r.(string)
			if !view.flagged(props[name], flag) {
				kept = append(kept, r)
			}
		}
		s["required"] = kept
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	c.UseLoader(refuseLoader{})
	for _, f := range oasFormats {
		c.RegisterFormat(f)
	}
	if err := c.AddResource(d.url, view.root); err != nil {
		return nil, err
	}
	return c, nil
}

// flagged reports whether schema s (following local $refs) sets flag.
func (d *rawDoc) flagged(s any, flag string) bool {
	for range 32 {
		m, ok := s.(map[string]any)
		if !ok {
			return false
		}
		if b, _ := m[flag].(bool); b {
			return true
		}
		ref, ok := m["$ref"].(string)
		if !ok || !strings.HasPrefix(ref, "#") {
			return false
		}
		if s, ok = d.at(ref[1:]); !ok {
			return false
		}
	}
	return false
}

func deepCopy(v any) any {
	switch n := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(n))
		for k, e := range n {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		l := make([]any, len(n))
		for i, e := range n {
			l[i] = deepCopy(e)
		}
		return l
	}
	return v
}

type refuseLoader struct{}

func (refuseLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("external reference %q: not supported, bundle the document", url)
}

// compile compiles the schema at pointer (RFC 6901, without "#") for one
// direction.
func (d *rawDoc) compile(pointer string, response bool) (*jsonschema.Schema, error) {
	c := d.reqC
	if response {
		c = d.respC
	}
	s, err := c.Compile(d.url + "#" + pointer)
	if err != nil {
		return nil, fmt.Errorf("schema %s: %w", pointer, err)
	}
	return s, nil
}

// at returns the node at pointer.
func (d *rawDoc) at(pointer string) (any, bool) {
	v := d.root
	if pointer == "" {
		return v, true
	}
	for _, tok := range strings.Split(pointer[1:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch n := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = n[tok]; !ok {
				return nil, false
			}
		case []any:
			i := 0
			if _, err := fmt.Sscan(tok, &i); err != nil || i < 0 || i >= len(n) {
				return nil, false
			}
			v = n[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// deref follows "$ref" on a non-schema object (parameter, request body,
// response, header, path item) and returns the pointer of the object that
// holds its content.
func (d *rawDoc) deref(pointer string) (string, error) {
	for range 32 {
		n, ok := d.at(pointer)
		if !ok {
			return "", fmt.Errorf("%s: no such node", pointer)
		}
		m, ok := n.(map[string]any)
		if !ok {
			return pointer, nil
		}
		ref, ok := m["$ref"].(string)
		if !ok {
			return pointer, nil
		}
		if !strings.HasPrefix(ref, "#") {
			return "", fmt.Errorf("%s: external reference %q not supported, bundle the document", pointer, ref)
		}
		pointer = ref[1:]
	}
	return "", fmt.Errorf("%s: reference chain too long", pointer)
}

func ptrEscape(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// prepare walks the document, finds every schema, refuses external
// references and unknown keywords, and rewrites 3.0 schemas to 2020-12.
func (d *rawDoc) prepare() error {
	var errs []error
	var walk func(v any, ptr string, schemaMap bool)
	walk = func(v any, ptr string, schemaMap bool) {
		switch n := v.(type) {
		case map[string]any:
			for _, k := range sortedKeys(n) {
				p := ptr + "/" + ptrEscape(k)
				switch {
				case schemaMap || k == "schema":
					if err := d.prepareSchema(n, k, p); err != nil {
						errs = append(errs, err)
					}
				case strings.HasPrefix(k, "x-") || k == "example" || k == "examples":
					continue
				case k == "$ref":
					if s, ok := n[k].(string); ok && !strings.HasPrefix(s, "#") {
						errs = append(errs, fmt.Errorf("%s: external reference %q not supported, bundle the document", p, s))
					}
				default:
					walk(n[k], p, k == "schemas" && ptr == "/components")
				}
			}
		case []any:
			for i, e := range n {
				walk(e, fmt.Sprintf("%s/%d", ptr, i), false)
			}
		}
	}
	walk(d.root, "", false)
	return errors.Join(errs...)
}

// knownKeywords are the JSON Schema 2020-12 and OpenAPI schema keywords.
// Anything else (not "x-") is a compile error: a misspelt "maxlength" must
// not silently allow everything.
var knownKeywords = map[string]bool{}

func init() {
	for _, k := range strings.Fields(`$schema $id $ref $anchor $dynamicRef $dynamicAnchor
		$vocabulary $comment $defs allOf anyOf oneOf not if then else dependentSchemas
		prefixItems items contains properties patternProperties additionalProperties
		propertyNames unevaluatedItems unevaluatedProperties type const enum multipleOf
		maximum exclusiveMaximum minimum exclusiveMinimum maxLength minLength pattern
		maxItems minItems uniqueItems maxContains minContains maxProperties minProperties
		required dependentRequired format contentEncoding contentMediaType contentSchema
		title description default deprecated readOnly writeOnly examples
		discriminator xml externalDocs example nullable`) {
		knownKeywords[k] = true
	}
}

// subschemaMaps and subschemaLists name keywords holding schemas.
var (
	subschemaOne   = []string{"not", "if", "then", "else", "items", "contains", "additionalProperties", "propertyNames", "unevaluatedItems", "unevaluatedProperties", "contentSchema"}
	subschemaList  = []string{"allOf", "anyOf", "oneOf", "prefixItems"}
	subschemaMap   = []string{"properties", "patternProperties", "dependentSchemas", "$defs"}
	annotations30  = []string{"discriminator", "xml", "externalDocs", "example", "deprecated"}
	only31Keywords = []string{"$schema", "$id", "$anchor", "$dynamicRef", "$dynamicAnchor", "$vocabulary", "$defs", "if", "then", "else", "dependentSchemas", "prefixItems", "contains", "propertyNames", "unevaluatedItems", "unevaluatedProperties", "const", "maxContains", "minContains", "dependentRequired", "contentEncoding", "contentMediaType", "contentSchema", "examples"}
)

// prepareSchema checks (and for 3.0 rewrites) the schema parent[key].
func (d *rawDoc) prepareSchema(parent map[string]any, key, ptr string) error {
	switch s := parent[key].(type) {
	case bool:
		if d.is30 {
			return fmt.Errorf("%s: boolean schema in an OpenAPI 3.0 document", ptr)
		}
		return nil
	case map[string]any:
		var errs []error
		d.schemas = append(d.schemas, ptr)
		if ref, ok := s["$ref"].(string); ok {
			if !strings.HasPrefix(ref, "#") {
				return fmt.Errorf("%s: external reference %q not supported, bundle the document", ptr, ref)
			}
			if d.is30 { // 3.0: siblings of $ref are ignored
				for k := range s {
					if k != "$ref" {
						delete(s, k)
					}
				}
				return nil
			}
		}
		for k := range s {
			if !knownKeywords[k] && !strings.HasPrefix(k, "x-") {
				errs = append(errs, fmt.Errorf("%s: unknown schema keyword %q", ptr, k))
			}
		}
		if d.is30 {
			for _, k := range only31Keywords {
				if _, ok := s[k]; ok {
					errs = append(errs, fmt.Errorf("%s: keyword %q is not OpenAPI 3.0", ptr, k))
				}
			}
			if err := convert30(s, ptr); err != nil {
				errs = append(errs, err)
			}
		} else if _, ok := s["nullable"]; ok {
			errs = append(errs, fmt.Errorf("%s: \"nullable\" is OpenAPI 3.0; use type: [..., \"null\"]", ptr))
		}
		for _, k := range subschemaOne {
			if _, ok := s[k]; ok {
				if _, isBool := s[k].(bool); isBool && (k == "additionalProperties" || !d.is30) {
					continue
				}
				if err := d.prepareSchema(s, k, ptr+"/"+k); err != nil {
					errs = append(errs, err)
				}
			}
		}
		for _, k := range subschemaList {
			if l, ok := s[k].([]any); ok {
				for i := range l {
					h := map[string]any{"x": l[i]}
					if err := d.prepareSchema(h, "x", fmt.Sprintf("%s/%s/%d", ptr, k, i)); err != nil {
						errs = append(errs, err)
					}
					l[i] = h["x"]
				}
			} else if _, ok := s[k]; ok {
				errs = append(errs, fmt.Errorf("%s/%s: want an array of schemas", ptr, k))
			}
		}
		for _, k := range subschemaMap {
			if m, ok := s[k].(map[string]any); ok {
				for _, name := range sortedKeys(m) {
					if err := d.prepareSchema(m, name, ptr+"/"+k+"/"+ptrEscape(name)); err != nil {
						errs = append(errs, err)
					}
				}
			} else if _, ok := s[k]; ok {
				errs = append(errs, fmt.Errorf("%s/%s: want an object of schemas", ptr, k))
			}
		}
		return errors.Join(errs...)
	default:
		return fmt.Errorf("%s: a schema must be an object", ptr)
	}
}

// convert30 rewrites one OpenAPI 3.0 schema object to JSON Schema 2020-12:
// nullable becomes a "null" type (3.0.3: enum is left as written, so an
// enum must list null itself), boolean exclusiveMinimum/Maximum become
// numeric bounds, and 3.0-only annotations are dropped.
func convert30(s map[string]any, ptr string) error {
	if n, ok := s["nullable"]; ok {
		b, isBool := n.(bool)
		if !isBool {
			return fmt.Errorf("%s/nullable: want a boolean", ptr)
		}
		delete(s, "nullable")
		if t, ok := s["type"].(string); ok && b {
			s["type"] = []any{t, "null"}
		}
	}
	for _, pair := range [][2]string{{"exclusiveMinimum", "minimum"}, {"exclusiveMaximum", "maximum"}} {
		ex, ok := s[pair[0]]
		if !ok {
			continue
		}
		b, isBool := ex.(bool)
		if !isBool {
			return fmt.Errorf("%s/%s: want a boolean in OpenAPI 3.0", ptr, pair[0])
		}
		delete(s, pair[0])
		if b {
			bound, ok := s[pair[1]]
			if !ok {
				return fmt.Errorf("%s/%s: true without %s", ptr, pair[0], pair[1])
			}
			s[pair[0]] = bound
			delete(s, pair[1])
		}
	}
	if t, ok := s["type"]; ok {
		if _, isString := t.(string); !isString {
			if _, isList := t.([]any); !isList || len(t.([]any)) != 2 { // only our own nullable rewrite
				return fmt.Errorf("%s/type: want a string in OpenAPI 3.0", ptr)
			}
		}
	}
	for _, k := range annotations30 {
		delete(s, k)
	}
	return nil
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// oasFormats are the OpenAPI formats JSON Schema does not define. int32 and
// int64 bound integers (so an overflowing id never reaches the upstream),
// byte is standard base64; float, double, binary and password are names
// only.
var oasFormats = []*jsonschema.Format{
	{Name: "int32", Validate: intRange(32)},
	{Name: "int64", Validate: intRange(64)},
	{Name: "byte", Validate: func(v any) error {
		s, ok := v.(string)
		if !ok {
			return nil
		}
		if _, err := base64.StdEncoding.Strict().DecodeString(s); err != nil {
			return errors.New("not standard base64")
		}
		return nil
	}},
	{Name: "float", Validate: func(any) error { return nil }},
	{Name: "double", Validate: func(any) error { return nil }},
	{Name: "binary", Validate: func(any) error { return nil }},
	{Name: "password", Validate: func(any) error { return nil }},
}

func intRange(bits uint) func(any) error {
	lo := new(big.Int).Neg(new(big.Int).Lsh(big.NewInt(1), bits-1))
	hi := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), bits-1), big.NewInt(1))
	return func(v any) error {
		n, ok := v.(json.Number)
		if !ok {
			return nil
		}
		r, ok := new(big.Rat).SetString(string(n))
		if !ok || !r.IsInt() {
			return nil // "type: integer" reports non-integers
		}
		if i := r.Num(); i.Cmp(lo) < 0 || i.Cmp(hi) > 0 {
			return fmt.Errorf("outside int%d", bits)
		}
		return nil
	}
}
