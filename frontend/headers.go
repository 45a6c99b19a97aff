package frontend

import (
	"net/http"
	"net/textproto"
	"strings"
)

// hopByHop are the RFC 9110 §7.6.1 connection-specific fields, plus the
// proxy credentials meant for this hop only. They never cross a bus.
var hopByHop = []string{
	"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// stripHopByHop removes hop-by-hop fields and any field named in
// Connection, in place.
func stripHopByHop(h http.Header) {
	for _, v := range h["Connection"] {
		for _, name := range strings.Split(v, ",") {
			if name = strings.TrimSpace(name); name != "" {
				h.Del(textproto.CanonicalMIMEHeaderKey(name))
			}
		}
	}
	for _, k := range hopByHop {
		delete(h, k)
	}
}

// headerSize approximates the bytes of a header block as sent.
func headerSize(h http.Header) (fields, size int) {
	for k, vs := range h {
		for _, v := range vs {
			fields++
			size += len(k) + len(v) + 4
		}
	}
	return fields, size
}
