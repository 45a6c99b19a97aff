package deploy_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/cordon-gateway/cordon/deployment"
)

// TestExampleConfigurationsParse keeps the shipped configurations in step
// with the configuration format.
func TestExampleConfigurationsParse(t *testing.T) {
	files, _ := filepath.Glob("examples/*.yaml")
	files = append(files, "cordon.yaml")
	want := map[string]deployment.Mode{"examples/full.yaml": deployment.ModeFull,
		"examples/single-nats.yaml": deployment.ModeSingleNATS, "examples/single-validation.yaml": deployment.ModeSingleValidation,
		"cordon.yaml": deployment.ModeFull}
	if len(files) != len(want) {
		t.Fatalf("examples: %v", files)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := deployment.Parse(data, func(string) string { return "" })
		if err != nil {
			t.Errorf("%s:\n%v", f, err)
			continue
		}
		if cfg.Mode != want[f] {
			t.Errorf("%s: mode %s, want %s", f, cfg.Mode, want[f])
		}
	}
}
