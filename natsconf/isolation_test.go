package natsconf_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/bus"
	"github.com/cordon-gateway/cordon/natsconf"
)

// waitLimit bounds every wait for something the server sends promptly; it
// is a failure bound, not a timing assertion.
const waitLimit = 10 * time.Second

// TestIsolationNATSPermissions runs a real nats-server from the rendered
// configuration of every deployment shape, provisions it as the admin, and
// then, as each component's user: proves the design's flows work, and that
// every other publish, subscription, consumer, ack, purge, delete and
// rollup is refused, and that no user receives a message it must not see.
func TestIsolationNATSPermissions(t *testing.T) {
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			h := startHarness(t, sc)
			h.provision()
			denied := h.probeSubscriptions()
			h.flows()
			before := h.snapshot()
			h.probePublishes()
			if after := h.snapshot(); after != before {
				t.Errorf("refused publishes changed the server's state:\nbefore %s\nafter  %s", before, after)
			}
			h.rollupsRefused()
			h.foreignAcksRefused()
			h.auditSeesEverything()
			h.adminCannotPurgeOrDelete()
			for _, d := range denied {
				if n, _ := d.sub.Delivered(); n != 0 {
					t.Errorf("%s received %d messages on refused subscription %q", d.user, n, d.sub.Subject)
				}
			}
			h.strangersRefused()
			t.Logf("%d users, %d pipeline and %d reply flows, %d refused publishes and subscriptions",
				len(h.clients), len(h.pipes), len(h.replies), h.probes)
		})
	}
}

// pipe is a pipeline flow: producer publishes In(bus), reader's durable
// consumer (named after its role) reads it.
type pipe struct {
	bus              cordon.Bus
	producer, reader string
}

// replyFlow: producer answers frontend fe-a on Reply(bus, "fe-a").
type replyFlow struct {
	bus      cordon.Bus
	producer string
}

// designFlows are the flows of the design, per mode, restricted to the
// buses the scenario's server carries.
func designFlows(sc scenario) ([]pipe, []replyFlow) {
	var ps []pipe
	var rs []replyFlow
	if sc.mode == natsconf.ModeSingleValidation {
		ps = []pipe{{1, "fe-a", "backend"}}
		rs = []replyFlow{{3, "backend"}}
	} else {
		ps = []pipe{{1, "fe-a", "request-validator"}, {2, "request-validator", "backend"}, {3, "backend", "response-validator"}}
		rs = []replyFlow{{1, "request-validator"}, {4, "response-validator"}}
	}
	ps = slices.DeleteFunc(ps, func(p pipe) bool { return !sc.has(p.bus) })
	rs = slices.DeleteFunc(rs, func(r replyFlow) bool { return !sc.has(r.bus) })
	return ps, rs
}

type harness struct {
	t       *testing.T
	ctx     context.Context
	sc      scenario
	conf    natsconf.Server
	subj    bus.Subjects
	url     string
	clients map[string]*client
	pipes   []pipe
	replies []replyFlow
	// published counts messages stored per bus, for the audit.
	published map[cordon.Bus]int
	probes    int // refused publishes and subscriptions
}

type client struct {
	user natsconf.User
	nc   *nats.Conn
	js   jetstream.JetStream
	viol *violations
}

