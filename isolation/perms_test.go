package isolation_test

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/bus"
)

// Names as the design fixes them, spelled out so that the test states the
// permission matrix independently of the code that renders it.
const (
	frontendID   = "fe1"
	ledgerBucket = "CORDON_BACKEND_LEDGER"
)

var streamOf = map[cordon.Bus]string{
	cordon.BusDirtyReq: "CORDON_DIRTY_REQ", cordon.BusCleanReq: "CORDON_CLEAN_REQ",
	cordon.BusDirtyResp: "CORDON_DIRTY_RESP", cordon.BusCleanResp: "CORDON_CLEAN_RESP",
}

func in(b cordon.Bus) string               { return "cordon." + b.String() + ".in" }
func final(b cordon.Bus) string            { return "cordon." + b.String() + ".final" }
func reply(b cordon.Bus, fe string) string { return "cordon." + b.String() + ".reply." + fe }

// designGrants is what the design lets key holder role do on bus b:
// publish to its outputs, read its own durable consumer (pull, info, ack:
// all JetStream reads are publishes), the backend its ledger, the admin
// the JetStream API; subscribe to its own replies and its own inbox.
func designGrants(mode, role string, b cordon.Bus) (pub, sub []string) {
	consume := func(consumer string) {
		s := streamOf[b]
		pub = append(pub, "$JS.API.CONSUMER.MSG.NEXT."+s+"."+consumer,
			"$JS.API.CONSUMER.INFO."+s+"."+consumer, "$JS.ACK."+s+"."+consumer+".>")
	}
	ledger := func() {
		pub = append(pub, "$KV."+ledgerBucket+".>", "$JS.API.STREAM.INFO.KV_"+ledgerBucket,
			"$JS.API.DIRECT.GET.KV_"+ledgerBucket+".>")
	}
	if mode == "single-validation" {
		// The backend reads bus 1 (with its ledger there) and answers the
		// frontend on bus 3; there are no validator users.
		switch {
		case role == "frontend" && b == cordon.BusDirtyReq:
			pub = append(pub, in(b), final(b))
			sub = append(sub, reply(b, frontendID))
		case role == "frontend" && b == cordon.BusDirtyResp:
			sub = append(sub, reply(b, frontendID))
		case role == "backend" && b == cordon.BusDirtyReq:
			consume("backend")
			ledger()
		case role == "backend" && b == cordon.BusDirtyResp:
			pub = append(pub, reply(b, "*"))
		case role == "audit":
			consume("audit")
		case role == "admin":
			pub = append(pub, "$JS.API.>")
		}
		return pub, append(sub, bus.InboxPrefix(role)+".>")
	}
	switch {
	case role == "frontend" && b == cordon.BusDirtyReq:
		// Its requests, and its terminal records (read by the audit only).
		pub = append(pub, in(b), final(b))
		sub = append(sub, reply(b, frontendID))
	case role == "frontend" && b == cordon.BusCleanResp:
		sub = append(sub, reply(b, frontendID))
	case role == "request-validator" && b == cordon.BusDirtyReq:
		consume("request-validator")
		pub = append(pub, reply(b, "*"))
	case role == "request-validator" && b == cordon.BusCleanReq:
		pub = append(pub, in(b))
	case role == "backend" && b == cordon.BusCleanReq:
		consume("backend")
		ledger()
	case role == "backend" && b == cordon.BusDirtyResp:
		pub = append(pub, in(b))
	case role == "response-validator" && b == cordon.BusDirtyResp:
		consume("response-validator")
	case role == "response-validator" && b == cordon.BusCleanResp:
		pub = append(pub, reply(b, "*"))
	case role == "audit":
		consume("audit")
	case role == "admin":
		pub = append(pub, "$JS.API.>")
	}
	return pub, append(sub, bus.InboxPrefix(role)+".>")
}

