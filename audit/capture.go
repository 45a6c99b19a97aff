package audit

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/audit/trail"
	"github.com/cordon-gateway/cordon/dlp"
	"github.com/cordon-gateway/cordon/envelope"
)

// ExpectedProducer is the stage whose key must sign a message on bus b with
// the given subject: bus 1 carries the frontend's requests on ".in" and the
// request validator's rejections on ".reply.<frontend>"; every other bus
// has one producer (bus/subjects.go).
func ExpectedProducer(b cordon.Bus, subject string) cordon.Stage {
	if b == cordon.BusDirtyReq {
		tokens := strings.Split(subject, ".")
		if len(tokens) >= 2 && tokens[len(tokens)-2] == "reply" {
			return cordon.StageRequestValidator
		}
	}
	return b.Producer()
}

// secretNames are header and parameter names always masked. Any name
// containing one of secretParts is masked too: failing closed costs a
// masked harmless header, failing open leaks a credential.
var (
	secretNames = []string{"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key",
		"api-key", "apikey", "x-auth-token", "x-csrf-token", "x-xsrf-token"}
	secretParts = []string{"auth", "token", "secret", "key", "session", "password", "passwd", "cookie",
		"credential", "signature", "jwt", "bearer"}
)

// Capturer turns bus messages into audit records: it checks the envelope
// signature, masks credentials, and keeps, hashes or redacts the body as
// configured for the bus and operation.
type Capturer struct {
	capture CaptureConfig
	extra   map[string]bool // operator's extra secret header/parameter names, lower case
	maskKey []byte          // HMAC key for masked values; nil: no correlation digest
	scanner *dlp.Scanner
	keys    *Keyring
	// raw skips every masking step: verify uses it to rebuild a record
	// from a kept envelope (which exists only where nothing was masked).
	raw bool
}

// NewCapturer compiles cfg. maskKey keys the digest written in place of a
// masked value (so one token can be followed across records without being
// stored); derive it with MaskKey.
func NewCapturer(cfg CaptureConfig, keys *Keyring, maskKey []byte) (*Capturer, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	c := &Capturer{capture: cfg, extra: map[string]bool{}, maskKey: maskKey, keys: keys}
	for _, n := range append(append([]string{}, cfg.SecretHeaders...), cfg.SecretParams...) {
		c.extra[strings.ToLower(n)] = true
	}
	sc, err := dlp.Compile(dlp.Config{})
	if err != nil {
		return nil, fmt.Errorf("audit: data-loss detectors: %w", err)
	}
	c.scanner = sc
	return c, nil
}

// MaskKey derives the masking key from the audit signing key.
func MaskKey(priv ed25519.PrivateKey) []byte {
	h := sha256.Sum256(append([]byte("cordon/audit/mask/v1\n"), priv.Seed()...))
	return h[:]
}

func (c *Capturer) secret(name string) bool {
	if c.raw {
		return false
	}
	n := strings.ToLower(name)
	if c.extra[n] {
		return true
	}
	for _, s := range secretNames {
		if n == s {
			return true
		}
	}
	for _, p := range secretParts {
		if strings.Contains(n, p) {
			return true
		}
	}
	return false
}

// mask replaces a credential with a keyed digest, keeping an
// Authorization scheme ("Bearer") visible.
func (c *Capturer) mask(v string) string {
	prefix := ""
	if scheme, rest, ok := strings.Cut(v, " "); ok && len(scheme) < 20 && !strings.ContainsAny(scheme, "=;,") {
		prefix, v = scheme+" ", rest
	}
	if c.maskKey == nil {
		return prefix + "[masked]"
	}
	m := hmac.New(sha256.New, c.maskKey)
	m.Write([]byte(v))
	return prefix + "[masked " + hex.EncodeToString(m.Sum(nil)[:8]) + "]"
}

func (c *Capturer) header(h http.Header, masked *int32) string {
	if len(h) == 0 {
		return ""
	}
	out := make(http.Header, len(h))
	for k, vs := range h {
		if !c.secret(k) {
			out[k] = vs
			continue
		}
		mv := make([]string, len(vs))
		for i, v := range vs {
			mv[i] = c.mask(v)
			*masked++
		}
		out[k] = mv
	}
	return trail.EncodeHeader(out)
}

// query masks credential-like parameters. An unparseable query is kept
// only as a digest: it could hide anything.
func (c *Capturer) query(q string, masked *int32) string {
	if q == "" {
		return ""
	}
	parts := strings.Split(q, "&")
	for i, p := range parts {
		k, v, _ := strings.Cut(p, "=")
		name, err := url.QueryUnescape(k)
		if c.raw {
			continue
		}
		if err != nil {
			*masked++
			return c.mask(q)
		}
		if c.secret(name) && v != "" {
			parts[i] = k + "=" + url.QueryEscape(c.mask(v))
			*masked++
		}
	}
	return strings.Join(parts, "&")
}

