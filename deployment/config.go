package deployment

import (
	"time"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/audit"
	"github.com/cordon-gateway/cordon/policy"
)

// Mode is the shape of a deployment (README: "Deployments").
type Mode string

// The supported shapes.
const (
	// ModeFull: four buses, four components, each on its own host.
	ModeFull Mode = "full"
	// ModeSingleNATS: one NATS server carrying all four subject spaces,
	// each component confined by its own credentials.
	ModeSingleNATS Mode = "single-nats"
	// ModeSingleValidation: two buses (dirty-req, dirty-resp); the backend
	// runs both validators in-process.
	ModeSingleValidation Mode = "single-validation"
)

// Config is a whole deployment.
type Config struct {
	// Version of the configuration format. Default 1, the only one.
	Version int `yaml:"version"`
	// Mode: full (default), single-nats or single-validation.
	Mode Mode `yaml:"mode"`
	// Prefix of every subject. Default "cordon".
	Prefix string `yaml:"prefix"`
	// DataDir holds NATS stores and the embedded audit store. Default
	// "./cordon-data".
	DataDir string `yaml:"data_dir"`
	// Timeout is every request's deadline, from arrival at the frontend.
	// Default 30s.
	Timeout time.Duration `yaml:"timeout"`

	Buses      Buses      `yaml:"buses"`
	Components Components `yaml:"components"`
	// Trust lists, per producing stage, the Ed25519 public keys (base64)
	// whose signatures consumers accept. Several keys per stage are
	// accepted during a rotation.
	Trust StageLists `yaml:"trust"`
	// Signatures is how the stages authenticate what they publish:
	// "ed25519" (default) or "hmac", an HMAC-SHA-512 under link keys shared
	// by a producer, its consumers and the audit: ~25× cheaper, but whoever
	// holds a link key can forge its producer's messages (docs/security.md,
	// "Link keys").
	Signatures string `yaml:"signatures"`
	// LinkKeys lists, per producing stage, its link key files (PEM, from
	// `cordon keys generate --link`). With signatures: hmac the stage signs
	// with the first; consumers and the audit accept every listed key,
	// beside the Ed25519 keys of trust (so a deployment can move between
	// the modes one component at a time).
	LinkKeys StageLists `yaml:"link_keys"`
	// APIs protected by this deployment.
	APIs   []API  `yaml:"apis"`
	Limits Limits `yaml:"limits"`
	// Audit configures the audit shippers and stores (docs/audit.md).
	Audit audit.Config `yaml:"audit"`
}

// Buses configures the four buses. In single-nats mode all four name the
// same server; in single-validation mode clean_req and clean_resp are unused.
type Buses struct {
	DirtyReq  Bus `yaml:"dirty_req"`
	CleanReq  Bus `yaml:"clean_req"`
	DirtyResp Bus `yaml:"dirty_resp"`
	CleanResp Bus `yaml:"clean_resp"`
}

// Get returns the configuration of bus b.
func (bs *Buses) Get(b cordon.Bus) *Bus {
	switch b {
	case cordon.BusDirtyReq:
		return &bs.DirtyReq
	case cordon.BusCleanReq:
		return &bs.CleanReq
	case cordon.BusDirtyResp:
		return &bs.DirtyResp
	case cordon.BusCleanResp:
		return &bs.CleanResp
	}
	return nil
}

// Bus is how components reach one bus, and how `cordon nats` serves it.
type Bus struct {
	// URL clients connect to, e.g. nats://10.0.1.5:4222 (several
	// comma-separated for a cluster).
	URL string `yaml:"url"`
	// Listen is where `cordon nats --bus N` listens. Default: the host and
	// port of URL.
	Listen string `yaml:"listen"`
	// StoreDir of `cordon nats`. Default DataDir/nats-<bus>.
	StoreDir string `yaml:"store_dir"`
	// MaxStore bounds the bus's JetStream file store. Default 1GiB. When a
	// stream is full the gateway refuses new requests (503) rather than
	// dropping messages the audit has not yet recorded.
	MaxStore ByteSize `yaml:"max_store"`
	// AdminNKeyFile is the NATS credential used only by `cordon provision`.
	AdminNKeyFile string `yaml:"admin_nkey_file"`
	// AdminNKey is the admin's public NKey ("U…"), for `cordon nats` and
	// `cordon nats-config`.
	AdminNKey string `yaml:"admin_nkey"`
	// AuditNKey and AuditNKeyFile give this bus's audit shipper its own
	// NATS user ("audit-<bus>"), so an audit credential opens one bus
	// only. Empty: the shared components.audit credential.
	AuditNKey     string `yaml:"audit_nkey"`
	AuditNKeyFile string `yaml:"audit_nkey_file"`
	// RelaxedFsync keeps nats-server's default fsync interval (2 minutes)
	// instead of fsyncing every write: several times faster, but a power
	// loss can lose acknowledged messages. Default false.
	RelaxedFsync bool `yaml:"relaxed_fsync"`
	// TLS for client connections; empty means plain TCP.
	TLS TLS `yaml:"tls"`
}

