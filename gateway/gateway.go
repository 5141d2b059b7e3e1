// Package gateway is Athena's ingest: it takes files from clients over a
// WebSocket (/v1/stream, several files per connection) or a streaming HTTP
// POST (/v1/analyze, full duplex over HTTP/2, h2c and HTTP/1.1), publishes
// them to JetStream as a job plus ordered chunks (package streams), and
// relays the job's events back while the upload is still running.
//
// The gateway never analyses anything and never imports the engine: NATS is
// the only link. It bounds what it holds per upload: it stops reading from a
// client while Window chunks wait for JetStream's acknowledgement, so an
// upload costs about (Window+1)*ChunkSize bytes whatever the file's size.
//
// The HTTP and WebSocket API is documented in docs/api.md.
package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"athena/streams"
)

// Config configures a Gateway. The zero value of each optional field means
// its documented default.
type Config struct {
	// NC is the NATS connection. Required. The gateway listens on it for
	// engine presence and reports its state in /readyz.
	NC *nats.Conn
	// JS is the JetStream context on NC. Required.
	JS jetstream.JetStream
	// Topology is the JetStream layout; the gateway ensures it (idempotently)
	// before its first upload.
	Topology streams.Topology

	// MaxFileSize is the largest file accepted, in bytes. Default 1 GiB.
	MaxFileSize int64
	// ChunkSize is the number of file bytes per JetStream chunk message.
	// Default 256 KiB. It must fit in the server's max payload with headers.
	ChunkSize int
	// FlushAfter publishes a chunk that is not full yet once its first
	// byte has waited this long, so that a slow upload's bytes reach the
	// engines (and its findings come back) without waiting for ChunkSize
	// bytes. It is checked as bytes arrive: an upload that pauses keeps its
	// partial chunk until it sends more or ends. 0 publishes chunks only
	// when full or at the end of the file.
	FlushAfter time.Duration
	// Window is how many chunks of one upload may wait for JetStream's
	// acknowledgement. When the window is full the gateway stops reading
	// from that client. Default 8.
	Window int
	// MaxFrame is the largest WebSocket message accepted, in bytes; a
	// larger one closes the connection with 1009. Default 1 MiB + 64.
	MaxFrame int
	// MaxStreamsPerConn bounds the files in flight (started, without their
	// verdict yet) on one WebSocket; one more closes it with 1008. Default 32.
	MaxStreamsPerConn int
	// AllowedOrigins are the browser origins (scheme://host[:port]) allowed
	// on the WebSocket besides the gateway's own; "*" allows any. Requests
	// without an Origin header (non-browser clients) are always allowed.
	AllowedOrigins []string
	// PingInterval is how often the server pings a WebSocket client.
	// Default 20s.
	PingInterval time.Duration
	// PongWait is how long a WebSocket may stay silent (no message, no pong)
	// before the server drops it. It must exceed PingInterval. Default
	// PingInterval * 3 / 2 (30s).
	PongWait time.Duration
	// ShutdownGrace is how long Serve lets uploads in flight finish after
	// its context ends. Default 30s.
	ShutdownGrace time.Duration
	// EngineStaleAfter is the age after which an engine's last heartbeat no
	// longer counts for readiness. Default 10s.
	EngineStaleAfter time.Duration
	// PublishTimeout bounds the wait for JetStream to acknowledge one
	// message; past it the upload fails with publish_failed. Default 30s.
	PublishTimeout time.Duration
	// JobTimeout is how long after the last byte the gateway waits for the
	// verdict before it tells the client "timeout". The job goes on, and
	// its events stay replayable. Default 10 minutes.
	JobTimeout time.Duration

	// Cache is the verdict cache. Nil disables it: no /v1/verdicts or
	// /v1/cache routes, and declared sha256s are not looked up. With a
	// cache, a declared sha256 (start message, X-Athena-SHA256) is looked
	// up under the fingerprint of each healthy engine present, and a hit
	// is answered with no job and no chunk.
	Cache VerdictCache
	// CacheRelayedVerdicts makes the gateway Put the complete verdicts it
	// relays. Set it when the engines cannot write the gateway's cache
	// themselves (the cache has no Redis); with a shared Redis the engines
	// write and the gateway only reads (RATIONALE.md).
	CacheRelayedVerdicts bool
	// CoalesceWait bounds how long an upload that declares a sha256 already
	// in flight on this gateway waits for that upload's verdict before it
	// uploads its own bytes. Default 1 minute.
	CoalesceWait time.Duration

	// Logger receives the gateway's logs. Default slog.Default().
	Logger *slog.Logger
	// UI, when set, serves the browser dashboard at / and /static/
	// (cmd/athena passes web.Handler()).
	UI http.Handler
	// Registry receives the gateway's metrics and is what /metrics serves.
	// Default: a new registry of the gateway's own.
	Registry *prometheus.Registry
}

