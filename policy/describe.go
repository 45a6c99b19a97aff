package policy

import (
	"sort"
	"strings"

	"github.com/cordon-gateway/cordon/dlp"
)

// Description is the effective policy, for `cordon check`: every default
// filled in, every override applied. It holds no secrets (key hashes are
// counted, not listed).
type Description struct {
	Version string           `json:"version"`
	APIs    []APIDescription `json:"apis"`
}

// APIDescription is one API's effective policy.
type APIDescription struct {
	Name       string                 `json:"name"`
	BasePath   string                 `json:"base_path"`
	Title      string                 `json:"title,omitempty"`
	Version    string                 `json:"version,omitempty"`
	OpenAPI    string                 `json:"openapi"`
	Limits     LimitsDescription      `json:"limits"`
	Schemes    []SchemeDescription    `json:"security_schemes,omitempty"`
	DLP        map[string]string      `json:"dlp"` // detector -> action; disabled ones absent
	Operations []OperationDescription `json:"operations"`
}

// LimitsDescription are the effective request limits of an API.
type LimitsDescription struct {
	MaxURLBytes         int `json:"max_url_bytes"`
	MaxHeaderCount      int `json:"max_header_count"`
	MaxHeaderBytes      int `json:"max_header_bytes"`
	MaxCompressionRatio int `json:"max_compression_ratio"`
	MaxParams           int `json:"max_params"`
	JSONMaxDepth        int `json:"json_max_depth"`
	JSONMaxMembers      int `json:"json_max_members"`
	JSONMaxArrayLen     int `json:"json_max_array_len"`
	JSONMaxStringLen    int `json:"json_max_string_len"`
	JSONMaxNumberLen    int `json:"json_max_number_len"`
}

// SchemeDescription is one configured security scheme.
type SchemeDescription struct {
	Name     string   `json:"name"`
	Type     string   `json:"type"` // apiKey or jwt
	In       string   `json:"in"`
	Param    string   `json:"param"`
	Keys     int      `json:"keys,omitempty"`
	Issuer   string   `json:"issuer,omitempty"`
	Audience []string `json:"audience,omitempty"`
}

// OperationDescription is one operation's effective policy.
type OperationDescription struct {
	ID                        string              `json:"id"`
	Method                    string              `json:"method"`
	Path                      string              `json:"path"`
	RequestMode               Mode                `json:"request_mode"`
	ResponseMode              Mode                `json:"response_mode"`
	Security                  [][]string          `json:"security"` // alternatives of "scheme[scope,...]"; [] = anonymous
	Parameters                []string            `json:"parameters,omitempty"`
	RequestMediaTypes         []string            `json:"request_media_types,omitempty"`
	BodyRequired              bool                `json:"body_required,omitempty"`
	MaxBodyBytes              int64               `json:"max_body_bytes"`
	AllowUndeclaredProperties bool                `json:"allow_undeclared_properties"`
	AllowUndeclaredQuery      bool                `json:"allow_undeclared_query"`
	AllowUndeclaredCookies    bool                `json:"allow_undeclared_cookies"`
	ForwardHeaders            []string            `json:"forward_headers,omitempty"`
	ForwardCredentials        bool                `json:"forward_credentials"`
	ContentEncodings          []string            `json:"content_encodings,omitempty"`
	OpaqueMediaTypes          []string            `json:"opaque_media_types,omitempty"`
	Rules                     []Rule              `json:"rules,omitempty"`
	Responses                 map[string][]string `json:"responses"` // status -> media types
	ResponseHeaders           []string            `json:"response_headers"`
	MaxResponseBytes          int64               `json:"max_response_bytes"`
	Minimize                  bool                `json:"minimize"`
}

