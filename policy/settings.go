package policy

import "time"

// Settings is cordon's policy for one API, on top of its OpenAPI document.
// It is decoded from the deployment YAML in strict mode (unknown keys are
// errors). The zero value is the safe default everywhere: enforce mode,
// strict contract, no opaque bodies, no compressed bodies, credentials not
// forwarded, DLP defaults of package dlp.
type Settings struct {
	Request  RequestSettings  `yaml:"request" json:"request"`
	Response ResponseSettings `yaml:"response" json:"response"`
	Auth     AuthSettings     `yaml:"auth" json:"auth"`
	// Rules are CEL rules checked for every operation of the API, before the
	// operation's own rules.
	Rules []Rule `yaml:"rules" json:"rules,omitempty"`
	// Operations overrides settings per operation, keyed by operationId. An
	// id the document does not declare is a compile error.
	Operations map[string]OperationSettings `yaml:"operations" json:"operations,omitempty"`
}

// Mode says what a validator does with a finding.
type Mode string

// Modes. The empty Mode means "inherit", and at API level ModeEnforce.
const (
	// ModeEnforce rejects (requests) or blocks (responses) on the first
	// blocking finding and rewrites what passes into its canonical form.
	ModeEnforce Mode = "enforce"
	// ModeMonitor runs every check exactly as enforce would, reports the
	// same findings with Action report, and forwards the message unchanged.
	ModeMonitor Mode = "monitor"
	// ModeOff skips the checks and forwards the message unchanged. Routing
	// still happens (the operation id is needed downstream).
	ModeOff Mode = "off"
)

// RequestSettings is the request validator's policy for one API.
type RequestSettings struct {
	// Mode: enforce (default), monitor or off.
	Mode   Mode          `yaml:"mode" json:"mode,omitempty"`
	Limits RequestLimits `yaml:"limits" json:"limits"`
	// AllowUndeclaredProperties stops rejecting JSON and form properties
	// that no schema declares. Default false: every object schema is treated
	// as additionalProperties:false, whatever the document says (a schema
	// whose additionalProperties or patternProperties is itself a schema is
	// a map and declares its keys). Keys that differ only in case from a
	// declared property are rejected either way.
	AllowUndeclaredProperties bool `yaml:"allow_undeclared_properties" json:"allow_undeclared_properties,omitempty"`
	// AllowUndeclaredQuery stops rejecting undeclared query parameters;
	// they are then forwarded (re-encoded). Default false.
	AllowUndeclaredQuery bool `yaml:"allow_undeclared_query" json:"allow_undeclared_query,omitempty"`
	// AllowUndeclaredCookies stops rejecting undeclared cookies; they are
	// still not forwarded. Default false.
	AllowUndeclaredCookies bool `yaml:"allow_undeclared_cookies" json:"allow_undeclared_cookies,omitempty"`
	// ForwardHeaders names undeclared request headers that are forwarded
	// verbatim (within the header limits). Default none: only declared header
	// parameters and the Content-Type cordon sets reach the upstream.
	ForwardHeaders []string `yaml:"forward_headers" json:"forward_headers,omitempty"`
	// ContentEncodings lists the request Content-Encodings accepted ("gzip",
	// "deflate"). Default none: a compressed body is 415. Accepted bodies are
	// decompressed (see Limits) and forwarded decompressed.
	ContentEncodings []string `yaml:"content_encodings" json:"content_encodings,omitempty"`
	// OpaqueMediaTypes lists media types (declared in the document) whose
	// bodies are forwarded unparsed, e.g. "application/octet-stream". JSON,
	// form and multipart bodies are always parsed and validated. Default none.
	OpaqueMediaTypes []string `yaml:"opaque_media_types" json:"opaque_media_types,omitempty"`
}

// RequestLimits bound the work an attacker can cause. Zero means default.
type RequestLimits struct {
	// MaxBodyBytes: body size (after decompression too). Default 1 MiB. 413.
	MaxBodyBytes int64 `yaml:"max_body_bytes" json:"max_body_bytes,omitempty"`
	// MaxURLBytes: escaped path plus "?" plus raw query. Default 8192. 414.
	MaxURLBytes int `yaml:"max_url_bytes" json:"max_url_bytes,omitempty"`
	// MaxHeaderCount: header field lines. Default 64. 431.
	MaxHeaderCount int `yaml:"max_header_count" json:"max_header_count,omitempty"`
	// MaxHeaderBytes: sum of len(name)+len(value)+4 over all lines.
	// Default 16384. 431.
	MaxHeaderBytes int `yaml:"max_header_bytes" json:"max_header_bytes,omitempty"`
	// MaxCompressionRatio: decompressed/compressed size. Default 100. 413.
	MaxCompressionRatio int `yaml:"max_compression_ratio" json:"max_compression_ratio,omitempty"`
	// MaxParams: query pairs, form fields, cookies, multipart parts, each.
	// Default 128. 400.
	MaxParams int `yaml:"max_params" json:"max_params,omitempty"`
	// JSON limits; zero fields take jsonstrict.DefaultLimits. 400.
	JSON JSONLimits `yaml:"json" json:"json"`
}

