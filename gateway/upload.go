package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
	"github.com/prometheus/client_golang/prometheus"

	"athena/internal/core"
	"athena/streams"
)

// Conditions a feeder sees from readFrom and end.
var (
	// errStopped means the upload was stopped (by the client's cancel, a
	// failure, the job's own end or a shutdown); the reason was recorded
	// by stop, and its terminal message, if any, was sent.
	errStopped = errors.New("gateway: upload stopped")
	// errTooLarge means the client sent more than MaxFileSize bytes.
	errTooLarge = errors.New("gateway: file larger than MaxFileSize")
	// errPublishTimeout means JetStream did not acknowledge in time.
	errPublishTimeout = errors.New("no acknowledgement within the publish timeout")
)

// sourceError is a failure to read the client's bytes: the client is gone.
type sourceError struct{ err error }

func (e *sourceError) Error() string { return "gateway: reading the upload: " + e.err.Error() }
func (e *sourceError) Unwrap() error { return e.err }

// sink is where an upload sends its client's messages. The upload
// serializes its calls.
type sink interface {
	// event sends one event's JSON, without a newline.
	event(b []byte) error
	// done is called once, before the file's terminal message is sent (or
	// when the upload ends without one): a client that reads that message
	// may at once reuse what named the file.
	done()
}

// uploadRequest describes a file a client is about to send.
type uploadRequest struct {
	Name      string
	Size      int64 // -1 when unknown
	SHA256    string
	Options   map[string]string
	Transport string // "ws" or "http", for metrics
	// flight, when set, is the flight of SHA256 that this upload leads: it
	// is resolved with the upload's verdict when the upload ends (or at
	// once when it cannot open).
	flight *flight
}

// pending is a chunk published and not acknowledged yet.
type pending struct {
	f   jetstream.PubAckFuture
	buf []byte
	end int64 // file offset just past the chunk
	at  time.Time
}

// upload is one file on its way to JetStream, and the relay of its job's
// events back to the client. It is shared by the WebSocket and HTTP paths.
//
// Lifetime: openUpload subscribes to the job's events and publishes the
// job; start begins the relay. One goroutine, the feeder, then calls
// readFrom any number of times, end once the file is complete, and always
// release last. Any goroutine may call stop. done closes when the relay has
// ended: after the terminal event (verdict or error) or a stop.
type upload struct {
	g       *Gateway
	id      string
	req     uploadRequest
	sink    sink
	onAck   func(bytes int64) // called with the bytes JetStream holds; may be nil
	onEnd   func(u *upload)   // called once, when the relay ends; may be nil
	started time.Time
	bytesIn prometheus.Counter

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	cons   jetstream.Consumer

	// Owned by the feeder.
	hash      hash.Hash
	buf       []byte
	bufAt     time.Time // when buf's first byte arrived (with FlushAfter)
	seq       int64
	size      int64 // bytes received
	published int64 // bytes in published chunks
	sealed    bool  // the last chunk or an abort chunk is published
	// complete is set, for the ack loop, once the last chunk is published.
	complete  atomic.Bool
	released  bool
	futClosed bool
	slots     chan struct{} // a token per chunk in flight: the window
	futures   chan pending
	ackDone   chan struct{}
	sum       string // hex sha256 of the whole file, once end succeeded

	inflight atomic.Int64

	// Owned by the relay goroutine.
	lastSeq    int64
	sawFinding bool
	verdict    *core.Verdict // the verdict relayed, if any

	mu          sync.Mutex
	ended       bool   // the terminal message went out, or the client is gone
	sinkDone    bool   // sink.done was called
	abortReason string // set by the first stop that wants an abort chunk
	timer       *time.Timer
	acked       int64 // the last byte count passed to onAck
}

