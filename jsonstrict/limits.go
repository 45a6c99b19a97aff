package jsonstrict

import (
	"strconv"
	"strings"
)

// Limits bounds what Parse accepts. A zero or negative field means the safe
// default of DefaultLimits.
type Limits struct {
	MaxDepth     int // nested arrays and objects; a scalar document has depth 0
	MaxMembers   int // members of one object
	MaxArrayLen  int // elements of one array
	MaxStringLen int // bytes of one decoded string or key
	MaxNumberLen int // bytes of one number literal
	MaxBytes     int // bytes of the whole input
}

// Default limits.
const (
	DefaultMaxDepth     = 32
	DefaultMaxMembers   = 1000
	DefaultMaxArrayLen  = 10000
	DefaultMaxStringLen = 1 << 20
	DefaultMaxNumberLen = 64
	DefaultMaxBytes     = 8 << 20
)

// DefaultLimits returns the safe defaults.
func DefaultLimits() Limits {
	return Limits{
		MaxDepth:     DefaultMaxDepth,
		MaxMembers:   DefaultMaxMembers,
		MaxArrayLen:  DefaultMaxArrayLen,
		MaxStringLen: DefaultMaxStringLen,
		MaxNumberLen: DefaultMaxNumberLen,
		MaxBytes:     DefaultMaxBytes,
	}
}

func (l Limits) withDefaults() Limits {
	def := func(v, d int) int {
		if v <= 0 {
			return d
		}
		return v
	}
	return Limits{
		MaxDepth:     def(l.MaxDepth, DefaultMaxDepth),
		MaxMembers:   def(l.MaxMembers, DefaultMaxMembers),
		MaxArrayLen:  def(l.MaxArrayLen, DefaultMaxArrayLen),
		MaxStringLen: def(l.MaxStringLen, DefaultMaxStringLen),
		MaxNumberLen: def(l.MaxNumberLen, DefaultMaxNumberLen),
		MaxBytes:     def(l.MaxBytes, DefaultMaxBytes),
	}
}

// Rule ids, stable: they appear in findings, audit rows and problem bodies.
const (
	RuleSyntax           = "json.syntax"
	RuleDuplicateKey     = "json.duplicate-key"
	RuleCaseDuplicateKey = "json.case-duplicate-key"
	RuleInvalidUTF8      = "json.invalid-utf8"
	RuleLoneSurrogate    = "json.lone-surrogate"
	RuleTrailingData     = "json.trailing-data"
	RuleNumberOverflow   = "json.number-overflow"
	RuleNumberPrecision  = "json.number-precision"
	RuleDepth            = "json.depth"
	RuleMembers          = "json.members"
	RuleArrayLength      = "json.array-length"
	RuleStringLength     = "json.string-length"
	RuleNumberLength     = "json.number-length"
	RuleSize             = "json.size"
	RuleUnsupportedType  = "json.unsupported-type"
)

// Error is what Parse and AppendCanonical return. It carries no text from
// the input other than the pointer (whose keys are the client's own).
type Error struct {
	Rule    string // stable id, e.g. "json.duplicate-key"
	Pointer string // RFC 6901 pointer to the failing value; "" is the root
	Offset  int    // byte offset in the input; -1 from AppendCanonical
}

func (e *Error) Error() string {
	p := e.Pointer
	if p == "" {
		p = "(root)"
	}
	if e.Offset < 0 {
		return "jsonstrict: " + e.Rule + " at " + p
	}
	return "jsonstrict: " + e.Rule + " at " + p + " (offset " + strconv.Itoa(e.Offset) + ")"
}

// failure is an error under construction: the pointer is collected in
// reverse while the recursion unwinds, so the success path pays nothing.
type failure struct {
	rule string
	off  int
	rev  []string
}

func (f *failure) in(token string) *failure {
	f.rev = append(f.rev, token)
	return f
}

func (f *failure) err() *Error {
	var b strings.Builder
	for i := len(f.rev) - 1; i >= 0; i-- {
		b.WriteByte('/')
		b.WriteString(escapePointer(f.rev[i]))
	}
	return &Error{Rule: f.rule, Pointer: b.String(), Offset: f.off}
}

var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")

func escapePointer(tok string) string {
	if !strings.ContainsAny(tok, "~/") {
		return tok
	}
	return pointerEscaper.Replace(tok)
}
