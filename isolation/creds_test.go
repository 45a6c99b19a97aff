package isolation_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/cordon-gateway/cordon"
)

// userBuses are the buses whose servers admit key holder role, by the
// design: a stage its two, the audit shippers (one NKey for all buses in
// this configuration format) and the provisioning admin every bus. In
// single validation the frontend and the backend share both buses and
// there is no validator user at all.
func (d *deployment) userBuses(role string) []cordon.Bus {
	if d.mode == "single-validation" {
		if role == "request-validator" || role == "response-validator" {
			return nil
		}
		return d.buses()
	}
	return designBuses[role]
}

var designBuses = map[string][]cordon.Bus{
	"frontend":           {cordon.BusDirtyReq, cordon.BusCleanResp},
	"request-validator":  {cordon.BusDirtyReq, cordon.BusCleanReq},
	"backend":            {cordon.BusCleanReq, cordon.BusDirtyResp},
	"response-validator": {cordon.BusDirtyResp, cordon.BusCleanResp},
	"audit":              cordon.Buses,
	"admin":              cordon.Buses,
}

// connect opens a NATS connection from host to bus b with opts; it never
// reconnects, so a refusal is final.
func (d *deployment) connect(hostName string, b cordon.Bus, opts ...nats.Option) (*nats.Conn, error) {
	opts = append([]nats.Option{
		nats.Name("isolation-probe"),
		nats.SetCustomDialer(natsDialer{d.lab.dialer(hostName)}),
		nats.NoReconnect(),
		nats.Timeout(waitLimit),
	}, opts...)
	return nats.Connect(d.natsURL(b), opts...)
}

// credentialMisuse stands on the ops host, which is attached to all four
// bus networks on purpose (the network is no longer what stops anyone),
// and presents every key holder's NKey to every bus: each is accepted by
// exactly the buses of its user and refused, as an authorization
// violation, by every other; strangers are refused everywhere.
func (d *deployment) credentialMisuse(t *testing.T) {
	roles := []string{"frontend", "request-validator", "backend", "response-validator", "audit", "admin"}
	var matrix strings.Builder
	fmt.Fprintf(&matrix, "%-19s", "nkey\\bus")
	for _, b := range d.buses() {
		fmt.Fprintf(&matrix, " %d ", b)
	}
	matrix.WriteString("\n")
	for _, role := range roles {
		fmt.Fprintf(&matrix, "%-19s", role)
		for _, b := range d.buses() {
			opt, err := nats.NkeyOptionFromSeed(d.seedFile(role))
			if err != nil {
				t.Fatal(err)
			}
			nc, err := d.connect("ops", b, opt)
			want := slices.Contains(d.userBuses(role), b)
			switch {
			case err == nil && want:
				matrix.WriteString(" ok")
				if !nc.IsConnected() {
					t.Errorf("%s on bus %d: connected but not connected", role, b)
				}
				nc.Close()
			case err == nil:
				matrix.WriteString(" !ok")
				nc.Close()
				t.Errorf("bus %d accepted the %s NKey; it is not one of its users", b, role)
			case want:
				matrix.WriteString(" !no")
				t.Errorf("bus %d refused its own user %s: %v", b, role, err)
			case !authRefusal(err):
				matrix.WriteString(" !err")
				t.Errorf("bus %d, %s NKey: %v; want an authorization violation", b, role, err)
			default:
				matrix.WriteString(" . ")
			}
		}
		matrix.WriteString("\n")
	}
	stranger, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	strangerPub, _ := stranger.PublicKey()
	strangers := map[string][]nats.Option{
		"anonymous":         nil,
		"unknown nkey":      {nats.Nkey(strangerPub, stranger.Sign)},
		"user and password": {nats.UserInfo("admin", "admin")},
		"token":             {nats.Token("cordon")},
	}
	for name, opts := range strangers {
		for _, b := range d.buses() {
			nc, err := d.connect("ops", b, opts...)
			if err == nil {
				nc.Close()
				t.Errorf("bus %d accepted a connection with %s", b, name)
			} else if !authRefusal(err) {
				t.Errorf("bus %d, %s: %v; want an authorization violation", b, name, err)
			}
		}
	}
	t.Logf("NKeys presented from the ops host (ok = accepted, . = authorization violation):\n%s", matrix.String())
}

func authRefusal(err error) bool {
	return errors.Is(err, nats.ErrAuthorization) || strings.Contains(strings.ToLower(err.Error()), "authorization violation")
}
