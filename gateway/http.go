package gateway

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"athena/internal/core"
	"athena/streams"
)

// writeWait bounds one write to a client (a WebSocket message, an NDJSON
// line, a close frame).
const writeWait = 10 * time.Second

// Routes, as the metrics label them.
const (
	routeStream  = "/v1/stream"
	routeAnalyze = "/v1/analyze"
	routeEvents  = "/v1/jobs/{id}/events"
	routeHealthz = "/healthz"
	routeReadyz  = "/readyz"
	routeMetrics = "/metrics"
	routeUI      = "ui"
	routeOther   = "other"
)

// HeaderJob carries the job id of an upload or replay; HeaderSHA256 is the
// optional sha256 a client declares for the file it posts.
const (
	HeaderJob    = "X-Athena-Job"
	HeaderSHA256 = "X-Athena-SHA256"
	// HeaderCached is "true" on an /v1/analyze answer from the verdict
	// cache: no job exists and the body was not read.
	HeaderCached = "X-Athena-Cached"
)

// handlerFunc is an HTTP handler that returns its error; route maps the
// error to a status code, in one place.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (g *Gateway) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle(routeStream, g.route(routeStream, g.handleStream))
	mux.Handle(routeAnalyze, g.route(routeAnalyze, g.handleAnalyze))
	mux.Handle("/v1/jobs/{id}/events", g.route(routeEvents, g.handleEvents))
	mux.Handle(routeRecent, g.route(routeRecent, compressJSON(g.handleRecent)))
	mux.Handle(routeSystem, g.route(routeSystem, g.handleSystem))
	mux.Handle(routeHealthz, g.route(routeHealthz, compressJSON(g.handleHealthz)))
	mux.Handle(routeReadyz, g.route(routeReadyz, compressJSON(g.handleReadyz)))
	if g.cfg.Cache != nil {
		mux.Handle(routeVerdictBatch, g.route(routeVerdictBatch, compressJSON(g.handleBatch)))
		mux.Handle(routeVerdict, g.route(routeVerdict, compressJSON(g.handleVerdict)))
		mux.Handle(routeVerdicts, g.route(routeVerdicts, compressJSON(g.handleInvalidate)))
		mux.Handle(routeCacheStats, g.route(routeCacheStats, compressJSON(g.handleCacheStats)))
	}
	metrics := promhttp.HandlerFor(g.cfg.Registry, promhttp.HandlerOpts{})
	mux.Handle(routeMetrics, g.route(routeMetrics, func(w http.ResponseWriter, r *http.Request) error {
		metrics.ServeHTTP(w, r)
		return nil
	}))
	if ui := g.cfg.UI; ui != nil {
		serve := func(w http.ResponseWriter, r *http.Request) error {
			ui.ServeHTTP(w, r)
			return nil
		}
		mux.Handle("GET /{$}", g.route(routeUI, serve))
		mux.Handle("GET /static/", g.route(routeUI, serve))
	}
	mux.Handle("/", g.route(routeOther, func(w http.ResponseWriter, r *http.Request) error {
		return errorf(http.StatusNotFound, CodeNotFound, "no route for %s", truncate(r.URL.Path, 128))
	}))
	return mux
}

// route instruments h and answers its error, if the response has not
// started, with the error's status and a JSON body (writeError).
func (g *Gateway) route(name string, h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t0 := time.Now()
		rec := &recorder{ResponseWriter: w}
		if err := h(rec, r); err != nil {
			if rec.status == 0 && !rec.hijacked {
				writeError(rec, err)
			} else {
				g.log.Debug("error after the response started", "route", name, "err", err)
			}
		}
		code := rec.status
		switch {
		case rec.hijacked:
			code = http.StatusSwitchingProtocols
		case code == 0:
			code = http.StatusOK
		}
		g.metrics.requests.WithLabelValues(name, strconv.Itoa(code)).Inc()
		g.metrics.requestSeconds.WithLabelValues(name).Observe(time.Since(t0).Seconds())
	})
}

// recorder remembers the status of a response. It unwraps for
// http.ResponseController and hijacks for the WebSocket upgrade.
type recorder struct {
	http.ResponseWriter
	status   int
	hijacked bool
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 && code >= 200 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *recorder) Flush() { http.NewResponseController(r.ResponseWriter).Flush() }

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(r.ResponseWriter).Hijack()
	if err == nil {
		r.hijacked = true
	}
	return c, rw, err
}

func (g *Gateway) handleHealthz(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, map[string]string{"status": "ok"})
	return nil
}

// handleReadyz answers 200 only when a file sent now would be analysed:
// NATS is connected and a healthy engine sent presence within
// EngineStaleAfter. A verdict cache whose Redis is unreachable does not
// stop analysis: the answer is still 200, with status "degraded" and the
// cache's reason.
func (g *Gateway) handleReadyz(w http.ResponseWriter, r *http.Request) error {
	if err := g.ready(); err != nil {
		return err
	}
	body := map[string]any{"status": "ready", "engines": g.presence.healthy()}
	if g.cfg.Cache != nil {
		body["cache"] = "ok"
		if err := g.cfg.Cache.Ready(); err != nil {
			body["status"], body["cache"] = "degraded", err.Error()
		}
	}
	writeJSON(w, body)
	return nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	b, _ := json.Marshal(v)
	w.Write(append(b, '\n'))
}

