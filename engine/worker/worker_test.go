package worker

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"athena/internal/core"
	"athena/internal/testkit"
	"athena/streams"
)

const eicarRule = "eicar_test_file"

// TestEICARDuringUpload streams a file in chunks and checks that the EICAR
// finding is published before the upload ends, that the verdict ends the
// job's events and reaches the verdict subject, and that the events are
// numbered without gaps.
func TestEICARDuringUpload(t *testing.T) {
	e := newEnv(t, streams.Topology{})
	w := e.startWorker(Config{ProgressEvery: 64 << 10})
	const id = "eicar-1"
	data := plant(1, 300_000, 100_000, testkit.EICAR())
	chunks := chunksOf(data, 32<<10) // the pattern is in chunk 4 (98304..131071)
	e.publishJob(id, int64(len(data)), "")
	e.publishChunks(id, chunks[:4]...)
	early := e.waitEvents(id, "the EICAR finding before the last chunk", hasRule(eicarRule))
	for _, ev := range early {
		if ev.Type == core.EventVerdict {
			t.Fatalf("verdict before the last chunk was sent: %s", summary(early))
		}
	}
	e.publishChunks(id, chunks[4:]...)
	evs := e.waitEvents(id, "the verdict", ended)
	checkSeqs(t, id, evs)

	if hits := findingsOf(evs, eicarRule); len(hits) != 1 || hits[0].Offset != 100_000 {
		t.Errorf("EICAR findings %+v, want one at offset 100000", hits)
	}
	last := evs[len(evs)-1]
	v := last.Verdict
	if v == nil || v.Label != core.LabelMalicious || v.Partial {
		t.Fatalf("last event %s, want a complete malicious verdict", summary(evs[len(evs)-1:]))
	}
	if got, want := v.SHA256, sha256Hex(data); got != want || v.Hashes.SHA256 != want || v.Size != int64(len(data)) {
		t.Errorf("verdict sha256 %s size %d, want %s size %d", got, v.Size, want, len(data))
	}
	var progress []int64
	for _, ev := range evs {
		if ev.Progress != nil {
			progress = append(progress, ev.Progress.Bytes)
		}
	}
	if len(progress) < 4 || progress[len(progress)-1] != int64(len(data)) {
		t.Errorf("progress events at %v, want every 64 KiB and %d at the end", progress, len(data))
	}
	stored, ok := e.storedVerdict(v.SHA256)
	if !ok || !reflect.DeepEqual(stored, last) {
		t.Errorf("verdict subject holds %+v (found %v), want the verdict event %+v", stored, ok, last)
	}
	e.waitJobsAcked()
	if got := w.count(t, "athena_worker_jobs_total", "outcome", outcomeComplete); got != 1 {
		t.Errorf("complete jobs = %v, want 1", got)
	}
}

// TestAbort checks that an abort chunk ends the job with an error event and
// no verdict, and acks it.
func TestAbort(t *testing.T) {
	e := newEnv(t, streams.Topology{})
	e.startWorker(Config{})
	const id = "abort-1"
	data := plant(2, 100_000, 0, nil)
	chunks := chunksOf(data, 32<<10)
	e.publishJob(id, int64(len(data)), "")
	e.publishChunks(id, chunks[0], chunks[1], streams.Chunk{Seq: 3, Offset: 2 * 32 << 10, Abort: "client went away"})
	evs := e.waitEvents(id, "the aborted error", ended)
	checkSeqs(t, id, evs)
	last := evs[len(evs)-1]
	if last.Error == nil || last.Error.Code != CodeAborted || last.Error.Message != "client went away" {
		t.Errorf("last event %+v, want an error with code aborted", last)
	}
	for _, ev := range evs {
		if ev.Verdict != nil {
			t.Errorf("a verdict after an abort: %s", summary(evs))
		}
	}
	e.waitJobsAcked()
	if _, ok := e.storedVerdict(sha256Hex(data)); ok {
		t.Error("an aborted job published on the verdict subject")
	}
}

