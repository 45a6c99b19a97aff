// Package auditcli is `cordon audit`: the operator's commands over an audit
// store (migrate, verify, trace, search, export, tail, retain). It parses
// flags and prints; the work is package audit's. Stores are opened through
// functions that cmd/cordon injects, so this package imports no adapter.
package auditcli

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/audit"
	"github.com/cordon-gateway/cordon/envelope"
)

// Env is what the commands need from the process and from cmd/cordon.
type Env struct {
	Getenv         func(string) string
	Stdout, Stderr io.Writer
	// Open opens the store at dsn; "" is the embedded store under dataDir.
	Open func(ctx context.Context, dsn, dataDir string) (audit.Store, error)
	// Migrate creates or updates the schema and says what it did.
	Migrate func(ctx context.Context, dsn, dataDir string, opts MigrateOptions) (string, error)
	// Config, DataDir and Trust come from the deployment configuration when
	// there is one; flags override them.
	Config   audit.Config
	DataDir  string
	Trust    map[string][]string
	LinkKeys map[string][]envelope.LinkKey
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// MigrateOptions are the PostgreSQL role settings of `cordon audit migrate`.
type MigrateOptions struct {
	RolePrefix                               string
	GrantWriter, GrantReader, GrantRetention []string
}

// UsageError is a mistake on the command line.
type UsageError struct{ Msg string }

func (e UsageError) Error() string { return e.Msg }

const usage = `Usage: cordon audit COMMAND [flags]

  migrate                 create or update the audit schema (PostgreSQL: roles,
                          tables, triggers; embedded: the database file)
  verify                  recompute every bus's log and check it against the signed
                          checkpoints, the external copies and the producer keys;
                          exits non-zero naming the first bad record
  trace REQUEST_ID        a request's timeline across the four buses
  search                  records matching filters (table or --json)
  export                  records matching filters as JSON lines, streamed
  tail                    follow new records as they are stored
  retain --before DATE    remove whole partitions before DATE, leaving signed boundaries

Every command takes --audit-dsn (env CORDON_AUDIT_DSN; default: the embedded
store under --data). Run "cordon audit COMMAND -h" for its flags.
`

// Run runs `cordon audit` with the arguments after "audit".
func Run(ctx context.Context, args []string, env Env) error {
	if env.Now == nil {
		env.Now = time.Now
	}
	if env.Getenv == nil {
		env.Getenv = func(string) string { return "" }
	}
	if len(args) == 0 {
		fmt.Fprint(env.Stderr, usage)
		return UsageError{"audit: no command given"}
	}
	cmds := map[string]func(context.Context, []string, Env) error{
		"migrate": runMigrate, "verify": runVerify, "trace": runTrace, "search": runSearch,
		"export": runExport, "tail": runTail, "retain": runRetain,
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(env.Stdout, usage)
		return nil
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		fmt.Fprint(env.Stderr, usage)
		return UsageError{fmt.Sprintf("audit: unknown command %q", args[0])}
	}
	return cmd(ctx, args[1:], env)
}

// common holds the flags every command shares.
type common struct {
	env     Env
	dsn     string
	dataDir string
}

func newFlags(name string, env Env) (*flag.FlagSet, *common) {
	fs := flag.NewFlagSet("cordon audit "+name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	c := &common{env: env}
	dsn := env.Config.DSN
	if v := env.Getenv("CORDON_AUDIT_DSN"); v != "" {
		dsn = v
	}
	data := env.DataDir
	if data == "" {
		data = "./cordon-data"
	}
	fs.StringVar(&c.dsn, "audit-dsn", dsn, "PostgreSQL DSN of the audit store (env CORDON_AUDIT_DSN; default: embedded store under --data)")
	fs.StringVar(&c.dataDir, "data", data, "data directory (embedded store, default key and checkpoint locations)")
	return fs, c
}

// parse parses flags; -h is not an error, a bad flag is a usage error.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return flag.ErrHelp
		}
		return UsageError{err.Error()}
	}
	return nil
}

func (c *common) open(ctx context.Context) (audit.Store, error) {
	if c.env.Open == nil {
		return nil, errors.New("audit: no store opener")
	}
	return c.env.Open(ctx, c.dsn, c.dataDir)
}

// keyFlags are the key options of verify and retain.
type keyFlags struct {
	keyFile, auditKey, keysFile, checkpointDir string
	trust, linkKeys                            multiFlag
}

func addKeyFlags(fs *flag.FlagSet, c *common, kf *keyFlags) {
	fs.StringVar(&kf.keyFile, "key-file", c.env.Config.KeyFile, "audit signing key (Ed25519 PKCS#8 PEM); default <data>/audit.key")
	fs.StringVar(&kf.auditKey, "audit-key", "", "audit public key (base64), for auditors without the private key")
	fs.StringVar(&kf.checkpointDir, "checkpoint-dir", c.env.Config.CheckpointDir, "external checkpoint copies; default <data>/audit-checkpoints")
	fs.Var(&kf.trust, "trust", "producer key: STAGE=BASE64 (repeatable), e.g. frontend=MCow…")
	fs.StringVar(&kf.keysFile, "keys-file", "", "file of producer keys, one \"STAGE BASE64\" per line")
	fs.Var(&kf.linkKeys, "link-key", "producer link key (signatures: hmac): STAGE=FILE (repeatable)")
}

