package policy

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// A shape is what a schema declares about object members and array
// elements at one instance location, merged over every subschema that can
// apply there ($ref, allOf, anyOf, oneOf, if/then/else, dependentSchemas).
// JSON Schema validation alone cannot say "this member is not part of the
// contract" unless the author wrote additionalProperties:false everywhere
// (and that breaks allOf composition); shapes let cordon treat every object
// as closed by default, reject keys that differ from a declared name only
// in case, refuse readOnly members in requests and writeOnly members in
// responses, and remove undeclared members when minimising.
//
// A member is declared when some applicable schema names it in properties,
// matches it with patternProperties, or has a schema-valued
// additionalProperties (a map). additionalProperties: true declares nothing.
type shape struct {
	props    map[string]*propShape
	names    []string // declared names, sorted, for the case check
	addl     *shape   // schema-valued additionalProperties, merged
	patterns []patShape
	items    *shape
	prefix   []*shape
}

type propShape struct {
	shape     *shape
	readOnly  bool
	writeOnly bool
}

type patShape struct {
	re    jsonschema.Regexp
	shape *shape
}

var emptyShape = &shape{}

// shapeBuilder builds shapes at compile time; the result is read-only.
type shapeBuilder struct {
	memo map[string]*shape
}

func (b *shapeBuilder) of(s *jsonschema.Schema) *shape {
	if s == nil {
		return emptyShape
	}
	return b.set([]*jsonschema.Schema{s})
}

// expand returns every schema that applies at the same instance location.
func expand(ss []*jsonschema.Schema) []*jsonschema.Schema {
	seen := map[*jsonschema.Schema]bool{}
	var out []*jsonschema.Schema
	var add func(s *jsonschema.Schema)
	add = func(s *jsonschema.Schema) {
		if s == nil || seen[s] {
			return
		}
		seen[s] = true
		out = append(out, s)
		add(s.Ref)
		if s.DynamicRef != nil {
			add(s.DynamicRef.Ref)
		}
		add(s.RecursiveRef)
		for _, l := range [][]*jsonschema.Schema{s.AllOf, s.AnyOf, s.OneOf} {
			for _, a := range l {
				add(a)
			}
		}
		add(s.If)
		add(s.Then)
		add(s.Else)
		for _, n := range sortedSchemaKeys(s.DependentSchemas) {
			add(s.DependentSchemas[n])
		}
	}
	for _, s := range ss {
		add(s)
	}
	return out
}

func sortedSchemaKeys(m map[string]*jsonschema.Schema) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (b *shapeBuilder) set(ss []*jsonschema.Schema) *shape {
	all := expand(ss)
	if len(all) == 0 {
		return emptyShape
	}
	ids := make([]string, len(all))
	for i, s := range all {
		ids[i] = fmt.Sprintf("%p", s)
	}
	sort.Strings(ids)
	key := strings.Join(ids, ",")
	if b.memo == nil {
		b.memo = map[string]*shape{}
	}
	if sh := b.memo[key]; sh != nil {
		return sh
	}
	sh := &shape{}
	b.memo[key] = sh // before recursing: schemas may be recursive

	kids := map[string][]*jsonschema.Schema{}
	var addl, items []*jsonschema.Schema
	var prefix [][]*jsonschema.Schema
	for _, s := range all {
		for _, n := range sortedSchemaKeys(s.Properties) {
			kids[n] = append(kids[n], s.Properties[n])
		}
		if a, ok := s.AdditionalProperties.(*jsonschema.Schema); ok {
			addl = append(addl, a)
		}
		if s.Items2020 != nil {
			items = append(items, s.Items2020)
		}
		if it, ok := s.Items.(*jsonschema.Schema); ok {
			items = append(items, it)
		}
		for i, p := range s.PrefixItems {
			for len(prefix) <= i {
				prefix = append(prefix, nil)
			}
			prefix[i] = append(prefix[i], p)
		}
	}
	// patterns in a stable order
	for _, s := range all {
		res := make([]jsonschema.Regexp, 0, len(s.PatternProperties))
		for re := range s.PatternProperties {
			res = append(res, re)
		}
		sort.Slice(res, func(i, j int) bool { return res[i].String() < res[j].String() })
		for _, re := range res {
			sh.patterns = append(sh.patterns, patShape{re: re, shape: b.set([]*jsonschema.Schema{s.PatternProperties[re]})})
		}
	}
	if len(kids) > 0 {
		sh.props = make(map[string]*propShape, len(kids))
		for n, ks := range kids {
			ps := &propShape{shape: b.set(ks)}
			for _, k := range expand(ks) {
				ps.readOnly = ps.readOnly || k.ReadOnly
				ps.writeOnly = ps.writeOnly || k.WriteOnly
			}
			sh.props[n] = ps
			sh.names = append(sh.names, n)
		}
		sort.Strings(sh.names)
	}
	if len(addl) > 0 {
		sh.addl = b.set(addl)
	}
	if len(items) > 0 {
		sh.items = b.set(items)
	}
	for _, p := range prefix {
		sh.prefix = append(sh.prefix, b.set(p))
	}
	return sh
}

