package frontend_test

import (
	"bufio"
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/envelope"
	"github.com/cordon-gateway/cordon/frontend"
)

// FuzzHTTPToEnvelope feeds raw HTTP requests to the frontend: it never
// panics, every answer carries X-Request-Id, and every message it sends
// seals and opens to the same request head (client bytes survive the
// envelope intact, and no hop-by-hop header travels).
func FuzzHTTPToEnvelope(f *testing.F) {
	for _, s := range []string{
		"GET /a?b=c HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Type: application/json\r\n\r\n{}\n",
		"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nConnection: X-A, close\r\nX-A: 1\r\nNats-Msg-Id: z\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	signer, _ := func() (*envelope.Signer, error) {
		_, priv, _ := envelope.GenerateKey()
		return envelope.NewSigner(cordon.StageFrontend, priv)
	}()
	verifier, _ := envelope.NewVerifier(cordon.StageFrontend, signer.Public())
	f.Fuzz(func(t *testing.T, raw []byte) {
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
		if err != nil {
			return
		}
		l := &loopback{answer: echoOK}
		fe, err := frontend.New(frontend.Config{ID: "fe1", Timeout: 200 * time.Millisecond, MaxBodyBytes: 1024,
			MaxHeaderBytes: 2048, MaxURLBytes: 512, MaxInflight: 4}, l, nil, nil, quiet, nil)
		if err != nil {
			t.Fatal(err)
		}
		l.fe = fe
		req.RemoteAddr = "192.0.2.1:1234"
		w := httptest.NewRecorder()
		fe.ServeHTTP(w, req)
		if w.Header().Get("X-Request-Id") == "" {
			t.Fatal("answer without X-Request-Id")
		}
		for _, m := range l.sent {
			for _, h := range []string{"Connection", "Transfer-Encoding", "Keep-Alive", "Te", "Upgrade"} {
				if _, ok := m.Request.Header[h]; ok {
					t.Fatalf("hop-by-hop %s in the envelope", h)
				}
			}
			wire, err := envelope.Seal(nil, m, signer)
			if err != nil {
				t.Fatalf("seal: %v", err)
			}
			got, err := envelope.Open(wire, verifier)
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			if got.Request.Method != m.Request.Method || got.Request.Path != m.Request.Path ||
				got.Request.RawQuery != m.Request.RawQuery || !bytes.Equal(got.Body, m.Body) {
				t.Fatalf("envelope changed the request: %+v vs %+v", got.Request, m.Request)
			}
		}
	})
}