// TestJobErrors checks the jobs that end with an error event and a partial
// verdict: chunk protocol errors and a stalled upload.
func TestJobErrors(t *testing.T) {
	e := newEnv(t, streams.Topology{})
	w := e.startWorker(Config{ChunkIdleTimeout: 500 * time.Millisecond})
	data := plant(3, 50_000, 10_000, testkit.EICAR())
	cs := chunksOf(data, 16<<10) // 4 chunks
	repeat := streams.ChunkMsg("repeat", cs[0])
	repeat.Header.Set(streams.HeaderMsgID, "another-id") // not dropped as a duplicate
	noSeq := streams.ChunkMsg("noseq", cs[1])
	noSeq.Header.Del(streams.HeaderSeq)
	badOffset := cs[1]
	badOffset.Offset++
	for _, tc := range []struct {
		id, code string
		publish  func(id string)
	}{
		{"gap", CodeBadChunks, func(id string) { e.publishChunks(id, cs[0], cs[2]) }},
		{"repeat", CodeBadChunks, func(id string) { e.publishChunks(id, cs[0]); e.publishMsg(repeat) }},
		{"offset", CodeBadChunks, func(id string) { e.publishChunks(id, cs[0], badOffset) }},
		{"noseq", CodeBadChunks, func(id string) { e.publishChunks(id, cs[0]); e.publishMsg(noSeq) }},
		{"stalled", CodeUploadTimeout, func(id string) { e.publishChunks(id, cs[0]) }},
	} {
		t.Run(tc.id, func(t *testing.T) {
			// Chunks first: the idle timeout must not race the publishes.
			tc.publish(tc.id)
			e.publishJob(tc.id, int64(len(data)), sha256Hex(data))
			evs := e.waitEvents(tc.id, "the verdict", ended)
			checkSeqs(t, tc.id, evs)
			if len(evs) < 2 || evs[len(evs)-2].Error == nil || evs[len(evs)-2].Error.Code != tc.code {
				t.Fatalf("events %s, want an error %s then the verdict", summary(evs), tc.code)
			}
			v := evs[len(evs)-1].Verdict
			if !v.Partial || v.Label != core.LabelMalicious || v.Hashes.SHA256 != "" || v.Size != 16<<10 {
				t.Errorf("verdict %+v, want partial, malicious (EICAR is in chunk 1), no hashes, size %d", v, 16<<10)
			}
		})
	}
	e.waitJobsAcked()
	if _, ok := e.storedVerdict(sha256Hex(data)); ok {
		t.Error("a partial verdict of an incomplete upload reached the verdict subject")
	}
	if got := w.count(t, "athena_worker_jobs_total", "outcome", outcomeBadChunks); got != 4 {
		t.Errorf("bad_chunks jobs = %v, want 4", got)
	}
}

// TestRedelivery interrupts a job after its first findings were published,
// by a crash (the job waits for AckWait) or by a shutdown whose grace runs
// out (the job is requeued at once), and checks that the next engine
// completes it with every event exactly once, identical to an
// uninterrupted run.
func TestRedelivery(t *testing.T) {
	for _, how := range []string{"crash", "shutdown"} {
		t.Run(how, func(t *testing.T) {
			e := newEnv(t, streams.Topology{AckWait: time.Second})
			first := e.startWorker(Config{ProgressEvery: 64 << 10, ShutdownGrace: 50 * time.Millisecond})
			const id = "redelivered"
			data := plant(4, 300_000, 100_000, testkit.EICAR())
			chunks := chunksOf(data, 32<<10)
			e.publishJob(id, int64(len(data)), "")
			e.publishChunks(id, chunks[:5]...)
			e.waitEvents(id, "the EICAR finding", hasRule(eicarRule))
			if how == "crash" {
				first.crash(t)
			} else {
				first.stop(t)
			}
			second := e.startWorker(Config{ProgressEvery: 64 << 10})
			e.publishChunks(id, chunks[5:]...)
			evs := e.waitEvents(id, "the verdict", ended)
			checkSeqs(t, id, evs)
			if hits := findingsOf(evs, eicarRule); len(hits) != 1 {
				t.Errorf("%d EICAR findings, want 1: %s", len(hits), summary(evs))
			}
			if v := evs[len(evs)-1].Verdict; v == nil || v.Label != core.LabelMalicious || v.Partial {
				t.Errorf("events end with %s, want a complete malicious verdict", summary(evs[len(evs)-1:]))
			}
			if got := second.count(t, "athena_worker_redeliveries_total"); got != 1 {
				t.Errorf("redeliveries seen = %v, want 1", got)
			}
			// The same file in one go gives the same events.
			e.publishJob("reference", int64(len(data)), "")
			e.publishChunks("reference", chunks...)
			ref := e.waitEvents("reference", "the reference verdict", ended)
			if a, b := strip(evs), strip(ref); !reflect.DeepEqual(a, b) {
				t.Errorf("redelivered job's events differ from an uninterrupted run:\n%s\n%s", summary(evs), summary(ref))
			}
			e.waitJobsAcked()
		})
	}
}

