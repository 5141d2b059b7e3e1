// Package worker binds an engine to JetStream: it claims jobs from the
// engines' shared work-queue consumer, replays each job's chunks in order
// into an engine job while the upload is still running, and publishes every
// event of the job (findings as they are found, progress, the verdict) on the
// job's event subject, and the verdict on the file's verdict subject.
//
// # Delivery contract
//
// A job message is acked only once all of the job's events, and its verdict
// on streams.VerdictSubject, are acknowledged by JetStream. An engine that
// dies leaves its jobs un-acked; JetStream redelivers each after the
// consumer's AckWait (the worker extends it while it works) and the next
// engine re-analyses from chunk 1. Analysis is deterministic, so the
// republished events carry the same sequence numbers and JetStream drops
// them by their Nats-Msg-Id. The delivery numbered MaxDeliver does not
// analyse again: it completes the job from the events earlier deliveries
// stored, with an analysis_failed finding (reason max_deliveries) and a
// partial verdict. Sequence determinism also assumes that every engine of a
// deployment runs the same modules with the same ProgressEvery.
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"athena/engine"
	"athena/internal/cache"
	"athena/internal/core"
	"athena/streams"
)

// Config configures a Worker. The zero value of each optional field means
// its documented default.
type Config struct {
	// Engine analyses the files. Required. Its own Concurrency should equal
	// the worker's, so that every job finds pooled instances.
	Engine *engine.Engine
	// JS carries jobs, chunks, events and verdicts. Required.
	JS jetstream.JetStream
	// NC carries the presence heartbeats (core NATS). Required; usually the
	// connection JS was made from.
	NC *nats.Conn
	// Topology is the JetStream layout, ensured at start. Its AckWait and
	// MaxDeliver govern redelivery.
	Topology streams.Topology
	// ID names this engine instance in presence heartbeats and logs.
	// Default hostname-pid.
	ID string
	// Concurrency is how many jobs the worker holds at once; it never
	// fetches more. Default 4.
	Concurrency int
	// ProgressEvery emits a progress event each time at least this many more
	// bytes were fed, and on the last chunk. Default 1 MiB.
	ProgressEvery int64
	// ChunkIdleTimeout ends a job whose next chunk does not arrive in time
	// with an error event (code upload_timeout) and a partial verdict.
	// Default 2 minutes.
	ChunkIdleTimeout time.Duration
	// HeartbeatInterval is the period of presence heartbeats on
	// streams.SubjectEngineHeartbeat. Default 2s.
	HeartbeatInterval time.Duration
	// ShutdownGrace is how long jobs in flight may run on once Run's context
	// is cancelled; those still running are then left to redelivery.
	// Default 30s.
	ShutdownGrace time.Duration
	// Cache, when set, receives every complete verdict once JetStream holds
	// it, keyed by the file's sha256 (as the engine computed it) and the
	// engine's pipeline fingerprint, tagged with the pipeline's tags. Partial
	// verdicts (a failed module, an exhausted budget, an aborted or timed-out
	// upload) are never cached. Nil caches nothing. A failing cache never
	// fails a job: the error is logged.
	Cache VerdictCache
	// Logger receives the worker's logs. Default slog.Default().
	Logger *slog.Logger
	// Registerer receives the worker's metrics; nil registers nothing.
	Registerer prometheus.Registerer
}