// grantsOn is the union of designGrants over the buses a server carries.
func (d *deployment) grantsOn(role string, server cordon.Bus) (pub, sub []string) {
	buses := []cordon.Bus{server}
	if d.mode == "single-nats" {
		buses = cordon.Buses
	}
	for _, b := range buses {
		p, s := designGrants(d.mode, role, b)
		pub, sub = append(pub, p...), append(sub, s...)
	}
	return pub, sub
}

// covered reports whether subject is within one of the patterns (for a
// wildcard subscription: a subset of one of them).
func covered(patterns []string, subject string) bool {
	for _, p := range patterns {
		if subsetOf(subject, p) {
			return true
		}
	}
	return false
}

func subsetOf(subject, pattern string) bool {
	st, pt := strings.Split(subject, "."), strings.Split(pattern, ".")
	for i, p := range pt {
		if p == ">" {
			return len(st) > i
		}
		if i >= len(st) {
			return false
		}
		if p == "*" && st[i] != ">" || p == st[i] {
			continue
		}
		return false
	}
	return len(st) == len(pt)
}

var roles = []string{"frontend", "request-validator", "backend", "response-validator", "audit", "admin"}

// publishAttacks is every subject an attacker holding some credential
// would publish to: other stages' inputs and replies, every JetStream API
// that reads, creates, deletes, purges or acks, on every stream and
// consumer, other users' inboxes and the system account.
func publishAttacks() []string {
	consumers := []string{"request-validator", "backend", "response-validator", "audit", "evil"}
	streams := []string{"KV_" + ledgerBucket}
	var out []string
	for _, b := range cordon.Buses {
		streams = append(streams, streamOf[b])
		// final: only the frontend may end a request's audit trail, and
		// only on bus 1.
		out = append(out, in(b), final(b), reply(b, frontendID), reply(b, "evil"), "cordon."+b.String()+".other")
	}
	for _, s := range streams {
		for _, c := range consumers {
			out = append(out,
				"$JS.API.CONSUMER.MSG.NEXT."+s+"."+c,
				"$JS.API.CONSUMER.INFO."+s+"."+c,
				"$JS.API.CONSUMER.CREATE."+s+"."+c,
				"$JS.API.CONSUMER.CREATE."+s+"."+c+"."+in(cordon.BusDirtyReq),
				"$JS.API.CONSUMER.DURABLE.CREATE."+s+"."+c,
				"$JS.API.CONSUMER.DELETE."+s+"."+c,
				"$JS.ACK."+s+"."+c+".1.1.1.1700000000000000000.0")
		}
		for _, op := range []string{"CREATE", "UPDATE", "INFO", "DELETE", "PURGE", "MSG.GET", "MSG.DELETE", "SNAPSHOT"} {
			out = append(out, "$JS.API.STREAM."+op+"."+s)
		}
		out = append(out, "$JS.API.CONSUMER.CREATE."+s, "$JS.API.CONSUMER.NAMES."+s,
			"$JS.API.DIRECT.GET."+s, "$JS.API.DIRECT.GET."+s+"."+in(cordon.BusDirtyReq))
	}
	out = append(out, "$KV."+ledgerBucket+".forged", "$JS.API.INFO", "$JS.API.STREAM.NAMES", "$JS.API.STREAM.LIST",
		"_INBOX.x", "$SYS.REQ.SERVER.PING", "foo")
	for _, r := range roles {
		out = append(out, bus.InboxPrefix(r)+".x")
	}
	return out
}

// subscribeAttacks is every subscription an eavesdropper would try.
func subscribeAttacks() []string {
	out := []string{">", "*", "*.>", "_INBOX.>", "_INBOX_*.>", "$JS.>", "$JS.ACK.>", "$JS.API.>",
		"$KV.>", "$SYS.>", "cordon.>", "cordon.*.in", "cordon.*.reply.>"}
	for _, r := range roles {
		out = append(out, bus.InboxPrefix(r)+".>")
	}
	for _, b := range cordon.Buses {
		out = append(out, "cordon."+b.String()+".>", in(b), final(b), reply(b, "*"), reply(b, frontendID), reply(b, "fe2"),
			"$JS.ACK."+streamOf[b]+".>")
	}
	return out
}

