package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/deployment"
	"github.com/cordon-gateway/cordon/envelope"
	"github.com/cordon-gateway/cordon/internal/testkit"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// With --signatures hmac every stage authenticates with its link key:
// traffic flows, the messages on the buses carry MACs (alg 2), forged or
// altered MACs are refused, and `audit verify` re-checks every MAC with the
// link keys kept under the data directory.
func TestDevLinkMode(t *testing.T) {
	up := newUpstream()
	upSrv := httptest.NewServer(up)
	defer upSrv.Close()
	data := t.TempDir()
	g, stop := devForTest(t, devOptions{upstream: upSrv.URL, spec: "testdata/items.yaml", data: data,
		timeout: 5 * time.Second, mode: "full", signatures: "hmac"})

	nc2, js2 := busClient(t, g, cordon.BusCleanReq)
	captured := make(chan []byte, 4)
	sub, err := nc2.Subscribe("cordon.clean-req.in", func(m *nats.Msg) { captured <- m.Data })
	if err != nil {
		t.Fatal(err)
	}
	resp, body := do(t, "POST", g.Public+"/items", `{"name":"a"}`, map[string]string{"Content-Type": "application/json"})
	if resp.StatusCode != 201 {
		t.Fatalf("POST: %d %s", resp.StatusCode, body)
	}
	wire := <-captured
	_ = sub.Unsubscribe()
	if in, err := envelope.Split(wire); err != nil || !in.Link {
		t.Fatalf("clean request on bus 2 is not link-authenticated: %+v, %v", in, err)
	}
	if resp, body := do(t, "GET", g.Public+"/items/abc", "", nil); resp.StatusCode != 200 {
		t.Fatalf("GET: %d %s", resp.StatusCode, body)
	}

	before := up.total()
	stranger, err := envelope.NewLinkSigner(cordon.StageRequestValidator, envelope.GenerateLinkKey())
	if err != nil {
		t.Fatal(err)
	}
	m, err := envelope.Open(wire, mustLinkVerifier(t, g))
	if err != nil {
		t.Fatal(err)
	}
	m.ID, m.Deadline, m.Body = cordon.NewRequestID(time.Now()), time.Now().Add(time.Minute), []byte(`{"name":"forged"}`)
	forged, err := envelope.Seal(nil, m, stranger)
	if err != nil {
		t.Fatal(err)
	}
	altered := bytes.Clone(wire)
	altered[len(altered)-3] ^= 0x20
	for name, data := range map[string][]byte{"stranger's link key": forged, "altered": altered} {
		if _, err := js2.Publish(context.Background(), "cordon.clean-req.in", data, jetstream.WithMsgID("forged-"+name)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	testkit.Eventually(t, 10*time.Second, func() bool {
		c, err := js2.Consumer(context.Background(), "CORDON_CLEAN_REQ", "backend")
		if err != nil {
			return false
		}
		info, err := c.Info(context.Background())
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0
	}, "backend consumer drained")
	if up.total() != before {
		t.Fatalf("forged MACs reached the upstream (%d calls, want %d)", up.total(), before)
	}

	time.Sleep(500 * time.Millisecond) // let the shippers catch up; they flush on the way out
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"audit", "verify", "--json", "--data", data}, func(string) string { return "" }, &out, io.Discard); err != nil {
		t.Fatalf("audit verify: %v\n%s", err, out.String())
	}
	var rep struct {
		Buses []struct {
			Records, Reverified, Attested uint64
		}
		Warnings []string
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("verify --json: %v\n%s", err, out.String())
	}
	for i, b := range rep.Buses {
		if b.Records == 0 || b.Reverified+b.Attested != b.Records {
			t.Errorf("bus %d: %d records, %d re-verified, %d attested", i+1, b.Records, b.Reverified, b.Attested)
		}
	}
	// The trail is intact; the two forgeries it holds are named by what
	// their MACs are.
	warn := strings.Join(rep.Warnings, "\n")
	for _, want := range []string{"unknown-key", "bad-signature"} {
		if !strings.Contains(warn, "clean-req") || !strings.Contains(warn, want) {
			t.Errorf("verify does not name the %s forgery on clean-req:\n%s", want, warn)
		}
	}
}

// mustLinkVerifier trusts the request validator's dev link key.
func mustLinkVerifier(t *testing.T, g *devGateway) *envelope.Verifier {
	t.Helper()
	keys, err := readLinkKeys([]string{devLinkKeyPath(g.DataDir, cordon.StageRequestValidator)})
	if err != nil {
		t.Fatal(err)
	}
	v, err := envelope.NewMixedVerifier(cordon.StageRequestValidator, nil, keys)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// `keys generate --link` writes one 0600 link key per stage and prints the
// configuration block that uses them.
func TestKeysGenerateLink(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	if err := run(context.Background(), []string{"keys", "generate", "--link", "--dir", dir}, func(string) string { return "" }, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "signatures: hmac\nlink_keys:\n") {
		t.Fatalf("no link_keys block printed:\n%s", out.String())
	}
	for _, s := range cordon.Stages {
		path := devLinkKeyPath(filepath.Dir(dir), s) // same file name scheme: <stage>.link
		path = filepath.Join(dir, filepath.Base(path))
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", path, fi.Mode().Perm())
		}
		if _, err := readLinkKeys([]string{path}); err != nil {
			t.Errorf("%s: %v", path, err)
		}
		if !strings.Contains(out.String(), path) {
			t.Errorf("printed configuration does not name %s", path)
		}
	}
}

// The audit may run without the link keys (whoever holds them can forge):
// a key file absent from its host is skipped and named, its stage's
// records are stored unchecked; a file that is there but wrong fails.
func TestAuditLinkKeysMayBeAbsent(t *testing.T) {
	dir := t.TempDir()
	present := filepath.Join(dir, "frontend.link")
	if err := os.WriteFile(present, envelope.MarshalLinkKey(envelope.GenerateLinkKey()), 0o600); err != nil {
		t.Fatal(err)
	}
	absent := filepath.Join(dir, "backend.link")
	cfg := &deployment.Config{LinkKeys: deployment.StageLists{Frontend: []string{present}, Backend: []string{absent}}}
	keys, missing, err := linkKeyMap(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys["frontend"]) != 1 || len(keys["backend"]) != 0 || len(missing) != 1 || missing[0] != absent {
		t.Fatalf("keys %v, missing %v", keys, missing)
	}
	bad := filepath.Join(dir, "rv.link")
	if err := os.WriteFile(bad, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.LinkKeys.RequestValidator = []string{bad}
	if _, _, err := linkKeyMap(cfg); err == nil || !strings.Contains(err.Error(), "link_keys.request_validator") {
		t.Fatalf("a malformed link key file: %v", err)
	}
}
