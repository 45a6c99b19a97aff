package natsconf_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/cordon-gateway/cordon/natsconf"
)

// pki is a throw-away certificate authority for one test.
type pki struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	dir  string
	n    int64
}

func newPKI(t *testing.T, dir, name string) *pki {
	t.Helper()
	p := &pki{dir: dir}
	p.cert, p.key = p.issue(t, name, nil, true)
	p.write(t, name+"-ca.pem", "CERTIFICATE", p.cert.Raw)
	return p
}

// issue creates a certificate signed by p (self-signed when p.cert is nil).
func (p *pki) issue(t *testing.T, cn string, ips []net.IP, ca bool) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p.n++
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(p.n),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           ips,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  ca,
	}
	if ca {
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	}
	parent, signer := tmpl, key
	if p.cert != nil {
		parent, signer = p.cert, p.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, key
}

func (p *pki) write(t *testing.T, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// pair writes a leaf certificate and key, returning their paths.
func (p *pki) pair(t *testing.T, cn string) (certFile, keyFile string) {
	t.Helper()
	c, k := p.issue(t, cn, []net.IP{net.ParseIP("127.0.0.1")}, false)
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return p.write(t, cn+".pem", "CERTIFICATE", c.Raw), p.write(t, cn+"-key.pem", "EC PRIVATE KEY", der)
}

// TestIsolationMutualTLS: with TLS and a CA configured, a client needs both
// a certificate from that CA and its NKey.
func TestIsolationMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca := newPKI(t, dir, "cordon")
	rogue := newPKI(t, dir, "rogue")
	caFile := filepath.Join(dir, "cordon-ca.pem")
	srvCert, srvKey := ca.pair(t, "bus-1")
	feCert, feKey := ca.pair(t, "fe-a")
	rogueCert, rogueKey := rogue.pair(t, "rogue-fe")

	conf := scenarios[0].server(t)
	conf.Host, conf.Port, conf.StoreDir = "127.0.0.1", -1, t.TempDir()
	conf.TLS = &natsconf.TLS{Cert: srvCert, Key: srvKey, CA: caFile}
	opts, err := natsconf.Options(conf)
	if err != nil {
		t.Fatal(err)
	}
	if c := opts.TLSConfig; c == nil || c.ClientAuth != tls.RequireAndVerifyClientCert || c.MinVersion != tls.VersionTLS13 {
		t.Fatalf("TLS not parsed as mutual TLS 1.3: %+v", c)
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
	url := "tls://" + ns.Addr().String()

	kp := userKey(t, candidates[0].seed)
	pub, _ := kp.PublicKey()
	nkey := nats.Nkey(pub, kp.Sign)
	tests := []struct {
		name string
		opts []nats.Option
		ok   bool
	}{
		{"certificate and nkey", []nats.Option{nats.RootCAs(caFile), nats.ClientCert(feCert, feKey), nkey}, true},
		{"nkey without certificate", []nats.Option{nats.RootCAs(caFile), nkey}, false},
		{"certificate without nkey", []nats.Option{nats.RootCAs(caFile), nats.ClientCert(feCert, feKey)}, false},
		{"certificate of another CA", []nats.Option{nats.RootCAs(caFile), nats.ClientCert(rogueCert, rogueKey), nkey}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			nc, err := nats.Connect(url, append(tc.opts, nats.NoReconnect(), nats.Timeout(waitLimit))...)
			if err == nil {
				nc.Close()
			}
			if (err == nil) != tc.ok {
				t.Errorf("connect: %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