// TLS is client-side and server-side TLS material for a bus.
type TLS struct {
	CA   string `yaml:"ca"`
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// Components configures each role.
type Components struct {
	Frontend          Frontend  `yaml:"frontend"`
	RequestValidator  Component `yaml:"request_validator"`
	Backend           Backend   `yaml:"backend"`
	ResponseValidator Component `yaml:"response_validator"`
	// Audit is the audit shippers (`cordon run audit`); workers is unused.
	Audit Component `yaml:"audit"`
}

// Component is what every role has.
type Component struct {
	// Admin is the listen address of /livez, /readyz and /metrics. Empty
	// disables it for this role.
	Admin string `yaml:"admin"`
	// KeyFile is the role's Ed25519 signing key (PKCS#8 PEM). If empty,
	// CORDON_<ROLE>_KEY may hold the PEM itself.
	KeyFile string `yaml:"key_file"`
	// NKeyFile is the role's NATS user seed. Empty means no NATS
	// authentication (dev only).
	NKeyFile string `yaml:"nkey_file"`
	// NKey is the role's public NKey ("U…"): the NATS servers it uses
	// admit it with exactly its permissions (`cordon nats-config`).
	NKey string `yaml:"nkey"`
	// Workers is how many messages the role processes at once. Default 64.
	Workers int `yaml:"workers"`
}

// Frontend is the public HTTP edge.
type Frontend struct {
	Component `yaml:",inline"`
	// ID names this frontend instance in reply subjects; every frontend
	// running side by side needs its own. Default "fe1".
	ID string `yaml:"id"`
	// Listen is the public address. Default 127.0.0.1:8080.
	Listen string `yaml:"listen"`
	// MaxInflight bounds requests waiting for an answer; beyond it the
	// frontend answers 503 with Retry-After. Default 4096.
	MaxInflight int `yaml:"max_inflight"`
	// TrustedProxies may set X-Forwarded-For (CIDRs). Default none: the
	// client address is the TCP peer.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// Verbose problem bodies (development only): adds the internal detail.
	VerboseErrors bool `yaml:"verbose_errors"`
}

// Backend calls the upstream APIs.
type Backend struct {
	Component `yaml:",inline"`
	// MaxIdleConnsPerHost of the upstream transport. Default Workers.
	MaxIdleConnsPerHost int `yaml:"max_idle_conns_per_host"`
}

// Signature modes.
const (
	SignaturesEd25519 = "ed25519"
	SignaturesHMAC    = "hmac"
)

// StageLists holds one list per producing stage: the trusted public keys
// (trust) or the link key files (link_keys).
type StageLists struct {
	Frontend          []string `yaml:"frontend"`
	RequestValidator  []string `yaml:"request_validator"`
	Backend           []string `yaml:"backend"`
	ResponseValidator []string `yaml:"response_validator"`
}

// Get returns stage s's list.
func (t *StageLists) Get(s cordon.Stage) []string {
	switch s {
	case cordon.StageFrontend:
		return t.Frontend
	case cordon.StageRequestValidator:
		return t.RequestValidator
	case cordon.StageBackend:
		return t.Backend
	case cordon.StageResponseValidator:
		return t.ResponseValidator
	}
	return nil
}

// API is one protected API.
type API struct {
	// Name is a token used in operation ids and metrics.
	Name string `yaml:"name"`
	// BasePath under which the API is served at the frontend. Default "/".
	BasePath string `yaml:"base_path"`
	// Spec is the OpenAPI 3.0/3.1 document, relative to the config file.
	Spec string `yaml:"spec"`
	// Upstream is the base URL the backend calls.
	Upstream string `yaml:"upstream"`
	// Policy is cordon's policy for this API on top of its document.
	Policy policy.Settings `yaml:"policy"`
}

// Limits bound what the frontend accepts before anything reaches a bus.
type Limits struct {
	// MaxBodyBytes of a request body. Default 1MiB (413 beyond).
	MaxBodyBytes ByteSize `yaml:"max_body_bytes"`
	// MaxResponseBytes of an upstream response body. Default 8MiB.
	MaxResponseBytes ByteSize `yaml:"max_response_bytes"`
	// MaxHeaderBytes of the request head. Default 32KiB (431 beyond).
	MaxHeaderBytes ByteSize `yaml:"max_header_bytes"`
	// MaxURLBytes of the request target. Default 4KiB (414 beyond).
	MaxURLBytes ByteSize `yaml:"max_url_bytes"`
	// ReadHeaderTimeout, ReadTimeout and IdleTimeout of the public server.
	// Defaults 5s, 30s, 60s. The write timeout is Timeout plus 5s.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	ReadTimeout       time.Duration `yaml:"read_timeout"`
	IdleTimeout       time.Duration `yaml:"idle_timeout"`
	// RateLimit per client address (and operation), at the frontend,
	// before anything reaches a bus: 429 with Retry-After beyond it.
	RateLimit RateLimit `yaml:"rate_limit"`
}

// RateLimit configures token buckets per client and operation.
type RateLimit struct {
	// PerClient requests per second, per client and operation. Default 0:
	// no rate limit.
	PerClient float64 `yaml:"per_client"`
	// Burst is the bucket size. Default twice PerClient.
	Burst int `yaml:"burst"`
	// PerOperation overrides PerClient by operation id ("api/operationId").
	PerOperation map[string]float64 `yaml:"per_operation"`
}