func (c *Config) setDefaults() {
	if c.MaxFileSize <= 0 {
		c.MaxFileSize = 1 << 30
	}
	if c.ChunkSize <= 0 {
		c.ChunkSize = 256 << 10
	}
	if c.Window <= 0 {
		c.Window = 8
	}
	if c.MaxFrame <= 0 {
		c.MaxFrame = 1<<20 + 64
	}
	if c.MaxStreamsPerConn <= 0 {
		c.MaxStreamsPerConn = 32
	}
	if c.PingInterval <= 0 {
		c.PingInterval = 20 * time.Second
	}
	if c.PongWait <= 0 {
		c.PongWait = c.PingInterval * 3 / 2
	}
	if c.ShutdownGrace <= 0 {
		c.ShutdownGrace = 30 * time.Second
	}
	if c.EngineStaleAfter <= 0 {
		c.EngineStaleAfter = 10 * time.Second
	}
	if c.PublishTimeout <= 0 {
		c.PublishTimeout = 30 * time.Second
	}
	if c.JobTimeout <= 0 {
		c.JobTimeout = 10 * time.Minute
	}
	if c.CoalesceWait <= 0 {
		c.CoalesceWait = time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Registry == nil {
		c.Registry = prometheus.NewRegistry()
	}
}

// chunkHeaderRoom is what the chunk headers (subject, seq, offset, msg id,
// last, abort) may take on top of ChunkSize in a NATS message.
const chunkHeaderRoom = 1 << 10

// Gateway serves Athena's ingest API. Create it with New, serve it with
// Serve (or mount Handler in a server of your own) and release it with
// Close. Its methods are safe for concurrent use.
type Gateway struct {
	cfg      Config
	log      *slog.Logger
	metrics  *metrics
	presence *presence
	presSub  *nats.Subscription
	handler  http.Handler
	upgrader websocket.Upgrader
	bufs     sync.Pool // *[]byte of cap ChunkSize

	// drainCtx ends when a graceful shutdown starts: no new uploads, live
	// replays end, idle WebSockets close. hardCtx ends when the grace is
	// over (or on Close): every upload and connection still open ends.
	drainCtx, hardCtx context.Context
	drain, hard       context.CancelFunc

	topoMu  sync.Mutex
	topoOK  bool
	events  jetstream.Stream
	chunks  jetstream.Stream
	serving atomic.Bool

	mu        sync.Mutex
	sessions  map[*session]struct{}
	sessGone  chan struct{}      // closed and replaced whenever a session ends
	uploads   map[string]*upload // by job id, until the relay ends
	closeOnce sync.Once

	flightsState

	stats stats

	// counters feed /v1/system/stream; names remembers the file names of
	// the verdicts relayed here, for /v1/verdicts/recent.
	counters systemCounters
	names    *recentNames
	verdicts jetstream.Stream // ATHENA_VERDICTS, once ensureTopology succeeded
}

// stats are internal counters the tests read to check flow control.
type stats struct {
	// peakInflight is the most chunks one upload ever had published and not
	// yet acknowledged.
	peakInflight atomic.Int64
	// peakBuffers is the most chunk buffers one upload ever held (in flight
	// plus the one being filled).
	peakBuffers atomic.Int64
}

func storeMax(v *atomic.Int64, n int64) {
	for {
		old := v.Load()
		if n <= old || v.CompareAndSwap(old, n) {
			return
		}
	}
}

// New validates cfg, applies its defaults and returns a gateway. It
// subscribes to engine presence on cfg.NC; it does not otherwise touch the
// network, so it succeeds while NATS is down (readiness says so).
func New(cfg Config) (*Gateway, error) {
	cfg.setDefaults()
	switch {
	case cfg.NC == nil:
		return nil, errors.New("gateway: Config.NC is required")
	case cfg.JS == nil:
		return nil, errors.New("gateway: Config.JS is required")
	case cfg.PongWait <= cfg.PingInterval:
		return nil, fmt.Errorf("gateway: PongWait %v must exceed PingInterval %v", cfg.PongWait, cfg.PingInterval)
	case cfg.MaxFrame < 3:
		return nil, fmt.Errorf("gateway: MaxFrame %d is too small", cfg.MaxFrame)
	}
	if mp := cfg.NC.MaxPayload(); mp > 0 && int64(cfg.ChunkSize)+chunkHeaderRoom > mp {
		return nil, fmt.Errorf("gateway: ChunkSize %d plus headers exceeds the server's max payload %d", cfg.ChunkSize, mp)
	}
	m, err := newMetrics(cfg.Registry)
	if err != nil {
		return nil, err
	}
	g := &Gateway{
		cfg:      cfg,
		log:      cfg.Logger,
		metrics:  m,
		presence: newPresence(cfg.EngineStaleAfter),
		sessions: map[*session]struct{}{},
		sessGone: make(chan struct{}),
		uploads:  map[string]*upload{},
		names:    newRecentNames(maxRecentNames),
	}
	g.flights = map[string]*flight{}
	chunk := cfg.ChunkSize
	g.bufs.New = func() any { b := make([]byte, 0, chunk); return &b }
	g.drainCtx, g.drain = context.WithCancel(context.Background())
	g.hardCtx, g.hard = context.WithCancel(context.Background())
	g.upgrader = websocket.Upgrader{
		HandshakeTimeout: 10 * time.Second,
		ReadBufferSize:   32 << 10,
		WriteBufferSize:  8 << 10,
		// The origin is checked after the handshake so that a refused
		// browser gets close code 1008 with a reason instead of a bare 403.
		CheckOrigin: func(*http.Request) bool { return true },
		Error: func(w http.ResponseWriter, _ *http.Request, status int, reason error) {
			writeError(w, &httpError{Status: status, Code: CodeBadRequest, Message: "websocket: " + reason.Error()})
		},
	}
	g.presSub, err = cfg.NC.Subscribe(streams.SubjectEngineHeartbeat, func(msg *nats.Msg) {
		hb, err := streams.DecodePresence(msg.Data)
		if err != nil {
			g.log.Debug("bad engine heartbeat", "err", err)
			return
		}
		g.presence.observe(hb)
	})
	if err != nil {
		return nil, fmt.Errorf("gateway: subscribe %s: %w", streams.SubjectEngineHeartbeat, err)
	}
	g.handler = g.routes()
	return g, nil
}

// Handler returns the gateway's HTTP handler: /v1/stream, /v1/analyze,
// /v1/jobs/{id}/events, /v1/verdicts/recent, /v1/system/stream, /healthz,
// /readyz and /metrics (and the cache and dashboard routes when configured).
func (g *Gateway) Handler() http.Handler { return g.handler }

// Close stops the gateway at once: uploads in flight are aborted
// (server_shutdown), WebSockets close with 1001, and the presence
// subscription ends. It does not close cfg.NC. Close is idempotent.
func (g *Gateway) Close() error {
	g.closeOnce.Do(func() {
		g.drain()
		g.hardStop()
		if err := g.presSub.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
			g.log.Debug("presence unsubscribe", "err", err)
		}
	})
	return nil
}

