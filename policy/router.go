package policy

import (
	"fmt"
	"strings"
)

// router matches canonical path segments against one API's path templates.
// It is a segment trie: literal segments first, then segments mixing a
// literal prefix/suffix with one parameter ("{name}.json"), then whole-
// segment parameters; a failed branch backtracks. kin-openapi's routers are
// not used: they match *http.Request values against server URLs and hosts
// with one regexp per route and unescape on their own, while cordon must
// route exactly the canonical segments it validates and forwards.
type router struct {
	root node
}

type node struct {
	lit   map[string]*node
	mixed []*mixedEdge
	param *node
	route *route // a template ends here
}

type mixedEdge struct {
	prefix, suffix string
	next           *node
}

// route is one path template and its operations by method.
type route struct {
	template string
	segs     []tmplSeg
	ops      map[string]*operation
}

type tmplSeg struct {
	lit            string // literal segment (decoded), when name == ""
	name           string // parameter name
	prefix, suffix string // literal parts around the parameter
}

func parseTemplate(tmpl string) ([]tmplSeg, error) {
	if !strings.HasPrefix(tmpl, "/") {
		return nil, fmt.Errorf("path %q: must start with /", tmpl)
	}
	var segs []tmplSeg
	for i, raw := range strings.Split(tmpl[1:], "/") {
		open := strings.IndexByte(raw, '{')
		if open < 0 {
			if strings.IndexByte(raw, '}') >= 0 {
				return nil, fmt.Errorf("path %q: unbalanced brace", tmpl)
			}
			lit, _, err := decodeSegment(raw)
			if err != nil || lit == "." || lit == ".." || raw == "" && i != strings.Count(tmpl, "/")-1 {
				return nil, fmt.Errorf("path %q: segment %q is not a canonical path segment", tmpl, raw)
			}
			segs = append(segs, tmplSeg{lit: lit})
			continue
		}
		end := strings.IndexByte(raw, '}')
		if end < open || strings.Count(raw, "{") != 1 || strings.Count(raw, "}") != 1 || end == open+1 {
			return nil, fmt.Errorf("path %q: segment %q: want at most one {parameter} per segment", tmpl, raw)
		}
		s := tmplSeg{name: raw[open+1 : end], prefix: raw[:open], suffix: raw[end+1:]}
		for _, lit := range []string{s.prefix, s.suffix} {
			if d, _, err := decodeSegment(lit); err != nil || d != lit {
				return nil, fmt.Errorf("path %q: segment %q: literal part must not need escaping", tmpl, raw)
			}
		}
		segs = append(segs, s)
	}
	return segs, nil
}

func (r *router) add(rt *route) error {
	n := &r.root
	for _, s := range rt.segs {
		switch {
		case s.name == "":
			if n.lit == nil {
				n.lit = map[string]*node{}
			}
			if n.lit[s.lit] == nil {
				n.lit[s.lit] = &node{}
			}
			n = n.lit[s.lit]
		case s.prefix == "" && s.suffix == "":
			if n.param == nil {
				n.param = &node{}
			}
			n = n.param
		default:
			var e *mixedEdge
			for _, m := range n.mixed {
				if m.prefix == s.prefix && m.suffix == s.suffix {
					e = m
				}
			}
			if e == nil {
				e = &mixedEdge{prefix: s.prefix, suffix: s.suffix, next: &node{}}
				n.mixed = append(n.mixed, e)
			}
			n = e.next
		}
	}
	if n.route != nil {
		return fmt.Errorf("paths %q and %q are the same template", n.route.template, rt.template)
	}
	n.route = rt
	return nil
}

// match returns the operation for method on segs. If some template matches
// the path but none of the matching ones has the method, pathFound is true.
func (r *router) match(method string, segs []string) (op *operation, pathFound bool) {
	var found bool
	op = r.root.find(method, segs, &found)
	return op, found || op != nil
}

func (n *node) find(method string, segs []string, found *bool) *operation {
	if len(segs) == 0 {
		if n.route == nil {
			return nil
		}
		*found = true
		return n.route.ops[method]
	}
	s, rest := segs[0], segs[1:]
	if c := n.lit[s]; c != nil {
		if op := c.find(method, rest, found); op != nil {
			return op
		}
	}
	for _, m := range n.mixed {
		if len(s) > len(m.prefix)+len(m.suffix) && strings.HasPrefix(s, m.prefix) && strings.HasSuffix(s, m.suffix) {
			if op := m.next.find(method, rest, found); op != nil {
				return op
			}
		}
	}
	if n.param != nil && s != "" {
		return n.param.find(method, rest, found)
	}
	return nil
}

// pathValues extracts the parameter values of rt from matching segments.
func (rt *route) pathValues(segs []string, dst map[string]string) {
	for i, s := range rt.segs {
		if s.name != "" {
			dst[s.name] = segs[i][len(s.prefix) : len(segs[i])-len(s.suffix)]
		}
	}
}
