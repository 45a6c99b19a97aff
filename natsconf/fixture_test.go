package natsconf_test

import (
	"bytes"
	"testing"

	"github.com/nats-io/nkeys"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/bus"
	"github.com/cordon-gateway/cordon/natsconf"
)

// Stream, consumer and subject names as the design fixes them, spelled out
// so the tests state the matrix independently of the code.
const (
	s1, s2, s3, s4 = "CORDON_DIRTY_REQ", "CORDON_CLEAN_REQ", "CORDON_DIRTY_RESP", "CORDON_CLEAN_RESP"
	ledgerBucket   = "CORDON_BACKEND_LEDGER"
)

func subjects(t testing.TB) bus.Subjects {
	t.Helper()
	s, err := bus.NewSubjects("cordon")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// userSpec is one candidate user; each scenario keeps those with
// something to do on its server.
type userSpec struct {
	name  string
	role  natsconf.Role
	ids   []string
	buses []cordon.Bus
	seed  byte
}

var candidates = []userSpec{
	{name: "fe-a", role: natsconf.RoleFrontend, ids: []string{"fe-a"}, seed: 1},
	{name: "fe-b", role: natsconf.RoleFrontend, ids: []string{"fe-b"}, seed: 2},
	{name: "request-validator", role: natsconf.RoleRequestValidator, seed: 3},
	{name: "backend", role: natsconf.RoleBackend, seed: 4},
	{name: "response-validator", role: natsconf.RoleResponseValidator, seed: 5},
	{name: "audit", role: natsconf.RoleAudit, seed: 6},
	{name: "admin", role: natsconf.RoleAdmin, seed: 7},
	{name: "system", role: natsconf.RoleSystem, seed: 8},
}

// userKey is a deterministic user NKey, so rendered files are stable.
func userKey(t testing.TB, seed byte) nkeys.KeyPair {
	t.Helper()
	kp, err := nkeys.FromRawSeed(nkeys.PrefixByteUser, bytes.Repeat([]byte{seed}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return kp
}

func (u userSpec) user(t testing.TB) natsconf.User {
	t.Helper()
	pub, err := userKey(t, u.seed).PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	return natsconf.User{Name: u.name, Role: u.role, NKey: pub, FrontendIDs: u.ids, Buses: u.buses}
}

// scenario is one server of one deployment shape.
type scenario struct {
	name  string
	mode  string
	buses []cordon.Bus
}

var scenarios = []scenario{
	{"full-bus-1", natsconf.ModeFull, []cordon.Bus{1}},
	{"full-bus-2", natsconf.ModeFull, []cordon.Bus{2}},
	{"full-bus-3", natsconf.ModeFull, []cordon.Bus{3}},
	{"full-bus-4", natsconf.ModeFull, []cordon.Bus{4}},
	{"single-nats", natsconf.ModeSingleNATS, []cordon.Bus{1, 2, 3, 4}},
	{"single-validation", natsconf.ModeSingleValidation, []cordon.Bus{1, 3}},
	{"single-validation-bus-1", natsconf.ModeSingleValidation, []cordon.Bus{1}},
	{"single-validation-bus-3", natsconf.ModeSingleValidation, []cordon.Bus{3}},
}

// server builds the scenario's server with every candidate user that has
// something to do on it (Permissions refuses the others).
func (sc scenario) server(t testing.TB) natsconf.Server {
	t.Helper()
	s := natsconf.Server{
		Name:       "cordon-" + sc.name,
		Host:       "0.0.0.0",
		Port:       4222,
		StoreDir:   "/var/lib/cordon/" + sc.name,
		Buses:      sc.buses,
		Mode:       sc.mode,
		Subjects:   subjects(t),
		SyncAlways: true,
		MaxMemory:  64 << 20,
		MaxStore:   1 << 30,
		MaxPayload: 16 << 20,
	}
	for _, c := range candidates {
		u := c.user(t)
		if _, _, err := natsconf.Permissions(s, u); err == nil {
			s.Users = append(s.Users, u)
		}
	}
	return s
}

func (sc scenario) has(b cordon.Bus) bool {
	for _, x := range sc.buses {
		if x == b {
			return true
		}
	}
	return false
}
