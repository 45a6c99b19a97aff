package policy

import (
	"strings"
	"testing"
)

// TestCompileTurnsAParserPanicIntoAnError: a panic in a parser Compile
// relies on is an error, so that a hot reload keeps the running policy
// instead of crashing the gateway.
func TestCompileTurnsAParserPanicIntoAnError(t *testing.T) {
	orig := compileAll
	t.Cleanup(func() { compileAll = orig })
	compileAll = func([]API) (*Policy, error) {
		var m map[string]int
		m["boom"]++ // what a nil dereference in a YAML library looks like from here
		return nil, nil
	}
	p, err := Compile([]API{{Name: "a", BasePath: "/", Spec: []byte("openapi: 3.0.0")}})
	if p != nil || err == nil || !strings.Contains(err.Error(), "could not be parsed") {
		t.Fatalf("Compile = %v, %v; want no policy and a parse error", p, err)
	}
}