var violationRE = regexp.MustCompile(`Permissions Violation for (Publish|Subscription) to "([^"]*)"`)

// attacker is one key holder's connection to one server, from its host,
// recording every permission violation the server reports.
type attacker struct {
	role   string
	bus    cordon.Bus
	nc     *nats.Conn
	mu     sync.Mutex
	seen   map[string]bool // "Publish <subject>" / "Subscription <subject>"
	notify chan struct{}
	denied []*nats.Subscription
}

func (d *deployment) attack(t *testing.T, role string, b cordon.Bus) *attacker {
	t.Helper()
	a := &attacker{role: role, bus: b, seen: map[string]bool{}, notify: make(chan struct{}, 1)}
	opt, err := nats.NkeyOptionFromSeed(d.seedFile(role))
	if err != nil {
		t.Fatal(err)
	}
	a.nc, err = d.connect(d.hostOf(role, b), b, opt, nats.CustomInboxPrefix(bus.InboxPrefix(role)),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if m := violationRE.FindStringSubmatch(err.Error()); m != nil {
				a.mu.Lock()
				a.seen[m[1]+" "+m[2]] = true
				a.mu.Unlock()
				select {
				case a.notify <- struct{}{}:
				default:
				}
			}
		}))
	if err != nil {
		t.Fatalf("%s connecting to bus %d from %s: %v", role, b, d.hostOf(role, b), err)
	}
	t.Cleanup(a.nc.Close)
	return a
}

// await waits (bounded) until the server reported every key; it returns
// those it did not report, i.e. what it allowed.
func (a *attacker) await(keys []string) []string {
	deadline := time.NewTimer(waitLimit)
	defer deadline.Stop()
	for {
		a.mu.Lock()
		missing := slices.DeleteFunc(slices.Clone(keys), func(k string) bool { return a.seen[k] })
		a.mu.Unlock()
		if len(missing) == 0 {
			return nil
		}
		select {
		case <-a.notify:
		case <-deadline.C:
			return missing
		}
	}
}

func (a *attacker) String() string { return fmt.Sprintf("%s@bus%d", a.role, a.bus) }

