// Package policy is cordon's policy engine: it compiles OpenAPI 3.0/3.1
// documents and cordon's settings (Settings) into a Policy, and judges
// requests (CheckRequest) and responses (CheckResponse) against it. Both
// validators call it, and so does the backend in the single-validation
// deployment.
//
// It is pure: no network I/O ever, file reads only in Compile (key files,
// JWKS files). A Policy is immutable and safe for concurrent use; a reload
// compiles a new one.
//
// It may import the root package cordon, jsonstrict and dlp, the standard
// library, kin-openapi (document loading and structural validation),
// santhosh-tekuri/jsonschema/v6 (every schema), cel-go (rules), golang-jwt
// (tokens) and goccy/go-yaml (YAML to JSON).
//
// Design notes and measurements are at the end of this comment; rule ids
// are listed in rules.go.
package policy
