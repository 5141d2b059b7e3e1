package natsembed

import (
	"testing"

	"github.com/nats-io/nats.go"
)

func TestStartAcceptsJetStreamClients(t *testing.T) {
	s, err := Start(Config{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Shutdown(); s.WaitForShutdown() }()
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if got, want := nc.MaxPayload(), int64(2<<20); got != want {
		t.Errorf("max payload %d, want %d", got, want)
	}
	if !s.JetStreamEnabled() {
		t.Errorf("JetStream is not enabled")
	}
	if _, err := Start(Config{}); err == nil {
		t.Errorf("Start without a StoreDir succeeded")
	}
}