// Serve serves the gateway on ln until ctx ends, then shuts down
// gracefully: it stops accepting, lets the uploads in flight finish (their
// verdicts included) for up to ShutdownGrace, closes the WebSockets that
// are left with 1001, aborts the uploads that are left, and returns.
//
// With tlsConfig nil it speaks HTTP/1.1 and h2c with prior knowledge;
// otherwise TLS with ALPN h2 and http/1.1 (tlsConfig must carry a
// certificate). Serve returns nil after a shutdown and an error when the
// listener fails. Call it at most once per Gateway; Close the gateway after.
func (g *Gateway) Serve(ctx context.Context, ln net.Listener, tlsConfig *tls.Config) error {
	if !g.serving.CompareAndSwap(false, true) {
		return errors.New("gateway: Serve called twice")
	}
	srv := &http.Server{
		Handler:           g.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(g.log.Handler(), slog.LevelDebug),
		// Requests end when the grace is over, not when it starts.
		BaseContext: func(net.Listener) context.Context { return g.hardCtx },
	}
	srv.Protocols = new(http.Protocols)
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetHTTP2(true)
	if tlsConfig == nil {
		srv.Protocols.SetUnencryptedHTTP2(true)
	} else {
		srv.TLSConfig = tlsConfig.Clone()
	}
	errc := make(chan error, 1)
	go func() {
		if tlsConfig != nil {
			errc <- srv.ServeTLS(ln, "", "")
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		g.hardStop()
		return fmt.Errorf("gateway: serve: %w", err)
	case <-ctx.Done():
	}
	g.log.Info("gateway shutting down", "grace", g.cfg.ShutdownGrace)
	g.beginDrain()
	grace, cancel := context.WithTimeout(context.Background(), g.cfg.ShutdownGrace)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(grace) }() // stops accepting, waits for HTTP uploads
	g.waitSessions(grace)                       // idle WebSockets close as their uploads end
	<-shut
	g.hardStop()
	// The exchanges hardStop ended unwind (their body reads are cut) and
	// flush their last line; a second Shutdown waits for that, briefly.
	final, cancelFinal := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancelFinal()
	srv.Shutdown(final)
	srv.Close()
	if !g.waitSessions(final) {
		g.log.Warn("gateway: WebSocket sessions still open after shutdown")
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("gateway: serve: %w", err)
	}
	return nil
}

