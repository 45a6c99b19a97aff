package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/cordon-gateway/cordon/deployment"
	"github.com/cordon-gateway/cordon/policy"
)

// compilePolicy reads every API's document and compiles the policy once
// per wiring; roles built in one process share it.
func (w *wiring) compilePolicy() (*policy.Policy, error) {
	if w.policy != nil {
		return w.policy, nil
	}
	p, err := compileFromConfig(w)
	if err != nil {
		return nil, err
	}
	w.policy = p
	return p, nil
}

func compileFromConfig(w *wiring) (*policy.Policy, error) {
	apis := w.cfg.APIs
	if w.cfgPath != "" {
		// A reload takes the APIs and their policy settings from the file
		// as it is now; everything else of the running process stays.
		cfg, err := deployment.Load(w.cfgPath, w.getenv)
		if err != nil {
			return nil, err
		}
		apis = cfg.APIs
	}
	return compileAPIs(apis)
}

func compileAPIs(list []deployment.API) (*policy.Policy, error) {
	list, err := withFetchedJWKS(context.Background(), list)
	if err != nil {
		return nil, err
	}
	var apis []policy.API
	for _, a := range list {
		spec, err := os.ReadFile(a.Spec)
		if err != nil {
			return nil, fmt.Errorf("apis %s: %w", a.Name, err)
		}
		apis = append(apis, policy.API{Name: a.Name, BasePath: a.BasePath, Spec: spec, SpecPath: a.Spec, Settings: a.Policy})
	}
	return policy.Compile(apis)
}

// onReload registers a setter that receives each newly compiled policy.
func (w *wiring) onReload(set func(*policy.Policy)) { w.reloaders = append(w.reloaders, set) }

// reload compiles the configured policy again and, only if it compiles,
// hands it to every setter; a bad policy keeps the old one running.
func (w *wiring) reload() error {
	p, err := compileFromConfig(w)
	if err != nil {
		w.log.Error("policy reload refused; the previous policy stays in force", "err", err)
		return err
	}
	for _, set := range w.reloaders {
		set(p)
	}
	w.policy = p
	w.log.Info("policy reloaded", "version", p.Version())
	return nil
}

// reloadOnHUP reloads the policy on SIGHUP, and when the configuration
// file or an API document changes (checked every reloadPoll), until ctx is
// cancelled.
func (w *wiring) reloadOnHUP(ctx context.Context) error {
	if len(w.reloaders) == 0 {
		return nil
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	tick := time.NewTicker(reloadPoll)
	defer tick.Stop()
	// Key sets fetched from a jwks_url are fetched again periodically.
	var refresh <-chan time.Time
	if needsJWKSRefresh(w.cfg.APIs) {
		t := time.NewTicker(jwksRefresh)
		defer t.Stop()
		refresh = t.C
	}
	seen := w.watchedStamp()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-hup:
			_ = w.reload()
			seen = w.watchedStamp()
		case <-refresh:
			_ = w.reload()
		case <-tick.C:
			if now := w.watchedStamp(); now != seen {
				seen = now
				_ = w.reload()
			}
		}
	}
}

// reloadPoll is how often the policy's files are checked for changes.
var reloadPoll = 2 * time.Second

// watchedStamp summarises the modification times and sizes of the
// configuration file and every API document.
func (w *wiring) watchedStamp() string {
	files := []string{w.cfgPath}
	for _, a := range w.cfg.APIs {
		files = append(files, a.Spec)
	}
	var b strings.Builder
	for _, f := range files {
		if f == "" {
			continue
		}
		if fi, err := os.Stat(f); err == nil {
			fmt.Fprintf(&b, "%s:%d:%d;", f, fi.ModTime().UnixNano(), fi.Size())
		}
	}
	return b.String()
}