// openUpload subscribes to a new job's events, then publishes the job. ctx
// bounds the upload's whole life (the client's connection). On error
// nothing is left behind; the error is a *notReadyError.
func (g *Gateway) openUpload(ctx context.Context, req uploadRequest, sk sink, onAck func(int64), onEnd func(*upload)) (_ *upload, err error) {
	defer func() {
		if err != nil {
			g.resolve(req.SHA256, req.flight, nil)
		}
	}()
	if err := g.ready(); err != nil {
		return nil, err
	}
	if err := g.ensureTopology(ctx); err != nil {
		return nil, err
	}
	id := nuid.Next()
	u := &upload{
		g: g, id: id, req: req, sink: sk, onAck: onAck, onEnd: onEnd,
		started: time.Now(),
		bytesIn: g.metrics.bytesIn.WithLabelValues(req.Transport),
		done:    make(chan struct{}),
		hash:    sha256.New(),
		slots:   make(chan struct{}, g.cfg.Window),
		futures: make(chan pending, g.cfg.Window),
		ackDone: make(chan struct{}),
	}
	u.ctx, u.cancel = context.WithCancel(ctx)
	octx, cancel := context.WithTimeout(ctx, g.cfg.PublishTimeout)
	defer cancel()
	// Subscribe first: no event can be missed, and DeliverAll replays any
	// that raced ahead.
	cons, err := g.cfg.JS.OrderedConsumer(octx, streams.StreamEvents, jetstream.OrderedConsumerConfig{
		FilterSubjects:    []string{streams.EventSubject(id)},
		DeliverPolicy:     jetstream.DeliverAllPolicy,
		InactiveThreshold: time.Minute,
	})
	if err != nil {
		u.cancel()
		return nil, &notReadyError{"JetStream: follow events: " + err.Error()}
	}
	u.cons = cons
	data, err := streams.EncodeJob(streams.Job{ID: id, SHA256: req.SHA256,
		Meta: core.FileMeta{Name: req.Name, Size: req.Size, Options: req.Options}})
	if err != nil { // nuid ids are always valid job ids
		u.cancel()
		u.deleteConsumer()
		return nil, err
	}
	msg := nats.NewMsg(streams.SubjectJobs)
	msg.Data = data
	msg.Header.Set(streams.HeaderMsgID, "j/"+id)
	t0 := time.Now()
	if _, err := g.cfg.JS.PublishMsg(octx, msg); err != nil {
		u.cancel()
		u.deleteConsumer()
		return nil, &notReadyError{"JetStream: publish job: " + err.Error()}
	}
	g.metrics.publishSeconds.WithLabelValues("job").Observe(time.Since(t0).Seconds())
	g.metrics.uploads.WithLabelValues(req.Transport).Inc()
	g.counters.uploads.Add(1)
	g.track(u, true)
	go u.ackLoop()
	return u, nil
}

// start begins relaying the job's events to the sink. Call it once, after
// telling the client the job id.
func (u *upload) start() { go u.relay() }

// log returns the upload's logger.
func (u *upload) log() *slog.Logger {
	return u.g.log.With("job", u.id, "transport", u.req.Transport)
}

// relay forwards the job's events to the sink until the terminal one.
func (u *upload) relay() {
	defer u.finish()
	it, err := u.cons.Messages()
	if err != nil {
		u.log().Error("follow events", "err", err)
		u.stop("", &core.Error{Code: CodeInternal, Message: "the gateway cannot follow the job's events"})
		return
	}
	defer it.Stop()
	stopIt := context.AfterFunc(u.ctx, it.Stop)
	defer stopIt()
	for {
		m, err := it.Next()
		if err != nil {
			if u.ctx.Err() == nil && !errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				u.log().Error("follow events", "err", err)
				u.stop("", &core.Error{Code: CodeInternal, Message: "the gateway lost the job's events"})
			}
			return
		}
		raw, ev, ok := u.accept(m.Data())
		if !ok {
			continue
		}
		terminal := ev.Type == core.EventVerdict || ev.Type == core.EventError
		if ev.Type == core.EventVerdict && ev.Verdict != nil {
			// A verdict means an engine read every chunk, so JetStream
			// holds them all: the last acknowledgement goes out first
			// even when the verdict overtook its publish ack.
			u.mu.Lock()
			if !u.ended {
				u.ackLocked(ev.Verdict.Size)
			}
			u.mu.Unlock()
			// Cached before the client sees it: a client that asks again
			// at once is answered from the cache.
			u.verdict = ev.Verdict
			u.g.relayed(ev.Verdict)
			u.g.names.remember(ev.Verdict.SHA256, u.req.Name)
		}
		if !u.deliver(raw, terminal) {
			return
		}
		switch {
		case ev.Type == core.EventFinding && !u.sawFinding:
			u.sawFinding = true
			u.g.metrics.firstFinding.Observe(time.Since(u.started).Seconds())
		case ev.Type == core.EventVerdict:
			u.g.metrics.jobSeconds.Observe(time.Since(u.started).Seconds())
		}
		if terminal {
			return
		}
	}
}