// JSONLimits mirror jsonstrict.Limits; zero fields take its defaults.
// MaxBytes is always the body limit.
type JSONLimits struct {
	MaxDepth     int `yaml:"max_depth" json:"max_depth,omitempty"`
	MaxMembers   int `yaml:"max_members" json:"max_members,omitempty"`
	MaxArrayLen  int `yaml:"max_array_len" json:"max_array_len,omitempty"`
	MaxStringLen int `yaml:"max_string_len" json:"max_string_len,omitempty"`
	MaxNumberLen int `yaml:"max_number_len" json:"max_number_len,omitempty"`
}

// ResponseSettings is the response validator's policy for one API.
type ResponseSettings struct {
	// Mode: enforce (default), monitor or off.
	Mode Mode `yaml:"mode" json:"mode,omitempty"`
	// MaxBodyBytes: response body size. Default 8 MiB. Blocked (502).
	MaxBodyBytes int64 `yaml:"max_body_bytes" json:"max_body_bytes,omitempty"`
	// JSON limits for response bodies; zero fields take jsonstrict defaults.
	JSON JSONLimits `yaml:"json" json:"json"`
	// Minimize removes JSON properties the contract does not declare (and
	// writeOnly ones) instead of blocking the response. Default false:
	// an undeclared property blocks.
	Minimize bool `yaml:"minimize" json:"minimize,omitempty"`
	// AllowHeaders names response headers passed through besides the ones
	// the document declares for the status and the basics (Content-Type,
	// Content-Length, Content-Language, Cache-Control, Expires, ETag,
	// Last-Modified, Vary). Server, X-Powered-By, X-AspNet-Version,
	// X-AspNetMvc-Version and X-Debug-* are removed even if listed.
	AllowHeaders []string `yaml:"allow_headers" json:"allow_headers,omitempty"`
	// DLP configures the data-loss detectors run on every response body.
	DLP DLPSettings `yaml:"dlp" json:"dlp"`
}

// DLPSettings is dlp.Config in YAML form. Actions are "block", "redact" or
// "report".
type DLPSettings struct {
	// Actions overrides the default action per detector name.
	Actions map[string]string `yaml:"actions" json:"actions,omitempty"`
	// Disable turns detectors off by name.
	Disable []string `yaml:"disable" json:"disable,omitempty"`
	// Custom adds operator-defined patterns (RE2 syntax).
	Custom []DLPPattern `yaml:"custom" json:"custom,omitempty"`
}

// DLPPattern is one operator-defined detector.
type DLPPattern struct {
	Name   string `yaml:"name" json:"name"`
	Regex  string `yaml:"regex" json:"regex"`
	Action string `yaml:"action" json:"action"` // block (default), redact, report
}

// AuthSettings configures the security schemes the document declares.
type AuthSettings struct {
	// ForwardCredentials forwards the credentials (Authorization header,
	// API key header, query parameter or cookie) to the upstream. Default
	// false: they are removed once checked.
	ForwardCredentials bool `yaml:"forward_credentials" json:"forward_credentials,omitempty"`
	// Schemes configures each security scheme by its name under
	// components.securitySchemes. Every scheme an operation requires must be
	// configured, or Compile fails.
	Schemes map[string]SchemeSettings `yaml:"schemes" json:"schemes,omitempty"`
}

