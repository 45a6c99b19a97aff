package frontend

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/cordon-gateway/cordon"
)

// statusOf is the one table mapping error kinds to HTTP statuses.
var statusOf = map[cordon.ErrorKind]int{
	cordon.KindInternal:         http.StatusInternalServerError,
	cordon.KindInvalid:          http.StatusBadRequest,
	cordon.KindUnauthorized:     http.StatusUnauthorized,
	cordon.KindDenied:           http.StatusForbidden,
	cordon.KindNotFound:         http.StatusNotFound,
	cordon.KindMethodNotAllowed: http.StatusMethodNotAllowed,
	cordon.KindTooLarge:         http.StatusRequestEntityTooLarge,
	cordon.KindURITooLong:       http.StatusRequestURITooLong,
	cordon.KindUnsupportedMedia: http.StatusUnsupportedMediaType,
	cordon.KindHeadersTooLarge:  http.StatusRequestHeaderFieldsTooLarge,
	cordon.KindRateLimited:      http.StatusTooManyRequests,
	cordon.KindExpired:          http.StatusGatewayTimeout,
	cordon.KindUpstream:         http.StatusBadGateway,
	cordon.KindUnavailable:      http.StatusServiceUnavailable,
	cordon.KindBlocked:          http.StatusBadGateway,
	cordon.KindDuplicate:        http.StatusBadGateway,
}

// StatusOf returns the HTTP status for an error kind.
func StatusOf(k cordon.ErrorKind) int {
	if s, ok := statusOf[k]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// Problem is an RFC 9457 problem body. It is terse on purpose: which rule
// failed and where, never schema text, internal values or upstream detail.
type Problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail,omitempty"`
	Instance  string `json:"instance"`
	RequestID string `json:"request_id"`
	Rule      string `json:"rule,omitempty"`
	Pointer   string `json:"pointer,omitempty"`
	// Findings appear only with verbose errors (development).
	Findings []string `json:"findings,omitempty"`
}

// detailOf gives each kind one fixed, safe sentence.
var detailOf = map[cordon.ErrorKind]string{
	cordon.KindInternal:         "The gateway failed to process the request.",
	cordon.KindInvalid:          "The request does not conform to the API contract.",
	cordon.KindUnauthorized:     "Valid credentials are required.",
	cordon.KindDenied:           "The request is not allowed.",
	cordon.KindNotFound:         "No such operation.",
	cordon.KindMethodNotAllowed: "The operation does not allow this method.",
	cordon.KindTooLarge:         "The request body is too large.",
	cordon.KindURITooLong:       "The request URL is too long.",
	cordon.KindUnsupportedMedia: "The content type is not accepted by this operation.",
	cordon.KindHeadersTooLarge:  "The request headers are too large.",
	cordon.KindRateLimited:      "Too many requests; retry later.",
	cordon.KindExpired:          "The request did not complete in time.",
	cordon.KindUpstream:         "The upstream service failed.",
	cordon.KindUnavailable:      "The gateway is busy or partly unavailable; retry later.",
	cordon.KindBlocked:          "The upstream response was withheld.",
	cordon.KindDuplicate:        "The outcome of this request is unknown; it was not sent again.",
}

// NewProblem builds the problem for an outcome.
func NewProblem(id cordon.RequestID, o cordon.Outcome) Problem {
	status := StatusOf(o.Kind)
	return Problem{
		Type:      "urn:cordon:problem:" + o.Kind.String(),
		Title:     http.StatusText(status),
		Status:    status,
		Detail:    detailOf[o.Kind],
		Instance:  "urn:uuid:" + id.String(),
		RequestID: id.String(),
		Rule:      o.Rule,
		Pointer:   o.Pointer,
	}
}

// retryAfter is the Retry-After value, in seconds, for kinds that invite a
// retry.
func retryAfter(k cordon.ErrorKind) string {
	switch k {
	case cordon.KindUnavailable, cordon.KindRateLimited:
		return "1"
	}
	return ""
}

// WriteProblem writes p as application/problem+json.
func WriteProblem(w http.ResponseWriter, p Problem, kind cordon.ErrorKind) {
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if ra := retryAfter(kind); ra != "" {
		h.Set("Retry-After", ra)
	}
	if kind == cordon.KindUnauthorized && h.Get("WWW-Authenticate") == "" {
		h.Set("WWW-Authenticate", `Bearer realm="cordon"`)
	}
	body, _ := json.Marshal(p)
	h.Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(p.Status)
	_, _ = w.Write(append(body, '\n'))
}
