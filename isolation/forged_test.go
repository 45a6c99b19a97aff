package isolation_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/bus"
	"github.com/cordon-gateway/cordon/envelope"
)

// forgery is one message injected onto a clean bus.
type forgery struct {
	name  string
	data  []byte
	msgID string
	id    string // request id it carries ("" if none)
	// audited is how the audit trail must record it: its signature check
	// ("verified" for the rightful key), and "expired" if so.
	audited string
}

func (d *deployment) seal(t *testing.T, m *cordon.Message, s *envelope.Signer) []byte {
	t.Helper()
	b, err := envelope.Seal(nil, m, s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// freshSigner is a key nobody trusts, for stage s: an Ed25519 key, or a
// link key when the deployment runs on link keys.
func (d *deployment) freshSigner(t *testing.T, s cordon.Stage) *envelope.Signer {
	t.Helper()
	if d.link {
		sg, err := envelope.NewLinkSigner(s, envelope.GenerateLinkKey())
		if err != nil {
			t.Fatal(err)
		}
		return sg
	}
	_, priv, err := envelope.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	sg, err := envelope.NewSigner(s, priv)
	if err != nil {
		t.Fatal(err)
	}
	return sg
}

// forgeries builds the five ways to fake a message that stage producer
// rightfully signs: no signature, a key nobody trusts, another stage's
// (trusted) key, the rightful signature over another body, the rightful
// key on an expired message. mk builds a plausible message with deadline.
func (d *deployment) forgeries(t *testing.T, producer, other cordon.Stage, mk func(deadline time.Time) *cordon.Message) []forgery {
	rightful := d.signer[producer]
	later := time.Now().Add(time.Minute)
	var fs []forgery
	add := func(name string, m *cordon.Message, data []byte, audited string) {
		fs = append(fs, forgery{name: name, data: data, msgID: "forged-" + strings.ReplaceAll(name, " ", "-"),
			id: m.ID.String(), audited: audited})
	}
	m := mk(later)
	add("no signature", m, []byte(`{"id":"`+m.ID.String()+`","method":"POST","path":"/items","body":"forged"}`), "malformed")
	fs[0].id = ""
	m = mk(later)
	add("wrong key", m, d.seal(t, m, d.freshSigner(t, producer)), "unknown-key")
	m = mk(later)
	add("another stage's key", m, d.seal(t, m, d.signer[other]), "unknown-key") // not a key of this bus
	m = mk(later)
	altered := d.seal(t, m, rightful)
	altered[len(altered)-3] ^= 0x20 // the signature now covers another body
	add("signature over another body", m, altered, "bad-signature")
	m = mk(time.Now().Add(-time.Second))
	add("expired deadline", m, d.seal(t, m, rightful), "verified expired")
	return fs
}

// injection is where a forger publishes: onto bus, with the NKey of the
// role that may publish there (a misused credential, without its signing
// key), messages that stage producer rightfully signs.
type injection struct {
	bus      cordon.Bus
	role     string
	producer cordon.Stage
	other    cordon.Stage // another stage, whose key is trusted elsewhere
}

// injections are the buses whose messages the next stage acts on without
// judging them again: the approved requests the backend sends upstream,
// and the answers the frontend gives clients. In single validation the
// backend judges what it reads (bus 1) and answers on bus 3.
func (d *deployment) injections() (requests, answers injection) {
	if d.mode == "single-validation" {
		return injection{cordon.BusDirtyReq, "frontend", cordon.StageFrontend, cordon.StageBackend},
			injection{cordon.BusDirtyResp, "backend", cordon.StageBackend, cordon.StageFrontend}
	}
	return injection{cordon.BusCleanReq, "request-validator", cordon.StageRequestValidator, cordon.StageFrontend},
		injection{cordon.BusCleanResp, "response-validator", cordon.StageResponseValidator, cordon.StageBackend}
}

// forgedApprovals injects forged requests onto bus 2 and forged answers
// onto bus 4 (buses 1 and 3 in single validation) with a misused
// credential — the request validator's and the response validator's own
// NKeys, from their own hosts, without their signing keys — and requires
// every one to be refused by its consumer (counted on its /metrics), to
// be on the audit trail, and none to reach the upstream or a client. The
// provisioning admin cannot even publish there (Permissions).
func (d *deployment) forgedApprovals(t *testing.T) {
	t.Run("CleanRequests", d.forgedRequests)
	t.Run("CleanAnswers", d.forgedAnswers)
	t.Run("RejectionsOnly", d.rejectionsOnly)
}

// rejectionsOnly: bus 1 carries the request validator's rejections back
// to the frontend, never answers (a gap this test found, since closed). A request validator that was taken over
// (its own key and NKey) answers an in-flight request on bus 1 with a
// fabricated 200; the client must get the genuine, response-validated
// answer instead.
func (d *deployment) rejectionsOnly(t *testing.T) {
	if d.mode == "single-validation" {
		t.Skip("no request validator in single validation")
	}
	res := make(chan string, 1)
	go func() {
		resp, err := d.httpClient("client").Get(d.publicURL() + "/items/slow2")
		if err != nil {
			res <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		res <- resp.Status + " " + string(b)
	}()
	id := d.heldByUpstream(t, "/items/slow2")
	m := &cordon.Message{ID: id, Deadline: time.Now().Add(time.Minute), ReplyTo: frontendID,
		Request:  cordon.RequestHead{Method: http.MethodGet, Path: "/items/slow2", Operation: "api/getItem"},
		Response: &cordon.ResponseHead{Status: 200, Header: http.Header{"Content-Type": {"application/json"}}},
		Body:     []byte(`{"id":"slow2","name":"fabricated by the request validator"}`)}
	a := d.attack(t, "request-validator", cordon.BusDirtyReq)
	js, err := jetstream.New(a.nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(probeContext(t), reply(cordon.BusDirtyReq, frontendID), d.seal(t, m, d.signer[cordon.StageRequestValidator])); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-res:
		if !strings.HasPrefix(got, "200") || strings.Contains(got, "fabricated") {
			t.Errorf("client got %s; want the genuine answer", got)
		}
	case <-time.After(waitLimit):
		t.Fatal("the slow request was not answered")
	}
}

// heldByUpstream waits until the upstream holds a request for path and
// returns its id: known while the genuine answer is still on its way.
func (d *deployment) heldByUpstream(t *testing.T, path string) cordon.RequestID {
	t.Helper()
	var inflight string
	d.waitFor(t, "the request for "+path+" at the upstream", func() bool {
		for line := range strings.Lines(tail(d.upLog, 50)) {
			if f := strings.Fields(line); len(f) == 3 && f[2] == path {
				inflight = f[0]
				return true
			}
		}
		return false
	})
	id, err := cordon.ParseRequestID(inflight)
	if err != nil {
		t.Fatalf("in-flight id %q: %v", inflight, err)
	}
	return id
}

func (d *deployment) forgedRequests(t *testing.T) {
	resp, body := d.request(t, http.MethodPost, "/items", `{"name":"a"}`, map[string]string{"Content-Type": "application/json"})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("rightful POST: %d %s", resp.StatusCode, body)
	}
	realID := resp.Header.Get("X-Request-Id")
	rid, err := cordon.ParseRequestID(realID)
	if err != nil {
		t.Fatalf("X-Request-Id %q: %v", realID, err)
	}
	inj, _ := d.injections()
	cleanReq := inj.bus.String()
	refused := d.metric(t, "backend", "cordon_bus_refused_total", `bus="`+cleanReq+`"`)
	expired := d.metric(t, "backend", "cordon_bus_expired_total", `bus="`+cleanReq+`"`)
	// A replay is never sent upstream; the backend answers it "outcome
	// unknown" under the real answer's dedupe id, which bus 3 drops.
	dupes := d.metric(t, "backend", "cordon_bus_published_total", `bus="dirty-resp"`, `result="duplicate"`)
	unmatched := d.metric(t, "frontend", "cordon_frontend_unmatched_answers_total")
	before := d.upstreamCalls(t)

	mk := func(deadline time.Time) *cordon.Message {
		return &cordon.Message{ID: cordon.NewRequestID(time.Now()), Deadline: deadline, ReplyTo: frontendID,
			Request: cordon.RequestHead{Method: http.MethodPost, Path: "/items", Operation: "api/createItem",
				Header: http.Header{"Content-Type": {"application/json"}}},
			Body: []byte(`{"name":"forged"}`)}
	}
	fs := d.forgeries(t, inj.producer, inj.other, mk)
	// A replay: the completed request again, under the rightful key, with
	// a fresh dedupe id so that JetStream stores it; the backend's ledger
	// must refuse it.
	replay := mk(time.Now().Add(time.Minute))
	replay.ID = rid
	fs = append(fs, forgery{name: "replayed request id", data: d.seal(t, replay, d.signer[inj.producer]),
		msgID: "forged-replay", id: realID, audited: "verified"})

	a := d.attack(t, inj.role, inj.bus)
	js, err := jetstream.New(a.nc)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		if _, err := js.Publish(probeContext(t), in(inj.bus), f.data, jetstream.WithMsgID(f.msgID)); err != nil {
			t.Fatalf("injecting %q: %v", f.name, err)
		}
	}
	// The same replay under the rightful dedupe id is not even stored.
	ack, err := js.Publish(probeContext(t), in(inj.bus), fs[len(fs)-1].data,
		jetstream.WithMsgID(bus.MsgID(rid, inj.producer)))
	if err != nil || !ack.Duplicate {
		t.Errorf("replay under the rightful dedupe id: ack %+v, %v; want a duplicate", ack, err)
	}

	d.waitFor(t, "the backend to deal with every forgery", func() bool {
		return d.metric(t, "backend", "cordon_bus_refused_total", `bus="`+cleanReq+`"`) >= refused+4 &&
			d.metric(t, "backend", "cordon_bus_expired_total", `bus="`+cleanReq+`"`) >= expired+1 &&
			d.metric(t, "backend", "cordon_bus_published_total", `bus="dirty-resp"`, `result="duplicate"`) >= dupes+1
	})
	if n := d.metric(t, "backend", "cordon_bus_refused_total", `bus="`+cleanReq+`"`) - refused; n != 4 {
		t.Errorf("backend refused %v forged requests, want 4", n)
	}
	// Anything that got through would now be at the upstream or answered.
	resp, _ = d.request(t, http.MethodGet, "/items/after", "", nil)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET after the forgeries: %d", resp.StatusCode)
	}
	calls := d.upstreamCalls(t)
	for _, f := range fs {
		if calls[f.id] != before[f.id] {
			t.Errorf("%s reached the upstream (%d calls of %s)", f.name, calls[f.id], f.id)
		}
	}
	if calls[realID] != 1 {
		t.Errorf("the replayed request reached the upstream %d times, want once", calls[realID])
	}
	if total(calls) != total(before)+1 {
		t.Errorf("the upstream saw %d requests during the forgeries, want only the GET after them", total(calls)-total(before))
	}
	// In single validation the backend answers on the frontend's reply
	// subject, which the frontend reads with a core subscription: the
	// replay's "outcome unknown" echo reaches it even though the stream
	// drops it as a duplicate, and the frontend drops it as unmatched (its
	// request was answered long ago). Nothing else may arrive.
	allowed := 0.0
	if d.mode == "single-validation" {
		allowed = 1
	}
	if n := d.metric(t, "frontend", "cordon_frontend_unmatched_answers_total"); n-unmatched > allowed {
		t.Errorf("the frontend received %v answers to forged requests", n-unmatched)
	}
	d.forgeriesAudited(t, inj.bus, fs)
}

