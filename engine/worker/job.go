package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"athena/engine"
	"athena/internal/cache"
	"athena/internal/core"
	"athena/streams"
)

// Error codes of the error events the worker adds to a job.
const (
	CodeAborted       = "aborted"        // the client aborted the upload
	CodeBadChunks     = "bad_chunks"     // a chunk out of sequence or undecodable
	CodeUploadTimeout = "upload_timeout" // no chunk for Config.ChunkIdleTimeout
)

// ReasonMaxDeliveries is the analysis_failed reason of a job given up after
// MaxDeliver deliveries.
const ReasonMaxDeliveries = "max_deliveries"

const (
	// pullBytes bounds the chunk bytes buffered per job ahead of the engine,
	// pullMessages the messages. With a byte limit alone nats.go buffers up
	// to a million messages, and allocates a channel of that size for every
	// consumer: 8 MB made and cleared per job, 4% of an engine's CPU in the
	// end-to-end profile (BENCHMARKS.md).
	pullBytes    = 8 << 20
	pullMessages = 256
	// ackTimeout bounds the wait for JetStream to confirm a job's ack.
	ackTimeout = 10 * time.Second
	// replayTimeout bounds the wait for one stored message while reading
	// back what is already in a stream.
	replayTimeout = 10 * time.Second
	// requeueDelay delays the redelivery of a job that failed for a NATS
	// error, so that it does not spin through its deliveries.
	requeueDelay = time.Second
	// maxErrorMessage bounds the client-supplied text in an error event.
	maxErrorMessage = 256
)

var (
	errIdle     = errors.New("worker: chunk idle timeout")
	errBadChunk = errors.New("worker: bad chunk")
)

// delivery is one delivery of a job message, from claim to ack or requeue.
// Its methods run on the job's goroutine, except the keep-alive ticker.
type delivery struct {
	w          *Worker
	msg        jetstream.Msg
	job        streams.Job
	deliveries uint64
	start      time.Time
	log        *slog.Logger
	pub        *publisher
	stopKeep   func() // stops the InProgress ticker; idempotent
	// pipeline keys and tags the job's verdict: the engine's when the
	// delivery starts, then the engine job's own (the settings it runs on).
	pipeline pipelineKey

	verdict    *core.Event // the verdict event, once emitted
	foundFirst bool
	chunkCons  jetstream.Consumer // the ordered chunk consumer, deleted at the end
}

// handle runs one job message to its end: ack (verdict or abort published),
// term (undecodable) or requeue (shutdown, NATS error).
func (w *Worker) handle(ctx context.Context, msg jetstream.Msg) {
	start := time.Now()
	md, err := msg.Metadata()
	if err != nil {
		w.log.Error("job message without JetStream metadata", "err", err)
		w.m.jobs.WithLabelValues(outcomeBadJob).Inc()
		return
	}
	if md.NumDelivered > 1 {
		w.m.redeliveries.Inc()
	}
	job, err := streams.DecodeJob(msg.Data())
	if err != nil {
		w.log.Warn("undecodable job message: terminated", "err", err, "stream_seq", md.Sequence.Stream)
		if err := msg.TermWithReason("athena: undecodable job"); err != nil {
			w.log.Warn("term", "err", err)
		}
		w.m.jobs.WithLabelValues(outcomeBadJob).Inc()
		return
	}
	d := &delivery{
		w: w, msg: msg, job: job, deliveries: md.NumDelivered, start: start,
		log:      w.log.With("job", job.ID, "delivery", md.NumDelivered),
		pub:      newPublisher(w.cfg.JS, w.m.publish),
		pipeline: keyOf(w.cfg.Engine.Pipeline()),
	}
	d.stopKeep = w.keepAlive(msg, d.log)
	outcome, err := d.run(ctx)
	if err != nil {
		outcome = outcomeRequeued
		d.requeue(ctx, err)
	}
	d.stopKeep()
	d.pub.wait() // reaps the collector; the outcome is decided
	d.cleanup()
	w.m.jobs.WithLabelValues(outcome).Inc()
	w.m.duration.Observe(time.Since(start).Seconds())
	d.log.Debug("job ended", "outcome", outcome, "seconds", time.Since(start).Seconds())
}

