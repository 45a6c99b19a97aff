package dlp

import (
	"bytes"
	"cmp"
	"regexp"
	"slices"

	"github.com/cordon-gateway/cordon"
)

// Scanner runs a compiled set of detectors. It is immutable and safe for
// concurrent use.
type Scanner struct {
	dets   []detector
	rules  []compiledRule
	pre    *prefilter
	anchor uint64         // bits of every anchored rule
	keep   map[string]int // detector name -> trailing digits Redact keeps
}

type compiledRule struct {
	det  int // index in dets
	bit  int // prefilter bit, -1 for rules without anchors (always run)
	find func(body []byte, emit func(start, end int))
}

// Match is one finding in a body: bytes [Start, End) matched Detector,
// whose configured action is Action.
type Match struct {
	Detector string
	Action   cordon.Action
	Start    int
	End      int
}

// detector is one built-in or custom detector: one or more rules.
type detector struct {
	name   string
	desc   string
	action cordon.Action
	rules  []rule
	// keepDigits is how many trailing digits Redact leaves visible.
	keepDigits int
}

// rule is one way a detector matches.
type rule struct {
	// anchors: the rule runs only if the body contains one of them (ASCII
	// case-insensitively); every match must contain one. None: it always
	// runs.
	anchors []string
	// find reports candidate matches, in any order.
	find func(body []byte, emit func(start, end int))
}

// maxAnchoredRules is the width of the prefilter's bit set.
const maxAnchoredRules = 64

func (s *Scanner) compileRules() {
	var anchors []string
	var ids []int
	bit := 0
	for i, d := range s.dets {
		for _, r := range d.rules {
			cr := compiledRule{det: i, bit: -1, find: r.find}
			if len(r.anchors) > 0 && bit < maxAnchoredRules {
				cr.bit = bit
				s.anchor |= 1 << bit
				for _, a := range r.anchors {
					anchors = append(anchors, a)
					ids = append(ids, bit)
				}
				bit++
			}
			s.rules = append(s.rules, cr)
		}
	}
	s.pre = newPrefilter(anchors, ids)
}

// Scan returns every match in body: non-overlapping, sorted by Start.
func (s *Scanner) Scan(body []byte) []Match {
	present := s.pre.scan(body, s.anchor)
	var ms []Match
	for _, r := range s.rules {
		if r.bit >= 0 && present&(1<<r.bit) == 0 {
			continue
		}
		d := &s.dets[r.det]
		r.find(body, func(start, end int) {
			if 0 <= start && start < end && end <= len(body) {
				ms = append(ms, Match{Detector: d.name, Action: d.action, Start: start, End: end})
			}
		})
	}
	return resolve(ms)
}

func severity(a cordon.Action) int {
	switch a {
	case cordon.ActionBlock:
		return 3
	case cordon.ActionRedact:
		return 2
	}
	return 1
}

// resolve sorts ms by Start and removes overlaps: of two overlapping
// matches the one with the stronger action wins, else the one sorted first
// (earlier, then longer, then from the detector that runs first).
func resolve(ms []Match) []Match {
	if len(ms) < 2 {
		return ms
	}
	slices.SortStableFunc(ms, func(a, b Match) int {
		if c := cmp.Compare(a.Start, b.Start); c != 0 {
			return c
		}
		if c := cmp.Compare(b.End, a.End); c != 0 {
			return c
		}
		return cmp.Compare(severity(b.Action), severity(a.Action))
	})
	out := ms[:1]
	for _, m := range ms[1:] {
		last := &out[len(out)-1]
		if m.Start >= last.End {
			out = append(out, m)
			continue
		}
		// m starts at or after last.Start, so it cannot overlap anything
		// before last: replacing last keeps out sorted and disjoint.
		if severity(m.Action) > severity(last.Action) {
			*last = m
		}
	}
	return out
}