func (kf *keyFlags) checkpointDirOr(c *common) string {
	if kf.checkpointDir != "" {
		return kf.checkpointDir
	}
	return filepath.Join(c.dataDir, "audit-checkpoints")
}

// private reads the audit signing key.
func (kf *keyFlags) private(c *common) (ed25519.PrivateKey, error) {
	path := kf.keyFile
	if path == "" {
		path = filepath.Join(c.dataDir, "audit.key")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("audit key: %w", err)
	}
	return envelope.ParsePrivateKey(b)
}

// public is the audit public key: --audit-key, else derived from the key file.
func (kf *keyFlags) public(c *common) (ed25519.PublicKey, error) {
	if kf.auditKey != "" {
		return envelope.ParsePublicKey(kf.auditKey)
	}
	priv, err := kf.private(c)
	if err != nil {
		return nil, fmt.Errorf("%w (or give --audit-key)", err)
	}
	return priv.Public().(ed25519.PublicKey), nil
}

// keyring merges the deployment's trust with --trust and --keys-file.
func (kf *keyFlags) keyring(c *common) (*audit.Keyring, error) {
	trust := map[string][]string{}
	for st, ks := range c.env.Trust {
		trust[st] = append(trust[st], ks...)
	}
	add := func(stage, key string) error {
		if stage == "" || key == "" {
			return UsageError{fmt.Sprintf("audit: trust %q: want STAGE=BASE64", stage+"="+key)}
		}
		trust[stage] = append(trust[stage], key)
		return nil
	}
	for _, t := range kf.trust {
		st, key, _ := strings.Cut(t, "=")
		if err := add(st, key); err != nil {
			return nil, err
		}
	}
	if kf.keysFile != "" {
		b, err := os.ReadFile(kf.keysFile)
		if err != nil {
			return nil, fmt.Errorf("audit: keys file: %w", err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			f := strings.Fields(strings.Replace(line, "=", " ", 1))
			if len(f) != 2 {
				return nil, fmt.Errorf("audit: keys file line %q: want \"STAGE BASE64\"", line)
			}
			if err := add(f[0], f[1]); err != nil {
				return nil, err
			}
		}
	}
	k, err := audit.ParseTrust(trust)
	if err != nil {
		return nil, err
	}
	if err := audit.AddLinkKeyMap(k, c.env.LinkKeys); err != nil {
		return nil, err
	}
	for _, t := range kf.linkKeys {
		st, path, _ := strings.Cut(t, "=")
		stage, err := cordon.ParseStage(st)
		if err != nil || path == "" {
			return nil, UsageError{fmt.Sprintf("audit: link key %q: want STAGE=FILE", t)}
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("audit: link key: %w", err)
		}
		key, err := envelope.ParseLinkKey(b)
		if err != nil {
			return nil, fmt.Errorf("audit: link key %s: %w", path, err)
		}
		if err := k.AddLinkKeys(stage, key); err != nil {
			return nil, err
		}
	}
	return k, nil
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func parseBuses(s string) ([]cordon.Bus, error) {
	if s == "" {
		return nil, nil
	}
	var out []cordon.Bus
	for _, p := range strings.Split(s, ",") {
		b, err := cordon.ParseBus(strings.TrimSpace(p))
		if err != nil {
			return nil, UsageError{err.Error()}
		}
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}

// parseTime accepts RFC 3339, a date (UTC midnight), or a negative
// duration relative to now ("-24h").
func parseTime(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if strings.HasPrefix(s, "-") {
		d, err := time.ParseDuration(s[1:])
		if err == nil {
			return now.Add(-d), nil
		}
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	return time.Time{}, UsageError{fmt.Sprintf("audit: time %q: want RFC 3339, YYYY-MM-DD or -DURATION", s)}
}

func runMigrate(ctx context.Context, args []string, env Env) error {
	fs, c := newFlags("migrate", env)
	var o MigrateOptions
	var w, r, x multiFlag
	fs.StringVar(&o.RolePrefix, "role-prefix", env.Config.RolePrefix, "PostgreSQL role names <prefix>_owner, _writer, _reader, _retention (default cordon_audit)")
	fs.Var(&w, "grant-writer", "login role to make a member of the writer role (repeatable)")
	fs.Var(&r, "grant-reader", "login role to make a member of the reader role (repeatable)")
	fs.Var(&x, "grant-retention", "login role to make a member of the retention role (repeatable)")
	if err := parse(fs, args); err != nil {
		return err
	}
	o.GrantWriter, o.GrantReader, o.GrantRetention = w, r, x
	if env.Migrate == nil {
		return errors.New("audit: no migration runner")
	}
	msg, err := env.Migrate(ctx, c.dsn, c.dataDir, o)
	if err != nil {
		return err
	}
	fmt.Fprintln(env.Stdout, msg)
	return nil
}
