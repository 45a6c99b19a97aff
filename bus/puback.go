package bus

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go/jetstream"
)

// pubAck is what Publisher needs of a stream's acknowledgement.
type pubAck struct {
	stream    string
	seq       uint64
	duplicate bool
}

// parsePubAck reads a JetStream publish acknowledgement. The server writes
// it in one of two fixed forms, {"stream":"S","seq":N} and the same with
// ,"duplicate": true before the brace; those are read here without
// reflection. Anything else (an error, a domain, a future field) goes to
// encoding/json, exactly as jetstream.PublishMsg would read it.
func parsePubAck(data []byte) (pubAck, error) {
	if a, ok := parseUsualPubAck(data); ok {
		return a, nil
	}
	var resp struct {
		Error     *jetstream.APIError `json:"error"`
		Stream    string              `json:"stream"`
		Seq       uint64              `json:"seq"`
		Duplicate bool                `json:"duplicate"`
	}
	if err := json.Unmarshal(data, &resp); err != nil {
		return pubAck{}, jetstream.ErrInvalidJSAck
	}
	if resp.Error != nil {
		return pubAck{}, fmt.Errorf("nats: %w", resp.Error)
	}
	if resp.Stream == "" {
		return pubAck{}, jetstream.ErrInvalidJSAck
	}
	return pubAck{stream: resp.Stream, seq: resp.Seq, duplicate: resp.Duplicate}, nil
}

// parseUsualPubAck reads the two forms the server writes; ok is false for
// anything else, which is then left to encoding/json.
func parseUsualPubAck(data []byte) (a pubAck, ok bool) {
	rest, found := bytes.CutPrefix(data, []byte(`{"stream":"`))
	if !found {
		return a, false
	}
	end := 0
	for end < len(rest) && nameByte(rest[end]) {
		end++
	}
	if end == 0 || end == len(rest) || rest[end] != '"' {
		return a, false // empty, or a byte no stream cordon provisions has
	}
	a.stream = string(rest[:end])
	if rest, found = bytes.CutPrefix(rest[end+1:], []byte(`,"seq":`)); !found {
		return a, false
	}
	n := 0
	for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
		n++
	}
	if n == 0 || (n > 1 && rest[0] == '0') {
		return a, false
	}
	seq, err := strconv.ParseUint(string(rest[:n]), 10, 64)
	if err != nil {
		return a, false
	}
	a.seq = seq
	switch string(rest[n:]) {
	case `}`:
	case `,"duplicate": true}`, `,"duplicate":true}`:
		a.duplicate = true
	default:
		return a, false
	}
	return a, true
}

// nameByte reports whether c may appear in the name of a stream cordon
// provisions (CORDON_DIRTY_REQ, KV_…): letters, digits, '_' and '-'.
func nameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}
