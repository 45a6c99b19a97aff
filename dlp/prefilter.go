package dlp

// prefilter finds which anchored rules can match a body in one pass: an
// Aho-Corasick automaton over all anchors, compiled to a dense DFA on
// byte classes. Anchors match ASCII case-insensitively here (a superset of
// what the rules need), so the prefilter may say yes for nothing, never no
// for a match.
type prefilter struct {
	class [256]uint8
	width int // number of byte classes; class 0 is every byte in no anchor
	// next[state*width+class] is the next state times width, complemented
	// (negative) when that state ends an anchor: the hot loop neither
	// multiplies nor loads out for most bytes.
	next []int32
	out  []uint64 // rules whose anchor ends in state (suffixes included)
}

func lowerASCII(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// newPrefilter builds the automaton; anchor i belongs to rule bit ids[i]
// (< 64). Anchors are short literals: states times classes stays far
// below the int32 range.
func newPrefilter(anchors []string, ids []int) *prefilter {
	p := &prefilter{width: 1}
	for _, a := range anchors {
		for i := 0; i < len(a); i++ {
			if c := lowerASCII(a[i]); p.class[c] == 0 {
				p.class[c] = uint8(p.width)
				p.width++
			}
		}
	}
	for c := 'A'; c <= 'Z'; c++ {
		p.class[c] = p.class[c+'a'-'A']
	}
	w := p.width
	row := func() []int32 {
		r := make([]int32, w)
		for i := range r {
			r[i] = -1
		}
		return r
	}
	rows := [][]int32{row()}
	out := []uint64{0}
	for i, a := range anchors {
		s := 0
		for j := 0; j < len(a); j++ {
			cl := p.class[lowerASCII(a[j])]
			if rows[s][cl] < 0 {
				rows = append(rows, row())
				out = append(out, 0)
				rows[s][cl] = int32(len(rows) - 1)
			}
			s = int(rows[s][cl])
		}
		out[s] |= 1 << ids[i]
	}
	// Breadth-first: failure links, then every missing edge follows the
	// failure state's edge, which is already complete.
	fail := make([]int32, len(rows))
	var queue []int32
	for cl := range w {
		if s := rows[0][cl]; s < 0 {
			rows[0][cl] = 0
		} else {
			queue = append(queue, s)
		}
	}
	for len(queue) > 0 {
		r := queue[0]
		queue = queue[1:]
		for cl := range w {
			s := rows[r][cl]
			if s < 0 {
				rows[r][cl] = rows[fail[r]][cl]
				continue
			}
			fail[s] = rows[fail[r]][cl]
			out[s] |= out[fail[s]]
			queue = append(queue, s)
		}
	}
	p.next = make([]int32, len(rows)*w)
	for s, r := range rows {
		for cl, t := range r {
			v := t * int32(w)
			if out[t] != 0 {
				v = ^v
			}
			p.next[s*w+cl] = v
		}
	}
	p.out = out
	return p
}

// scan returns the bits of the rules whose anchors occur in b. It stops
// early once every bit of all is found.
func (p *prefilter) scan(b []byte, all uint64) uint64 {
	var found uint64
	s, w := int32(0), int32(p.width)
	const chunk = 4096
	for len(b) > 0 {
		n := min(len(b), chunk)
		for _, c := range b[:n] {
			s = p.next[s+int32(p.class[c])]
			if s < 0 {
				s = ^s
				found |= p.out[s/w]
			}
		}
		if found == all {
			break
		}
		b = b[n:]
	}
	return found
}
