package frontend

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// RateConfig limits requests per client address, and optionally per
// operation, with token buckets.
type RateConfig struct {
	// PerClient is the sustained rate per client and operation, in
	// requests per second; 0 disables rate limiting.
	PerClient float64
	// Burst is the bucket size. Default: twice PerClient, at least 1.
	Burst int
	// PerOperation overrides PerClient for operation ids ("api/opId").
	PerOperation map[string]float64
	// MaxClients bounds the tracked (client, operation) pairs; when full,
	// new pairs are refused until idle ones expire (fail closed: memory
	// stays bounded under a distributed flood). Default 100000.
	MaxClients int
}

// RateLimiter implements Limiter with one token bucket per (client,
// operation).
type RateLimiter struct {
	cfg RateConfig
	now func() time.Time

	mu      sync.Mutex
	buckets map[rateKey]*bucket
	swept   time.Time
}

type rateKey struct{ client, op string }

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// NewRateLimiter returns nil (no limiting) when cfg.PerClient is 0.
func NewRateLimiter(cfg RateConfig) *RateLimiter {
	if cfg.PerClient <= 0 && len(cfg.PerOperation) == 0 {
		return nil
	}
	if cfg.MaxClients <= 0 {
		cfg.MaxClients = 100_000
	}
	return &RateLimiter{cfg: cfg, now: time.Now, buckets: make(map[rateKey]*bucket)}
}

// Allow takes a token from the (client, operation) bucket.
func (l *RateLimiter) Allow(client, op string) (bool, time.Duration) {
	r := l.cfg.PerClient
	if v, ok := l.cfg.PerOperation[op]; ok {
		r = v
	}
	if r <= 0 {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > time.Minute {
		for k, b := range l.buckets {
			if now.Sub(b.seen) > time.Minute {
				delete(l.buckets, k)
			}
		}
		l.swept = now
	}
	k := rateKey{client, op}
	b, ok := l.buckets[k]
	if !ok {
		if len(l.buckets) >= l.cfg.MaxClients {
			return false, time.Second
		}
		burst := l.cfg.Burst
		if burst <= 0 {
			burst = max(1, int(2*r))
		}
		b = &bucket{lim: rate.NewLimiter(rate.Limit(r), burst)}
		l.buckets[k] = b
	}
	b.seen = now
	res := b.lim.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return false, d
	}
	return true, 0
}
