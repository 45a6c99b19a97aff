package policy

// Rule ids are stable: they appear in findings, metrics, audit rows and
// problem bodies. A Pointer says where: an RFC 6901 JSON pointer into the
// body ("" is the whole body), or "path", "path/<name>", "query/<name>",
// "header/<Canonical-Name>", "cookie/<name>", "method", "status", "body".
//
// Request validator (Stage request-validator):
//
//	request.url.too-long               414  path + query over max_url_bytes
//	request.header.too-many            431  more than max_header_count lines
//	request.header.too-large           431  header block over max_header_bytes
//	request.path.<reason>              400  see NormalizePath: relative, control,
//	                                        invalid-char, bad-escape, bad-utf8,
//	                                        encoded-slash, encoded-dot, backslash,
//	                                        dot-segment, duplicate-slash
//	request.route.not-found            404  no API base path or no template matches
//	request.method.not-allowed         405  a template matches, not with this method
//	request.body.too-large             413  body (or decompressed body) over the limit
//	request.body.compression-ratio     413  decompressed/compressed over the ratio
//	request.content-encoding.unsupported 415 encoding not allowed, or stacked
//	request.content-encoding.corrupt   400
//	request.header.invalid-name|invalid-value 400  non-token name, control characters
//	request.query.<reason>             400  too-many, bad-escape, bad-utf8, control,
//	                                        invalid-char, empty-name, undeclared,
//	                                        case-mismatch, duplicate, empty, missing,
//	                                        malformed, schema
//	request.cookie.<reason>            400  too-many, invalid, undeclared, case-mismatch,
//	                                        duplicate, empty, missing, schema
//	request.header.<reason>            400  missing, duplicate, empty, schema
//	request.path.schema                400  a path parameter fails its schema
//	auth.missing                       401  no credential for any alternative
//	auth.invalid                       401  a credential was presented and is wrong
//	auth.scope                         403  authenticated, scopes missing
//	request.body.missing               400  required body absent
//	request.body.unexpected            415  a body where the operation takes none
//	request.content-type.<reason>      415  missing, invalid, undeclared, charset,
//	                                        opaque (declared but not allowed opaque)
//	json.<rule>                        400  the strict parser (see package jsonstrict);
//	                                        json.size is 413
//	request.body.undeclared            400  a member no schema declares (at pointer)
//	request.body.case-mismatch         400  a member equal to a declared one but for case
//	request.body.read-only             400  a readOnly member sent (mass assignment)
//	request.body.schema                400  JSON Schema validation (first failure)
//	request.body.<reason>              400  form/multipart: duplicate, bad-escape,
//	                                        bad-utf8, too-many, multipart,
//	                                        multipart-header; part-content-type is 415
//	cel.<name>                         403  a rule was false or failed to evaluate
//
// Response validator (Stage response-validator); every block is KindBlocked:
//
//	response.operation.unknown         no operation id, or not this policy's
//	response.missing                   no response head
//	response.status.undeclared         status not in responses (nor range, default)
//	response.header.invalid-value      CR, LF or NUL in a header value
//	response.header.missing|invalid|schema  declared response headers
//	response.header.removed            (drop) Server, X-Powered-By, debug headers removed
//	response.body.too-large            over max_body_bytes (also after decompression)
//	response.content-encoding.unsupported|corrupt
//	response.body.missing              empty body where content is declared
//	response.body.unexpected           a body where none is declared (or on 204/304)
//	response.body.undeclared           an undeclared member (drop when minimising)
//	response.content-type.missing|invalid|undeclared|charset
//	json.<rule>                        the upstream sent JSON the strict parser refuses
//	response.body.write-only           a writeOnly member (drop when minimising)
//	response.body.case-mismatch        a member equal to a declared one but for case
//	response.body.schema               JSON Schema validation
//	dlp.<detector>                     block, redact or report, per detector action
