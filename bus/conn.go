package bus

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// ConnConfig is how one component reaches one bus.
type ConnConfig struct {
	URL string
	// Name identifies the client to the server ("frontend@dirty-req").
	Name string
	// User is the component's NATS user name; it sets the private inbox
	// prefix _INBOX_<user> that the rendered permissions allow.
	User string
	// NKeySeedFile authenticates with an NKey; empty means none (dev).
	NKeySeedFile string
	// TLS material; all empty means plain TCP.
	CAFile, CertFile, KeyFile string
	// Extra options, appended last (provisioning: fail at once, no retry).
	Extra []nats.Option
}

// Connect opens a connection that reconnects forever: a bus outage makes
// the component unready (and the frontend answer 503), never exit.
func Connect(ctx context.Context, cfg ConnConfig, log *slog.Logger) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name(cfg.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectJitter(100*time.Millisecond, time.Second),
		nats.RetryOnFailedConnect(true),
		nats.PingInterval(5 * time.Second),
		nats.MaxPingsOutstanding(2),
		nats.ReconnectBufSize(-1), // never buffer publishes while away: fail fast, answer 503
		nats.DisconnectErrHandler(func(c *nats.Conn, err error) {
			if err == nil && c.IsClosed() {
				return // closed on purpose (shutdown, provisioning done): nothing to warn about
			}
			log.Warn("bus disconnected", "conn", cfg.Name, "err", err)
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("bus reconnected", "conn", cfg.Name) }),
		nats.ErrorHandler(func(_ *nats.Conn, s *nats.Subscription, err error) {
			subj := ""
			if s != nil {
				subj = s.Subject
			}
			log.Warn("bus error", "conn", cfg.Name, "subject", subj, "err", err)
		}),
	}
	if cfg.User != "" {
		opts = append(opts, nats.CustomInboxPrefix(InboxPrefix(cfg.User)))
	}
	if cfg.NKeySeedFile != "" {
		opt, err := nats.NkeyOptionFromSeed(cfg.NKeySeedFile)
		if err != nil {
			return nil, fmt.Errorf("bus %s: nkey: %w", cfg.Name, err)
		}
		opts = append(opts, opt)
	}
	if cfg.CAFile != "" {
		opts = append(opts, nats.RootCAs(cfg.CAFile))
	}
	if cfg.CertFile != "" {
		opts = append(opts, nats.ClientCert(cfg.CertFile, cfg.KeyFile))
	}
	opts = append(opts, cfg.Extra...)
	url := cfg.URL
	if url == "" {
		url = os.Getenv("NATS_URL")
	}
	if strings.TrimSpace(url) == "" {
		// nats.go would connect to its default, 127.0.0.1:4222: whatever
		// server happens to listen there.
		return nil, fmt.Errorf("bus %s: no server URL", cfg.Name)
	}
	nc, err := nats.Connect(strings.TrimSpace(url), opts...)
	if err != nil {
		return nil, fmt.Errorf("bus %s: %w", cfg.Name, err)
	}
	return nc, nil
}

// InboxPrefix is the private inbox prefix of a NATS user; its permissions
// allow subscribing only below it.
func InboxPrefix(user string) string { return "_INBOX_" + user }
