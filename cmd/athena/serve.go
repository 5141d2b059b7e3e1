package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"athena/gateway"
	"athena/internal/natsembed"
	"athena/internal/supervise"
	"athena/streams"
	"athena/web"
)

// gatewayFlags are the flags of the gateway role, in serve and gateway.
type gatewayFlags struct {
	addr        string
	tlsCert     string
	tlsKey      string
	maxFileSize int64
	maxStreams  int
	chunkSize   int
	flushAfter  time.Duration
	origins     stringList
	grace       time.Duration
}

func (f *gatewayFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.addr, "addr", "127.0.0.1:8080", "HTTP address of the gateway (HTTP/1.1, h2c and, with a certificate, TLS HTTP/2)")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "PEM certificate: serve TLS (HTTP/2 and HTTP/1.1) instead of cleartext")
	fs.StringVar(&f.tlsKey, "tls-key", "", "PEM private key of --tls-cert")
	fs.Int64Var(&f.maxFileSize, "max-file-size", 1<<30, "largest file accepted, in bytes")
	fs.IntVar(&f.maxStreams, "max-streams-per-conn", 32, "files in flight on one WebSocket connection")
	fs.IntVar(&f.chunkSize, "chunk-size", 256<<10, "bytes of a file per JetStream chunk: the gateway publishes a chunk when it is full, when the file ends or after --flush-after (BENCHMARKS.md)")
	fs.DurationVar(&f.flushAfter, "flush-after", 10*time.Millisecond, "publish a chunk that is not full once its first byte has waited this long (checked as bytes arrive), so that slow uploads get findings sooner; 0: only full chunks and the file's end (BENCHMARKS.md)")
	fs.Var(&f.origins, "allowed-origin", "extra Origin allowed on the WebSocket (repeatable; * allows any)")
	fs.DurationVar(&f.grace, "shutdown-grace", 30*time.Second, "on SIGTERM, how long uploads in flight may take to finish")
}

// check refuses flag values the gateway cannot run with.
func (f *gatewayFlags) check() error {
	if f.chunkSize < 4<<10 {
		return fmt.Errorf("--chunk-size %d: want at least 4096 bytes", f.chunkSize)
	}
	if f.flushAfter < 0 {
		return fmt.Errorf("--flush-after %v: want 0 or more", f.flushAfter)
	}
	return nil
}

