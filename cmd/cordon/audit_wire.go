package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"strings"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/audit"
	"github.com/cordon-gateway/cordon/bus"
	"github.com/cordon-gateway/cordon/deployment"
	"github.com/cordon-gateway/cordon/envelope"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"
)

// trustMap is the deployment's trust section keyed by stage name, as the
// audit reads it.
func trustMap(cfg *deployment.Config) map[string][]string {
	m := map[string][]string{}
	for _, s := range cordon.Stages {
		if keys := cfg.Trust.Get(s); len(keys) > 0 {
			m[s.String()] = keys
		}
	}
	return m
}

// linkKeyMap is the deployment's link keys keyed by stage name, read from
// their files, as the audit uses them to check MACs. A file absent from
// this host is skipped and named in missing: an operator may keep the link
// keys off the audit's machine (whoever holds them can forge), and the
// records are then stored "unchecked" for `audit verify --link-key` to
// check elsewhere. Any other error (unreadable, not a link key) fails.
func linkKeyMap(cfg *deployment.Config) (keys map[string][]envelope.LinkKey, missing []string, err error) {
	keys = map[string][]envelope.LinkKey{}
	for _, s := range cordon.Stages {
		for _, path := range cfg.LinkKeys.Get(s) {
			k, err := readLinkKeys([]string{path})
			if errors.Is(err, fs.ErrNotExist) {
				missing = append(missing, path)
				continue
			}
			if err != nil {
				return nil, nil, fmt.Errorf("link_keys.%s: %w", deployment.StageKey(s), err)
			}
			keys[s.String()] = append(keys[s.String()], k...)
		}
	}
	return keys, missing, nil
}

// buildAuditShippers wires one shipper per bus in buses, all writing to one
// store. Each reads its bus through the durable, read-only "audit"
// consumer and acks only after the database commit; the request path never
// waits for it. createKey generates a missing audit key (dev only).
func (w *wiring) buildAuditShippers(ctx context.Context, buses []cordon.Bus, createKey bool) (*component, error) {
	c := &component{name: "audit"}
	fail := func(err error) (*component, error) { c.Close(); return nil, err }
	cfg := w.cfg
	priv, err := audit.LoadKey(cfg.Audit.KeyPath(cfg.DataDir), createKey)
	if err != nil {
		return fail(err)
	}
	keys, err := audit.ParseTrust(trustMap(cfg))
	if err != nil {
		return fail(err)
	}
	links, missing, err := linkKeyMap(cfg)
	if err != nil {
		return fail(err)
	}
	for _, path := range missing {
		w.log.Warn("link key not on this host: its stage's records are stored unchecked (audit verify --link-key checks them)", "file", path)
	}
	if err := audit.AddLinkKeyMap(keys, links); err != nil {
		return fail(err)
	}
	store, err := openAuditStore(ctx, cfg.Audit.DSN, cfg.DataDir)
	if err != nil {
		return fail(err)
	}
	c.close = append(c.close, func() { _ = store.Close() })
	var shippers []*audit.Shipper
	for _, b := range buses {
		nkeyFile := cfg.Components.Audit.NKeyFile
		if f := cfg.Buses.Get(b).AuditNKeyFile; f != "" {
			nkeyFile = f
		}
		bc, err := w.connect(ctx, c, auditUser(cfg, b), b, nkeyFile)
		if err != nil {
			return fail(err)
		}
		tap, err := bus.NewTap(ctx, bc.js, w.subj, b)
		if err != nil {
			return fail(err)
		}
		c.checks = append(c.checks, consumerCheck(bc, w.subj.Stream(b), bus.ConsumerAudit))
		sh, err := audit.NewShipperFromConfig(cfg.Audit, cfg.DataDir, tap, store, priv, keys,
			w.log.With("role", "audit", "bus", b.String()))
		if err != nil {
			return fail(err)
		}
		shippers = append(shippers, sh)
	}
	if w.reg != nil {
		if err := w.reg.Register(auditCollector(shippers)); err != nil {
			return fail(err)
		}
	}
	c.run = func(ctx context.Context) error {
		eg, egctx := errgroup.WithContext(ctx)
		for _, sh := range shippers {
			eg.Go(func() error { return sh.Run(egctx) })
		}
		return eg.Wait()
	}
	return c, nil
}

