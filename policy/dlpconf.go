package policy

import (
	"fmt"
	"sort"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/dlp"
)

func parseAction(s string, def cordon.Action) (cordon.Action, error) {
	switch s {
	case "":
		return def, nil
	case "block":
		return cordon.ActionBlock, nil
	case "redact":
		return cordon.ActionRedact, nil
	case "report":
		return cordon.ActionReport, nil
	}
	return 0, fmt.Errorf("action %q: want block, redact or report", s)
}

// compileDLP turns the YAML settings into a dlp.Scanner.
func compileDLP(s DLPSettings) (*dlp.Scanner, error) {
	cfg := dlp.Config{Disable: s.Disable}
	if len(s.Actions) > 0 {
		cfg.Actions = map[string]cordon.Action{}
		names := make([]string, 0, len(s.Actions))
		for n := range s.Actions {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			a, err := parseAction(s.Actions[n], 0)
			if err != nil || s.Actions[n] == "" {
				return nil, fmt.Errorf("actions.%s: %q: want block, redact or report", n, s.Actions[n])
			}
			cfg.Actions[n] = a
		}
	}
	for i, p := range s.Custom {
		a, err := parseAction(p.Action, cordon.ActionBlock)
		if err != nil {
			return nil, fmt.Errorf("custom[%d] (%s): %w", i, p.Name, err)
		}
		cfg.Custom = append(cfg.Custom, dlp.Pattern{Name: p.Name, Regex: p.Regex, Action: a})
	}
	return dlp.Compile(cfg)
}