func (d *deployment) forgedAnswers(t *testing.T) {
	done, _ := d.request(t, http.MethodGet, "/items/done", "", nil)
	doneID, err := cordon.ParseRequestID(done.Header.Get("X-Request-Id"))
	if err != nil {
		t.Fatalf("X-Request-Id: %v", err)
	}
	_, inj := d.injections()
	cleanResp := inj.bus.String()
	refused := d.metric(t, "frontend", "cordon_bus_refused_total", `bus="`+cleanResp+`"`)
	expired := d.metric(t, "frontend", "cordon_bus_expired_total", `bus="`+cleanResp+`"`)
	unmatched := d.metric(t, "frontend", "cordon_frontend_unmatched_answers_total")

	type result struct {
		status int
		body   string
		id     string
	}
	res := make(chan result, 1)
	go func() {
		c := d.httpClient("client")
		resp, err := c.Get(d.publicURL() + "/items/slow1")
		if err != nil {
			res <- result{body: err.Error()}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		res <- result{resp.StatusCode, string(b), resp.Header.Get("X-Request-Id")}
	}()
	// The upstream logs the request before holding it: its id is known
	// while the genuine answer is still on its way.
	id := d.heldByUpstream(t, "/items/slow1")
	inflight := id.String()
	answer := func(id cordon.RequestID) func(time.Time) *cordon.Message {
		return func(deadline time.Time) *cordon.Message {
			return &cordon.Message{ID: id, Deadline: deadline, ReplyTo: frontendID,
				Request:  cordon.RequestHead{Method: http.MethodGet, Path: "/items/slow1", Operation: "api/getItem"},
				Response: &cordon.ResponseHead{Status: 200, Header: http.Header{"Content-Type": {"application/json"}}},
				Body:     []byte(`{"id":"forged","name":"attacker"}`)}
		}
	}
	// The backend's key is trusted, but only on bus 3: an answer it signs
	// skips the response validator and must be refused on bus 4.
	fs := d.forgeries(t, inj.producer, inj.other, answer(id))
	// A replay: an answer to a request already answered, rightful key.
	fs = append(fs, forgery{name: "replayed answer", msgID: "forged-replayed-answer", id: doneID.String(), audited: "verified",
		data: d.seal(t, answer(doneID)(time.Now().Add(time.Minute)), d.signer[inj.producer])})

	a := d.attack(t, inj.role, inj.bus)
	js, err := jetstream.New(a.nc)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		if _, err := js.Publish(probeContext(t), reply(inj.bus, frontendID), f.data, jetstream.WithMsgID(f.msgID)); err != nil {
			t.Fatalf("injecting %q: %v", f.name, err)
		}
	}
	var r result
	select {
	case r = <-res:
	case <-time.After(waitLimit):
		t.Fatal("the slow request was not answered")
	}
	if r.status != http.StatusOK || !strings.Contains(r.body, `"slow1"`) || strings.Contains(r.body, "attacker") {
		t.Fatalf("client got %d %s; want the genuine answer", r.status, r.body)
	}
	if r.id != inflight {
		t.Errorf("answered request %s, the upstream held %s", r.id, inflight)
	}
	if n := d.metric(t, "frontend", "cordon_bus_refused_total", `bus="`+cleanResp+`"`) - refused; n != 4 {
		t.Errorf("frontend refused %v forged answers, want 4", n)
	}
	if n := d.metric(t, "frontend", "cordon_bus_expired_total", `bus="`+cleanResp+`"`) - expired; n != 1 {
		t.Errorf("frontend dropped %v expired answers, want 1", n)
	}
	if n := d.metric(t, "frontend", "cordon_frontend_unmatched_answers_total") - unmatched; n != 1 {
		t.Errorf("frontend dropped %v unmatched answers, want 1 (the replay)", n)
	}
	d.forgeriesAudited(t, inj.bus, fs)
}