func startHarness(t *testing.T, sc scenario) *harness {
	t.Helper()
	conf := sc.server(t)
	conf.Name = "iso-" + sc.name
	conf.Host = "127.0.0.1"
	conf.Port = -1
	conf.StoreDir = t.TempDir()
	opts, err := natsconf.Options(conf)
	if err != nil {
		t.Fatal(err)
	}
	opts.NoSigs, opts.NoLog = true, true
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	if !ns.ReadyForConnections(waitLimit) {
		t.Fatal("nats-server not ready")
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	h := &harness{t: t, ctx: ctx, sc: sc, conf: conf, subj: conf.Subjects, url: ns.ClientURL(),
		clients: map[string]*client{}, published: map[cordon.Bus]int{}}
	h.pipes, h.replies = designFlows(sc)
	for _, c := range candidates {
		i := slices.IndexFunc(conf.Users, func(u natsconf.User) bool { return u.Name == c.name })
		if i < 0 {
			continue
		}
		h.clients[c.name] = h.connect(c)
	}
	return h
}

var violationRE = regexp.MustCompile(`Permissions Violation for (Publish|Subscription) to "([^"]*)"`)

// violations records the permission errors the server sent a connection.
type violations struct {
	mu     sync.Mutex
	seen   map[string]bool // "Publish subject" / "Subscription subject"
	notify chan struct{}
	other  []error
}

func (v *violations) handler(_ *nats.Conn, _ *nats.Subscription, err error) {
	v.mu.Lock()
	if m := violationRE.FindStringSubmatch(err.Error()); m != nil {
		v.seen[m[1]+" "+m[2]] = true
	} else {
		v.other = append(v.other, err)
	}
	v.mu.Unlock()
	select {
	case v.notify <- struct{}{}:
	default:
	}
}

// await waits (bounded) until every key has been reported.
func (v *violations) await(keys []string) (missing []string) {
	deadline := time.NewTimer(waitLimit)
	defer deadline.Stop()
	for {
		v.mu.Lock()
		missing = slices.DeleteFunc(slices.Clone(keys), func(k string) bool { return v.seen[k] })
		v.mu.Unlock()
		if len(missing) == 0 {
			return nil
		}
		select {
		case <-v.notify:
		case <-deadline.C:
			return missing
		}
	}
}

func (v *violations) snapshot() (seen []string, other []error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for k := range v.seen {
		seen = append(seen, k)
	}
	slices.Sort(seen)
	return seen, slices.Clone(v.other)
}

func (h *harness) connect(c userSpec) *client {
	h.t.Helper()
	kp := userKey(h.t, c.seed)
	pub, _ := kp.PublicKey()
	v := &violations{seen: map[string]bool{}, notify: make(chan struct{}, 1)}
	nc, err := nats.Connect(h.url,
		nats.Name(c.name),
		nats.Nkey(pub, kp.Sign),
		nats.CustomInboxPrefix(bus.InboxPrefix(c.name)),
		nats.ErrorHandler(v.handler),
		nats.NoReconnect(),
	)
	if err != nil {
		h.t.Fatalf("connect as %s: %v", c.name, err)
	}
	h.t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		h.t.Fatal(err)
	}
	return &client{user: c.user(h.t), nc: nc, js: js, viol: v}
}

// op bounds one operation: a refused request fails the test after
// waitLimit instead of hanging it.
func (h *harness) op() context.Context {
	ctx, cancel := context.WithTimeout(h.ctx, waitLimit)
	h.t.Cleanup(cancel)
	return ctx
}

func (h *harness) admin() jetstream.JetStream { return h.clients["admin"].js }

// provision creates what `cordon provision` would: one protected stream
// per bus, the pipeline reader's durable, the audit durable and the ledger.
func (h *harness) provision() {
	t, js := h.t, h.admin()
	for _, b := range h.sc.buses {
		_, err := js.CreateStream(h.op(), jetstream.StreamConfig{
			Name:        h.subj.Stream(b),
			Subjects:    []string{h.subj.All(b)},
			Retention:   jetstream.InterestPolicy,
			Discard:     jetstream.DiscardNew,
			DenyDelete:  true,
			DenyPurge:   true,
			AllowRollup: false,
		})
		if err != nil {
			t.Fatalf("create stream on bus %d: %v", b, err)
		}
		h.createConsumer(b, bus.ConsumerAudit, "")
	}
	for _, p := range h.pipes {
		h.createConsumer(p.bus, p.reader, h.subj.In(p.bus))
		if p.reader == "backend" {
			if _, err := js.CreateKeyValue(h.op(), jetstream.KeyValueConfig{Bucket: h.subj.LedgerBucket()}); err != nil {
				t.Fatalf("create ledger: %v", err)
			}
		}
	}
}

func (h *harness) createConsumer(b cordon.Bus, name, filter string) {
	_, err := h.admin().CreateConsumer(h.op(), h.subj.Stream(b), jetstream.ConsumerConfig{
		Durable: name, FilterSubject: filter, AckPolicy: jetstream.AckExplicitPolicy,
	})
	if err != nil {
		h.t.Fatalf("create consumer %s on bus %d: %v", name, b, err)
	}
}

func (h *harness) publish(user, subject, data string) {
	h.t.Helper()
	if _, err := h.clients[user].js.Publish(h.op(), subject, []byte(data)); err != nil {
		h.t.Fatalf("%s publishing %s: %v", user, subject, err)
	}
}

