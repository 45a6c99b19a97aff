package envelope

import (
	"encoding/binary"
	"fmt"
	"net/http"
	"time"

	"github.com/cordon-gateway/cordon"
)

// reader walks a payload. The first error sticks; every later read returns
// zero values, so decodePayload checks once at the end.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", ErrMalformed, what)
	}
	r.b = nil
}

func (r *reader) byte1(what string) byte {
	if len(r.b) < 1 {
		r.fail(what)
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *reader) fixed(n int, what string) []byte {
	if len(r.b) < n {
		r.fail(what)
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) uvarint(what string) uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 || n != uvarintLen(v) { // only the minimal encoding: one encoding per message
		r.fail(what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count reads a count capped at max.
func (r *reader) count(max int, what string) int {
	v := r.uvarint(what)
	if v > uint64(max) {
		r.fail(what + " count")
		return 0
	}
	return int(v)
}

func (r *reader) bytes(what string) []byte {
	n := r.uvarint(what)
	if n > uint64(len(r.b)) {
		r.fail(what + " length")
		return nil
	}
	return r.fixed(int(n), what)
}

func (r *reader) str(what string) string { return string(r.bytes(what)) }

func (r *reader) header(what string) http.Header {
	n := r.count(maxHeaderFields, what)
	if n == 0 {
		return nil
	}
	h := make(http.Header, n)
	prev := ""
	for i := range n {
		k := r.str(what)
		nv := r.count(maxHeaderValues, what)
		if r.err != nil {
			return nil
		}
		// Names are written sorted and unique (appendHeader), so exactly
		// one encoding exists for every header: anything else is refused.
		if i > 0 && k <= prev {
			r.fail(what + " names not sorted or repeated")
			return nil
		}
		prev = k
		vs := make([]string, nv)
		for j := range vs {
			vs[j] = r.str(what)
		}
		h[k] = vs
	}
	return h
}

func decodePayload(p []byte) (*cordon.Message, error) {
	r := &reader{b: p}
	m := &cordon.Message{}
	m.Producer = cordon.Stage(r.byte1("producer"))
	copy(m.ID[:], r.fixed(16, "id"))
	if d := r.fixed(8, "deadline"); d != nil {
		if ns := int64(binary.BigEndian.Uint64(d)); ns != 0 {
			m.Deadline = time.Unix(0, ns)
		}
	}
	m.ReplyTo = r.str("reply")
	m.Trace.Parent = r.str("traceparent")
	m.Trace.State = r.str("tracestate")

	q := &m.Request
	q.Method = r.str("method")
	q.Path = r.str("path")
	q.RawQuery = r.str("query")
	q.Host = r.str("host")
	q.Client = r.str("client")
	q.Operation = r.str("operation")
	q.Header = r.header("request header")

	switch r.byte1("response flag") {
	case 0:
	case 1:
		resp := &cordon.ResponseHead{}
		if s := r.fixed(2, "status"); s != nil {
			resp.Status = int(binary.BigEndian.Uint16(s))
		}
		resp.Header = r.header("response header")
		m.Response = resp
	default:
		r.fail("response flag")
	}

	m.Outcome.Kind = cordon.ErrorKind(r.byte1("outcome"))
	m.Outcome.Rule = r.str("outcome rule")
	m.Outcome.Pointer = r.str("outcome pointer")

	m.Verdict.PolicyVersion = r.str("policy version")
	if n := r.count(maxFindings, "findings"); n > 0 {
		m.Verdict.Findings = make([]cordon.Finding, 0, min(n, len(r.b)/5)) // a finding takes at least 5 bytes
		for range n {
			var f cordon.Finding
			f.Stage = cordon.Stage(r.byte1("finding"))
			f.Action = cordon.Action(r.byte1("finding"))
			f.Rule = r.str("finding rule")
			f.Pointer = r.str("finding pointer")
			f.Detail = r.str("finding detail")
			if r.err != nil {
				break
			}
			m.Verdict.Findings = append(m.Verdict.Findings, f)
		}
	}

	body := r.bytes("body")
	if r.err != nil {
		return nil, r.err
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%w: trailing bytes", ErrMalformed)
	}
	if len(body) > 0 {
		m.Body = body
	}
	if m.Response != nil && (m.Response.Status < 100 || m.Response.Status > 999) {
		return nil, fmt.Errorf("%w: status %d", ErrMalformed, m.Response.Status)
	}
	return m, nil
}

// uvarintLen is the length of the minimal uvarint encoding of v.
func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}
