// Package natsembed runs a NATS server with JetStream inside the process:
// `athena serve` uses it as its default message bus, and tests use it as the
// real server they talk to.
package natsembed

import (
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Config configures the embedded server. The zero value of each field means
// its documented default.
type Config struct {
	// Host to listen on. Default 127.0.0.1: engines on this machine connect.
	Host string
	// Port to listen on; -1 picks a free one. Default -1.
	Port int
	// StoreDir holds JetStream's files. Required.
	StoreDir string
	// MaxPayload bounds one message. Default 2 MiB (a 1 MiB chunk plus headers fits).
	MaxPayload int32
	// ReadyTimeout bounds the wait for the server to accept connections. Default 10s.
	ReadyTimeout time.Duration
}

// Start starts a server and waits until it accepts connections. Shut it down
// with Shutdown and WaitForShutdown.
func Start(cfg Config) (*server.Server, error) {
	if cfg.StoreDir == "" {
		return nil, errors.New("natsembed: StoreDir is required")
	}
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if cfg.Port == 0 {
		cfg.Port = -1
	}
	if cfg.MaxPayload <= 0 {
		cfg.MaxPayload = 2 << 20
	}
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = 10 * time.Second
	}
	s, err := server.NewServer(&server.Options{
		ServerName: "athena-embedded",
		Host:       cfg.Host,
		Port:       cfg.Port,
		JetStream:  true,
		StoreDir:   cfg.StoreDir,
		MaxPayload: cfg.MaxPayload,
		NoSigs:     true,
	})
	if err != nil {
		return nil, fmt.Errorf("natsembed: %w", err)
	}
	s.Start()
	if !s.ReadyForConnections(cfg.ReadyTimeout) {
		s.Shutdown()
		return nil, fmt.Errorf("natsembed: server not ready after %v", cfg.ReadyTimeout)
	}
	return s, nil
}
