// Package policy is cordon's policy engine: it compiles OpenAPI 3.0/3.1
// documents and cordon's settings (Settings) into a Policy, and judges
// requests (CheckRequest) and responses (CheckResponse) against it. Both
// validators call it, and so does the backend in the single-validation
// deployment.
//
// It is pure: no network I/O ever, file reads only in Compile (API key
// files, JWKS files). A Policy is immutable and safe for concurrent use
// (its one piece of mutable state is a bounded cache of verified JWTs); a
// reload compiles a new Policy and swaps it in.
//
// It may import the root package cordon, jsonstrict and dlp, the standard
// library, kin-openapi (loading and structural validation of documents),
// santhosh-tekuri/jsonschema/v6 (every schema), cel-go (rules), golang-jwt
// (tokens) and goccy/go-yaml (YAML to JSON). Rule ids are listed in
// rules.go.
//
// # Request checks, in order
//
//  1. URL length (414) and header count and size (431), before any parsing.
//  2. Path normalisation (NormalizePath; 400), then the API by base path and
//     the operation by template and method (404, 405). Modes apply from here:
//     what fails before an API is known is refused in every mode.
//  3. Body size (413), header value syntax, query string and cookie syntax.
//  4. Authentication and scopes (401, 403) from the OpenAPI security
//     requirements: API keys (header, query, cookie; SHA-256 hashes compared
//     in constant time) and JWT bearer tokens (oauth2, openIdConnect and
//     http bearer schemes; JWKS from a file or inline; iss, aud, exp, nbf,
//     iat, asymmetric algorithm allow-list). The engine does no network I/O:
//     a jwks_url is fetched by the caller (cmd/cordon) into the inline
//     jwks before Compile.
//  5. Path, query, header and cookie parameters (400): strict (undeclared
//     query parameters and cookies rejected unless relaxed per operation;
//     case variants of declared names and repeated scalars always
//     rejected), values coerced by their schema's types and validated.
//  6. The body (415, 413, 400): declared media type only; allowed
//     Content-Encoding only (decompressed with size and ratio limits);
//     JSON through jsonstrict, then the member check (see shape.go:
//     undeclared, case-variant and readOnly members are refused, every
//     object is closed unless relaxed), then JSON Schema; urlencoded and
//     multipart bodies become an object checked the same way; other media
//     types only if declared and listed in opaque_media_types.
//  7. CEL rules (403), cost-limited, fail closed.
//
// A passing request is rewritten in enforce mode (transform, then verify:
// what is forwarded is the serialisation of exactly what was validated, and
// the fuzz targets check that it passes again unchanged): canonical path,
// canonical query (sorted by key, every reserved character escaped, space
// as %20, "+" decoded as a space on the way in), only the forward
// allow-list of headers, credentials removed, JSON re-serialised by
// jsonstrict.AppendCanonical, urlencoded re-encoded, multipart re-encoded
// with a new boundary and only Content-Disposition and Content-Type part
// headers.
//
// # Decisions
//
//   - Duplicate slashes, "." and ".." segments, %2F, %2E, %5C, backslashes
//     and encoded control characters are rejected, not normalised: merging
//     would give one resource two spellings and hide probing. Raw ";" and
//     "+" are legal but always escaped in the canonical path.
//   - Routing is cordon's own segment trie over the canonical, decoded
//     segments rather than kin-openapi's routers, which match
//     *http.Request values against server URLs and hosts with one regexp
//     per route and unescape on their own: the path routed, validated and
//     forwarded must be one and the same.
//   - Every schema is compiled once with jsonschema/v6 as draft 2020-12,
//     directly from the raw document (a jsonschema resource; schemas are
//     compiled by JSON pointer so local $refs resolve as written). 3.0
//     schemas are rewritten first (nullable to a "null" type, boolean
//     exclusiveMinimum/Maximum to numbers, $ref siblings dropped). Unknown
//     schema keywords and external $refs are compile errors. OpenAPI formats
//     int32/int64 bound integers, byte is strict base64. Regexps are RE2.
//     kin-openapi's validator was measured against it on the 3.0 payments
//     spec (BenchmarkSchemaEngines, parse included, this 2-core machine):
//     one Account 35 µs (kin, encoding/json) vs 14 µs (v6, jsonstrict); a
//     list of 20 Accounts 250-340 µs vs 285-325 µs. Equal on 3.0, and on 3.1
//     kin recompiles per call (~1 ms, see FACTS.md); one engine also means
//     one error model and one set of semantics for both versions.
//   - A request schema ignores "required" for readOnly members and a
//     response schema for writeOnly ones (two compiled views of the
//     document), as OpenAPI specifies.
//   - Undeclared means: no applicable schema (through $ref, allOf, anyOf,
//     oneOf, if/then/else) names the member in properties, matches it with
//     patternProperties or has a schema-valued additionalProperties (a map).
//     additionalProperties: true, or a schema with no properties at all,
//     declares nothing. A member under a oneOf branch that did not match is
//     still "declared"; JSON Schema then judges the branch.
//   - Multipart parts with a filename or a non-text content type are
//     validated as "" (presence and type, not content); their declared
//     encoding contentType is enforced.
//   - Monitor mode runs the same code as enforce and reports the same
//     findings with Action report; it never rewrites the message. Off skips
//     the checks (routing still names the operation).
//   - Responses: the status must be declared (exact, range, default), the
//     content type declared, JSON strict and valid against the schema;
//     undeclared members block, or with minimize are removed and reported;
//     gzip/deflate bodies are decompressed within the size limit; headers
//     are reduced to the declared ones, the basics and allow_headers, and
//     Server, X-Powered-By and X-Debug-* always go. DLP runs last on the
//     final body and on the kept header values: block, redact (dlp keeps
//     JSON valid) or report.
//   - Verified JWTs are cached by SHA-256 of the token (4096 entries,
//     expiry and not-before re-checked on every hit): a returning client
//     costs a hash instead of a signature verification.
//
// # Measurements
//
// go test -bench 'CheckRequest|CheckResponse' -benchtime 1s -count 3 on
// the payments spec (testdata/payments-3.*.yaml), 2 cores shared with other
// builds (load 10-14, so timings are upper bounds; allocations are exact);
// see BenchmarkCheckRequest/BenchmarkCheckResponse for the messages:
//
//	request GET /accounts/{id}, API key            6-11 µs      16 allocs
//	request GET /accounts/{id}, cached JWT         6-12 µs      12 allocs
//	request GET /accounts/{id}, new JWT (EdDSA)    120-165 µs   90 allocs
//	request GET /accounts, 5 query params, cookie  33-50 µs    131 allocs
//	request PATCH JSON (merge-patch), cached JWT   24-44 µs     69 allocs
//	request POST /payments JSON, cached JWT        44-56 µs    108 allocs
//	request POST urlencoded form, cached JWT       23-25 µs     78 allocs
//	response one Account                           16-38 µs     83 allocs
//	response 20 Accounts (4.2 KB)                  230-560 µs 1233 allocs
//	response one Payment, IBANs redacted           37-72 µs    146 allocs
//
// JSON Schema validation (formats asserted: uuid, email, date-time)
// dominates the body costs.
package policy
