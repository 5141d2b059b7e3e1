package worker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"athena/internal/natsembed/natstest"
	"athena/internal/rules"
	"athena/internal/testkit"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"athena/engine"
	"athena/internal/core"
	"athena/internal/modbuild"
	"athena/streams"
)

// Guests built once for the whole package.
var (
	modulesDir string // the real modules under modules/
	cacheDir   string // compilation cache shared by the tests
)

func TestMain(m *testing.M) {
	os.Exit(func() int {
		tmp, err := os.MkdirTemp("", "worker-test-")
		if err != nil {
			panic(err)
		}
		defer os.RemoveAll(tmp)
		modulesDir, cacheDir = filepath.Join(tmp, "modules"), filepath.Join(tmp, "cache")
		if _, err := modbuild.BuildAll("../../modules", modulesDir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return m.Run()
	}())
}

// waitTimeout bounds every wait of the tests.
const waitTimeout = 20 * time.Second

// plant returns n pseudo-random bytes (seeded by seed) with payload at
// offset at.
func plant(seed uint64, n, at int, payload []byte) []byte {
	r := rand.New(rand.NewPCG(seed, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	copy(b[at:], payload)
	return b
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// chunksOf splits data as the gateway does: chunks of size bytes, the last
// one flagged (an empty file is one empty last chunk).
func chunksOf(data []byte, size int) []streams.Chunk {
	var cs []streams.Chunk
	for off := 0; off < len(data) || len(cs) == 0; off += size {
		end := min(off+size, len(data))
		cs = append(cs, streams.Chunk{Seq: int64(len(cs) + 1), Offset: int64(off), Data: data[off:end]})
	}
	cs[len(cs)-1].Last = true
	return cs
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// env is one embedded NATS server with the topology ensured, and a
// connection that plays the gateway.
type env struct {
	t    *testing.T
	srv  *server.Server
	topo streams.Topology
	nc   *nats.Conn
	js   jetstream.JetStream
}

func newEnv(t *testing.T, topo streams.Topology) *env {
	t.Helper()
	e := &env{t: t, srv: natstest.Start(t), topo: topo}
	e.nc, e.js = e.connect()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := topo.Ensure(ctx, e.js); err != nil {
		t.Fatal(err)
	}
	return e
}

// connect opens a connection that is closed at the end of the test.
func (e *env) connect() (*nats.Conn, jetstream.JetStream) {
	e.t.Helper()
	return natstest.Connect(e.t, e.srv, nats.MaxReconnects(-1))
}

// running is a worker whose Run goroutine is going.
type running struct {
	*Worker
	nc     *nats.Conn
	reg    *prometheus.Registry
	cancel context.CancelFunc
	done   chan error
}

// startWorker starts a worker on its own connection and engine. Fields of
// cfg left zero get the environment's values; it is stopped at the end of
// the test.
func (e *env) startWorker(cfg Config) *running {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	eng, err := engine.New(ctx, engine.Config{
		ModuleDirs: []string{modulesDir}, CacheDir: cacheDir,
		Concurrency: cfg.Concurrency, Logger: testLogger(e.t),
		Settings: []engine.Setting{builtinRules(e.t)},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { eng.Close(context.Background()) })
	nc, js := e.connect()
	reg := prometheus.NewRegistry()
	cfg.Engine, cfg.JS, cfg.NC, cfg.Topology, cfg.Registerer = eng, js, nc, e.topo, reg
	if cfg.Logger == nil {
		cfg.Logger = testLogger(e.t)
	}
	w, err := New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	rctx, rcancel := context.WithCancel(context.Background())
	r := &running{Worker: w, nc: nc, reg: reg, cancel: rcancel, done: make(chan error, 1)}
	go func() { r.done <- w.Run(rctx) }()
	e.t.Cleanup(func() { r.stop(e.t) })
	return r
}

// stop cancels the worker and waits for Run to return. It may be called
// more than once.
func (r *running) stop(t testing.TB) {
	t.Helper()
	r.cancel()
	select {
	case err, ok := <-r.done:
		if ok && err != nil {
			t.Errorf("Run: %v", err)
		}
		if ok {
			close(r.done)
		}
	case <-time.After(waitTimeout):
		t.Fatal("Run did not return after its context was cancelled")
	}
}

// crash simulates a dying engine: its connection goes away without a
// word, so its jobs stay un-acked until AckWait. Then its goroutines are
// stopped.
func (r *running) crash(t testing.TB) {
	r.nc.Close()
	r.stop(t)
}

// count returns the value of a counter of the worker's registry, summed
// over the series whose labels include the given pairs.
func (r *running) count(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := r.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue metric
				}
			}
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

// publishJob publishes a job message as the gateway does.
func (e *env) publishJob(id string, size int64, sha string) {
	e.t.Helper()
	b, err := streams.EncodeJob(streams.Job{ID: id, Meta: core.FileMeta{Name: id + ".bin", Size: size}, SHA256: sha})
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if _, err := e.js.Publish(ctx, streams.SubjectJobs, b); err != nil {
		e.t.Fatal(err)
	}
}

// publishChunks publishes chunks of a job as the gateway does.
func (e *env) publishChunks(id string, cs ...streams.Chunk) {
	e.t.Helper()
	for _, c := range cs {
		e.publishMsg(streams.ChunkMsg(id, c))
	}
}

func (e *env) publishMsg(m *nats.Msg) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if _, err := e.js.PublishMsg(ctx, m); err != nil {
		e.t.Fatal(err)
	}
}

// storedEvents reads every event of a job stored in ATHENA_EVENTS now, in
// stream order.
func (e *env) storedEvents(id string) []core.Event {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	s, err := e.js.Stream(ctx, streams.StreamEvents)
	if err != nil {
		e.t.Fatal(err)
	}
	last, err := s.GetLastMsgForSubject(ctx, streams.EventSubject(id))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil
	}
	if err != nil {
		e.t.Fatal(err)
	}
	oc, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{streams.EventSubject(id)}})
	if err != nil {
		e.t.Fatal(err)
	}
	var evs []core.Event
	for {
		m, err := oc.Next(jetstream.FetchContext(ctx))
		if err != nil {
			e.t.Fatalf("reading events of %s: %v", id, err)
		}
		ev, err := streams.DecodeEvent(m.Data())
		if err != nil {
			e.t.Fatalf("stored event of %s: %v", id, err)
		}
		evs = append(evs, ev)
		md, _ := m.Metadata()
		if md.Sequence.Stream >= last.Sequence {
			return evs
		}
	}
}

// waitEvents polls the stored events of a job until done accepts them.
func (e *env) waitEvents(id, what string, done func([]core.Event) bool) []core.Event {
	e.t.Helper()
	var evs []core.Event
	testkit.WaitForNil(e.t, waitTimeout, what, func() error {
		evs = e.storedEvents(id)
		if done(evs) {
			return nil
		}
		return fmt.Errorf("%d events so far%s", len(evs), lastType(evs))
	})
	return evs
}

func lastType(evs []core.Event) string {
	if len(evs) == 0 {
		return ""
	}
	return ", the last a " + evs[len(evs)-1].Type
}

// ended reports whether the last event ends the job.
func ended(evs []core.Event) bool {
	if len(evs) == 0 {
		return false
	}
	last := evs[len(evs)-1]
	return last.Type == core.EventVerdict || (last.Type == core.EventError && last.Error.Code == CodeAborted)
}

// hasRule reports whether evs hold a finding of the patterns rule.
func hasRule(rule string) func([]core.Event) bool {
	return func(evs []core.Event) bool { return len(findingsOf(evs, rule)) > 0 }
}

// findingsOf returns the findings of a rule, or all findings if rule is "".
func findingsOf(evs []core.Event, rule string) []core.Finding {
	var out []core.Finding
	for _, ev := range evs {
		if ev.Finding != nil && (rule == "" || ev.Finding.Rule == rule) {
			out = append(out, *ev.Finding)
		}
	}
	return out
}

// checkSeqs checks that a job's stored events are numbered 1..n, each once,
// in order, and name the job.
func checkSeqs(t testing.TB, id string, evs []core.Event) {
	t.Helper()
	for i, ev := range evs {
		if ev.Seq != int64(i+1) || ev.Job != id {
			t.Fatalf("event %d: seq %d job %q, want seq %d job %q (events: %s)", i, ev.Seq, ev.Job, i+1, id, summary(evs))
		}
	}
}

// summary lists events briefly for failure messages.
func summary(evs []core.Event) string {
	var parts []string
	for _, ev := range evs {
		s := fmt.Sprintf("%d:%s", ev.Seq, ev.Type)
		switch {
		case ev.Finding != nil:
			s += "(" + ev.Finding.Module + "/" + ev.Finding.Kind + " " + ev.Finding.Rule + ")"
		case ev.Error != nil:
			s += "(" + ev.Error.Code + ")"
		case ev.Verdict != nil:
			s += "(" + ev.Verdict.Label + ")"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

// storedVerdict returns the verdict event stored on a file's verdict
// subject, if any.
func (e *env) storedVerdict(sha string) (core.Event, bool) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	s, err := e.js.Stream(ctx, streams.StreamVerdicts)
	if err != nil {
		e.t.Fatal(err)
	}
	m, err := s.GetLastMsgForSubject(ctx, streams.VerdictSubject(sha))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return core.Event{}, false
	}
	if err != nil {
		e.t.Fatal(err)
	}
	ev, err := streams.DecodeEvent(m.Data)
	if err != nil {
		e.t.Fatal(err)
	}
	return ev, true
}

// waitJobsAcked waits until the engines' consumer holds no job, pending or
// unacknowledged.
func (e *env) waitJobsAcked() {
	e.t.Helper()
	testkit.WaitForNil(e.t, waitTimeout, "every job acked", func() error {
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
		if info.NumPending != 0 || info.NumAckPending != 0 {
			return fmt.Errorf("%d pending, %d unacknowledged", info.NumPending, info.NumAckPending)
		}
		return nil
	})
}

// builtinRules is the built-in rule set as the engine setting the patterns
// module takes.
func builtinRules(t testing.TB) engine.Setting {
	t.Helper()
	set, err := rules.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	return engine.Setting{Kind: rules.Kind, Version: set.Version, Data: set.Plan}
}