// runAuditShipper is `cordon run audit --bus N|all --config FILE`: one
// shipper per bus in the full deployment (so no process touches all four
// networks), or one process for every bus in simplified ones.
func runAuditShipper(ctx context.Context, args []string, getenv func(string) string, _, stderr io.Writer) error {
	fs := newFlagSet("run audit", stderr)
	config := fs.String("config", "cordon.yaml", "deployment configuration")
	which := fs.String("bus", "all", `bus to record: 1-4, a bus name, or "all" (every bus of the mode)`)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := deployment.Load(*config, getenv)
	if err != nil {
		return err
	}
	buses := cfg.BusesUsed()
	if *which != "all" {
		b, err := cordon.ParseBus(*which)
		if err != nil {
			return usageError{err.Error()}
		}
		found := false
		for _, u := range buses {
			found = found || u == b
		}
		if !found {
			return fmt.Errorf("mode %s does not use bus %s", cfg.Mode, b)
		}
		buses = []cordon.Bus{b}
	}
	names := make([]string, len(buses))
	for i, b := range buses {
		names[i] = b.String()
	}
	log := newLogger(stderr, slog.LevelInfo).With("role", "audit", "buses", strings.Join(names, ","))
	w, err := newWiring(cfg, log, getenv)
	if err != nil {
		return err
	}
	c, err := w.buildAuditShippers(ctx, buses, false)
	if err != nil {
		return err
	}
	defer c.Close()
	return serveComponent(ctx, w, c, cfg.Components.Audit.Admin, log)
}

// auditCollector exports the shippers' counters on /metrics, per bus.
type auditCollector []*audit.Shipper

var (
	auditRecordsDesc = prometheus.NewDesc("cordon_audit_records_total",
		"Audit records committed to the store.", []string{"bus"}, nil)
	auditBatchesDesc = prometheus.NewDesc("cordon_audit_batches_total",
		"Audit transactions committed (one signed checkpoint each).", []string{"bus"}, nil)
	auditStoreErrorsDesc = prometheus.NewDesc("cordon_audit_store_errors_total",
		"Failed attempts to write to the audit store (retried).", []string{"bus"}, nil)
	auditGapsDesc = prometheus.NewDesc("cordon_audit_gaps_total",
		"Stream sequences the audit gave up on (removed from the stream before it read them).", []string{"bus"}, nil)
	auditLagDesc = prometheus.NewDesc("cordon_audit_lag_seconds",
		"At the last commit: how long its oldest record had waited since the stream stored it.", []string{"bus"}, nil)
	auditLastCommitDesc = prometheus.NewDesc("cordon_audit_last_commit_timestamp_seconds",
		"Unix time of the last commit; alert when it stops moving while traffic flows.", []string{"bus"}, nil)
)

func (c auditCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{auditRecordsDesc, auditBatchesDesc, auditStoreErrorsDesc,
		auditGapsDesc, auditLagDesc, auditLastCommitDesc} {
		ch <- d
	}
}

func (c auditCollector) Collect(ch chan<- prometheus.Metric) {
	for _, sh := range c {
		st, b := sh.Stats(), sh.Bus().String()
		ch <- prometheus.MustNewConstMetric(auditRecordsDesc, prometheus.CounterValue, float64(st.Records), b)
		ch <- prometheus.MustNewConstMetric(auditBatchesDesc, prometheus.CounterValue, float64(st.Batches), b)
		ch <- prometheus.MustNewConstMetric(auditStoreErrorsDesc, prometheus.CounterValue, float64(st.StoreErrors), b)
		ch <- prometheus.MustNewConstMetric(auditGapsDesc, prometheus.CounterValue, float64(st.Gaps), b)
		ch <- prometheus.MustNewConstMetric(auditLagDesc, prometheus.GaugeValue, st.Lag.Seconds(), b)
		if !st.LastCommit.IsZero() {
			ch <- prometheus.MustNewConstMetric(auditLastCommitDesc, prometheus.GaugeValue,
				float64(st.LastCommit.UnixNano())/1e9, b)
		}
	}
}