// fetchOne reads one message as user from its own durable on bus b.
func (h *harness) fetchOne(user string, b cordon.Bus) jetstream.Msg {
	h.t.Helper()
	c := h.clients[user]
	cons, err := c.js.Consumer(h.op(), h.subj.Stream(b), string(c.user.Role))
	if err != nil {
		h.t.Fatalf("%s binding its consumer on bus %d: %v", user, b, err)
	}
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(waitLimit))
	if err != nil {
		h.t.Fatalf("%s fetching on bus %d: %v", user, b, err)
	}
	msg, ok := <-batch.Messages()
	if !ok {
		h.t.Fatalf("%s fetched nothing on bus %d: %v", user, b, batch.Error())
	}
	return msg
}

// flows proves that every flow of the design works with least privilege:
// publish with ack, fetch and double-ack from the own durable, replies to
// the right frontend, and the backend's ledger.
func (h *harness) flows() {
	t := h.t
	replySubs := map[cordon.Bus]*nats.Subscription{}
	for _, r := range h.replies {
		sub, err := h.clients["fe-a"].nc.SubscribeSync(h.subj.Reply(r.bus, "fe-a"))
		if err != nil {
			t.Fatal(err)
		}
		replySubs[r.bus] = sub
	}
	if fe, ok := h.clients["fe-a"]; ok {
		if err := fe.nc.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range h.pipes {
		data := fmt.Sprintf("pipe %d from %s", p.bus, p.producer)
		h.publish(p.producer, h.subj.In(p.bus), data)
		h.published[p.bus]++
		msg := h.fetchOne(p.reader, p.bus)
		if string(msg.Data()) != data {
			t.Errorf("%s read %q, want %q", p.reader, msg.Data(), data)
		}
		if err := msg.DoubleAck(h.op()); err != nil {
			t.Fatalf("%s acking on bus %d: %v", p.reader, p.bus, err)
		}
	}
	h.terminalRecords()
	for _, r := range h.replies {
		data := fmt.Sprintf("reply %d from %s", r.bus, r.producer)
		h.publish(r.producer, h.subj.Reply(r.bus, "fe-a"), data)
		h.published[r.bus]++
		msg, err := replySubs[r.bus].NextMsg(waitLimit)
		if err != nil || string(msg.Data) != data {
			t.Errorf("fe-a reply on bus %d: %v, %v", r.bus, msg, err)
		}
	}
	for _, p := range h.pipes {
		if p.reader != "backend" {
			continue
		}
		kv, err := h.clients["backend"].js.KeyValue(h.op(), h.subj.LedgerBucket())
		if err != nil {
			t.Fatalf("backend binding the ledger: %v", err)
		}
		if _, err := kv.Create(h.op(), "req-1", []byte{1}); err != nil {
			t.Errorf("ledger create: %v", err)
		}
		if e, err := kv.Get(h.op(), "req-1"); err != nil || string(e.Value()) != "\x01" {
			t.Errorf("ledger get: %v", err)
		}
		if _, err := kv.Create(h.op(), "req-1", []byte{1}); !errors.Is(err, jetstream.ErrKeyExists) {
			t.Errorf("second ledger create: %v, want ErrKeyExists", err)
		}
	}
}

// terminalRecords: the frontend publishes a terminal record on bus 1's
// final subject; the pipeline reader of bus 1 (its durable filters on In)
// has nothing to read, only the audit (auditSeesEverything) reads it.
func (h *harness) terminalRecords() {
	if !h.sc.has(cordon.BusDirtyReq) {
		return
	}
	h.publish("fe-a", h.subj.Final(cordon.BusDirtyReq), "terminal record of fe-a")
	h.published[cordon.BusDirtyReq]++
	for _, p := range h.pipes {
		if p.bus != cordon.BusDirtyReq {
			continue
		}
		cons, err := h.admin().Consumer(h.op(), h.subj.Stream(p.bus), p.reader)
		if err != nil {
			h.t.Fatal(err)
		}
		if info := cons.CachedInfo(); info.NumPending != 0 || info.NumAckPending != 0 {
			h.t.Errorf("bus 1 %s: %d pending, %d unacked after a terminal record: it would read it",
				p.reader, info.NumPending, info.NumAckPending)
		}
	}
}

// state is what refused operations must leave untouched.
type state string

func (h *harness) snapshot() state {
	var b strings.Builder
	js := h.admin()
	streams := []string{}
	for _, bb := range h.sc.buses {
		streams = append(streams, h.subj.Stream(bb))
	}
	if slices.ContainsFunc(h.pipes, func(p pipe) bool { return p.reader == "backend" }) {
		streams = append(streams, "KV_"+h.subj.LedgerBucket())
	}
	for _, name := range streams {
		s, err := js.Stream(h.op(), name)
		if err != nil {
			fmt.Fprintf(&b, "%s: %v; ", name, err)
			continue
		}
		st := s.CachedInfo().State
		fmt.Fprintf(&b, "%s last=%d msgs=%d consumers=%d [", name, st.LastSeq, st.Msgs, st.Consumers)
		names := s.ConsumerNames(h.op())
		var list []string
		for n := range names.Name() {
			list = append(list, n)
		}
		if err := names.Err(); err != nil {
			fmt.Fprintf(&b, "consumer names: %v ", err)
		}
		slices.Sort(list)
		for _, n := range list {
			ci, err := s.Consumer(h.op(), n)
			if err != nil {
				fmt.Fprintf(&b, "%s: %v ", n, err)
				continue
			}
			info := ci.CachedInfo()
			fmt.Fprintf(&b, "%s delivered=%d pending-ack=%d ", n, info.Delivered.Consumer, info.NumAckPending)
		}
		b.WriteString("] ")
	}
	return state(b.String())
}

// expected is what the design allows user on this server: the test's own
// matrix, not natsconf.Permissions, so an over-grant in the code makes the
// server accept a probe and fails the test.
func (h *harness) expected(user string) perms {
	p, ok := matrix[h.sc.name][user]
	if !ok {
		h.t.Fatalf("%s has no entry in the matrix of %s", user, h.sc.name)
	}
	return p
}

// allowed reports whether subject is covered by one of the patterns (for
// a subscription: is a subset of one of them).
func allowed(patterns []string, subject string) bool {
	for _, p := range patterns {
		if subset(subject, p) {
			return true
		}
	}
	return false
}

func subset(subject, pattern string) bool {
	st, pt := strings.Split(subject, "."), strings.Split(pattern, ".")
	for i, p := range pt {
		if p == ">" {
			return len(st) > i // '>' matches one or more tokens
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

// publishCatalog is every subject an attacker would try to publish to.
func (h *harness) publishCatalog() []string {
	s := h.subj
	var out []string
	consumers := []string{bus.ConsumerRequestValidator, bus.ConsumerBackend, bus.ConsumerResponseValidator, bus.ConsumerAudit, "evil"}
	streams := []string{"KV_" + s.LedgerBucket()}
	for _, b := range cordon.Buses {
		streams = append(streams, s.Stream(b))
		out = append(out, s.In(b), s.Final(b), s.Reply(b, "fe-a"), s.Reply(b, "fe-b"), s.Reply(b, "evil"), s.Prefix()+"."+b.String()+".other")
	}
	for _, st := range streams {
		for _, c := range consumers {
			out = append(out,
				"$JS.API.CONSUMER.MSG.NEXT."+st+"."+c,
				"$JS.API.CONSUMER.INFO."+st+"."+c,
				"$JS.API.CONSUMER.CREATE."+st+"."+c,
				"$JS.API.CONSUMER.CREATE."+st+"."+c+"."+s.In(1),
				"$JS.API.CONSUMER.DURABLE.CREATE."+st+"."+c,
				"$JS.API.CONSUMER.DELETE."+st+"."+c,
				"$JS.API.CONSUMER.PAUSE."+st+"."+c,
				"$JS.API.CONSUMER.LEADER.STEPDOWN."+st+"."+c,
				"$JS.ACK."+st+"."+c+".1.1.1.1.0",
			)
		}
		for _, op := range []string{"CREATE", "UPDATE", "INFO", "DELETE", "PURGE", "MSG.GET", "MSG.DELETE", "SNAPSHOT", "LEADER.STEPDOWN"} {
			out = append(out, "$JS.API.STREAM."+op+"."+st)
		}
		out = append(out,
			"$JS.API.CONSUMER.CREATE."+st,
			"$JS.API.CONSUMER.LIST."+st,
			"$JS.API.CONSUMER.NAMES."+st,
			"$JS.API.DIRECT.GET."+st,
			"$JS.API.DIRECT.GET."+st+"."+s.In(1),
		)
	}
	return append(out,
		"$KV."+s.LedgerBucket()+".req-2", "$KV.OTHER.k",
		"$JS.API.INFO", "$JS.API.STREAM.NAMES", "$JS.API.STREAM.LIST", "$JS.API.STREAM.RESTORE.X",
		"$JS.API.ACCOUNT.PURGE."+natsconf.AccountCordon, "$JS.API.SERVER.REMOVE", "$JS.API.META.LEADER.STEPDOWN",
		"$JS.FC.x", "_INBOX.x", "_INBOX_fe-a.x", "_INBOX_admin.x", "_INBOX_backend.x",
		"$SYS.REQ.SERVER.PING", "$SYS.REQ.ACCOUNT.CORDON.CONNZ", "foo",
	)
}

// probePublishes publishes, as every user, to every catalogue subject its
// permissions do not cover, and requires the server to refuse each one.
func (h *harness) probePublishes() {
	catalog := h.publishCatalog()
	for name, c := range h.clients {
		pub := h.expected(name).pub
		var want []string
		for _, subject := range catalog {
			if allowed(pub, subject) {
				continue
			}
			want = append(want, "Publish "+subject)
			if err := c.nc.PublishRequest(subject, c.nc.NewInbox(), []byte(`{"batch":10,"no_wait":true}`)); err != nil {
				h.t.Fatalf("%s publish %s: %v", name, subject, err)
			}
		}
		if err := c.nc.Flush(); err != nil {
			h.t.Fatalf("%s: %v", name, err)
		}
		if missing := c.viol.await(want); len(missing) > 0 {
			h.t.Errorf("%s: server accepted %d publishes outside the matrix: %q", name, len(missing), missing)
		}
		h.probes += len(want)
		if !c.nc.IsConnected() {
			h.t.Errorf("%s disconnected by the probes", name)
		}
	}
}

type deniedSub struct {
	user string
	sub  *nats.Subscription
}

// probeSubscriptions subscribes, as every user, to every catalogue subject
// its permissions do not cover; the server must refuse each one. The
// subscriptions stay open: after all traffic they must have received
// nothing.
func (h *harness) probeSubscriptions() []deniedSub {
	s := h.subj
	catalog := []string{">", "*", "*.>", "_INBOX.>", "_INBOX_fe-a.>", "_INBOX_fe-b.>", "_INBOX_admin.>",
		"_INBOX_request-validator.>", "_INBOX_backend.>", "_INBOX_audit.>", "_INBOX_*.>",
		"$JS.>", "$JS.ACK.>", "$JS.API.>", "$KV.>", "$SYS.>", s.Prefix() + ".>"}
	for _, b := range cordon.Buses {
		catalog = append(catalog, s.All(b), s.In(b), s.Final(b), s.Replies(b), s.Reply(b, "fe-a"), s.Reply(b, "fe-b"),
			"$JS.ACK."+s.Stream(b)+".>", s.Prefix()+"."+b.String()+".reply.>")
	}
	var out []deniedSub
	for name, c := range h.clients {
		sub := h.expected(name).sub
		var want []string
		for _, subject := range catalog {
			if allowed(sub, subject) {
				continue
			}
			want = append(want, "Subscription "+subject)
			ns, err := c.nc.SubscribeSync(subject)
			if err != nil {
				h.t.Fatalf("%s subscribe %s: %v", name, subject, err)
			}
			out = append(out, deniedSub{name, ns})
		}
		if err := c.nc.Flush(); err != nil {
			h.t.Fatal(err)
		}
		if missing := c.viol.await(want); len(missing) > 0 {
			h.t.Errorf("%s: server accepted %d subscriptions outside the matrix: %q", name, len(missing), missing)
		}
		h.probes += len(want)
	}
	return out
}

// rollupsRefused: every user that may publish into a stream tries to wipe
// it with a rollup header; the stream configuration refuses it.
func (h *harness) rollupsRefused() {
	before := h.snapshot()
	try := func(user, subject string) {
		for _, mode := range []string{"all", "sub"} {
			msg := &nats.Msg{Subject: subject, Header: nats.Header{"Nats-Rollup": {mode}}, Data: []byte("rollup")}
			if _, err := h.clients[user].js.PublishMsg(h.op(), msg); err == nil {
				h.t.Errorf("%s: rollup %s on %s accepted", user, mode, subject)
			}
		}
	}
	for _, p := range h.pipes {
		try(p.producer, h.subj.In(p.bus))
	}
	for _, r := range h.replies {
		try(r.producer, h.subj.Reply(r.bus, "fe-a"))
	}
	if after := h.snapshot(); after != before {
		h.t.Errorf("rollup attempts changed the state:\nbefore %s\nafter  %s", before, after)
	}
}

// foreignAcksRefused: a reader holds an unacknowledged message; every other
// user tries to ack, nak or terminate it through its ack subject.
func (h *harness) foreignAcksRefused() {
	for _, p := range h.pipes {
		data := fmt.Sprintf("held %d", p.bus)
		h.publish(p.producer, h.subj.In(p.bus), data)
		h.published[p.bus]++
		msg := h.fetchOne(p.reader, p.bus)
		ackSubject := msg.Reply()
		for name, c := range h.clients {
			if name == p.reader || name == "admin" {
				continue
			}
			for _, body := range []string{"+ACK", "-NAK", "+TERM", "+NXT"} {
				if err := c.nc.Publish(ackSubject, []byte(body)); err != nil {
					h.t.Fatal(err)
				}
			}
			if err := c.nc.Flush(); err != nil {
				h.t.Fatal(err)
			}
			if missing := c.viol.await([]string{"Publish " + ackSubject}); missing != nil {
				h.t.Errorf("%s acked %s's message on bus %d", name, p.reader, p.bus)
			}
		}
		cons, err := h.admin().Consumer(h.op(), h.subj.Stream(p.bus), p.reader)
		if err != nil {
			h.t.Fatal(err)
		}
		if n := cons.CachedInfo().NumAckPending; n != 1 {
			h.t.Errorf("bus %d %s: %d messages pending ack after foreign acks, want 1", p.bus, p.reader, n)
		}
		if err := msg.DoubleAck(h.op()); err != nil {
			h.t.Errorf("%s acking its own message: %v", p.reader, err)
		}
	}
}

// auditSeesEverything: the audit user reads every message of every bus
// through its own durable.
func (h *harness) auditSeesEverything() {
	for _, b := range h.sc.buses {
		want := h.published[b]
		for i := range want {
			msg := h.fetchOne("audit", b)
			if err := msg.DoubleAck(h.op()); err != nil {
				h.t.Errorf("audit ack %d on bus %d: %v", i, b, err)
			}
		}
		cons, err := h.admin().Consumer(h.op(), h.subj.Stream(b), bus.ConsumerAudit)
		if err != nil {
			h.t.Fatal(err)
		}
		if info := cons.CachedInfo(); info.NumPending != 0 || int(info.Delivered.Stream) != want {
			h.t.Errorf("bus %d audit: pending %d, delivered up to %d, want %d", b, info.NumPending, info.Delivered.Stream, want)
		}
	}
}

// adminCannotPurgeOrDelete: even the provisioning admin cannot erase what
// the audit has not read, because the stream denies purge and delete.
func (h *harness) adminCannotPurgeOrDelete() {
	for _, b := range h.sc.buses {
		s, err := h.admin().Stream(h.op(), h.subj.Stream(b))
		if err != nil {
			h.t.Fatal(err)
		}
		if err := s.Purge(h.op()); err == nil {
			h.t.Errorf("bus %d: admin purged the stream", b)
		}
		if err := s.DeleteMsg(h.op(), 1); err == nil {
			h.t.Errorf("bus %d: admin deleted a message", b)
		}
	}
}

// strangersRefused: credentials of users not configured on this server,
// and no credentials at all, cannot connect.
func (h *harness) strangersRefused() {
	// The system user hears about every refused connection.
	advisories, err := h.clients["system"].nc.SubscribeSync("$SYS.SERVER.*.CLIENT.AUTH.ERR")
	if err != nil {
		h.t.Fatal(err)
	}
	if err := h.clients["system"].nc.Flush(); err != nil {
		h.t.Fatal(err)
	}
	for _, c := range candidates {
		if slices.ContainsFunc(h.conf.Users, func(u natsconf.User) bool { return u.Name == c.name }) {
			continue
		}
		kp := userKey(h.t, c.seed)
		pub, _ := kp.PublicKey()
		if nc, err := nats.Connect(h.url, nats.Nkey(pub, kp.Sign), nats.NoReconnect()); err == nil {
			nc.Close()
			h.t.Errorf("%s connected to a server it has no business on", c.name)
		}
	}
	if nc, err := nats.Connect(h.url, nats.NoReconnect()); err == nil {
		nc.Close()
		h.t.Error("anonymous connection accepted")
	}
	if nc, err := nats.Connect(h.url, nats.UserInfo("admin", ""), nats.NoReconnect()); err == nil {
		nc.Close()
		h.t.Error("user/password connection accepted")
	}
	if _, err := advisories.NextMsg(waitLimit); err != nil {
		h.t.Errorf("no auth-error advisory reached the system account: %v", err)
	}
}