// handleAnalyze is POST (or PUT) /v1/analyze?name=FILE: the body is the file, the
// response is the job's events as NDJSON, streamed while the body uploads.
func (g *Gateway) handleAnalyze(w http.ResponseWriter, r *http.Request) error {
	// PUT is a synonym, so that `curl -T FILE` streams the file.
	if r.Method != http.MethodPost && r.Method != http.MethodPut {
		return &httpError{Status: http.StatusMethodNotAllowed, Code: CodeMethodNotAllowed,
			Message: "use POST (or PUT) with the file as the body", Allow: "POST, PUT"}
	}
	name := r.URL.Query().Get("name")
	if err := checkName(name); err != nil {
		return errorf(http.StatusBadRequest, CodeBadName, "name: %v", err)
	}
	var declared string
	if h := r.Header.Get(HeaderSHA256); h != "" {
		sum, err := checkSHA256(h)
		if err != nil {
			return errorf(http.StatusBadRequest, CodeBadSHA256, "%s: %v", HeaderSHA256, err)
		}
		declared = sum
	}
	if r.ContentLength > g.cfg.MaxFileSize {
		return errorf(http.StatusRequestEntityTooLarge, CodeFileTooLarge,
			"the body has %d bytes; the limit is %d", r.ContentLength, g.cfg.MaxFileSize)
	}
	// The upload ends with the request, or when the gateway stops hard
	// (even when mounted in a server other than Serve's).
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	defer context.AfterFunc(g.hardCtx, cancel)()
	rc := http.NewResponseController(w)
	// A body read does not end with the context: cut it. The cut must be
	// over before the handler returns and the writer is recycled.
	cut := make(chan struct{})
	stopCut := context.AfterFunc(ctx, func() {
		defer close(cut)
		rc.SetReadDeadline(time.Now())
	})
	defer func() {
		if !stopCut() {
			<-cut
		}
	}()
	out := &ndjsonSink{w: w, rc: rc}
	req := uploadRequest{Name: name, Size: r.ContentLength, SHA256: declared, Transport: "http"}
	if declared != "" {
		// A known file is answered before any byte is read; one that is
		// being uploaded already waits for that upload's verdict.
		v, ok := g.lookup(ctx, declared)
		if !ok {
			f, leader := g.join(declared)
			switch {
			case leader:
				req.flight = f
			case f != nil:
				v, ok = g.wait(ctx, f)
			}
		}
		if ok {
			return g.answerCached(w, rc, v)
		}
	}
	u, err := g.openUpload(ctx, req, out, nil, nil)
	if err != nil {
		return err
	}
	if r.ProtoMajor == 1 {
		if err := rc.EnableFullDuplex(); err != nil {
			g.log.Debug("full duplex", "err", err)
		}
	}
	if strings.EqualFold(r.Header.Get("Expect"), "100-continue") {
		// Send "100 Continue" now: the server would otherwise send it at
		// the first body read, after our final header.
		r.Body.Read(nil)
	}
	h := w.Header()
	h.Set("Content-Type", "application/x-ndjson")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set(HeaderJob, u.id)
	w.WriteHeader(http.StatusOK)
	rc.Flush()
	defer rc.SetWriteDeadline(time.Time{})
	u.start()

	_, err = u.readFrom(r.Body)
	var src *sourceError
	switch {
	case err == nil:
		u.end() // on errStopped the upload already said why
	case errors.Is(err, errTooLarge):
		u.stop(abortFileTooLarge, &core.Error{Code: CodeFileTooLarge,
			Message: fmt.Sprintf("the file exceeds %d bytes", g.cfg.MaxFileSize)})
	case errors.As(err, &src), errors.Is(err, errStopped) && r.Context().Err() != nil:
		// The client went away: its body read failed, or the request's
		// context ended first and stopped the reader.
		if g.hardCtx.Err() != nil {
			u.stop(abortShutdown, shutdownError(u.id))
		} else {
			u.stop(abortClientGone, nil)
		}
	}
	u.release()
	select {
	case <-u.done:
	case <-ctx.Done():
		if g.hardCtx.Err() != nil {
			u.stop("", shutdownError(u.id))
		} else {
			u.stop("", nil)
		}
		<-u.done
	}
	return nil
}

// answerCached ends an /v1/analyze exchange with a verdict from the cache:
// 200, a synthetic job id, one NDJSON line. No job is published and the
// body is never read (the server discards or resets it).
func (g *Gateway) answerCached(w http.ResponseWriter, rc *http.ResponseController, v core.Verdict) error {
	job := newCachedJobID()
	h := w.Header()
	h.Set("Content-Type", "application/x-ndjson")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set(HeaderJob, job)
	h.Set(HeaderCached, "true")
	w.WriteHeader(http.StatusOK)
	rc.SetWriteDeadline(time.Now().Add(writeWait))
	defer rc.SetWriteDeadline(time.Time{})
	w.Write(append(cachedEvent(job, v), '\n'))
	return rc.Flush()
}

