package audit

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/cordon-gateway/cordon/audit/trail"
	"github.com/cordon-gateway/cordon/envelope"
)

// KeyPath is where the audit signing key lives: key_file, else
// <dataDir>/audit.key.
func (c *Config) KeyPath(dataDir string) string {
	if c.KeyFile != "" {
		return c.KeyFile
	}
	return filepath.Join(dataDir, "audit.key")
}

// CheckpointPath is the external checkpoint directory: checkpoint_dir, else
// <dataDir>/audit-checkpoints.
func (c *Config) CheckpointPath(dataDir string) string {
	if c.CheckpointDir != "" {
		return c.CheckpointDir
	}
	return filepath.Join(dataDir, "audit-checkpoints")
}

// LoadKey reads the audit signing key at path. With create set (`cordon
// dev`) a missing key is generated and written (0600, never overwriting);
// in production a missing key is an error: a new key would start a log no
// earlier checkpoint can vouch for.
func LoadKey(path string, create bool) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		return envelope.ParsePrivateKey(b)
	}
	if !create || !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("audit key: %w", err)
	}
	_, priv, err := envelope.GenerateKey()
	if err != nil {
		return nil, err
	}
	pem, err := envelope.MarshalPrivateKey(priv)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("audit key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit key: %w", err)
	}
	if _, err := f.Write(pem); err != nil {
		f.Close()
		return nil, fmt.Errorf("audit key: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("audit key: %w", err)
	}
	return priv, nil
}

// NewShipperFromConfig builds a shipper for src from the deployment's audit
// section: capture rules, the audit key (priv), the producer keys, and the
// defaults. Shippers of several buses may share keys; each gets its own
// capturer.
func NewShipperFromConfig(cfg Config, dataDir string, src Source, store Writer, priv ed25519.PrivateKey,
	keys *Keyring, logger *slog.Logger) (*Shipper, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	signer, err := trail.NewSigner(priv)
	if err != nil {
		return nil, err
	}
	capt, err := NewCapturer(cfg.Capture, keys, MaskKey(priv))
	if err != nil {
		return nil, err
	}
	return NewShipper(ShipperConfig{
		Source: src, Store: store, Capturer: capt, Signer: signer,
		CheckpointDir: cfg.CheckpointPath(dataDir), CheckpointInterval: cfg.CheckpointInterval,
		BatchSize: cfg.BatchSize, FetchWait: cfg.FetchWait, GapTimeout: cfg.GapTimeout, Logger: logger,
	})
}