// accept decodes one stored event and decides whether it goes to the
// client: it must be valid, belong to this job, and come after the last one
// relayed (a redelivered job republishes events the client already has).
func (u *upload) accept(data []byte) ([]byte, core.Event, bool) {
	return acceptEvent(u.id, &u.lastSeq, data, u.log())
}

// acceptEvent is accept for any follower of a job's events; last is the
// highest sequence relayed so far.
func acceptEvent(job string, last *int64, data []byte, log *slog.Logger) ([]byte, core.Event, bool) {
	ev, err := streams.DecodeEvent(data)
	if err != nil {
		log.Warn("dropped an invalid event", "err", err)
		return nil, ev, false
	}
	if ev.Job != "" && ev.Job != job {
		log.Warn("dropped an event of another job", "event_job", ev.Job)
		return nil, ev, false
	}
	if ev.Seq <= *last {
		return nil, ev, false
	}
	*last = ev.Seq
	if ev.Job == "" { // the client maps events to files by job
		ev.Job = job
		b, err := json.Marshal(ev)
		if err != nil {
			return nil, ev, false
		}
		return b, ev, true
	}
	return data, ev, true
}

// deliver sends an event unless the upload already ended; a terminal event
// ends it.
func (u *upload) deliver(b []byte, terminal bool) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.ended {
		return false
	}
	if terminal {
		u.ended = true
		u.endSinkLocked()
	}
	if err := u.sink.event(b); err != nil {
		u.ended = true
		if u.abortReason == "" {
			u.abortReason = abortClientGone
		}
		return false
	}
	return true
}

// stop ends the upload; any goroutine may call it, any number of times.
// The feeder's blocked calls return errStopped and the relay stops. term,
// when not nil and no terminal message went out yet, is sent as the
// client's last message for this file (an error event with seq 0). reason,
// when not empty, is the abort chunk's reason should the last chunk not be
// published yet (the feeder's release publishes it); the first one wins.
func (u *upload) stop(reason string, term *core.Error) {
	u.mu.Lock()
	if u.abortReason == "" {
		u.abortReason = reason
	}
	if !u.ended {
		u.ended = true
		u.endSinkLocked()
		if term != nil {
			u.sink.event(gatewayEvent(u.id, term.Code, term.Message))
		}
	}
	u.mu.Unlock()
	u.cancel()
}

// ackLocked tells the client that JetStream holds bytes bytes, unless it
// was told as much already. u.mu is held.
func (u *upload) ackLocked(bytes int64) {
	if u.onAck != nil && bytes > u.acked {
		u.acked = bytes
		u.onAck(bytes)
	}
}

// endSinkLocked tells the sink the file is over, once. u.mu is held.
func (u *upload) endSinkLocked() {
	if !u.sinkDone {
		u.sinkDone = true
		u.sink.done()
	}
}

