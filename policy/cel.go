package policy

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"

	"github.com/cordon-gateway/cordon"
)

// celRule is one compiled CEL rule. Rules are compiled once per API,
// type-checked to return bool, and evaluated with a cost limit; an
// evaluation error (a missing key, the cost limit) denies, like false.
type celRule struct {
	name string
	expr string
	prg  cel.Program
}

// RuleCostLimit bounds the evaluation cost of one rule (CEL cost units,
// roughly one per operation and per element visited).
const RuleCostLimit = 100_000

var ruleNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

func celEnv() (*cel.Env, error) {
	dyn := cel.MapType(cel.StringType, cel.DynType)
	return cel.NewEnv(
		cel.Variable("method", cel.StringType),
		cel.Variable("path", cel.StringType),
		cel.Variable("operation", cel.StringType),
		cel.Variable("subject", cel.StringType),
		cel.Variable("path_params", dyn),
		cel.Variable("query", dyn),
		cel.Variable("headers", dyn),
		cel.Variable("cookies", dyn),
		cel.Variable("claims", dyn),
		cel.Variable("body", cel.DynType),
	)
}

func compileRules(rules []Rule) ([]*celRule, error) {
	if len(rules) == 0 {
		return nil, nil
	}
	env, err := celEnv()
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []*celRule
	for i, r := range rules {
		if !ruleNameRE.MatchString(r.Name) {
			return nil, fmt.Errorf("rules[%d]: name %q: want a token of a-z, 0-9, _ and -", i, r.Name)
		}
		if seen[r.Name] {
			return nil, fmt.Errorf("rules[%d]: name %q used twice", i, r.Name)
		}
		seen[r.Name] = true
		ast, iss := env.Compile(r.Expr)
		if iss.Err() != nil {
			return nil, fmt.Errorf("rules.%s: %w", r.Name, iss.Err())
		}
		if ast.OutputType() != cel.BoolType {
			return nil, fmt.Errorf("rules.%s: expression must return bool, not %s", r.Name, ast.OutputType())
		}
		prg, err := env.Program(ast, cel.CostLimit(RuleCostLimit), cel.EvalOptions(cel.OptOptimize))
		if err != nil {
			return nil, fmt.Errorf("rules.%s: %w", r.Name, err)
		}
		out = append(out, &celRule{name: r.Name, expr: r.Expr, prg: prg})
	}
	return out, nil
}

// checkRules evaluates the operation's rules; the first that is not true
// denies with rule "cel.<name>".
func (r *reqCheck) checkRules() *cordon.Error {
	if len(r.op.rules) == 0 {
		return nil
	}
	claims := r.who.claims
	if claims == nil {
		claims = map[string]any{}
	}
	vars := map[string]any{
		"method":      r.m.Request.Method,
		"path":        r.path,
		"operation":   r.op.id,
		"subject":     r.who.subject,
		"path_params": celMap(r.pathVals),
		"query":       celMap(r.queryVals),
		"headers":     celMap(r.headerVals),
		"cookies":     celMap(r.cookieVals),
		"claims":      toCEL(map[string]any(claims)),
		"body":        toCEL(r.bodyVal),
	}
	for _, rule := range r.op.rules {
		out, _, err := rule.prg.Eval(vars)
		if err != nil {
			return r.fail(cordon.KindDenied, "cel."+rule.name, "", err)
		}
		if out != types.True {
			return r.fail(cordon.KindDenied, "cel."+rule.name, "", nil)
		}
	}
	return nil
}

func celMap(m map[string]any) any {
	if m == nil {
		return map[string]any{}
	}
	return toCEL(m)
}

// toCEL converts parsed values for CEL: json.Number becomes int64 when it
// is an integer that fits, float64 otherwise.
func toCEL(v any) any {
	switch n := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
			return i
		}
		f, _ := strconv.ParseFloat(string(n), 64)
		return f
	case map[string]any:
		out := make(map[string]any, len(n))
		for k, e := range n {
			out[k] = toCEL(e)
		}
		return out
	case []any:
		out := make([]any, len(n))
		for i, e := range n {
			out[i] = toCEL(e)
		}
		return out
	}
	return v
}
