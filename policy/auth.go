package policy

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/textproto"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/golang-jwt/jwt/v5"

	"github.com/cordon-gateway/cordon"
)

// scheme is one compiled security scheme.
type scheme struct {
	name string
	kind string // "apiKey" or "jwt"
	in   string // apiKey: header, query or cookie; jwt: header
	key  string // apiKey parameter name (canonical for headers); jwt: Authorization

	keys []apiKeyEntry

	jwks       *jwkSet
	parser     *jwt.Parser
	scopeClaim string
	leeway     time.Duration
	cache      *tokenCache
}

type apiKeyEntry struct {
	id     string
	hash   [32]byte
	scopes []string
}

// secAlternative is one entry of an OpenAPI security requirement list: all
// of its schemes must pass. An empty alternative means anonymous.
type secAlternative []secReq

type secReq struct {
	s      *scheme
	scopes []string
}

// principal is who a request authenticated as.
type principal struct {
	subject string
	claims  map[string]any
}

var allowedAlgs = map[string]bool{"RS256": true, "RS384": true, "RS512": true, "PS256": true,
	"PS384": true, "PS512": true, "ES256": true, "ES384": true, "ES512": true, "EdDSA": true}

const maxLeeway = 5 * time.Minute

func (c *apiCompiler) readFile(name string) ([]byte, error) {
	if !filepath.IsAbs(name) {
		name = filepath.Join(c.dir, name)
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	c.files = append(c.files, b)
	return b, nil
}

// compileAuth compiles every configured security scheme.
func (c *apiCompiler) compileAuth() error {
	c.schemes = map[string]*scheme{}
	var declared openapi3.SecuritySchemes
	if c.doc.Components != nil {
		declared = c.doc.Components.SecuritySchemes
	}
	var errs []error
	names := make([]string, 0, len(c.api.Settings.Auth.Schemes))
	for n := range c.api.Settings.Auth.Schemes {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		cfg := c.api.Settings.Auth.Schemes[name]
		ref := declared[name]
		if ref == nil || ref.Value == nil {
			errs = append(errs, fmt.Errorf("auth.schemes.%s: no such security scheme in the document", name))
			continue
		}
		s, err := c.compileScheme(name, ref.Value, cfg)
		if err != nil {
			errs = append(errs, fmt.Errorf("auth.schemes.%s: %w", name, err))
			continue
		}
		c.schemes[name] = s
	}
	return errors.Join(errs...)
}

func (c *apiCompiler) compileScheme(name string, ss *openapi3.SecurityScheme, cfg SchemeSettings) (*scheme, error) {
	s := &scheme{name: name}
	switch {
	case ss.Type == "apiKey":
		s.kind, s.in, s.key = "apiKey", ss.In, ss.Name
		if s.in == "header" {
			s.key = textproto.CanonicalMIMEHeaderKey(s.key)
		}
		if s.in != "header" && s.in != "query" && s.in != "cookie" {
			return nil, fmt.Errorf("apiKey in %q: not supported", s.in)
		}
		if cfg.JWKSFile != "" || cfg.JWKS != "" || cfg.JWKSURL != "" || cfg.Issuer != "" || len(cfg.Audience) > 0 {
			return nil, fmt.Errorf("JWT settings on an apiKey scheme")
		}
		keys := cfg.Keys
		if cfg.KeysFile != "" {
			b, err := c.readFile(cfg.KeysFile)
			if err != nil {
				return nil, fmt.Errorf("keys_file: %w", err)
			}
			more, err := parseKeysFile(b)
			if err != nil {
				return nil, fmt.Errorf("keys_file %s: %w", cfg.KeysFile, err)
			}
			keys = append(append([]APIKey{}, keys...), more...)
		}
		if len(keys) == 0 {
			return nil, fmt.Errorf("no keys configured")
		}
		ids := map[string]bool{}
		for i, k := range keys {
			h, err := hex.DecodeString(k.SHA256)
			if err != nil || len(h) != sha256.Size {
				return nil, fmt.Errorf("keys[%d] (%s): sha256 must be 64 hex digits", i, k.ID)
			}
			if k.ID == "" || ids[k.ID] {
				return nil, fmt.Errorf("keys[%d]: id missing or duplicate", i)
			}
			ids[k.ID] = true
			e := apiKeyEntry{id: k.ID, scopes: k.Scopes}
			copy(e.hash[:], h)
			s.keys = append(s.keys, e)
		}
		return s, nil
	case ss.Type == "http" && strings.EqualFold(ss.Scheme, "bearer"), ss.Type == "oauth2", ss.Type == "openIdConnect":
		s.kind, s.in, s.key = "jwt", "header", "Authorization"
		if len(cfg.Keys) > 0 || cfg.KeysFile != "" {
			return nil, fmt.Errorf("API keys on a JWT scheme")
		}
		if cfg.JWKSURL != "" && cfg.JWKSFile != "" {
			return nil, fmt.Errorf("jwks_url and jwks_file: choose one")
		}
		if cfg.JWKSURL != "" && cfg.JWKS == "" {
			return nil, fmt.Errorf("jwks_url %s was not fetched (cordon fetches it before compiling)", cfg.JWKSURL)
		}
		data := []byte(cfg.JWKS)
		if cfg.JWKSFile != "" {
			var err error
			if data, err = c.readFile(cfg.JWKSFile); err != nil {
				return nil, fmt.Errorf("jwks_file: %w", err)
			}
		}
		if len(data) == 0 {
			return nil, fmt.Errorf("jwks_file or jwks required")
		}
		var err error
		if s.jwks, err = parseJWKS(data); err != nil {
			return nil, err
		}
		if cfg.Issuer == "" || len(cfg.Audience) == 0 {
			return nil, fmt.Errorf("issuer and audience are required")
		}
		algs := cfg.Algorithms
		if len(algs) == 0 {
			algs = []string{"RS256", "ES256", "EdDSA"}
		}
		for _, a := range algs {
			if !allowedAlgs[a] {
				return nil, fmt.Errorf("algorithm %q: not allowed (want asymmetric: RS*, PS*, ES*, EdDSA)", a)
			}
		}
		leeway := cfg.Leeway
		if leeway == 0 {
			leeway = 30 * time.Second
		}
		if leeway < 0 || leeway > maxLeeway {
			return nil, fmt.Errorf("leeway %s: want 0s..5m", leeway)
		}
		s.parser = jwt.NewParser(jwt.WithValidMethods(algs), jwt.WithIssuer(cfg.Issuer),
			jwt.WithAudience(cfg.Audience...), jwt.WithExpirationRequired(), jwt.WithLeeway(leeway),
			jwt.WithIssuedAt(), jwt.WithJSONNumber(), jwt.WithStrictDecoding())
		s.scopeClaim, s.leeway = cfg.ScopeClaim, leeway
		s.cache = &tokenCache{m: map[[32]byte]cachedToken{}}
		return s, nil
	}
	return nil, fmt.Errorf("security scheme type %q (%s): not supported (apiKey, http bearer, oauth2 and openIdConnect with JWTs are)", ss.Type, ss.Scheme)
}

// parseKeysFile reads "<id> <sha256-hex> [scope,scope]" lines.
func parseKeysFile(b []byte) ([]APIKey, error) {
	var out []APIKey
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 || len(f) > 3 {
			return nil, fmt.Errorf("line %d: want \"<id> <sha256-hex> [scope,...]\"", n)
		}
		k := APIKey{ID: f[0], SHA256: strings.ToLower(f[1])}
		if len(f) == 3 {
			k.Scopes = strings.Split(f[2], ",")
		}
		out = append(out, k)
	}
	return out, sc.Err()
}