// finish runs once when the relay ends.
func (u *upload) finish() {
	u.mu.Lock()
	u.ended = true
	u.endSinkLocked()
	if u.timer != nil {
		u.timer.Stop()
	}
	u.mu.Unlock()
	u.cancel()
	u.deleteConsumer()
	u.g.track(u, false)
	u.g.resolve(u.req.SHA256, u.req.flight, u.verdict)
	if u.onEnd != nil {
		u.onEnd(u)
	}
	close(u.done)
}

// deleteConsumer removes the job's event consumer now rather than when the
// server notices it is inactive.
func (u *upload) deleteConsumer() { u.g.deleteOrdered(u.cons) }

// readFrom reads r to its end into chunks, publishing each full chunk. It
// blocks while Window chunks wait for JetStream: that is the flow control.
// Errors: errTooLarge, errStopped, or a *sourceError when r fails.
func (u *upload) readFrom(r io.Reader) (int64, error) {
	var total int64
	for {
		if u.ctx.Err() != nil || u.sealed {
			return total, errStopped
		}
		if u.buf == nil {
			u.buf = u.g.getBuf()
			storeMax(&u.g.stats.peakBuffers, u.inflight.Load()+1)
		}
		if len(u.buf) == cap(u.buf) {
			if err := u.flush(false); err != nil {
				return total, err
			}
			continue
		}
		n, err := r.Read(u.buf[len(u.buf):cap(u.buf)])
		if n > 0 {
			if u.size+int64(n) > u.g.cfg.MaxFileSize {
				return total, errTooLarge
			}
			u.hash.Write(u.buf[len(u.buf) : len(u.buf)+n])
			u.buf = u.buf[:len(u.buf)+n]
			u.size += int64(n)
			total += int64(n)
			u.bytesIn.Add(float64(n))
			u.g.counters.bytesIn.Add(int64(n))
			if age := u.g.cfg.FlushAfter; age > 0 {
				if now := time.Now(); len(u.buf) == n {
					u.bufAt = now
				} else if len(u.buf) < cap(u.buf) && now.Sub(u.bufAt) >= age {
					if err := u.flush(false); err != nil {
						return total, err
					}
				}
			}
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, &sourceError{err}
		}
	}
}

// flush publishes the buffered bytes as the next chunk, once the window has
// room.
func (u *upload) flush(last bool) error {
	select {
	case u.slots <- struct{}{}:
	case <-u.ctx.Done():
		return errStopped
	}
	n := u.inflight.Add(1)
	storeMax(&u.g.stats.peakInflight, n)
	u.seq++
	msg := streams.ChunkMsg(u.id, streams.Chunk{Seq: u.seq, Offset: u.published, Last: last, Data: u.buf})
	at := time.Now()
	f, err := u.g.cfg.JS.PublishMsgAsync(msg)
	if err != nil {
		u.seq--
		u.inflight.Add(-1)
		<-u.slots
		u.log().Warn("publish chunk", "err", err)
		u.stop(abortPublishFailed, &core.Error{Code: CodePublishFailed, Message: "JetStream did not take a chunk: " + err.Error()})
		return errStopped
	}
	u.published += int64(len(u.buf))
	if last {
		u.sealed = true
		u.complete.Store(true)
	}
	u.futures <- pending{f: f, buf: u.buf, end: u.published, at: at} // never blocks: a slot is held
	u.buf = nil
	return nil
}

