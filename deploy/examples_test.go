package deploy_test

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/cordon-gateway/cordon/deployment"
	"github.com/cordon-gateway/cordon/envelope"
)

// placeholder is how the shipped files mark the public keys an operator
// pastes from `cordon keys generate`; as they stand they are refused.
var placeholder = regexp.MustCompile(`[A-Z-]+-PUBLIC-KEY-BASE64`)

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
	pub, _, err := envelope.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	key := []byte(envelope.EncodePublicKey(pub))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !placeholder.Match(data) {
			t.Errorf("%s: no public key placeholder", f)
		}
		if _, err := deployment.Parse(data, func(string) string { return "" }); err == nil {
			t.Errorf("%s: accepted with placeholders for its public keys", f)
		}
		data = placeholder.ReplaceAll(data, key)
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
