package frontend

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// ServerConfig hardens the public http.Server.
type ServerConfig struct {
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	// MaxHeaderBytes is net/http's hard cap on the request head; the
	// frontend's own, smaller limit answers 431 with a problem body first.
	MaxHeaderBytes int
	// ShutdownTimeout bounds the drain on shutdown.
	ShutdownTimeout time.Duration
}

// NewServer returns a hardened server for h.
func NewServer(h http.Handler, cfg ServerConfig, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// Serve runs srv on ln until ctx is cancelled, then stops accepting and
// drains in-flight requests for at most drain. When srv serves a Frontend
// and the drain completed, it then waits for the terminal records still
// being published (each bounded by Config.FinalTimeout), so a graceful
// stop loses none.
func Serve(ctx context.Context, srv *http.Server, ln net.Listener, drain time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), drain)
	defer cancel()
	err := srv.Shutdown(sctx)
	if fe, ok := srv.Handler.(*Frontend); ok && err == nil {
		// Every handler has returned: no terminal record can start now.
		fe.waitFinals()
	}
	if e := <-errc; e != nil && !errors.Is(e, http.ErrServerClosed) {
		return e
	}
	return err
}
