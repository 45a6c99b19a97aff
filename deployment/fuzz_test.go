package deployment_test

import (
	"os"
	"testing"

	"github.com/cordon-gateway/cordon/deployment"
)

// FuzzParse: configuration loading never panics, and whatever it accepts
// is valid and has its defaults filled.
func FuzzParse(f *testing.F) {
	f.Add([]byte(minimal))
	f.Add([]byte("mode: sideways\n"))
	f.Add([]byte("limits: {max_body_bytes: 1GiB}\n" + minimal))
	for _, p := range []string{"../deploy/examples/full.yaml", "../deploy/examples/single-nats.yaml", "../deploy/cordon.yaml"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := deployment.Parse(data, func(string) string { return "" })
		if err != nil {
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("Parse accepted an invalid configuration: %v", err)
		}
		if cfg.Timeout == 0 || cfg.Prefix == "" || cfg.Limits.MaxBodyBytes == 0 {
			t.Fatalf("defaults missing: %+v", cfg)
		}
	})
}
