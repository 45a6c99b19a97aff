package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/cordon-gateway/cordon/deployment"
)

// jwksRefresh is how often policies with a jwks_url are recompiled, so a
// rotated key set is picked up.
var jwksRefresh = 10 * time.Minute

const maxJWKSBytes = 1 << 20

// withFetchedJWKS returns apis with every jwks_url fetched into the inline
// jwks setting: the policy engine does no network I/O, so the process that
// compiles it fetches. Any failure fails the compile, so a reload keeps the
// running policy.
func withFetchedJWKS(ctx context.Context, apis []deployment.API) ([]deployment.API, error) {
	out := make([]deployment.API, len(apis))
	for i, a := range apis {
		out[i] = a
		if len(a.Policy.Auth.Schemes) == 0 {
			continue
		}
		schemes := maps.Clone(a.Policy.Auth.Schemes) // never mutate the loaded configuration
		for name, s := range schemes {
			if s.JWKSURL == "" {
				continue
			}
			body, err := fetchJWKS(ctx, s.JWKSURL)
			if err != nil {
				return nil, fmt.Errorf("apis %s: auth scheme %s: %w", a.Name, name, err)
			}
			s.JWKS = string(body)
			schemes[name] = s
		}
		out[i].Policy.Auth.Schemes = schemes
	}
	return out, nil
}

// needsJWKSRefresh reports whether any scheme fetches its keys.
func needsJWKSRefresh(apis []deployment.API) bool {
	for _, a := range apis {
		for _, s := range a.Policy.Auth.Schemes {
			if s.JWKSURL != "" {
				return true
			}
		}
	}
	return false
}

// fetchJWKS gets a key set over https (or http on a loopback address),
// bounded in time and size.
func fetchJWKS(ctx context.Context, raw string) ([]byte, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("jwks_url: %w", err)
	}
	if u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname())) {
		return nil, errors.New("jwks_url must be https (http only on a loopback address)")
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("jwks_url: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("jwks_url: status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("jwks_url: %w", err)
	}
	if len(body) > maxJWKSBytes {
		return nil, errors.New("jwks_url: key set over 1 MiB")
	}
	return body, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
