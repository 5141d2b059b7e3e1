package worker

import (
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"athena/internal/core"
	"athena/streams"
)

// resume handles a redelivered job whose last stored event already ends it
// (a verdict, or the error of an aborted upload): an earlier delivery did
// the work but its ack was lost. It republishes the verdict on the verdict
// subject (de-duplicated) and acks. done is false when there is work left.
func (d *delivery) resume(ctx context.Context) (done bool, err error) {
	last, err := d.w.events.GetLastMsgForSubject(ctx, streams.EventSubject(d.job.ID))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("worker: last event: %w", err)
	}
	ev, err := streams.DecodeEvent(last.Data)
	if err != nil {
		d.log.Warn("undecodable stored event", "err", err)
		return false, nil
	}
	switch {
	case ev.Type == core.EventVerdict:
		d.verdict = &ev
	case ev.Type == core.EventError && ev.Error.Code == CodeAborted:
	default:
		return false, nil
	}
	d.log.Info("job already ended by an earlier delivery", "last_event", ev.Type)
	return true, d.finish(ctx)
}

// giveUp ends a job that reached MaxDeliver deliveries without analysing it
// again: after the highest sequence earlier deliveries stored, it publishes
// an analysis_failed finding (reason max_deliveries) and a partial verdict
// from every stored finding plus that one. The verdict has the file's hashes
// when all its chunks are still stored, else only the declared sha256.
func (d *delivery) giveUp(ctx context.Context) (string, error) {
	var (
		findings []core.Finding
		seq      int64
	)
	err := d.w.replay(ctx, d.w.events, streams.EventSubject(d.job.ID), func(m jetstream.Msg) error {
		ev, err := streams.DecodeEvent(m.Data())
		if err != nil {
			d.log.Warn("undecodable stored event skipped", "err", err)
			return nil
		}
		seq = max(seq, ev.Seq)
		if ev.Finding != nil {
			findings = append(findings, *ev.Finding)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	file, err := d.storedFile(ctx)
	if err != nil {
		return "", err
	}
	d.log.Warn("job given up after too many deliveries", "stored_events", seq, "chunks_complete", file.complete)

	f := core.Finding{
		Module:   "engine",
		Kind:     core.KindAnalysisFailed,
		Severity: core.Info,
		Detail:   map[string]any{"reason": ReasonMaxDeliveries, "deliveries": d.deliveries},
	}
	findings = append(findings, f)
	v := core.VerdictFrom(findings)
	v.Partial = true
	if file.complete {
		v.Size, v.Hashes, v.SHA256 = file.size, file.hashes, file.hashes.SHA256
	} else {
		v.Size = max(d.job.Meta.Size, 0)
		if sha := strings.ToLower(d.job.SHA256); validSHA256(sha) {
			v.SHA256 = sha
		}
	}
	d.emit(core.Event{V: core.SchemaVersion, Seq: seq + 1, Type: core.EventFinding, Finding: &f})
	d.emit(core.Event{V: core.SchemaVersion, Seq: seq + 2, Type: core.EventVerdict, Verdict: &v})
	return outcomeMaxDeliveries, d.finish(ctx)
}

// storedFile describes a job's file from its stored chunks.
type storedFile struct {
	complete bool // every chunk from 1 to the last is stored, none aborts
	size     int64
	hashes   core.Hashes
}

// storedFile hashes the job's stored chunks, if they make the whole file.
func (d *delivery) storedFile(ctx context.Context) (storedFile, error) {
	var (
		file   storedFile
		next   int64 = 1
		broken bool
		hs     = []hash.Hash{md5.New(), sha1.New(), sha256.New(), sha512.New()}
	)
	err := d.w.replay(ctx, d.w.chunks, streams.ChunkSubject(d.job.ID), func(m jetstream.Msg) error {
		c, err := streams.DecodeChunk(m.Headers(), m.Data())
		if broken || file.complete || err != nil || c.Seq != next || c.Offset != file.size || c.Abort != "" {
			broken = true
			return nil
		}
		next++
		for _, h := range hs {
			h.Write(c.Data)
		}
		file.size += int64(len(c.Data))
		file.complete = c.Last
		return nil
	})
	if err != nil {
		return storedFile{}, err
	}
	if broken || !file.complete {
		return storedFile{}, nil
	}
	sum := func(h hash.Hash) string { return hex.EncodeToString(h.Sum(nil)) }
	file.hashes = core.Hashes{MD5: sum(hs[0]), SHA1: sum(hs[1]), SHA256: sum(hs[2]), SHA512: sum(hs[3])}
	return file, nil
}

// replay calls fn, in order, with each message stored on subject up to the
// last one stored when replay started.
func (w *Worker) replay(ctx context.Context, s jetstream.Stream, subject string, fn func(jetstream.Msg) error) error {
	last, err := s.GetLastMsgForSubject(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("worker: last message on %s: %w", subject, err)
	}
	oc, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
	if err != nil {
		return fmt.Errorf("worker: replay %s: %w", subject, err)
	}
	it, err := oc.Messages(jetstream.PullMaxMessagesWithBytesLimit(pullMessages, pullBytes))
	if err != nil {
		return fmt.Errorf("worker: replay %s: %w", subject, err)
	}
	defer func() {
		it.Stop()
		if info := oc.CachedInfo(); info != nil {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ackTimeout)
			s.DeleteConsumer(dctx, info.Name)
			cancel()
		}
	}()
	for {
		nctx, cancel := context.WithTimeout(ctx, replayTimeout)
		m, err := it.Next(jetstream.NextContext(nctx))
		cancel()
		if err != nil {
			return fmt.Errorf("worker: replay %s: %w", subject, err)
		}
		md, err := m.Metadata()
		if err != nil {
			return fmt.Errorf("worker: replay %s: %w", subject, err)
		}
		if err := fn(m); err != nil {
			return err
		}
		if md.Sequence.Stream >= last.Sequence {
			return nil
		}
	}
}
