// Package embednats runs a nats-server with JetStream inside the cordon
// process: one per bus in `cordon dev` and in tests, or one for a bus in
// `cordon nats --bus N` for operators who do not install the official
// server. It imports nats-server and nats.go, nothing of cordon's roles.
package embednats

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Server is a running embedded nats-server.
type Server struct {
	srv *server.Server
}

// Config is the minimal configuration of an open (unauthenticated)
// embedded server, as used by `cordon dev` and tests. Deployments with
// credentials build their *server.Options with package natsconf and call
// StartOptions.
type Config struct {
	Name     string // server name, unique per bus
	Host     string // default 127.0.0.1
	Port     int    // 0 picks a free port
	StoreDir string // JetStream file store; required
	MaxStore int64  // default 1 GiB
	MaxMem   int64  // default 64 MiB
	// SyncAlways fsyncs every write (power-loss safe, several times slower).
	SyncAlways bool
}

// Start starts an open server from cfg.
func Start(cfg Config) (*Server, error) {
	if cfg.StoreDir == "" {
		return nil, errors.New("embednats: StoreDir is required")
	}
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if cfg.Port == 0 {
		cfg.Port = server.RANDOM_PORT
	}
	if cfg.MaxStore == 0 {
		cfg.MaxStore = 1 << 30
	}
	if cfg.MaxMem == 0 {
		cfg.MaxMem = 64 << 20
	}
	opts := &server.Options{
		ServerName:         cfg.Name,
		Host:               cfg.Host,
		Port:               cfg.Port,
		JetStream:          true,
		StoreDir:           cfg.StoreDir,
		JetStreamMaxStore:  cfg.MaxStore,
		JetStreamMaxMemory: cfg.MaxMem,
		SyncAlways:         cfg.SyncAlways,
		MaxPayload:         16 << 20,
	}
	return StartOptions(opts)
}

// StartOptions starts a server from complete options (e.g. rendered by
// package natsconf). Signal handling is always left to cordon.
func StartOptions(opts *server.Options) (*Server, error) {
	opts.NoSigs = true
	opts.NoLog = true
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embednats: %w", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return nil, errors.New("embednats: server not ready within 10s")
	}
	return &Server{srv: srv}, nil
}

// ClientURL is the nats:// URL clients connect to.
func (s *Server) ClientURL() string { return s.srv.ClientURL() }

// Shutdown stops the server and waits until it is down.
func (s *Server) Shutdown() {
	s.srv.Shutdown()
	s.srv.WaitForShutdown()
}

// Run blocks until ctx is cancelled, then shuts the server down.
func (s *Server) Run(ctx context.Context) error {
	<-ctx.Done()
	s.Shutdown()
	return nil
}
