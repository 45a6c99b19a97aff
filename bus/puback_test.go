package bus

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

func TestParsePubAck(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want pubAck
	}{
		{`{"stream":"CORDON_DIRTY_REQ","seq":1}`, pubAck{stream: "CORDON_DIRTY_REQ", seq: 1}},
		{`{"stream":"S","seq":18446744073709551615}`, pubAck{stream: "S", seq: 18446744073709551615}},
		{`{"stream":"S","seq":7,"duplicate": true}`, pubAck{stream: "S", seq: 7, duplicate: true}},
		{`{"stream":"S","seq":7,"duplicate":true}`, pubAck{stream: "S", seq: 7, duplicate: true}},
		// Other forms are read by encoding/json.
		{`{"stream":"S","domain":"hub","seq":9}`, pubAck{stream: "S", seq: 9}},
		{`{"stream":"S", "seq":9}`, pubAck{stream: "S", seq: 9}},
		{`{"stream":"S","seq":9,"duplicate":false}`, pubAck{stream: "S", seq: 9}},
		{`{"seq":3,"stream":"S"}`, pubAck{stream: "S", seq: 3}},
	} {
		got, err := parsePubAck([]byte(tc.in))
		if err != nil || got != tc.want {
			t.Errorf("parsePubAck(%s) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

func TestParsePubAckRefuses(t *testing.T) {
	for _, in := range []string{
		``, `{}`, `{"stream":"","seq":1}`, `{"stream":"S","seq":1`, `not json`,
		`{"stream":"S","seq":18446744073709551616}`, `{"stream":"S","seq":-1}`,
	} {
		if _, err := parsePubAck([]byte(in)); !errors.Is(err, jetstream.ErrInvalidJSAck) {
			t.Errorf("parsePubAck(%q): err = %v, want ErrInvalidJSAck", in, err)
		}
	}
	// The server's refusals keep their code, so transient() can tell them
	// from a lost acknowledgement.
	_, err := parsePubAck([]byte(`{"error":{"code":503,"err_code":10077,"description":"maximum messages exceeded"}}`))
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode != 10077 || transient(err) {
		t.Fatalf("refusal: err = %v, want an APIError 10077 that is not transient", err)
	}
}

func FuzzParsePubAck(f *testing.F) {
	f.Add([]byte(`{"stream":"S","seq":7,"duplicate": true}`))
	f.Add([]byte(`{"stream":"S","domain":"d","seq":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		fast, ok := parseUsualPubAck(data)
		if !ok {
			return
		}
		// Whatever the fast path reads, encoding/json reads the same.
		var slow struct {
			Stream    string `json:"stream"`
			Seq       uint64 `json:"seq"`
			Duplicate bool   `json:"duplicate"`
		}
		if err := json.Unmarshal(data, &slow); err != nil {
			t.Fatalf("fast path read %q, encoding/json refuses it: %v", data, err)
		}
		if fast != (pubAck{stream: slow.Stream, seq: slow.Seq, duplicate: slow.Duplicate}) {
			t.Fatalf("%q: fast %+v, encoding/json %+v", data, fast, slow)
		}
	})
}