// keepAlive tells JetStream every AckWait/3 that msg is being worked on,
// until the returned function is called (which waits for the ticker's
// goroutine to stop).
func (w *Worker) keepAlive(msg jetstream.Msg, log *slog.Logger) func() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(max(w.ackWait/3, 10*time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-t.C:
				if err := msg.InProgress(); err != nil {
					log.Debug("in progress", "err", err)
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}
}

// run decides what this delivery does. It returns the outcome once the job
// is acked, or an error when the job must be requeued.
func (d *delivery) run(ctx context.Context) (string, error) {
	if d.deliveries > 1 {
		if done, err := d.resume(ctx); err != nil || done {
			return outcomeAlreadyDone, err
		}
	}
	if d.deliveries >= d.w.maxDeliver && d.deliveries > 1 {
		// The last delivery: a Nak would lose the job for good, so giving
		// up (a few reads and two publishes) is not cut short at shutdown.
		return d.giveUp(context.WithoutCancel(ctx))
	}
	return d.analyse(ctx)
}

// emit publishes one event of the job; it is the engine job's callback too.
func (d *delivery) emit(ev core.Event) {
	ev.Job = d.job.ID
	if ev.Type == core.EventVerdict && ev.Verdict != nil {
		v := *ev.Verdict
		v.Fingerprint = d.pipeline.fp
		ev.Verdict = &v
	}
	m, err := streams.EventMsg(d.job.ID, ev)
	if err != nil {
		d.pub.fail(fmt.Errorf("worker: event %d: %w", ev.Seq, err))
		return
	}
	switch ev.Type {
	case core.EventFinding:
		if !d.foundFirst {
			d.foundFirst = true
			d.w.m.firstFinding.Observe(time.Since(d.start).Seconds())
		}
	case core.EventVerdict:
		d.verdict = &ev
	}
	d.pub.publish(m)
}

// analyse feeds the job's chunks to an engine job as they arrive.
func (d *delivery) analyse(ctx context.Context) (string, error) {
	// The engine job never sees ctx: a guest call interrupted at shutdown
	// would emit an analysis_failed finding under a sequence number that the
	// next delivery needs for the real event. Shutdown is noticed between
	// chunks instead; one chunk's calls are bounded by their deadlines.
	ej, err := d.w.cfg.Engine.NewJob(context.WithoutCancel(ctx), d.job.Meta, d.emit)
	if err != nil {
		return "", err
	}
	d.pipeline = keyOf(ej.Pipeline())
	oc, err := d.w.chunks.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects:    []string{streams.ChunkSubject(d.job.ID)},
		DeliverPolicy:     jetstream.DeliverAllPolicy,
		InactiveThreshold: time.Minute,
	})
	if err != nil {
		ej.Abort()
		return "", fmt.Errorf("worker: chunk consumer: %w", err)
	}
	it, err := oc.Messages(jetstream.PullMaxMessagesWithBytesLimit(pullMessages, pullBytes))
	if err != nil {
		ej.Abort()
		return "", fmt.Errorf("worker: chunk consumer: %w", err)
	}
	defer it.Stop()
	d.chunkCons = oc

	every := d.w.cfg.ProgressEvery
	var (
		next        int64 = 1 // the chunk sequence expected
		fed         int64     // bytes fed
		progressed  int64     // bytes at the last progress event
		hasProgress bool
	)
	for {
		if err := d.pub.failed(); err != nil {
			ej.Abort()
			return "", err
		}
		c, err := d.nextChunk(ctx, it)
		switch {
		case err == nil:
		case ctx.Err() != nil:
			ej.Abort()
			return "", fmt.Errorf("worker: abandoned at shutdown after %d chunks: %w", next-1, ctx.Err())
		case errors.Is(err, errIdle):
			return d.fail(ctx, ej, outcomeUploadTimeout, CodeUploadTimeout,
				fmt.Sprintf("no chunk %d within %v", next, d.w.cfg.ChunkIdleTimeout))
		case errors.Is(err, errBadChunk):
			return d.fail(ctx, ej, outcomeBadChunks, CodeBadChunks, err.Error())
		default:
			ej.Abort()
			return "", err
		}
		if c.Seq != next {
			return d.fail(ctx, ej, outcomeBadChunks, CodeBadChunks,
				fmt.Sprintf("chunk %d arrived where chunk %d was expected", c.Seq, next))
		}
		if c.Offset != fed {
			return d.fail(ctx, ej, outcomeBadChunks, CodeBadChunks,
				fmt.Sprintf("chunk %d starts at offset %d, want %d", c.Seq, c.Offset, fed))
		}
		next++
		if c.Abort != "" {
			ej.Abort()
			ej.Error(CodeAborted, clip(c.Abort))
			return outcomeAborted, d.finish(ctx)
		}
		if err := ej.Feed(c.Data); err != nil {
			return "", err // the engine job ended early: a bug, retry elsewhere
		}
		fed += int64(len(c.Data))
		if c.Last {
			if !hasProgress || progressed != fed {
				ej.Progress()
			}
			v, err := ej.Finish()
			if err != nil {
				return "", err
			}
			outcome := outcomeComplete
			if v.Partial {
				outcome = outcomePartial
			}
			return outcome, d.finish(ctx)
		}
		if fed-progressed >= every {
			ej.Progress()
			progressed, hasProgress = fed, true
		}
	}
}