// SchemeSettings configures one security scheme. apiKey schemes use Keys
// and KeysFile; http bearer, oauth2 and openIdConnect schemes validate JWTs
// with the JWT fields. JWKS come from a file or inline, read at compile
// time; cordon does not fetch JWKS URLs (the policy engine does no network
// I/O): fetch them into a file and reload.
type SchemeSettings struct {
	// Keys are accepted API keys, stored as SHA-256 hashes.
	Keys []APIKey `yaml:"keys" json:"keys,omitempty"`
	// KeysFile holds more keys, one per line: "<id> <sha256-hex> [scope,...]";
	// blank lines and lines starting with # are ignored. Relative to the
	// OpenAPI document's directory.
	KeysFile string `yaml:"keys_file" json:"keys_file,omitempty"`

	// JWKSFile is a JSON Web Key Set file (RFC 7517), relative to the
	// OpenAPI document's directory.
	JWKSFile string `yaml:"jwks_file" json:"jwks_file,omitempty"`
	// JWKS is an inline JSON Web Key Set, used if JWKSFile is empty.
	JWKS string `yaml:"jwks" json:"jwks,omitempty"`
	// JWKSURL is where the JSON Web Key Set is published. The engine does
	// no network I/O: the process that compiles the policy (cmd/cordon)
	// fetches it into JWKS first — https, or http on loopback only, 5 s,
	// at most 1 MiB — and again at every reload and every 10 minutes; a
	// failed fetch keeps the policy that is running.
	JWKSURL string `yaml:"jwks_url" json:"jwks_url,omitempty"`
	// Issuer is the required "iss". Required for JWT schemes.
	Issuer string `yaml:"issuer" json:"issuer,omitempty"`
	// Audience: "aud" must contain one of these. Required for JWT schemes.
	Audience []string `yaml:"audience" json:"audience,omitempty"`
	// Algorithms allowed in the token header. Default RS256, ES256, EdDSA.
	// "none" and HMAC algorithms are refused.
	Algorithms []string `yaml:"algorithms" json:"algorithms,omitempty"`
	// Leeway for exp, nbf and iat. Default 30s, at most 5m.
	Leeway time.Duration `yaml:"leeway" json:"leeway,omitempty"`
	// ScopeClaim names the claim holding granted scopes, a space-separated
	// string or an array of strings. Default "scope", then "scp".
	ScopeClaim string `yaml:"scope_claim" json:"scope_claim,omitempty"`
}

// APIKey is one accepted API key.
type APIKey struct {
	// ID names the client (it becomes the subject for rules and logs).
	ID string `yaml:"id" json:"id"`
	// SHA256 is the lower-case hex SHA-256 of the key. Keys themselves are
	// never configured.
	SHA256 string `yaml:"sha256" json:"sha256"`
	// Scopes granted to the key, checked against the operation's security
	// requirement.
	Scopes []string `yaml:"scopes" json:"scopes,omitempty"`
}

// Rule is a CEL expression that must evaluate to true, or the request is
// denied (403) with rule "cel.<name>". Variables: method, path (canonical,
// escaped), operation ("api/operationId"), path_params, query, headers,
// cookies (maps of decoded, typed values; header names lower-case), body
// (parsed JSON or form, null if none), claims (JWT claims, or {"sub": key
// id} for API keys; empty map if anonymous), subject (string).
type Rule struct {
	Name string `yaml:"name" json:"name"`
	Expr string `yaml:"expr" json:"expr"`
}

// OperationSettings overrides the API settings for one operation. Unset
// fields inherit.
type OperationSettings struct {
	RequestMode               Mode     `yaml:"request_mode" json:"request_mode,omitempty"`
	ResponseMode              Mode     `yaml:"response_mode" json:"response_mode,omitempty"`
	AllowUndeclaredProperties *bool    `yaml:"allow_undeclared_properties" json:"allow_undeclared_properties,omitempty"`
	AllowUndeclaredQuery      *bool    `yaml:"allow_undeclared_query" json:"allow_undeclared_query,omitempty"`
	AllowUndeclaredCookies    *bool    `yaml:"allow_undeclared_cookies" json:"allow_undeclared_cookies,omitempty"`
	ForwardHeaders            []string `yaml:"forward_headers" json:"forward_headers,omitempty"`       // added to the API's
	ContentEncodings          []string `yaml:"content_encodings" json:"content_encodings,omitempty"`   // replaces the API's if set
	OpaqueMediaTypes          []string `yaml:"opaque_media_types" json:"opaque_media_types,omitempty"` // added to the API's
	MaxBodyBytes              int64    `yaml:"max_body_bytes" json:"max_body_bytes,omitempty"`
	// Rules are checked after the API's rules.
	Rules                []Rule   `yaml:"rules" json:"rules,omitempty"`
	Minimize             *bool    `yaml:"minimize" json:"minimize,omitempty"`
	ResponseAllowHeaders []string `yaml:"response_allow_headers" json:"response_allow_headers,omitempty"` // added
	MaxResponseBytes     int64    `yaml:"max_response_bytes" json:"max_response_bytes,omitempty"`
}