// ackLoop waits for the chunks' acknowledgements in order, frees their
// window slots and buffers, and reports progress.
func (u *upload) ackLoop() {
	defer close(u.ackDone)
	timer := time.NewTimer(u.g.cfg.PublishTimeout)
	defer timer.Stop()
	for p := range u.futures {
		timer.Reset(u.g.cfg.PublishTimeout)
		var err error
		select {
		case <-p.f.Ok():
		case err = <-p.f.Err():
		case <-timer.C:
			err = errPublishTimeout
		case <-u.ctx.Done():
			if !u.complete.Load() {
				return // stopped: release does not wait for acknowledgements
			}
			// Every chunk is published and the upload ended, its verdict
			// having overtaken some acknowledgements: they are on their way;
			// wait for them (bounded) so that their latency is recorded.
			select {
			case <-p.f.Ok():
			case err = <-p.f.Err():
			case <-timer.C:
				err = errPublishTimeout
			}
		}
		u.inflight.Add(-1)
		<-u.slots
		if err != nil {
			u.log().Warn("chunk not acknowledged", "err", err)
			if u.ctx.Err() == nil {
				u.stop(abortPublishFailed, &core.Error{Code: CodePublishFailed, Message: "JetStream did not take a chunk: " + err.Error()})
			}
			return
		}
		u.g.metrics.publishSeconds.WithLabelValues("chunk").Observe(time.Since(p.at).Seconds())
		u.g.putBuf(p.buf)
		u.mu.Lock()
		if !u.ended {
			u.ackLocked(p.end)
		}
		u.mu.Unlock()
	}
}

// end publishes the last chunk (which may be empty) and waits until
// JetStream holds every chunk. Then the job's verdict has JobTimeout to
// arrive. It returns errStopped when the upload was stopped.
func (u *upload) end() error {
	if u.sealed || u.ctx.Err() != nil {
		return errStopped
	}
	if err := u.flush(true); err != nil {
		return err
	}
	u.sum = hex.EncodeToString(u.hash.Sum(nil))
	if u.req.SHA256 != "" && u.req.SHA256 != u.sum {
		u.log().Warn("declared sha256 differs from the bytes received", "declared", u.req.SHA256, "sha256", u.sum)
	}
	u.closeFutures()
	select {
	case <-u.ackDone:
	case <-u.ctx.Done():
	}
	// The verdict may overtake the last acknowledgement; then the relay has
	// already ended the upload, successfully.
	if u.ctx.Err() != nil {
		return errStopped
	}
	u.log().Debug("upload complete", "bytes", u.size, "sha256", u.sum)
	u.mu.Lock()
	if !u.ended {
		u.timer = time.AfterFunc(u.g.cfg.JobTimeout, func() {
			u.stop("", &core.Error{Code: CodeTimeout, Message: fmt.Sprintf(
				"no verdict within %v of the last byte; the job goes on: GET /v1/jobs/%s/events", u.g.cfg.JobTimeout, u.id)})
		})
	}
	u.mu.Unlock()
	return nil
}

func (u *upload) closeFutures() {
	if !u.futClosed {
		u.futClosed = true
		close(u.futures)
	}
}

// release is the feeder's last call. When the file is incomplete and stop
// asked for it, it publishes an abort chunk so the engine stops waiting for
// bytes; then it frees the upload's buffers. It does not wait for the relay.
func (u *upload) release() {
	if u.released {
		return
	}
	u.released = true
	u.mu.Lock()
	reason := u.abortReason
	u.mu.Unlock()
	if !u.sealed {
		u.cancel() // the ack loop stops waiting
		if reason != "" {
			u.publishAbort(reason)
		}
	}
	u.closeFutures()
	<-u.ackDone
	if u.buf != nil {
		u.g.putBuf(u.buf)
		u.buf = nil
	}
}

// publishAbort publishes the abort chunk that tells the engine no more
// bytes follow.
func (u *upload) publishAbort(reason string) {
	u.sealed = true
	u.seq++
	msg := streams.ChunkMsg(u.id, streams.Chunk{Seq: u.seq, Offset: u.published, Abort: reason})
	ctx, cancel := context.WithTimeout(context.Background(), min(u.g.cfg.PublishTimeout, 5*time.Second))
	defer cancel()
	t0 := time.Now()
	if _, err := u.g.cfg.JS.PublishMsg(ctx, msg); err != nil {
		u.log().Warn("publish abort chunk", "reason", reason, "err", err)
	} else {
		u.g.metrics.publishSeconds.WithLabelValues("abort").Observe(time.Since(t0).Seconds())
	}
	u.g.metrics.aborted.WithLabelValues(reason).Inc()
	u.log().Info("upload aborted", "reason", reason, "bytes", u.size)
}
