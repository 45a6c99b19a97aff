package audit_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/audit"
	"github.com/cordon-gateway/cordon/audit/audittest"
	"github.com/goccy/go-yaml"
)

func TestConfigDecodesStrictly(t *testing.T) {
	const doc = `
dsn: postgres://shipper@db/audit
checkpoint_dir: /mnt/elsewhere
key_file: /etc/cordon/audit.key
checkpoint_interval: 30s
batch_size: 500
fetch_wait: 100ms
gap_timeout: 5m
role_prefix: acme_audit
capture:
  default: hash
  buses: {dirty-req: redact, "4": full}
  operations: {"bank/createPayment": hash}
  secret_headers: [X-Internal]
  secret_params: [sig]
  max_body: 65536
`
	var c audit.Config
	if err := yaml.UnmarshalWithOptions([]byte(doc), &c, yaml.Strict()); err != nil {
		t.Fatal(err)
	}
	if c.CheckpointInterval != 30*time.Second || c.FetchWait != 100*time.Millisecond || c.BatchSize != 500 ||
		c.Capture.Buses["4"] != "full" || c.Capture.MaxBody != 65536 {
		t.Fatalf("decoded %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalWithOptions([]byte("dns: x\n"), &c, yaml.Strict()); err == nil {
		t.Fatal("unknown key accepted")
	}
}

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		c    audit.Config
	}{
		{"negative batch", audit.Config{BatchSize: -1}},
		{"huge batch", audit.Config{BatchSize: 1 << 20}},
		{"negative duration", audit.Config{GapTimeout: -time.Second}},
		{"bad default mode", audit.Config{Capture: audit.CaptureConfig{Default: "all"}}},
		{"bad bus", audit.Config{Capture: audit.CaptureConfig{Buses: map[string]string{"bus9": "full"}}}},
		{"bad bus mode", audit.Config{Capture: audit.CaptureConfig{Buses: map[string]string{"1": "none"}}}},
		{"bad operation mode", audit.Config{Capture: audit.CaptureConfig{Operations: map[string]string{"a/b": ""}}}},
		{"negative max body", audit.Config{Capture: audit.CaptureConfig{MaxBody: -1}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.c.Validate(); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	var zero audit.Config
	if err := zero.Validate(); err != nil {
		t.Fatalf("zero config: %v", err)
	}
	if zero.KeyPath("/d") != "/d/audit.key" || zero.CheckpointPath("/d") != "/d/audit-checkpoints" {
		t.Fatal("default paths")
	}
}

func TestLoadKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "audit.key")
	if _, err := audit.LoadKey(path, false); err == nil {
		t.Fatal("missing key accepted without create")
	}
	k1, err := audit.LoadKey(path, true)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := audit.LoadKey(path, true)
	if err != nil || !k1.Equal(k2) {
		t.Fatalf("second load: %v, same key %v", err, k1.Equal(k2))
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v %v", fi.Mode(), err)
	}
}

func TestNewShipperFromConfig(t *testing.T) {
	store := openSQLite(t)
	f := audittest.NewFixture(t, store, nil)
	src := &memSource{bus: cordon.BusDirtyReq}
	if _, err := audit.NewShipperFromConfig(audit.Config{}, t.TempDir(), src, store, f.AuditKey, f.Keys, nil); err != nil {
		t.Fatal(err)
	}
	bad := audit.Config{Capture: audit.CaptureConfig{Default: "everything"}}
	if _, err := audit.NewShipperFromConfig(bad, t.TempDir(), src, store, f.AuditKey, f.Keys, nil); err == nil {
		t.Fatal("bad config accepted")
	}
}
