// Command cordon is the security gateway: one binary whose subcommands run
// each role of a deployment, everything at once for development, an
// embedded NATS server per bus, and the operator tools (keys, provisioning,
// configuration rendering, policy check, audit).
//
// This is the only package where adapters (buses, stores, servers) meet the
// roles; wire.go builds each role from the deployment configuration.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
)

func main() {
	// The bench's upstream and reverse proxy stand for programs a user
	// writes: they run with Go's own defaults (or the environment's).
	if len(os.Args) < 2 || !strings.HasPrefix(os.Args[1], "bench-") {
		tuneGC(os.Getenv)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		var ue usageError
		if errors.As(err, &ue) || errors.Is(err, flag.ErrHelp) {
			if !errors.Is(err, flag.ErrHelp) {
				fmt.Fprintln(os.Stderr, "cordon:", err)
			}
			os.Exit(2)
		}
		var ee exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		fmt.Fprintln(os.Stderr, "cordon:", err)
		os.Exit(1)
	}
}

// Garbage collector defaults for cordon's processes, used unless GOGC or
// GOMEMLIMIT are set in the environment. The hot path allocates ~90 KB per
// request in short-lived buffers (NATS client and server, envelopes, audit
// records) over a live heap that a NATS server's dedupe state fills with
// pointers (~300 bytes per remembered message id). Each collection marks
// that heap on the cores the requests need, and the requests caught in a
// mark phase make the latency tail: collecting at 11× the live heap
// instead of 5× lowered p99 at 64 clients by a fifth in cordon bench (full,
// hmac: 41–45 → 34–35 ms, throughput equal), and 5× instead of 2× had cut
// CPU per request by 5–15 %. The soft memory limit makes it collect sooner
// rather than let a process grow past 1 GiB; it is generous on purpose,
// since a limit below the live heap (large bodies, many in flight) would
// make the collector run constantly. Set GOMEMLIMIT to the memory a host
// gives each process.
const (
	defaultGCPercent   = 1000
	defaultMemoryLimit = 1 << 30
)

// tuneGC applies the defaults above where the environment sets nothing.
func tuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
}

// usageError is a mistake on the command line: exit code 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// exitError carries a specific exit code with its message already printed.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

const usage = `cordon — a security gateway for HTTP APIs

Usage:
  cordon dev [flags]                       everything in one process (try this first)
  cordon run ROLE --config FILE            one role: frontend, request-validator, backend,
                                           response-validator, audit
  cordon nats --bus N --config FILE        an embedded nats-server for bus N (1-4)
  cordon provision --config FILE           create streams and consumers (admin credentials)
  cordon nats-config --bus N --config FILE print the nats-server configuration of bus N
  cordon keys generate --dir DIR           signing keys and NATS credentials for every role
  cordon check --config FILE               validate the configuration, print the effective policy
  cordon audit SUBCOMMAND                  migrate, verify, trace, search, export, tail, retain
  cordon bench                             cordon vs a tuned reverse proxy under the same load
  cordon version                           print the version

Run "cordon COMMAND -h" for a command's flags.
`

// run is main without the process: tests call it directly.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usageError{"no command given"}
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "dev":
		return runDev(ctx, rest, getenv, stdout, stderr)
	case "run":
		return runRole(ctx, rest, getenv, stdout, stderr)
	case "nats":
		return runNATS(ctx, rest, getenv, stdout, stderr)
	case "provision":
		return runProvision(ctx, rest, getenv, stdout, stderr)
	case "nats-config":
		return runNATSConfig(ctx, rest, getenv, stdout, stderr)
	case "keys":
		return runKeys(ctx, rest, getenv, stdout, stderr)
	case "check":
		return runCheck(ctx, rest, getenv, stdout, stderr)
	case "audit":
		return runAudit(ctx, rest, getenv, stdout, stderr)
	case "bench":
		return runBench(ctx, rest, getenv, stdout, stderr)
	case "bench-upstream": // hidden: a child process of bench
		return runBenchUpstream(ctx, stdout)
	case "bench-proxy": // hidden: a child process of bench
		return runBenchProxy(ctx, rest, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, versionString())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return usageError{fmt.Sprintf("unknown command %q", cmd)}
}

// newLogger logs JSON unless stderr is a terminal.
func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			return slog.New(slog.NewTextHandler(w, opts))
		}
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("cordon "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseFlags parses and turns flag mistakes into usage errors.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	return nil
}
