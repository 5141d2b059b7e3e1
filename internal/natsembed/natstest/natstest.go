// Package natstest gives tests a real NATS server with JetStream, embedded
// in the test process (internal/natsembed), and connections to it; all are
// closed when the test ends.
package natstest

import (
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"athena/internal/natsembed"
)

// Start starts a server whose JetStream files live in a temporary
// directory.
func Start(tb testing.TB) *server.Server {
	tb.Helper()
	ns, err := natsembed.Start(natsembed.Config{StoreDir: tb.TempDir()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	return ns
}

// Connect opens a connection to ns with its JetStream context.
func Connect(tb testing.TB, ns *server.Server, opts ...nats.Option) (*nats.Conn, jetstream.JetStream) {
	tb.Helper()
	nc, err := nats.Connect(ns.ClientURL(), opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	return nc, js
}

// JetStream starts a server and connects to it.
func JetStream(tb testing.TB) jetstream.JetStream {
	tb.Helper()
	_, js := Connect(tb, Start(tb))
	return js
}