// strip removes the job id, for comparing two jobs' events.
func strip(evs []core.Event) []core.Event {
	out := make([]core.Event, len(evs))
	for i, ev := range evs {
		ev.Job = ""
		out[i] = ev
	}
	return out
}

// TestMaxDeliveries checks the delivery numbered MaxDeliver: it does not
// analyse, it completes the job from what earlier deliveries stored.
func TestMaxDeliveries(t *testing.T) {
	topo := streams.Topology{AckWait: time.Second, MaxDeliver: 2}
	data := plant(5, 100_000, 20_000, testkit.EICAR())
	chunks := chunksOf(data, 32<<10)

	t.Run("nothing stored, file complete", func(t *testing.T) {
		e := newEnv(t, topo)
		const id = "poison"
		e.publishJob(id, int64(len(data)), "")
		e.publishChunks(id, chunks...)
		// A first delivery that is never acked, as if its engine died at once.
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		cons, err := e.js.Consumer(ctx, streams.StreamJobs, streams.ConsumerEngines)
		if err != nil {
			t.Fatal(err)
		}
		batch, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if m := <-batch.Messages(); m == nil {
			t.Fatal("no job delivered")
		}
		e.startWorker(Config{})
		evs := e.waitEvents(id, "the verdict", ended)
		checkSeqs(t, id, evs)
		if len(evs) != 2 {
			t.Fatalf("events %s, want analysis_failed and the verdict", summary(evs))
		}
		checkMaxDeliveries(t, evs[0], 2)
		v := evs[1].Verdict
		if !v.Partial || v.Label != core.LabelClean || v.SHA256 != sha256Hex(data) || v.Hashes.SHA256 != v.SHA256 || v.Size != int64(len(data)) {
			t.Errorf("verdict %+v, want partial clean with the hashes of the stored chunks", v)
		}
		if stored, ok := e.storedVerdict(v.SHA256); !ok || !reflect.DeepEqual(stored, evs[1]) {
			t.Errorf("verdict subject holds %+v (found %v), want %+v", stored, ok, evs[1])
		}
		e.waitJobsAcked()
	})

	t.Run("findings stored, upload incomplete", func(t *testing.T) {
		e := newEnv(t, topo)
		const id = "poison2"
		declared := sha256Hex(data)
		first := e.startWorker(Config{})
		e.publishJob(id, int64(len(data)), strings.ToUpper(declared))
		e.publishChunks(id, chunks[:2]...)
		before := e.waitEvents(id, "the EICAR finding", hasRule(eicarRule))
		first.crash(t)
		e.startWorker(Config{})
		evs := e.waitEvents(id, "the verdict", ended)
		checkSeqs(t, id, evs)
		n := len(evs)
		if n < len(before)+2 || !reflect.DeepEqual(evs[:len(before)], before) {
			t.Fatalf("events %s, want the stored %s then analysis_failed and the verdict", summary(evs), summary(before))
		}
		checkMaxDeliveries(t, evs[n-2], 2)
		v := evs[n-1].Verdict
		if !v.Partial || v.Label != core.LabelMalicious || v.SHA256 != declared || v.Hashes.SHA256 != "" {
			t.Errorf("verdict %+v, want partial malicious, the declared sha256, no hashes", v)
		}
		if _, ok := e.storedVerdict(declared); ok {
			t.Error("a verdict with only a declared sha256 reached the verdict subject")
		}
		e.waitJobsAcked()
	})
}

func checkMaxDeliveries(t testing.TB, ev core.Event, deliveries int) {
	t.Helper()
	f := ev.Finding
	if f == nil || f.Module != "engine" || f.Kind != core.KindAnalysisFailed || f.Severity != core.Info ||
		f.Detail["reason"] != ReasonMaxDeliveries || f.Detail["deliveries"] != float64(deliveries) {
		t.Errorf("event %+v (finding %+v), want analysis_failed max_deliveries after %d deliveries", ev, f, deliveries)
	}
}