// compileSecurity resolves the operation's security requirements.
func (c *apiCompiler) compileSecurity(op *operation, o *openapi3.Operation) error {
	reqs := c.doc.Security
	if o.Security != nil {
		reqs = *o.Security
	}
	op.credHeader, op.credQuery, op.credCookie = map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, alt := range reqs {
		var a secAlternative
		names := make([]string, 0, len(alt))
		for n := range alt {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			s := c.schemes[n]
			if s == nil {
				return fmt.Errorf("security scheme %q is required but not configured under auth.schemes", n)
			}
			a = append(a, secReq{s: s, scopes: alt[n]})
			switch s.in {
			case "header":
				op.credHeader[s.key] = true
			case "query":
				op.credQuery[s.key] = true
			case "cookie":
				op.credCookie[s.key] = true
			}
		}
		op.security = append(op.security, a)
	}
	for _, p := range op.query {
		if op.credQuery[p.name] {
			return fmt.Errorf("query parameter %q is also an API key", p.name)
		}
	}
	for _, p := range op.cookies {
		if op.credCookie[p.name] {
			return fmt.Errorf("cookie parameter %q is also an API key", p.name)
		}
	}
	return nil
}

// authenticate checks the operation's security requirements: 401 when no
// alternative authenticates, 403 when one authenticates but lacks scopes.
func (r *reqCheck) authenticate() *cordon.Error {
	op := r.op
	if len(op.security) == 0 {
		return nil
	}
	var unauth, denied *cordon.Error
	for _, alt := range op.security {
		if len(alt) == 0 {
			return nil // anonymous allowed
		}
		var who principal
		ok := true
		for _, req := range alt {
			p, e := r.authScheme(req.s)
			if e != nil {
				// report a presented-but-wrong credential over a missing one
				if unauth == nil || unauth.Rule == "auth.missing" && e.Rule != "auth.missing" {
					unauth = e
				}
				ok = false
				break
			}
			if !hasScopes(p.scopes, req.scopes) {
				if denied == nil {
					denied = &cordon.Error{Op: opRequest, Kind: cordon.KindDenied, Rule: "auth.scope", Pointer: credPointer(req.s),
						Err: fmt.Errorf("scheme %s: missing scopes %v", req.s.name, req.scopes)}
				}
				ok = false
				break
			}
			if who.subject == "" {
				who = p.principal
			}
		}
		if ok {
			r.who = who
			return nil
		}
	}
	if denied != nil {
		return r.failErr(denied)
	}
	return r.failErr(unauth)
}

