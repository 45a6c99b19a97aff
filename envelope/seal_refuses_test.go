package envelope_test

import (
	"net/http"
	"testing"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/envelope"
)

// Seal must refuse what every consumer's Open refuses (else the producer
// publishes a message that is silently dropped and the client waits for the
// deadline), and must never alter a field (status 65736 arrives as 200).
func TestSealRefusesWhatOpenRefuses(t *testing.T) {
	s := newSigner(t, cordon.StageBackend, frontendKey)
	for name, edit := range map[string]func(*cordon.Message){
		"status 42 (net/http client accepts 000-999)": func(m *cordon.Message) { m.Response = &cordon.ResponseHead{Status: 42} },
		"status 65736 wraps to 200":                   func(m *cordon.Message) { m.Response = &cordon.ResponseHead{Status: 65736} },
		"findings over cap":                           func(m *cordon.Message) { m.Verdict.Findings = make([]cordon.Finding, envelope.MaxFindings+1) },
		"header values over cap": func(m *cordon.Message) {
			m.Request.Header = http.Header{"X": make([]string, envelope.MaxHeaderValues+1)}
		},
	} {
		m := requestMessage()
		edit(m)
		if _, err := envelope.Seal(nil, m, s); err == nil {
			t.Errorf("%s: Seal accepted", name)
		}
	}
}