func shutdownError(job string) *core.Error {
	return &core.Error{Code: CodeShuttingDown,
		Message: "the gateway shut down before the job ended; its events stay at /v1/jobs/" + job + "/events"}
}

// ndjsonSink writes events as NDJSON lines, flushing each.
type ndjsonSink struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

var newline = []byte{'\n'}

func (s *ndjsonSink) done() {}

// event writes one line within writeWait. The deadline is cleared after
// the line: on HTTP/2 an armed write deadline resets the stream
// (INTERNAL_ERROR) when it passes, even with no write pending, so a job
// quiet for longer than writeWait (an engine killed, its job waiting for
// redelivery) would lose its client.
func (s *ndjsonSink) event(b []byte) error {
	s.rc.SetWriteDeadline(time.Now().Add(writeWait))
	defer s.rc.SetWriteDeadline(time.Time{})
	if _, err := s.w.Write(b); err != nil {
		return err
	}
	if _, err := s.w.Write(newline); err != nil {
		return err
	}
	return s.rc.Flush()
}

// handleEvents is GET /v1/jobs/{id}/events?after=N: the job's stored
// events with seq > N as NDJSON, then live ones until the job ends.
func (g *Gateway) handleEvents(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return &httpError{Status: http.StatusMethodNotAllowed, Code: CodeMethodNotAllowed,
			Message: "use GET", Allow: "GET, HEAD"}
	}
	id := r.PathValue("id")
	if !streams.ValidJobID(id) {
		return errorf(http.StatusBadRequest, CodeBadJobID, "a job id is 1-64 characters of A-Z a-z 0-9 _ -")
	}
	var after int64
	if s := r.URL.Query().Get("after"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return errorf(http.StatusBadRequest, CodeBadAfter, "after must be a non-negative integer")
		}
		after = n
	}
	if err := g.ensureTopology(r.Context()); err != nil {
		return err
	}
	known, err := g.jobExists(r.Context(), id)
	if err != nil {
		return err
	}
	if !known {
		return errorf(http.StatusNotFound, CodeNotFound, "no job %s, or its events have expired", id)
	}
	cctx, cancel := context.WithTimeout(r.Context(), g.cfg.PublishTimeout)
	cons, err := g.cfg.JS.OrderedConsumer(cctx, streams.StreamEvents, jetstream.OrderedConsumerConfig{
		FilterSubjects:    []string{streams.EventSubject(id)},
		DeliverPolicy:     jetstream.DeliverAllPolicy,
		InactiveThreshold: time.Minute,
	})
	cancel()
	if err != nil {
		return &notReadyError{"JetStream: follow events: " + err.Error()}
	}
	defer g.deleteOrdered(cons)
	h := w.Header()
	h.Set("Content-Type", "application/x-ndjson")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set(HeaderJob, id)
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	rc.Flush()
	if r.Method == http.MethodHead {
		return nil
	}
	defer rc.SetWriteDeadline(time.Time{})
	it, err := cons.Messages()
	if err != nil {
		return err
	}
	defer it.Stop()
	// A live replay ends with the client, or when a shutdown starts (the
	// client resumes elsewhere with after=N).
	defer context.AfterFunc(r.Context(), it.Stop)()
	defer context.AfterFunc(g.drainCtx, it.Stop)()
	out := &ndjsonSink{w: w, rc: rc}
	log := g.log.With("job", id, "route", routeEvents)
	var last int64
	for {
		m, err := it.Next()
		if err != nil {
			return nil
		}
		raw, ev, ok := acceptEvent(id, &last, m.Data(), log)
		if !ok {
			continue
		}
		if ev.Seq > after {
			if err := out.event(raw); err != nil {
				return nil
			}
		}
		if ev.Type == core.EventVerdict || ev.Type == core.EventError {
			return nil
		}
	}
}

// jobExists reports whether a job has events, is being uploaded here, or
// still has chunks stored.
func (g *Gateway) jobExists(ctx context.Context, id string) (bool, error) {
	if g.knownJob(id) {
		return true, nil
	}
	ctx, cancel := context.WithTimeout(ctx, g.cfg.PublishTimeout)
	defer cancel()
	for _, q := range []struct {
		s       jetstream.Stream
		subject string
	}{{g.events, streams.EventSubject(id)}, {g.chunks, streams.ChunkSubject(id)}} {
		_, err := q.s.GetLastMsgForSubject(ctx, q.subject)
		switch {
		case err == nil:
			return true, nil
		case !errors.Is(err, jetstream.ErrMsgNotFound):
			return false, &notReadyError{"JetStream: " + err.Error()}
		}
	}
	return false, nil
}

// deleteOrdered deletes an ordered consumer's current server consumer.
func (g *Gateway) deleteOrdered(cons jetstream.Consumer) {
	info := cons.CachedInfo()
	if info == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := g.cfg.JS.DeleteConsumer(ctx, streams.StreamEvents, info.Name); err != nil &&
		!errors.Is(err, jetstream.ErrConsumerNotFound) {
		g.log.Debug("delete event consumer", "err", err)
	}
}