func (f *gatewayFlags) tlsConfig() (*tls.Config, error) {
	if f.tlsCert == "" && f.tlsKey == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(f.tlsCert, f.tlsKey)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// runGatewayRole serves the gateway on gf.addr until ctx ends.
//
// The gateway always has a verdict cache: Redis with --redis, else in
// process only. Without Redis no engine can write to it, so the gateway
// caches the verdicts it relays itself (RATIONALE.md, "Who writes the
// verdict cache").
func runGatewayRole(ctx context.Context, gf gatewayFlags, cf cacheFlags, natsURL string, log *slog.Logger, reg *prometheus.Registry) error {
	tlsCfg, err := gf.tlsConfig()
	if err != nil {
		return err
	}
	vc, err := openCache(ctx, cf, log.With("component", "cache"), reg)
	if err != nil {
		return err
	}
	defer vc.Close(context.Background())
	nc, js, err := connectNATS(ctx, natsURL, "athena-gateway", log)
	if err != nil {
		return err
	}
	defer nc.Close()
	gw, err := gateway.New(gateway.Config{
		NC: nc, JS: js, MaxFileSize: gf.maxFileSize, MaxStreamsPerConn: gf.maxStreams, AllowedOrigins: gf.origins,
		ChunkSize: gf.chunkSize, FlushAfter: gf.flushAfter, ShutdownGrace: gf.grace, Logger: log, Registry: reg,
		Cache: vc, CacheRelayedVerdicts: cf.redis == "", UI: web.Handler(),
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", gf.addr)
	if err != nil {
		return err
	}
	log.Info("gateway listening", "addr", ln.Addr().String(), "tls", tlsCfg != nil)
	return gw.Serve(ctx, ln, tlsCfg)
}

func runGateway(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("gateway", "gateway --addr HOST:PORT --nats URL [flags]", stderr)
	var gf gatewayFlags
	gf.register(fs)
	var cf cacheFlags
	cf.register(fs)
	natsURL := fs.String("nats", "nats://127.0.0.1:4222", "NATS server URL (with JetStream)")
	level := fs.String("log-level", "info", "log level: debug, info, warn or error")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := gf.check(); err != nil {
		return err
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*level)); err != nil {
		return err
	}
	return runGatewayRole(ctx, gf, cf, *natsURL, newLogger(stderr, lv).With("role", "gateway"), newRegistry())
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", "serve [--addr HOST:PORT] [--data DIR] [--engines N] [flags]", stderr)
	var gf gatewayFlags
	gf.register(fs)
	var ef engineFlags
	ef.register(fs)
	var cf cacheFlags
	cf.register(fs)
	data := fs.String("data", "athena-data", "data directory (JetStream storage)")
	engines := fs.Int("engines", 2, "engine processes to run and supervise")
	rulesPoll := fs.Duration("rules-poll", 5*time.Second, "how often engines check the --rules files for changes (0: never)")
	passwordsPoll := fs.Duration("archive-passwords-poll", 5*time.Second, "how often engines check the --archive-passwords file for changes (0: never)")
	natsPort := fs.Int("nats-port", 4222, "port of the embedded NATS server on 127.0.0.1 (-1: any free port)")
	profDir := fs.String("cpuprofile-dir", "", "debugging: write pprof CPU profiles into this directory: serve.pprof (gateway and embedded NATS) and engine-N.pprof, each from ready to exit (empty: off)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *engines < 1 {
		return errors.New("--engines must be at least 1")
	}
	if err := gf.check(); err != nil {
		return err
	}
	log := newLogger(stderr, ef.logLevel)
	if ef.passwords != "" {
		// Checked here too, so that a bad list stops serve at once
		// instead of every engine failing under supervision.
		if _, err := loadPasswords(ef.passwords); err != nil {
			return err
		}
	}
	ns, err := natsembed.Start(natsembed.Config{Port: *natsPort, StoreDir: filepath.Join(*data, "jetstream")})
	if err != nil {
		return err
	}
	defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
	natsURL := ns.ClientURL()
	log.Info("embedded NATS with JetStream", "url", natsURL, "data", *data)

	// Create the topology once here, so engines and gateway start on it.
	if err := ensureTopology(ctx, natsURL, log); err != nil {
		return err
	}

	self, err := os.Executable()
	if err != nil {
		return err
	}
	sup, err := supervise.New(supervise.Config{
		Count: *engines,
		Command: func(i int) *exec.Cmd {
			cmd := exec.Command(self, "engine",
				"--nats", natsURL,
				"--id", "engine-"+strconv.Itoa(i),
				"--modules", ef.modules,
				"--cache-dir", ef.cacheDir,
				"--wasm-runtime", ef.runtime,
				"--job-timeout", ef.jobTimeout.String(),
				"--concurrency", strconv.Itoa(ef.concurrency),
				"--log-level", ef.logLevel.String(),
			)
			cmd.Args = append(cmd.Args, cf.args()...)
			for _, d := range ef.extra {
				cmd.Args = append(cmd.Args, "--extra-modules", d)
			}
			for _, r := range ef.rules {
				cmd.Args = append(cmd.Args, "--rules", r)
			}
			cmd.Args = append(cmd.Args, "--rules-poll", rulesPoll.String())
			if ef.passwords != "" {
				cmd.Args = append(cmd.Args, "--archive-passwords", ef.passwords, "--archive-passwords-poll", passwordsPoll.String())
			}
			if *profDir != "" {
				cmd.Args = append(cmd.Args, "--cpuprofile", filepath.Join(*profDir, "engine-"+strconv.Itoa(i)+".pprof"))
			}
			cmd.Stdout, cmd.Stderr = stderr, stderr
			return cmd
		},
		Logger: log.With("role", "supervisor"),
	})
	if err != nil {
		return err
	}
	if err := sup.Start(ctx); err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), gf.grace+5*time.Second)
		defer cancel()
		sup.Close(cctx)
	}()
	if *profDir != "" {
		stop, err := startCPUProfile(filepath.Join(*profDir, "serve.pprof"))
		if err != nil {
			return err
		}
		defer stop()
	}
	return runGatewayRole(ctx, gf, cf, natsURL, log.With("role", "gateway"), newRegistry())
}

func ensureTopology(ctx context.Context, natsURL string, log *slog.Logger) error {
	nc, js, err := connectNATS(ctx, natsURL, "athena-serve", log)
	if err != nil {
		return err
	}
	defer nc.Close()
	return streams.Topology{}.Ensure(ctx, js)
}
