// Package testkit holds the helpers cordon's tests share: embedded NATS
// buses, keys, PostgreSQL databases, and bounded polling. Real servers
// only; nothing here mocks NATS or PostgreSQL.
package testkit

import (
	"testing"
	"time"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/embednats"
	"github.com/cordon-gateway/cordon/envelope"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// StartBus starts an open embedded NATS server with JetStream on a random
// port with a temporary store, shut down when the test ends.
func StartBus(t testing.TB, name string) *embednats.Server {
	t.Helper()
	srv, err := embednats.Start(embednats.Config{Name: name, StoreDir: t.TempDir(), MaxStore: 4 << 30})
	if err != nil {
		t.Fatalf("start bus %s: %v", name, err)
	}
	t.Cleanup(srv.Shutdown)
	return srv
}

// JetStream connects to the server at url with nats.go's defaults, closed
// when the test ends.
func JetStream(t testing.TB, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// Signer returns a fresh signer for stage.
func Signer(t testing.TB, stage cordon.Stage) *envelope.Signer {
	t.Helper()
	_, priv, err := envelope.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	s, err := envelope.NewSigner(stage, priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Eventually polls cond every 10ms until it holds or timeout passes, then
// fails the test with msg.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, msg string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: "+msg, append([]any{timeout}, args...)...)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
