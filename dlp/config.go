package dlp

import (
	"fmt"
	"regexp"
	"slices"

	"github.com/cordon-gateway/cordon"
)

// Pattern is an operator-defined detector: a name (kebab-case, not a
// built-in name), an RE2 regular expression and an action.
type Pattern struct {
	Name   string
	Regex  string
	Action cordon.Action
}

// Config adjusts the built-in detectors and adds custom ones. The zero
// Config runs every built-in detector with its default action.
type Config struct {
	// Actions overrides a built-in detector's action by name.
	Actions map[string]cordon.Action
	// Disable turns built-in detectors off by name.
	Disable []string
	// Custom adds operator patterns, run after the built-in detectors.
	Custom []Pattern
}

// Info describes a built-in detector.
type Info struct {
	Name        string
	Action      cordon.Action // the default action
	Description string
}

// Detectors lists the built-in detectors in the order they run.
func Detectors() []Info {
	out := make([]Info, len(builtins))
	for i, d := range builtins {
		out[i] = Info{Name: d.name, Action: d.action, Description: d.desc}
	}
	return out
}

// Limits on custom patterns: operator input, but compiled into every
// response's hot path.
const (
	maxPatternName  = 64
	maxPatternRegex = 4096
)

var nameRE = regexp.MustCompile(`^[a-z0-9]+(?:-[a-z0-9]+)*$`)

// Compile checks cfg and builds a Scanner. Unknown detector names, invalid
// actions, and custom patterns that are unnamed, duplicated, invalid RE2 or
// able to match the empty string are errors.
func Compile(cfg Config) (*Scanner, error) {
	known := make(map[string]bool, len(builtins))
	for _, d := range builtins {
		known[d.name] = true
	}
	disabled := make(map[string]bool, len(cfg.Disable))
	for _, name := range cfg.Disable {
		if !known[name] {
			return nil, fmt.Errorf("dlp: disable: unknown detector %q", name)
		}
		disabled[name] = true
	}
	for name, a := range cfg.Actions {
		if !known[name] {
			return nil, fmt.Errorf("dlp: actions: unknown detector %q", name)
		}
		if disabled[name] {
			return nil, fmt.Errorf("dlp: actions: detector %q is also disabled", name)
		}
		if !validAction(a) {
			return nil, fmt.Errorf("dlp: actions: %s: action %s is not report, block or redact", name, a)
		}
	}

	s := &Scanner{keep: make(map[string]int)}
	for _, d := range builtins {
		if disabled[d.name] {
			continue
		}
		if a, ok := cfg.Actions[d.name]; ok {
			d.action = a
		}
		s.dets = append(s.dets, d)
		if d.keepDigits > 0 {
			s.keep[d.name] = d.keepDigits
		}
	}

	seen := make(map[string]bool, len(cfg.Custom))
	for i, p := range cfg.Custom {
		d, err := compilePattern(p)
		if err != nil {
			return nil, fmt.Errorf("dlp: custom[%d]: %w", i, err)
		}
		if known[p.Name] || seen[p.Name] {
			return nil, fmt.Errorf("dlp: custom[%d]: name %q is already taken", i, p.Name)
		}
		seen[p.Name] = true
		s.dets = append(s.dets, d)
	}
	s.compileRules()
	return s, nil
}

func validAction(a cordon.Action) bool {
	return slices.Contains([]cordon.Action{cordon.ActionReport, cordon.ActionBlock, cordon.ActionRedact}, a)
}

func compilePattern(p Pattern) (detector, error) {
	if len(p.Name) > maxPatternName || !nameRE.MatchString(p.Name) {
		return detector{}, fmt.Errorf("name %q: want kebab-case (a-z, 0-9, '-'), at most %d bytes", p.Name, maxPatternName)
	}
	if !validAction(p.Action) {
		return detector{}, fmt.Errorf("%s: action %s is not report, block or redact", p.Name, p.Action)
	}
	if p.Regex == "" || len(p.Regex) > maxPatternRegex {
		return detector{}, fmt.Errorf("%s: regex must be 1 to %d bytes", p.Name, maxPatternRegex)
	}
	compiled, err := regexp.Compile(p.Regex)
	if err != nil {
		return detector{}, fmt.Errorf("%s: %w", p.Name, err)
	}
	if compiled.Match(nil) {
		return detector{}, fmt.Errorf("%s: regex matches the empty string", p.Name)
	}
	return detector{
		name:   p.Name,
		desc:   "custom pattern",
		action: p.Action,
		rules:  []rule{{find: re{re: compiled}.finder()}},
	}, nil
}