// Describe returns the effective policy as a Description.
func (p *Policy) Describe() any {
	d := Description{Version: p.version}
	apis := append([]*apiPolicy(nil), p.apis...)
	sort.Slice(apis, func(i, j int) bool { return apis[i].name < apis[j].name })
	for _, ap := range apis {
		ad := APIDescription{Name: ap.name, BasePath: ap.basePath, Title: ap.title, Version: ap.version,
			OpenAPI: map[bool]string{true: "3.0", false: "3.1"}[ap.is30], DLP: map[string]string{}}
		l := ap.limits
		ad.Limits = LimitsDescription{l.url, l.headerCount, l.headerBytes, l.ratio, l.params,
			l.json.MaxDepth, l.json.MaxMembers, l.json.MaxArrayLen, l.json.MaxStringLen, l.json.MaxNumberLen}
		disabled := map[string]bool{}
		for _, n := range ap.settings.Response.DLP.Disable {
			disabled[n] = true
		}
		for _, det := range dlp.Detectors() {
			if !disabled[det.Name] {
				ad.DLP[det.Name] = det.Action.String()
			}
		}
		for n, a := range ap.settings.Response.DLP.Actions {
			if !disabled[n] {
				ad.DLP[n] = a
			}
		}
		for _, c := range ap.settings.Response.DLP.Custom {
			a := c.Action
			if a == "" {
				a = "block"
			}
			ad.DLP[c.Name] = a
		}
		seen := map[string]bool{}
		for _, op := range ap.ops {
			for _, alt := range op.security {
				for _, r := range alt {
					if seen[r.s.name] {
						continue
					}
					seen[r.s.name] = true
					sd := SchemeDescription{Name: r.s.name, Type: r.s.kind, In: r.s.in, Param: r.s.key, Keys: len(r.s.keys)}
					if r.s.kind == "jwt" {
						cfg := ap.settings.Auth.Schemes[r.s.name]
						sd.Issuer, sd.Audience = cfg.Issuer, cfg.Audience
					}
					ad.Schemes = append(ad.Schemes, sd)
				}
			}
			ad.Operations = append(ad.Operations, describeOp(op))
		}
		sort.Slice(ad.Schemes, func(i, j int) bool { return ad.Schemes[i].Name < ad.Schemes[j].Name })
		d.APIs = append(d.APIs, ad)
	}
	return d
}

func describeOp(op *operation) OperationDescription {
	od := OperationDescription{ID: op.id, Method: op.method, Path: op.route.template,
		RequestMode: op.reqMode, ResponseMode: op.respMode, MaxBodyBytes: op.limits.body,
		AllowUndeclaredProperties: op.allowProps, AllowUndeclaredQuery: op.allowQuery,
		AllowUndeclaredCookies: op.allowCookies, ForwardHeaders: op.forwardHeaders,
		ForwardCredentials: op.api.settings.Auth.ForwardCredentials,
		Security:           [][]string{}, Responses: map[string][]string{}, MaxResponseBytes: op.respMax, Minimize: op.minimize}
	for _, alt := range op.security {
		var names []string
		for _, r := range alt {
			n := r.s.name
			if len(r.scopes) > 0 {
				n += "[" + strings.Join(r.scopes, ",") + "]"
			}
			names = append(names, n)
		}
		od.Security = append(od.Security, names)
	}
	var params []*param
	for _, p := range op.pathParams {
		params = append(params, p)
	}
	params = append(append(append(params, op.query...), op.headers...), op.cookies...)
	for _, p := range params {
		s := p.pointer
		if p.required {
			s += " (required)"
		}
		od.Parameters = append(od.Parameters, s)
	}
	sort.Strings(od.Parameters)
	if op.body != nil {
		od.BodyRequired = op.body.required
		for _, m := range op.body.media {
			od.RequestMediaTypes = append(od.RequestMediaTypes, m.key)
		}
	}
	for e := range op.encodings {
		od.ContentEncodings = append(od.ContentEncodings, e)
	}
	sort.Strings(od.ContentEncodings)
	for mt := range op.opaque {
		od.OpaqueMediaTypes = append(od.OpaqueMediaTypes, mt)
	}
	sort.Strings(od.OpaqueMediaTypes)
	for _, r := range op.rules {
		od.Rules = append(od.Rules, Rule{Name: r.name, Expr: r.expr})
	}
	for code, rs := range op.responses {
		var mts []string
		for _, m := range rs.media {
			mts = append(mts, m.key)
		}
		if mts == nil {
			mts = []string{}
		}
		od.Responses[strings.ToLower(code)] = mts
	}
	for h := range op.respAllow {
		od.ResponseHeaders = append(od.ResponseHeaders, h)
	}
	for _, rs := range op.responses {
		for _, h := range rs.headers {
			od.ResponseHeaders = append(od.ResponseHeaders, h.name)
		}
	}
	sort.Strings(od.ResponseHeaders)
	od.ResponseHeaders = dedupSorted(od.ResponseHeaders)
	return od
}

func dedupSorted(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}