// beginDrain starts a graceful shutdown: readiness fails, new uploads are
// refused, and WebSockets close with 1001 as soon as they have no file in
// flight.
func (g *Gateway) beginDrain() {
	g.drain()
	g.mu.Lock()
	ss := make([]*session, 0, len(g.sessions))
	for s := range g.sessions {
		ss = append(ss, s)
	}
	g.mu.Unlock()
	for _, s := range ss {
		s.startDrain()
	}
}

// hardStop ends what the grace left: the uploads still in flight get a
// shutting_down error and an abort chunk, the WebSockets close with 1001.
func (g *Gateway) hardStop() {
	g.drain()
	g.mu.Lock()
	ss := make([]*session, 0, len(g.sessions))
	for s := range g.sessions {
		ss = append(ss, s)
	}
	us := make([]*upload, 0, len(g.uploads))
	for _, u := range g.uploads {
		us = append(us, u)
	}
	g.mu.Unlock()
	// Tell each client first, while its connection is still open.
	for _, u := range us {
		u.stop(abortShutdown, shutdownError(u.id))
	}
	for _, s := range ss {
		s.shutdown()
	}
	g.hard()
}

// addSession registers a WebSocket session; it reports false when the
// gateway is shutting down.
func (g *Gateway) addSession(s *session) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.drainCtx.Err() != nil {
		return false
	}
	g.sessions[s] = struct{}{}
	return true
}

func (g *Gateway) removeSession(s *session) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.sessions, s)
	close(g.sessGone)
	g.sessGone = make(chan struct{})
}

// waitSessions waits until no WebSocket session is left or ctx ends, and
// reports whether none is left.
func (g *Gateway) waitSessions(ctx context.Context) bool {
	for {
		g.mu.Lock()
		n, gone := len(g.sessions), g.sessGone
		g.mu.Unlock()
		if n == 0 {
			return true
		}
		select {
		case <-gone:
		case <-ctx.Done():
			return false
		}
	}
}

// ready reports why a file sent now would not be analysed, or nil.
func (g *Gateway) ready() error {
	switch {
	case g.drainCtx.Err() != nil:
		return &notReadyError{"the gateway is shutting down"}
	case !g.cfg.NC.IsConnected():
		return &notReadyError{"NATS is not connected (" + g.cfg.NC.Status().String() + ")"}
	case g.presence.healthy() == 0:
		return &notReadyError{fmt.Sprintf("no healthy engine sent a heartbeat in the last %v", g.cfg.EngineStaleAfter)}
	}
	return nil
}

// ensureTopology creates the streams once (JetStream may have been down at
// New) and caches the stream handles the replay endpoint needs.
func (g *Gateway) ensureTopology(ctx context.Context) error {
	g.topoMu.Lock()
	defer g.topoMu.Unlock()
	if g.topoOK {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := g.cfg.Topology.Ensure(ctx, g.cfg.JS); err != nil {
		return &notReadyError{"JetStream: " + err.Error()}
	}
	ev, err := g.cfg.JS.Stream(ctx, streams.StreamEvents)
	if err != nil {
		return &notReadyError{"JetStream: " + err.Error()}
	}
	ch, err := g.cfg.JS.Stream(ctx, streams.StreamChunks)
	if err != nil {
		return &notReadyError{"JetStream: " + err.Error()}
	}
	vs, err := g.cfg.JS.Stream(ctx, streams.StreamVerdicts)
	if err != nil {
		return &notReadyError{"JetStream: " + err.Error()}
	}
	g.events, g.chunks, g.verdicts, g.topoOK = ev, ch, vs, true
	return nil
}

// track registers a live upload (on) or forgets it. The replay endpoint
// knows a job by it before its first event; hardStop ends what is left.
func (g *Gateway) track(u *upload, on bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if on {
		g.uploads[u.id] = u
	} else {
		delete(g.uploads, u.id)
	}
}

func (g *Gateway) knownJob(id string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	_, ok := g.uploads[id]
	return ok
}

func (g *Gateway) getBuf() []byte { return (*g.bufs.Get().(*[]byte))[:0] }

func (g *Gateway) putBuf(b []byte) {
	if cap(b) != g.cfg.ChunkSize {
		return
	}
	b = b[:0]
	g.bufs.Put(&b)
}
