package audit

import (
	"errors"
	"fmt"
	"time"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/audit/trail"
)

// Config is the `audit:` section of the deployment configuration. The zero
// value is a working configuration: embedded store and checkpoints under
// the data directory, redacted bodies, credentials masked.
type Config struct {
	// DSN of the PostgreSQL audit database ("postgres://…"). Empty: the
	// embedded store, a single file <data_dir>/audit.db.
	DSN string `yaml:"dsn"`
	// CheckpointDir receives a copy of a signed checkpoint every
	// checkpoint_interval, one file each, never overwritten. Point it at a
	// place the database administrator cannot rewrite (another host's
	// mount, a bucket synced elsewhere). Default <data_dir>/audit-checkpoints.
	CheckpointDir string `yaml:"checkpoint_dir"`
	// KeyFile is the audit signing key: Ed25519, PKCS#8 PEM. Default
	// <data_dir>/audit.key (created by `cordon dev` when missing).
	KeyFile string `yaml:"key_file"`
	// CheckpointInterval is how often a checkpoint is copied to
	// checkpoint_dir (every committed batch is signed in the database).
	// Default 1m.
	CheckpointInterval time.Duration `yaml:"checkpoint_interval"`
	// BatchSize is the most records written per transaction. Default 1000.
	BatchSize int `yaml:"batch_size"`
	// FetchWait is the longest the shipper waits to fill a batch. Default 200ms.
	FetchWait time.Duration `yaml:"fetch_wait"`
	// GapTimeout is how long the shipper waits for a missing stream
	// sequence before recording the gap and moving on (the message was
	// removed from the stream, e.g. by a limit). Default 2m; it must exceed
	// the audit consumer's ack wait, after which JetStream redelivers.
	GapTimeout time.Duration `yaml:"gap_timeout"`
	// RolePrefix names the PostgreSQL roles (<prefix>_owner, _writer,
	// _reader, _retention). Default cordon_audit.
	RolePrefix string `yaml:"role_prefix"`
	// Capture says how much of each body is kept.
	Capture CaptureConfig `yaml:"capture"`
}

// CaptureConfig chooses, per bus and per operation, how bodies are kept:
//
//	full    the body as it was on the bus
//	hash    only its SHA-256 and length
//	redact  the body with every data-loss detector match masked (default)
//
// The mode for a record is operations[operation] if set, else
// buses[bus name] if set, else default. Credentials in headers
// (Authorization, Proxy-Authorization, Cookie, Set-Cookie, API-key and any
// header whose name contains auth, token, secret, key, session, password,
// cookie, credential, signature, jwt or bearer) and in query parameters of
// the same names are never stored in clear in any mode: they become a keyed
// digest. Bodies larger than max_body are kept as hash only.
type CaptureConfig struct {
	Default    string            `yaml:"default"`
	Buses      map[string]string `yaml:"buses"`
	Operations map[string]string `yaml:"operations"`
	// SecretHeaders and SecretParams add names to mask (case-insensitive).
	SecretHeaders []string `yaml:"secret_headers"`
	SecretParams  []string `yaml:"secret_params"`
	// MaxBody is the largest body stored, in bytes. Default 1 MiB.
	MaxBody int64 `yaml:"max_body"`
	// DeferSignatures leaves the Ed25519 check of a record whose envelope
	// is kept verbatim to `cordon audit verify` (the record says
	// "unchecked"), saving one verification per message on the shipper's
	// machine. Records whose envelope is not kept (hash capture, masked
	// credentials) are always verified at ingest, since nothing could
	// check them later. Default false.
	DeferSignatures bool `yaml:"defer_signatures"`
}

// Defaults.
const (
	DefaultCheckpointInterval = time.Minute
	DefaultBatchSize          = 1000
	DefaultFetchWait          = 200 * time.Millisecond
	DefaultGapTimeout         = 2 * time.Minute
	DefaultMaxBody            = 1 << 20
)

// Validate checks c without touching files or the network.
func (c *Config) Validate() error {
	if c.BatchSize < 0 || c.BatchSize > 100_000 {
		return fmt.Errorf("audit: batch_size %d: want 1-100000", c.BatchSize)
	}
	if c.CheckpointInterval < 0 || c.FetchWait < 0 || c.GapTimeout < 0 {
		return errors.New("audit: durations must not be negative")
	}
	return c.Capture.validate()
}

func (c *CaptureConfig) validate() error {
	if c.Default != "" {
		if _, err := trail.ParseCapture(c.Default); err != nil {
			return fmt.Errorf("audit: capture.default: %w", err)
		}
	}
	for b, m := range c.Buses {
		if _, err := cordon.ParseBus(b); err != nil {
			return fmt.Errorf("audit: capture.buses: %w", err)
		}
		if _, err := trail.ParseCapture(m); err != nil {
			return fmt.Errorf("audit: capture.buses.%s: %w", b, err)
		}
	}
	for op, m := range c.Operations {
		if _, err := trail.ParseCapture(m); err != nil {
			return fmt.Errorf("audit: capture.operations.%s: %w", op, err)
		}
	}
	if c.MaxBody < 0 {
		return errors.New("audit: capture.max_body must not be negative")
	}
	return nil
}

// mode is the capture mode for a record (validated config assumed).
func (c *CaptureConfig) mode(b cordon.Bus, operation string) trail.Capture {
	if operation != "" {
		if m, ok := c.Operations[operation]; ok {
			v, _ := trail.ParseCapture(m)
			return v
		}
	}
	for name, m := range c.Buses {
		if nb, err := cordon.ParseBus(name); err == nil && nb == b {
			v, _ := trail.ParseCapture(m)
			return v
		}
	}
	if c.Default != "" {
		v, _ := trail.ParseCapture(c.Default)
		return v
	}
	return trail.CaptureRedact
}

func (c *CaptureConfig) maxBody() int64 {
	if c.MaxBody == 0 {
		return DefaultMaxBody
	}
	return c.MaxBody
}

func orDuration(v, def time.Duration) time.Duration {
	if v == 0 {
		return def
	}
	return v
}

func orInt(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}