// permissions attacks every server of the deployment with every key
// holder's credentials, from that holder's own host, while real traffic
// flows from the client: subscriptions to anything but its own replies
// and inbox, publishes to other stages' subjects and to every JetStream
// API that reads, creates, deletes, purges or acks outside its own
// consumer, rollups and forged dedupe ids. Every attempt must be refused,
// the streams and consumers must be as provisioned afterwards, and no
// refused subscription may have received a single message.
func (d *deployment) permissions(t *testing.T) {
	var attackers []*attacker
	for _, role := range roles {
		for _, b := range d.buses() {
			if d.mode != "single-nats" && !slices.Contains(d.userBuses(role), b) {
				continue // its NKey is refused there (CredentialMisuse)
			}
			attackers = append(attackers, d.attack(t, role, b))
		}
	}
	before := d.provisioned(t)
	traffic := d.startTraffic(t)

	probes := 0
	for _, a := range attackers {
		_, sub := d.grantsOn(a.role, a.bus)
		var want []string
		for _, s := range subscribeAttacks() {
			if covered(sub, s) {
				continue
			}
			ns, err := a.nc.SubscribeSync(s)
			if err != nil {
				t.Fatalf("%s subscribing %s: %v", a, s, err)
			}
			a.denied = append(a.denied, ns)
			want = append(want, "Subscription "+s)
		}
		if err := a.nc.Flush(); err != nil {
			t.Fatalf("%s: %v", a, err)
		}
		if allowed := a.await(want); len(allowed) > 0 {
			t.Errorf("%s: the server allowed %d subscriptions outside the design: %q", a, len(allowed), allowed)
		}
		probes += len(want)
	}
	finals := 0 // refused terminal records on bus 1 by a non-frontend identity
	for _, a := range attackers {
		pub, _ := d.grantsOn(a.role, a.bus)
		var want []string
		for _, s := range publishAttacks() {
			if covered(pub, s) {
				continue
			}
			if s == final(cordon.BusDirtyReq) && a.role != "frontend" {
				finals++
			}
			// A forged dedupe id and a rollup ride along: refused with
			// the publish itself.
			msg := &nats.Msg{Subject: s, Reply: a.nc.NewInbox(), Data: []byte(`{"batch":10,"no_wait":true}`),
				Header: nats.Header{bus.HeaderMsgID: {"forged"}, "Nats-Rollup": {"all"}}}
			if err := a.nc.PublishMsg(msg); err != nil {
				t.Fatalf("%s publishing %s: %v", a, s, err)
			}
			want = append(want, "Publish "+s)
		}
		if err := a.nc.Flush(); err != nil {
			t.Fatalf("%s: %v", a, err)
		}
		if allowed := a.await(want); len(allowed) > 0 {
			t.Errorf("%s: the server allowed %d publishes outside the design: %q", a, len(allowed), allowed)
		}
		probes += len(want)
		if !a.nc.IsConnected() {
			t.Errorf("%s was disconnected by its probes", a)
		}
	}
	// Only the frontend can end a request's audit trail: every other key
	// holder on bus 1 was refused a terminal record above.
	if finals == 0 {
		t.Error("no identity but the frontend tried to publish a terminal record on bus 1")
	}
	probes += d.rollupsRefused(t, attackers)
	probes += d.adminCannotErase(t)

	traffic.stop(t)
	for _, a := range attackers {
		if err := a.nc.Flush(); err != nil {
			t.Fatalf("%s: %v", a, err)
		}
		for _, s := range a.denied {
			if n, _ := s.Delivered(); n != 0 {
				t.Errorf("%s received %d messages on its refused subscription %q", a, n, s.Subject)
			}
		}
	}
	if after := d.provisioned(t); after != before {
		t.Errorf("the attacks changed the provisioned streams and consumers:\nbefore %s\nafter  %s", before, after)
	}
	t.Logf("%d connections, %d refused attempts, %d requests served meanwhile", len(attackers), probes, traffic.served)
}

// rollupsRefused: every holder of a publish right on a stream subject
// tries to wipe the stream with a rollup; the stream refuses it. Each
// also publishes under another stage's dedupe id; it is stored as its own
// (unsigned, refused) message, and suppresses nothing of another stage
// (it could only publish where it may publish anyway).
func (d *deployment) rollupsRefused(t *testing.T, attackers []*attacker) int {
	n := 0
	for _, a := range attackers {
		pub, _ := d.grantsOn(a.role, a.bus)
		js, err := jetstream.New(a.nc)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range cordon.Buses {
			for _, s := range []string{in(b), final(b), reply(b, frontendID)} {
				if !covered(pub, s) {
					continue
				}
				for _, mode := range []string{"all", "sub"} {
					msg := &nats.Msg{Subject: s, Header: nats.Header{"Nats-Rollup": {mode}}, Data: []byte("rollup")}
					if _, err := js.PublishMsg(probeContext(t), msg); err == nil {
						t.Errorf("%s: rollup %s on %s accepted", a, mode, s)
					}
					n++
				}
			}
		}
	}
	return n
}