// auditRecord is what the forgery checks read of `cordon audit search --json`.
type auditRecord struct {
	Bus       string `json:"bus"`
	Subject   string `json:"subject"`
	RequestID string `json:"request_id"`
	Signature string `json:"signature"`
	Expired   bool   `json:"expired"`
}

func (r auditRecord) status() string {
	if r.Expired {
		return r.Signature + " expired"
	}
	return r.Signature
}

// forgeriesAudited requires every forgery to be on the audit trail of bus
// b, as the refused (or expired, or replayed) message it was: what is
// refused is still recorded, verbatim, for the investigation.
func (d *deployment) forgeriesAudited(t *testing.T, b cordon.Bus, fs []forgery) {
	t.Helper()
	if !d.audit {
		t.Log("this cordon has no audit shipper yet: the forgeries' audit records are not checked")
		return
	}
	var missing []string
	var out string
	ok := d.poll(t, "the forgeries on the audit trail", func() bool {
		var err error
		out, err = d.auditCLI("search", "--bus", b.String(), "--json", "--limit", "0")
		if err != nil {
			return false
		}
		seen := map[string]bool{}
		for line := range strings.Lines(out) {
			var r auditRecord
			if json.Unmarshal([]byte(line), &r) == nil {
				seen[r.RequestID+" "+r.status()] = true
			}
		}
		missing = missing[:0]
		for _, f := range fs {
			if !seen[f.id+" "+f.audited] {
				missing = append(missing, fmt.Sprintf("%s (%s %q)", f.name, f.audited, f.id))
			}
		}
		return len(missing) == 0
	})
	if !ok {
		t.Errorf("bus %s: forgeries missing from the audit trail: %s\n%s", b, strings.Join(missing, "; "), out)
	}
}
