package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/cordon-gateway/cordon/envelope"
	"github.com/nats-io/nkeys"
)

// keyRoles are the holders of keys: the four stages sign envelopes; every
// process, the audit shippers and the provisioning admin included, has a
// NATS user.
var keyRoles = []string{"frontend", "request-validator", "backend", "response-validator", "audit", "admin"}

func runKeys(_ context.Context, args []string, _ func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "generate" {
		return usageError{"usage: cordon keys generate --dir DIR [--link] [--force]"}
	}
	fs := newFlagSet("keys generate", stderr)
	dir := fs.String("dir", "keys", "directory to write the keys to (created 0700)")
	force := fs.Bool("force", false, "overwrite existing keys (a rotation: keep the old public keys in trust until every producer switched)")
	link := fs.Bool("link", false, "also write a link key per stage (<stage>.link), for signatures: hmac")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return err
	}
	var trust, nk, links strings.Builder
	for _, role := range keyRoles {
		if role != "audit" && role != "admin" {
			pub, err := writeSigningKey(filepath.Join(*dir, role+".key"), *force)
			if err != nil {
				return err
			}
			fmt.Fprintf(&trust, "  %s: [%q]\n", strings.ReplaceAll(role, "-", "_"), envelope.EncodePublicKey(pub))
			if *link {
				path := filepath.Join(*dir, role+".link")
				if err := writeSecret(path, envelope.MarshalLinkKey(envelope.GenerateLinkKey()), *force); err != nil {
					return err
				}
				fmt.Fprintf(&links, "  %s: [%q]\n", strings.ReplaceAll(role, "-", "_"), path)
			}
		}
		if role == "audit" {
			pub, err := writeSigningKey(filepath.Join(*dir, "audit.key"), *force)
			if err != nil {
				return err
			}
			fmt.Fprintf(&nk, "# audit checkpoint key (public): %s\n", envelope.EncodePublicKey(pub))
		}
		upub, err := writeNKey(filepath.Join(*dir, role+".nk"), *force)
		if err != nil {
			return err
		}
		fmt.Fprintf(&nk, "# %s NATS user: %s\n", role, upub)
	}
	fmt.Fprintf(stdout, "# Keys written to %s (private files are 0600). Paste into the deployment configuration:\ntrust:\n%s", *dir, trust.String())
	if *link {
		fmt.Fprintf(stdout, "# signatures: hmac: each stage reads its own link key and those of its producers;\n# the audit reads all four (docs/security.md, \"Link keys\").\nsignatures: hmac\nlink_keys:\n%s", links.String())
	}
	fmt.Fprint(stdout, nk.String())
	return nil
}

func writeSigningKey(path string, force bool) (ed25519.PublicKey, error) {
	pub, priv, err := envelope.GenerateKey()
	if err != nil {
		return nil, err
	}
	pem, err := envelope.MarshalPrivateKey(priv)
	if err != nil {
		return nil, err
	}
	if err := writeSecret(path, pem, force); err != nil {
		return nil, err
	}
	return pub, nil
}

func writeNKey(path string, force bool) (string, error) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		return "", err
	}
	seed, err := kp.Seed()
	if err != nil {
		return "", err
	}
	if err := writeSecret(path, append(seed, '\n'), force); err != nil {
		return "", err
	}
	return kp.PublicKey()
}

// writeSecret creates path with mode 0600, refusing to overwrite unless
// force is set.
func writeSecret(path string, data []byte, force bool) error {
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(path, flags, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%s exists (use --force to rotate)", path)
		}
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