// TestTwoWorkers spreads ten jobs over two workers on one server: each
// takes some, and each job gets exactly one verdict.
func TestTwoWorkers(t *testing.T) {
	e := newEnv(t, streams.Topology{})
	a := e.startWorker(Config{ID: "a", Concurrency: 2})
	b := e.startWorker(Config{ID: "b", Concurrency: 2})
	const jobs = 10
	files := make([][]byte, jobs)
	for i := range files {
		files[i] = plant(uint64(10+i), 40_000, 1_000*i, testkit.EICAR())
		e.publishJob(fmt.Sprintf("job-%d", i), 40_000, "")
	}
	// No chunk yet, so no job ends: both workers fill their slots, and
	// neither takes more than its Concurrency.
	testkit.WaitForNil(t, waitTimeout, "both workers full", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		c, err := e.js.Consumer(ctx, streams.StreamJobs, streams.ConsumerEngines)
		if err != nil {
			return err
		}
		info, err := c.Info(ctx)
		if err != nil {
			return err
		}
		if info.NumAckPending != 4 {
			return fmt.Errorf("%d jobs claimed, want 4", info.NumAckPending)
		}
		return nil
	})
	for i, f := range files {
		e.publishChunks(fmt.Sprintf("job-%d", i), chunksOf(f, 16<<10)...)
	}
	for i := range files {
		id := fmt.Sprintf("job-%d", i)
		evs := e.waitEvents(id, "the verdict of "+id, ended)
		checkSeqs(t, id, evs)
		verdicts := 0
		for _, ev := range evs {
			if ev.Verdict != nil {
				verdicts++
			}
		}
		if verdicts != 1 || evs[len(evs)-1].Verdict.Label != core.LabelMalicious {
			t.Errorf("%s: %s, want one malicious verdict", id, summary(evs))
		}
	}
	e.waitJobsAcked()
	na := a.count(t, "athena_worker_jobs_total", "outcome", outcomeComplete)
	nb := b.count(t, "athena_worker_jobs_total", "outcome", outcomeComplete)
	if na < 1 || nb < 1 || na+nb != jobs {
		t.Errorf("worker a did %v jobs, b %v, want both some and %d in all", na, nb, jobs)
	}
}

// TestPresence checks the heartbeats: the worker announces itself while it
// runs and says it leaves when it stops.
func TestPresence(t *testing.T) {
	e := newEnv(t, streams.Topology{})
	sub, err := e.nc.SubscribeSync(streams.SubjectEngineHeartbeat)
	if err != nil {
		t.Fatal(err)
	}
	w := e.startWorker(Config{ID: "engine-7", Concurrency: 3, HeartbeatInterval: 50 * time.Millisecond})
	next := func() streams.Presence {
		t.Helper()
		m, err := sub.NextMsg(waitTimeout)
		if err != nil {
			t.Fatal(err)
		}
		p, err := streams.DecodePresence(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	for range 2 {
		if p, want := next(), (streams.Presence{ID: "engine-7", Capacity: 3, Healthy: true, Fingerprint: w.Fingerprint()}); p != want {
			t.Errorf("presence %+v, want %+v", p, want)
		}
	}
	if ok, info := w.Healthy(); !ok || !strings.Contains(info, "0/3 jobs") {
		t.Errorf("Healthy() = %v, %q, want true and 0/3 jobs", ok, info)
	}
	w.stop(t)
	// Once both connections are flushed, every heartbeat is in sub: the
	// last one says goodbye (Capacity 0).
	for _, nc := range []*nats.Conn{w.nc, e.nc} {
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	var last streams.Presence
	for n, _, _ := sub.Pending(); n > 0; n, _, _ = sub.Pending() {
		last = next()
	}
	if want := (streams.Presence{ID: "engine-7", Healthy: true, Fingerprint: w.Fingerprint()}); last != want {
		t.Errorf("last presence %+v, want %+v", last, want)
	}
	if err := w.Run(context.Background()); err != ErrStarted {
		t.Errorf("second Run: %v, want ErrStarted", err)
	}
}

func TestNewValidates(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Error("New accepted a config without an engine")
	}
}