func (c *Config) setDefaults() {
	if c.ID == "" {
		host, err := os.Hostname()
		if err != nil || host == "" {
			host = "engine"
		}
		c.ID = host + "-" + strconv.Itoa(os.Getpid())
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 4
	}
	if c.ProgressEvery <= 0 {
		c.ProgressEvery = 1 << 20
	}
	if c.ChunkIdleTimeout <= 0 {
		c.ChunkIdleTimeout = 2 * time.Minute
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = 2 * time.Second
	}
	if c.ShutdownGrace <= 0 {
		c.ShutdownGrace = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// VerdictCache is what the worker needs of the verdict cache
// (*cache.Cache).
type VerdictCache interface {
	Put(ctx context.Context, k cache.Key, v core.Verdict, tags []string) error
}

var _ VerdictCache = (*cache.Cache)(nil)

// cachePutTimeout bounds one verdict's write to the cache.
const cachePutTimeout = 2 * time.Second

// ErrStarted is returned by a second call of Run.
var ErrStarted = errors.New("worker: Run called twice")

// fetchWait bounds one pull request for jobs, and so how long Run takes to
// notice that its context is cancelled.
const fetchWait = time.Second

// Worker runs jobs from JetStream on an engine. Create it with New, then
// call Run once. Healthy may be called at any time from any goroutine.
type Worker struct {
	cfg        Config
	log        *slog.Logger
	m          *metrics
	ackWait    time.Duration
	maxDeliver uint64

	started  atomic.Bool
	stopping atomic.Bool  // Run's context is cancelled: no new jobs
	busy     atomic.Int64 // jobs held now
	freed    chan struct{}

	// Set by Run before the first job starts.
	events, chunks jetstream.Stream

	mu       sync.Mutex
	fetchErr error // the last fetch error; nil after a successful fetch
	runErr   error // why Run failed
}

// New validates cfg and returns a worker. It does not touch the network.
func New(cfg Config) (*Worker, error) {
	switch {
	case cfg.Engine == nil:
		return nil, errors.New("worker: Config.Engine is required")
	case cfg.JS == nil:
		return nil, errors.New("worker: Config.JS is required")
	case cfg.NC == nil:
		return nil, errors.New("worker: Config.NC is required")
	}
	cfg.setDefaults()
	cc := cfg.Topology.EngineConsumer()
	return &Worker{
		cfg:        cfg,
		log:        cfg.Logger.With("engine", cfg.ID),
		m:          newMetrics(cfg.Registerer),
		ackWait:    cc.AckWait,
		maxDeliver: uint64(cc.MaxDeliver),
		freed:      make(chan struct{}, 1),
	}, nil
}

// Run ensures the topology, then claims and runs jobs until ctx is
// cancelled. It then stops fetching, gives the jobs in flight
// Config.ShutdownGrace to end, leaves the others to redelivery (Nak), sends
// a last presence heartbeat with Capacity 0, and returns nil once every
// goroutine it started has stopped. It returns an error only if it cannot
// start (topology, consumer or streams unavailable). Run may be called once.
func (w *Worker) Run(ctx context.Context) error {
	if !w.started.CompareAndSwap(false, true) {
		return ErrStarted
	}
	err := w.run(ctx)
	if err != nil {
		w.mu.Lock()
		w.runErr = err
		w.mu.Unlock()
	}
	return err
}

func (w *Worker) run(ctx context.Context) error {
	js := w.cfg.JS
	if err := w.cfg.Topology.Ensure(ctx, js); err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	cons, err := js.Consumer(ctx, streams.StreamJobs, streams.ConsumerEngines)
	if err != nil {
		return fmt.Errorf("worker: consumer %s: %w", streams.ConsumerEngines, err)
	}
	if w.events, err = js.Stream(ctx, streams.StreamEvents); err != nil {
		return fmt.Errorf("worker: stream %s: %w", streams.StreamEvents, err)
	}
	if w.chunks, err = js.Stream(ctx, streams.StreamChunks); err != nil {
		return fmt.Errorf("worker: stream %s: %w", streams.StreamChunks, err)
	}
	w.log.Info("worker started", "concurrency", w.cfg.Concurrency, "ack_wait", w.ackWait, "max_deliver", w.maxDeliver)

	// The heartbeat goes on through the shutdown grace, announcing
	// Capacity 0, and stops last.
	hbCtx, stopHeartbeat := context.WithCancel(context.WithoutCancel(ctx))
	hbDone := make(chan struct{})
	go func() {
		defer close(hbDone)
		w.heartbeat(hbCtx)
	}()

	// Jobs outlive ctx by the grace; abandon cancels them after it.
	jobCtx, abandon := context.WithCancel(context.WithoutCancel(ctx))
	defer abandon()
	var jobs sync.WaitGroup
	w.fetch(ctx, cons, jobCtx, &jobs)
	w.stopping.Store(true)

	if n := w.busy.Load(); n > 0 {
		w.log.Info("waiting for jobs in flight", "jobs", n, "grace", w.cfg.ShutdownGrace)
	}
	done := make(chan struct{})
	go func() {
		jobs.Wait()
		close(done)
	}()
	grace := time.NewTimer(w.cfg.ShutdownGrace)
	select {
	case <-done:
	case <-grace.C:
		w.log.Warn("shutdown grace over: requeueing the jobs still running", "jobs", w.busy.Load())
		abandon()
		<-done
	}
	grace.Stop()

	stopHeartbeat()
	<-hbDone
	w.announce() // Capacity 0: this engine is leaving
	w.log.Info("worker stopped")
	return nil
}

// fetch claims jobs until ctx is cancelled, never more than the free slots,
// and starts one goroutine per job, counted in jobs.
func (w *Worker) fetch(ctx context.Context, cons jetstream.Consumer, jobCtx context.Context, jobs *sync.WaitGroup) {
	var backoff time.Duration
	for ctx.Err() == nil {
		free := w.cfg.Concurrency - int(w.busy.Load())
		if free <= 0 {
			select {
			case <-w.freed:
			case <-ctx.Done():
			}
			continue
		}
		batch, err := cons.Fetch(free, jetstream.FetchMaxWait(fetchWait))
		if err == nil {
			for msg := range batch.Messages() {
				if ctx.Err() != nil {
					// Claimed while stopping: give it straight back.
					if err := msg.Nak(); err != nil {
						w.log.Warn("nak at shutdown", "err", err)
					}
					continue
				}
				w.start(jobCtx, msg, jobs)
			}
			err = batch.Error()
		}
		w.mu.Lock()
		w.fetchErr = err
		w.mu.Unlock()
		if err == nil {
			backoff = 0
			continue
		}
		backoff = min(max(2*backoff, 100*time.Millisecond), 5*time.Second)
		w.log.Warn("fetching jobs", "err", err, "retry_in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
}

// start runs one job message on its own goroutine.
func (w *Worker) start(ctx context.Context, msg jetstream.Msg, jobs *sync.WaitGroup) {
	w.busy.Add(1)
	w.m.busy.Inc()
	jobs.Add(1)
	go func() {
		defer func() {
			w.busy.Add(-1)
			w.m.busy.Dec()
			select {
			case w.freed <- struct{}{}:
			default:
			}
			jobs.Done()
		}()
		w.handle(ctx, msg)
	}()
}

// heartbeat announces the worker's presence every HeartbeatInterval until
// ctx is cancelled.
func (w *Worker) heartbeat(ctx context.Context) {
	t := time.NewTicker(w.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		w.announce()
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
}

// announce publishes one presence heartbeat.
func (w *Worker) announce() {
	ok, _ := w.Healthy()
	p := streams.Presence{ID: w.cfg.ID, Busy: int(w.busy.Load()), Capacity: w.cfg.Concurrency, Healthy: ok, Fingerprint: w.Fingerprint()}
	if w.stopping.Load() {
		p.Capacity = 0
	}
	b, err := streams.EncodePresence(p)
	if err == nil {
		err = w.cfg.NC.Publish(streams.SubjectEngineHeartbeat, b)
	}
	if err != nil {
		w.log.Debug("presence heartbeat", "err", err)
	}
}

// Fingerprint returns the fingerprint of the pipeline new jobs run on (it
// changes when a setting such as the rule set does), which the worker
// announces in presence. Each verdict carries its own job's.
func (w *Worker) Fingerprint() string { return w.cfg.Engine.Pipeline().Fingerprint() }

// pipelineKey is a pipeline's fingerprint and cache tags.
type pipelineKey struct {
	fp   string
	tags []string
}

func keyOf(p cache.Pipeline) pipelineKey { return pipelineKey{fp: p.Fingerprint(), tags: p.Tags()} }

// Healthy reports whether the process can do its work, for the process
// heartbeat (internal/supervise) and the presence heartbeat: the engine's
// guests are within their deadlines, the NATS connection is not closed for
// good, and Run has not failed. Fetch errors (a NATS server that is
// reconnecting) show in the info but do not make the worker unhealthy:
// restarting the process would not help.
func (w *Worker) Healthy() (bool, string) {
	ok, info := w.cfg.Engine.Healthy()
	if !ok {
		return false, "engine: " + info
	}
	if w.cfg.NC.IsClosed() {
		return false, "nats: connection closed"
	}
	w.mu.Lock()
	runErr, fetchErr := w.runErr, w.fetchErr
	w.mu.Unlock()
	if runErr != nil {
		return false, runErr.Error()
	}
	s := fmt.Sprintf("%d/%d jobs, nats %s, engine: %s", w.busy.Load(), w.cfg.Concurrency, w.cfg.NC.Status(), info)
	if fetchErr != nil {
		s += "; fetch: " + fetchErr.Error()
	}
	return true, s
}