// nextChunk waits up to ChunkIdleTimeout for the next chunk. Errors wrap
// errIdle, errBadChunk, or what the iterator returned.
func (d *delivery) nextChunk(ctx context.Context, it jetstream.MessagesContext) (streams.Chunk, error) {
	nctx, cancel := context.WithTimeout(ctx, d.w.cfg.ChunkIdleTimeout)
	defer cancel()
	m, err := it.Next(jetstream.NextContext(nctx))
	if err != nil {
		if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			return streams.Chunk{}, errIdle
		}
		return streams.Chunk{}, fmt.Errorf("worker: read chunks: %w", err)
	}
	c, err := streams.DecodeChunk(m.Headers(), m.Data())
	if err != nil {
		return c, fmt.Errorf("%w: %v", errBadChunk, err)
	}
	return c, nil
}

// fail ends the job with an error event and a partial verdict, then acks.
func (d *delivery) fail(ctx context.Context, ej *engine.Job, outcome, code, message string) (string, error) {
	d.log.Info("job failed", "code", code, "message", message)
	if _, err := ej.Fail(code, message); err != nil {
		return "", err
	}
	return outcome, d.finish(ctx)
}

// finish publishes the verdict on its file's verdict subject (when the
// engine hashed the whole file), waits until JetStream acknowledged every
// publish of the job, then acks the job message.
func (d *delivery) finish(ctx context.Context) error {
	if v := d.verdict; v != nil && validSHA256(v.Verdict.Hashes.SHA256) && v.Verdict.SHA256 == v.Verdict.Hashes.SHA256 {
		data, err := streams.EncodeEvent(*v)
		if err != nil {
			return fmt.Errorf("worker: verdict: %w", err)
		}
		m := nats.NewMsg(streams.VerdictSubject(v.Verdict.SHA256))
		m.Data = data
		m.Header.Set(streams.HeaderMsgID, "v/"+d.job.ID)
		d.pub.publish(m)
	}
	if err := d.pub.wait(); err != nil {
		return err
	}
	d.stopKeep()
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ackTimeout)
	defer cancel()
	if err := d.msg.DoubleAck(actx); err != nil {
		return fmt.Errorf("worker: ack: %w", err)
	}
	d.cacheVerdict(ctx)
	return nil
}

// cacheVerdict puts a complete verdict, whose sha256 the engine computed,
// in the cache. Only after JetStream holds it: the cache never knows a
// verdict that the job's event stream does not.
func (d *delivery) cacheVerdict(ctx context.Context) {
	c := d.w.cfg.Cache
	if c == nil || d.verdict == nil || d.verdict.Verdict == nil {
		return
	}
	v := *d.verdict.Verdict
	if v.Partial || v.Label == "" || !validSHA256(v.SHA256) || v.SHA256 != v.Hashes.SHA256 {
		return
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cachePutTimeout)
	defer cancel()
	if err := c.Put(pctx, cache.Key{SHA256: v.SHA256, Fingerprint: d.pipeline.fp}, v, d.pipeline.tags); err != nil {
		d.log.Warn("verdict not cached", "err", err)
	}
}

// requeue leaves the job to another delivery.
func (d *delivery) requeue(ctx context.Context, cause error) {
	d.stopKeep()
	var err error
	if ctx.Err() != nil {
		d.log.Info("job requeued at shutdown", "cause", cause)
		err = d.msg.Nak()
	} else {
		d.log.Warn("job requeued", "cause", cause)
		err = d.msg.NakWithDelay(requeueDelay)
	}
	if err != nil {
		d.log.Warn("nak", "err", err)
	}
	if d.deliveries >= d.w.maxDeliver {
		d.log.Error("the last delivery of a job failed: JetStream will not deliver it again", "cause", cause)
	}
}

// cleanup deletes the job's ordered chunk consumer (it would otherwise
// linger until its inactivity threshold).
func (d *delivery) cleanup() {
	if d.chunkCons == nil {
		return
	}
	info := d.chunkCons.CachedInfo()
	if info == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), ackTimeout)
	defer cancel()
	if err := d.w.chunks.DeleteConsumer(ctx, info.Name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		d.log.Debug("delete chunk consumer", "err", err)
	}
}

// clip bounds a client-supplied message.
func clip(s string) string {
	if len(s) <= maxErrorMessage {
		return s
	}
	return strings.ToValidUTF8(s[:maxErrorMessage], "")
}

// validSHA256 reports whether s is a lower-case hex sha256, and so a valid
// subject token.
func validSHA256(s string) bool {
	return len(s) == 64 && strings.Trim(s, "0123456789abcdef") == ""
}
