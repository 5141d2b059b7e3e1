package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"athena/engine/worker"
	"athena/internal/formats"
	"athena/internal/rules"
	"athena/internal/supervise"
)

// heartbeatEvery is how often an engine tells its supervisor it is alive.
const heartbeatEvery = time.Second

func runEngine(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("engine", "engine --nats URL [flags]", stderr)
	var ef engineFlags
	ef.register(fs)
	var cf cacheFlags
	cf.register(fs)
	natsURL := fs.String("nats", nats.DefaultURL, "NATS server URL (with JetStream)")
	id := fs.String("id", "", "engine id in logs, metrics and presence (default HOST-PID)")
	metricsAddr := fs.String("metrics-addr", "", "serve /healthz and /metrics on this address (empty: off)")
	cpuProfile := fs.String("cpuprofile", "", "debugging: write a pprof CPU profile of this engine to this file, from ready to exit (empty: off)")
	rulesPoll := fs.Duration("rules-poll", 5*time.Second, "how often to check the --rules files for changes (0: never); the "+rules.Bucket+" bucket is watched too")
	passwordsPoll := fs.Duration("archive-passwords-poll", 5*time.Second, "how often to check the --archive-passwords file for changes (0: never)")
	if err := parse(fs, args); err != nil {
		return err
	}
	log := newLogger(stderr, ef.logLevel).With("role", "engine")
	if *id == "" {
		host, _ := os.Hostname()
		*id = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	reg := newRegistry()
	ef.profileLabels = *cpuProfile != ""
	eng, err := newEngine(ctx, ef, stderr, reg)
	if err != nil {
		return err
	}
	defer eng.Close(context.Background())

	nc, js, err := connectNATS(ctx, *natsURL, "athena-engine-"+*id, log)
	if err != nil {
		return err
	}
	defer nc.Close()
	if err := watchRules(ctx, eng, ef.rules, *rulesPoll, js, log); err != nil {
		return err
	}
	if ef.passwords != "" && *passwordsPoll > 0 {
		// Stopped and waited for before the engine closes (defers run last first).
		wctx, stop := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Go(func() {
			watchPasswords(wctx, eng, ef.passwords, *passwordsPoll, eng.Settings()[formats.PasswordsKind], log.With("component", "passwords"))
		})
		defer wg.Wait()
		defer stop()
	}
	wcfg := worker.Config{
		Engine: eng, JS: js, NC: nc, ID: *id, Concurrency: ef.concurrency,
		Logger: log, Registerer: reg,
	}
	// Only a shared Redis is worth writing: an in-process cache here would
	// never be read (the gateway then caches what it relays).
	if cf.redis != "" {
		vc, err := openCache(ctx, cf, log.With("component", "cache"), reg)
		if err != nil {
			return err
		}
		defer vc.Close(context.Background())
		wcfg.Cache = vc
	}
	w, err := worker.New(wcfg)
	if err != nil {
		return err
	}
	stopProfile, err := startCPUProfile(*cpuProfile)
	if err != nil {
		return err
	}
	defer func() {
		if err := stopProfile(); err != nil {
			log.Warn("cpu profile", "err", err)
		}
	}()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 3)
	go func() { errc <- w.Run(ctx) }()
	go func() {
		if err := eng.WarmUp(ctx); err != nil && ctx.Err() == nil {
			log.Warn("module warm-up", "err", err) // the module loads on its first job instead
		}
	}()
	go func() {
		// Heartbeat returns nil at once when no supervisor started this
		// process (a pod, where the liveness probe on /healthz watches it).
		if err := supervise.Heartbeat(ctx, heartbeatEvery, w.Healthy); err != nil {
			errc <- err
		}
	}()
	if *metricsAddr != "" {
		go func() { errc <- serveEngineHTTP(ctx, *metricsAddr, reg, w.Healthy) }()
	}
	log.Info("engine ready", "id", *id, "nats", *natsURL, "modules", len(eng.Modules()),
		"fingerprint", w.Fingerprint(), "redis", cf.redis != "")
	err = <-errc
	cancel()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

// serveEngineHTTP serves an engine's /healthz (its liveness probe in a
// cluster, where no supervisor watches it) and /metrics.
func serveEngineHTTP(ctx context.Context, addr string, reg *prometheus.Registry, healthy func() (bool, string)) error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		ok, info := healthy()
		if !ok {
			http.Error(w, info, http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok:", info)
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	stop := context.AfterFunc(ctx, func() { srv.Close() })
	defer stop()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return ctx.Err()
}

// connectNATS connects, with a JetStream context, and keeps reconnecting for
// ever: a NATS restart must not end an engine or a gateway.
func connectNATS(ctx context.Context, url, name string, log *slog.Logger) (*nats.Conn, jetstream.JetStream, error) {
	connected := make(chan struct{}, 1)
	nc, err := nats.Connect(url,
		nats.Name(name),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500*time.Millisecond),
		nats.ConnectHandler(func(*nats.Conn) {
			select {
			case connected <- struct{}{}:
			default:
			}
		}),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { log.Warn("nats disconnected", "err", err) }),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("nats reconnected", "url", c.ConnectedUrl()) }),
	)
	if err != nil {
		return nil, nil, fmt.Errorf("nats %s: %w", url, err)
	}
	if nc.IsConnected() {
		return withJetStream(nc)
	}
	// Wait for the first connection, so that a wrong URL is reported.
	timer := time.NewTimer(30 * time.Second)
	defer timer.Stop()
	select {
	case <-connected:
		return withJetStream(nc)
	case <-ctx.Done():
		err = ctx.Err()
	case <-timer.C:
		err = errors.New("not reachable after 30s")
	}
	nc.Close()
	return nil, nil, fmt.Errorf("nats %s: %w", url, err)
}

func withJetStream(nc *nats.Conn) (*nats.Conn, jetstream.JetStream, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, js, nil
}

func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}