// re describes how a regular-expression rule reports its matches.
type re struct {
	re *regexp.Regexp
	// before, if set, must hold for the bytes before the match: it stands
	// in for a leading \b or ^, which would defeat regexp's literal-prefix
	// scan.
	before func(body []byte, start int) bool
	// extendLeft and extendRight widen the reported span over adjacent
	// bytes they accept.
	extendLeft, extendRight func(c byte) bool
	// valid, if set, must accept the reported span.
	valid func(span []byte) bool
	// atFold, if set, is an ASCII case-insensitive literal that starts
	// every match. The regexp (which must then begin with ^) runs anchored
	// at each occurrence, on at most maxLen bytes, skipping occurrences
	// inside the previous match. This is for expressions regexp cannot
	// prefix-scan (case-insensitive ones): an unanchored run would step
	// its NFA over the whole body.
	atFold string
	maxLen int
}

// finder reports the matches of x.re, narrowed to the first capture group
// that took part (the whole match if there is none).
func (x re) finder() func([]byte, func(int, int)) {
	// report checks and emits the match loc (relative to off); it returns
	// where the match, extended, ends.
	report := func(body []byte, off int, loc []int, emit func(int, int)) int {
		start, end := loc[0], loc[1]
		for g := 2; g+1 < len(loc); g += 2 {
			if loc[g] >= 0 {
				start, end = loc[g], loc[g+1]
				break
			}
		}
		start, end = off+start, off+end
		if x.extendLeft != nil {
			for start > 0 && x.extendLeft(body[start-1]) {
				start--
			}
		}
		if x.extendRight != nil {
			for end < len(body) && x.extendRight(body[end]) {
				end++
			}
		}
		if start < end && (x.valid == nil || x.valid(body[start:end])) {
			emit(start, end)
		}
		return max(end, off+loc[1])
	}
	if x.atFold != "" {
		return func(body []byte, emit func(int, int)) {
			last := 0
			for _, p := range indexAllFold(body, x.atFold) {
				if p < last || x.before != nil && !x.before(body, p) {
					continue
				}
				if loc := x.re.FindSubmatchIndex(body[p:min(len(body), p+x.maxLen)]); loc != nil {
					last = report(body, p, loc, emit)
				}
			}
		}
	}
	return func(body []byte, emit func(int, int)) {
		for _, loc := range x.re.FindAllSubmatchIndex(body, -1) {
			if x.before == nil || x.before(body, loc[0]) {
				report(body, 0, loc, emit)
			}
		}
	}
}

// indexAllFold returns the sorted offsets of every ASCII case-insensitive
// occurrence of lower (lower-case ASCII) in b.
func indexAllFold(b []byte, lower string) []int {
	var out []int
	if lower == "" {
		return nil
	}
	firsts := []byte{lower[0]}
	if c := lower[0]; c >= 'a' && c <= 'z' {
		firsts = append(firsts, c-'a'+'A')
	}
	for _, c := range firsts {
		for off := 0; ; {
			i := bytes.IndexByte(b[off:], c)
			if i < 0 || len(b)-(off+i) < len(lower) {
				break
			}
			if equalFoldASCII(b[off+i+1:off+i+len(lower)], lower[1:]) {
				out = append(out, off+i)
			}
			off += i + 1
		}
	}
	slices.Sort(out)
	return out
}

func equalFoldASCII(b []byte, lower string) bool {
	for i := 0; i < len(lower); i++ {
		if lowerASCII(b[i]) != lower[i] {
			return false
		}
	}
	return true
}

// Context checks standing in for a leading \b or ^.

// afterNonWord: the match does not continue a word.
func afterNonWord(b []byte, i int) bool { return i == 0 || !isWord(b[i-1]) }

// afterNonWordOrEscape also accepts a JSON \t or \n escape before the match
// ("\tat com.x.Y(...)").
func afterNonWordOrEscape(b []byte, i int) bool {
	return afterNonWord(b, i) || i >= 2 && b[i-2] == '\\' && (b[i-1] == 't' || b[i-1] == 'n')
}

// atLineStart: the match starts a line, a string, or follows a JSON \n.
func atLineStart(b []byte, i int) bool {
	return i == 0 || b[i-1] == '\n' || b[i-1] == '"' || i >= 2 && b[i-2] == '\\' && b[i-1] == 'n'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }

// isWord reports an ASCII letter, digit or underscore.
func isWord(c byte) bool {
	return isDigit(c) || isUpper(c) || c >= 'a' && c <= 'z' || c == '_'
}