// Records captures a batch, spreading the work (one signature check per
// message dominates it) over the available cores.
func (c *Capturer) Records(brs []cordon.BusRecord) []trail.Record {
	out := make([]trail.Record, len(brs))
	workers := min(runtime.GOMAXPROCS(0), 8, (len(brs)+31)/32)
	if workers <= 1 {
		for i, br := range brs {
			out[i] = c.Record(br)
		}
		return out
	}
	var wg sync.WaitGroup
	chunk := (len(brs) + workers - 1) / workers
	for lo := 0; lo < len(brs); lo += chunk {
		hi := min(lo+chunk, len(brs))
		wg.Go(func() {
			for i := lo; i < hi; i++ {
				out[i] = c.Record(brs[i])
			}
		})
	}
	wg.Wait()
	return out
}

// Record builds the audit record of one bus message. It never fails: a
// message that cannot be parsed is recorded as malformed, with its digest.
func (c *Capturer) Record(br cordon.BusRecord) trail.Record {
	r := trail.Record{
		Bus: br.Bus, Seq: br.Seq, Time: trail.Micro(br.Time), Subject: trail.Clean(br.Subject),
		Expected:       ExpectedProducer(br.Bus, br.Subject),
		EnvelopeSHA256: trail.Sum(br.Data), EnvelopeLen: int64(len(br.Data)),
	}
	m, in, err := envelope.Parse(br.Data)
	if err != nil {
		// Keep what the fixed prefix says, if it is there.
		if in2, err2 := envelope.Split(br.Data); err2 == nil {
			r.KeyID, r.Signature = append([]byte(nil), in2.KeyID[:]...), append([]byte(nil), in2.Signature...)
		}
		r.Sig = trail.SigMalformed
		r.Capture, r.BodyLen = trail.CaptureHash, 0
		r.BodySHA256 = trail.Sum(nil)
		r.Leaf = r.ComputeLeaf()
		return r
	}
	r.KeyID, r.Signature = append([]byte(nil), in.KeyID[:]...), append([]byte(nil), in.Signature...)
	r.RequestID, r.Producer = m.ID, m.Producer
	r.Deadline = trail.Micro(m.Deadline)
	r.Expired = !r.Deadline.After(r.Time) // both at stored precision, so verify recomputes the same

	q := &m.Request
	r.Method, r.Path, r.Host = trail.Clean(q.Method), trail.Clean(q.Path), trail.Clean(q.Host)
	r.Client, r.Operation = trail.Clean(q.Client), trail.Clean(q.Operation)
	r.Query = trail.Clean(c.query(q.RawQuery, &r.Masked))
	r.ReqHeader = c.header(q.Header, &r.Masked)
	if m.Response != nil {
		r.Status = m.Response.Status
		r.RespHeader = c.header(m.Response.Header, &r.Masked)
	}
	r.Outcome, r.OutcomeRule, r.OutcomePointer = m.Outcome.Kind, trail.Clean(m.Outcome.Rule), trail.Clean(m.Outcome.Pointer)
	r.PolicyVersion = trail.Clean(m.Verdict.PolicyVersion)
	r.Findings = trail.EncodeFindings(m.Verdict.Findings)
	r.TraceParent = trail.Clean(m.Trace.Parent)

	r.BodySHA256, r.BodyLen = trail.Sum(m.Body), int64(len(m.Body))
	r.Capture = c.capture.mode(br.Bus, m.Request.Operation)
	if r.BodyLen > c.capture.maxBody() {
		r.Capture = trail.CaptureHash
	}
	switch r.Capture {
	case trail.CaptureFull:
		r.Body = append([]byte{}, m.Body...)
	case trail.CaptureRedact:
		if c.raw {
			r.Body = append([]byte{}, m.Body...)
			break
		}
		ms := c.scanner.Scan(m.Body)
		for i := range ms {
			ms[i].Action = cordon.ActionRedact // the audit masks every match, whatever the policy does
		}
		r.Masked += int32(len(ms))
		r.Body = c.scanner.Redact(m.Body, ms)
	}
	// The envelope is kept only when it reveals nothing the columns do not.
	kept := r.Capture != trail.CaptureHash && r.Masked == 0
	if kept {
		r.Envelope = append([]byte{}, br.Data...)
	}
	if kept && c.capture.DeferSignatures && !c.raw {
		r.Sig = trail.SigUnchecked // audit verify checks the kept envelope
	} else {
		r.Sig = c.keys.check(br.Data, m, in, nil, r.Expected)
	}
	r.Leaf = r.ComputeLeaf()
	return r
}

// rederive rebuilds the record that stored's kept envelope implies, for
// verify: every column must follow from the envelope.
func rederive(stored *trail.Record, keys *Keyring) trail.Record {
	c := &Capturer{capture: CaptureConfig{Default: stored.Capture.String(), MaxBody: 1 << 62}, keys: keys, raw: true}
	return c.Record(cordon.BusRecord{Bus: stored.Bus, Seq: stored.Seq, Subject: stored.Subject,
		Time: stored.Time, Data: stored.Envelope})
}