// member returns the shape for key k and whether k is declared.
func (sh *shape) member(k string) (*propShape, *shape, bool) {
	if p := sh.props[k]; p != nil {
		return p, p.shape, true
	}
	for _, pt := range sh.patterns {
		if pt.re.MatchString(k) {
			return nil, pt.shape, true
		}
	}
	if sh.addl != nil {
		return nil, sh.addl, true
	}
	return nil, emptyShape, false
}

func (sh *shape) element(i int) *shape {
	if i < len(sh.prefix) {
		return sh.prefix[i]
	}
	if sh.items != nil {
		return sh.items
	}
	return emptyShape
}

// caseTwin returns the declared name equal to k under case folding.
func (sh *shape) caseTwin(k string) (string, bool) {
	for _, n := range sh.names {
		if strings.EqualFold(n, k) {
			return n, true
		}
	}
	return "", false
}

// shapeWalk checks a parsed value against a shape.
type shapeWalk struct {
	allowUndeclared bool // request relaxation: undeclared members pass
	response        bool // writeOnly (not readOnly) members are refused
	minimize        bool // response: remove instead of refusing
	sorted          bool // visit object members in key order (deterministic)
	path            []string
	dropped         []violation // members removed by minimize
}

// violation is a member that breaks the shape. kind: "undeclared",
// "case-mismatch", "read-only", "write-only".
type violation struct {
	kind    string
	pointer string
}

// check walks v; on a violation it re-walks in key order so that the
// violation reported is deterministic (the first in key order).
func (w *shapeWalk) check(v any, sh *shape) *violation {
	if w.minimize {
		w.sorted = false
		viol := w.walk(v, sh)
		sort.Slice(w.dropped, func(i, j int) bool { return w.dropped[i].pointer < w.dropped[j].pointer })
		return viol
	}
	if viol := w.walk(v, sh); viol == nil {
		return nil
	}
	w.sorted, w.path = true, w.path[:0]
	return w.walk(v, sh)
}

func (w *shapeWalk) walk(v any, sh *shape) *violation {
	switch n := v.(type) {
	case map[string]any:
		if w.sorted {
			for _, k := range sortedAnyKeys(n) {
				if viol := w.member(n, k, sh); viol != nil {
					return viol
				}
			}
			return nil
		}
		for k := range n {
			if viol := w.member(n, k, sh); viol != nil {
				return viol
			}
		}
	case []any:
		for i, e := range n {
			if !isContainer(e) {
				continue
			}
			w.path = append(w.path, itoa(i))
			viol := w.walk(e, sh.element(i))
			w.path = w.path[:len(w.path)-1]
			if viol != nil {
				return viol
			}
		}
	}
	return nil
}

func (w *shapeWalk) member(obj map[string]any, k string, sh *shape) *violation {
	ps, child, declared := sh.member(k)
	kind := ""
	switch {
	case !declared:
		if _, twin := sh.caseTwin(k); twin {
			kind = "case-mismatch"
		} else if !w.allowUndeclared || w.response {
			kind = "undeclared"
		}
	case ps != nil && ps.readOnly && !w.response:
		kind = "read-only"
	case ps != nil && ps.writeOnly && w.response:
		kind = "write-only"
	}
	if kind != "" {
		if w.minimize && w.response {
			w.dropped = append(w.dropped, violation{kind: kind, pointer: pointerOf(w.path, k)})
			delete(obj, k)
			return nil
		}
		return &violation{kind: kind, pointer: pointerOf(w.path, k)}
	}
	e := obj[k]
	if !isContainer(e) {
		return nil
	}
	w.path = append(w.path, k)
	viol := w.walk(e, child)
	w.path = w.path[:len(w.path)-1]
	return viol
}

func isContainer(v any) bool {
	switch v.(type) {
	case map[string]any, []any:
		return true
	}
	return false
}

func sortedAnyKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// pointerOf builds an RFC 6901 pointer from tokens plus a last one.
func pointerOf(path []string, last string) string {
	var b strings.Builder
	for _, t := range path {
		b.WriteByte('/')
		b.WriteString(ptrEscape(t))
	}
	b.WriteByte('/')
	b.WriteString(ptrEscape(last))
	return b.String()
}

func joinPointer(path []string) string {
	var b strings.Builder
	for _, t := range path {
		b.WriteByte('/')
		b.WriteString(ptrEscape(t))
	}
	return b.String()
}

func itoa(i int) string { return strconv.Itoa(i) }