// adminCannotErase: even the provisioning admin, who may use the whole
// JetStream API, cannot purge a stream or delete a message from it: the
// streams are created deny-purge and deny-delete, so what the audit has
// not yet read cannot be erased.
func (d *deployment) adminCannotErase(t *testing.T) int {
	n := 0
	for _, b := range d.buses() {
		a := d.attack(t, "admin", b)
		js, err := jetstream.New(a.nc)
		if err != nil {
			t.Fatal(err)
		}
		for _, sb := range d.streamsOn(b) {
			s, err := js.Stream(probeContext(t), streamOf[sb])
			if err != nil {
				t.Fatalf("admin: stream of bus %d: %v", sb, err)
			}
			if err := s.Purge(probeContext(t)); err == nil {
				t.Errorf("bus %d: the admin purged %s", sb, streamOf[sb])
			}
			if err := s.DeleteMsg(probeContext(t), 1); err == nil {
				t.Errorf("bus %d: the admin deleted a message of %s", sb, streamOf[sb])
			}
			n += 2
		}
	}
	return n
}

// streamsOn lists the buses whose streams server carries.
func (d *deployment) streamsOn(server cordon.Bus) []cordon.Bus {
	if d.mode == "single-nats" {
		return cordon.Buses
	}
	return []cordon.Bus{server}
}

// provisioned describes, as the admin sees it, every stream's protection
// and consumers: what no attack may change.
func (d *deployment) provisioned(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for _, server := range d.buses() {
		a := d.attack(t, "admin", server)
		js, err := jetstream.New(a.nc)
		if err != nil {
			t.Fatal(err)
		}
		for _, sb := range d.streamsOn(server) {
			s, err := js.Stream(probeContext(t), streamOf[sb])
			if err != nil {
				fmt.Fprintf(&b, "%s: %v; ", streamOf[sb], err)
				continue
			}
			cfg := s.CachedInfo().Config
			fmt.Fprintf(&b, "%s subjects=%v deny-purge=%t deny-delete=%t rollup=%t consumers=[",
				cfg.Name, cfg.Subjects, cfg.DenyPurge, cfg.DenyDelete, cfg.AllowRollup)
			var names []string
			lister := s.ConsumerNames(probeContext(t))
			for n := range lister.Name() {
				names = append(names, n)
			}
			if err := lister.Err(); err != nil {
				fmt.Fprintf(&b, "error %v", err)
			}
			slices.Sort(names)
			b.WriteString(strings.Join(names, ","))
			b.WriteString("] ")
		}
		a.nc.Close()
	}
	return b.String()
}

// traffic is a stream of real requests from the client host, so that the
// attacks run while every bus carries messages.
type traffic struct {
	cancel context.CancelFunc
	done   chan struct{}
	served int
	errs   []string
}

func (d *deployment) startTraffic(t *testing.T) *traffic {
	ctx, cancel := context.WithCancel(context.Background())
	tr := &traffic{cancel: cancel, done: make(chan struct{})}
	c := d.httpClient("client")
	go func() {
		defer close(tr.done)
		for i := 0; ctx.Err() == nil; i++ {
			var req *http.Request
			if i%2 == 0 {
				req, _ = http.NewRequestWithContext(ctx, http.MethodGet, d.publicURL()+"/items/t"+strconv.Itoa(i), nil)
			} else {
				req, _ = http.NewRequestWithContext(ctx, http.MethodPost, d.publicURL()+"/items", strings.NewReader(`{"name":"t"}`))
				req.Header.Set("Content-Type", "application/json")
			}
			resp, err := c.Do(req)
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				tr.errs = append(tr.errs, err.Error())
				continue
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
				tr.errs = append(tr.errs, req.Method+" "+resp.Status)
				continue
			}
			tr.served++
		}
	}()
	return tr
}

func (tr *traffic) stop(t *testing.T) {
	t.Helper()
	tr.cancel()
	<-tr.done
	if len(tr.errs) > 0 {
		t.Errorf("%d requests failed during the attacks: %q", len(tr.errs), tr.errs[:min(len(tr.errs), 5)])
	}
	if tr.served == 0 {
		t.Error("no request was served during the attacks")
	}
}
