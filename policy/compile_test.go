package policy_test

import (
	"testing"
)

func TestCompileRealisticSpecs(t *testing.T) {
	p := compile30(t, baseSettings())
	if v := p.Version(); len(v) != 16 {
		t.Fatalf("version %q", v)
	}
	if p.Version() != compile30(t, baseSettings()).Version() {
		t.Fatal("version is not stable")
	}
	s := baseSettings()
	s.Request.AllowUndeclaredQuery = true
	if p.Version() == compile30(t, s).Version() {
		t.Fatal("version ignores settings")
	}
}
