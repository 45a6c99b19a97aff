package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

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
	var apis []policy.API
	for _, a := range w.cfg.APIs {
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

// reloadOnHUP reloads the policy on SIGHUP until ctx is cancelled.
func (w *wiring) reloadOnHUP(ctx context.Context) error {
	if len(w.reloaders) == 0 {
		return nil
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-hup:
			_ = w.reload()
		}
	}
}