type authResult struct {
	principal
	scopes []string
}

func credPointer(s *scheme) string { return s.in + "/" + s.key }

func (r *reqCheck) authScheme(s *scheme) (authResult, *cordon.Error) {
	ptr := credPointer(s)
	missing := &cordon.Error{Op: opRequest, Kind: cordon.KindUnauthorized, Rule: "auth.missing", Pointer: ptr}
	bad := func(err error) *cordon.Error {
		return &cordon.Error{Op: opRequest, Kind: cordon.KindUnauthorized, Rule: "auth.invalid", Pointer: ptr, Err: err}
	}
	var vals []string
	switch s.in {
	case "header":
		vals = r.m.Request.Header[s.key]
	case "query":
		for _, q := range r.query {
			if q.key == s.key {
				vals = append(vals, q.value)
			}
		}
	case "cookie":
		for _, c := range r.cookies {
			if c.key == s.key {
				vals = append(vals, c.value)
			}
		}
	}
	if len(vals) == 0 {
		return authResult{}, missing
	}
	if len(vals) > 1 {
		return authResult{}, bad(errors.New("credential given more than once"))
	}
	if s.kind == "apiKey" {
		if vals[0] == "" {
			return authResult{}, missing
		}
		sum := sha256.Sum256([]byte(vals[0]))
		match := -1
		for i := range s.keys {
			if subtle.ConstantTimeCompare(sum[:], s.keys[i].hash[:]) == 1 {
				match = i
			}
		}
		if match < 0 {
			return authResult{}, bad(fmt.Errorf("scheme %s: unknown API key", s.name))
		}
		k := s.keys[match]
		return authResult{principal{subject: k.id, claims: map[string]any{"sub": k.id}}, k.scopes}, nil
	}
	tok, ok := strings.CutPrefix(vals[0], "Bearer ")
	if !ok {
		if tok, ok = strings.CutPrefix(vals[0], "bearer "); !ok {
			return authResult{}, bad(errors.New("Authorization is not a Bearer token"))
		}
	}
	tok = strings.TrimSpace(tok)
	key := sha256.Sum256([]byte(tok))
	now := time.Now()
	if c, ok := s.cache.get(key, now, s.leeway); ok {
		return c.authResult, nil
	}
	claims := jwt.MapClaims{}
	_, err := s.parser.ParseWithClaims(tok, claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		return s.jwks.lookup(kid, t.Method.Alg())
	})
	if err != nil {
		return authResult{}, bad(fmt.Errorf("scheme %s: %w", s.name, err))
	}
	sub, _ := claims["sub"].(string)
	res := authResult{principal{subject: sub, claims: claims}, s.scopesOf(claims)}
	s.cache.put(key, res, claims)
	return res, nil
}

// tokenCache remembers verified tokens (by SHA-256) until they expire, so
// a client's repeated token costs a hash, not a signature verification.
// Expiry and not-before are re-checked on every hit; the cache is bounded
// and evicts an arbitrary entry when full. It is the only mutable state of
// a Policy.
type tokenCache struct {
	mu sync.Mutex
	m  map[[32]byte]cachedToken
}

const tokenCacheSize = 4096

type cachedToken struct {
	authResult
	exp, nbf time.Time
}

func (c *tokenCache) get(key [32]byte, now time.Time, leeway time.Duration) (cachedToken, bool) {
	c.mu.Lock()
	t, ok := c.m[key]
	c.mu.Unlock()
	if !ok || now.After(t.exp.Add(leeway)) || now.Before(t.nbf.Add(-leeway)) {
		return cachedToken{}, false
	}
	return t, true
}

func (c *tokenCache) put(key [32]byte, res authResult, claims jwt.MapClaims) {
	exp, err := claims.GetExpirationTime()
	if err != nil || exp == nil {
		return
	}
	t := cachedToken{authResult: res, exp: exp.Time}
	if nbf, err := claims.GetNotBefore(); err == nil && nbf != nil {
		t.nbf = nbf.Time
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= tokenCacheSize {
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	c.m[key] = t
}

// scopesOf reads granted scopes: a space-separated string or a string array.
func (s *scheme) scopesOf(claims jwt.MapClaims) []string {
	names := []string{"scope", "scp"}
	if s.scopeClaim != "" {
		names = []string{s.scopeClaim}
	}
	for _, n := range names {
		switch v := claims[n].(type) {
		case string:
			return strings.Fields(v)
		case []any:
			var out []string
			for _, e := range v {
				if str, ok := e.(string); ok {
					out = append(out, str)
				}
			}
			return out
		}
	}
	return nil
}

func hasScopes(granted, want []string) bool {
	for _, w := range want {
		if !slices.Contains(granted, w) {
			return false
		}
	}
	return true
}
