package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"athena/internal/core"
)

// candidate is one way to enforce deadlines inside guest calls
// (RATIONALE.md, "The wasm runtime and deadlines inside guest calls").
type candidate struct {
	name          string
	runtime       string // adapter name
	interruptible bool
}

var candidates = []candidate{
	// wazero with WithCloseOnContextDone(true): a deadline ends the call.
	{name: "wazero-safe", runtime: "wazero", interruptible: true},
	// wazero without it: a call runs to its end; the watchdog (Healthy)
	// reports one stuck past its deadline and the supervisor kills the process.
	{name: "wazero-fast", runtime: "wazero", interruptible: false},
	// the wazy fork: always interruptible.
	{name: "wazy", runtime: "wazy", interruptible: true},
}

// config returns an engine configuration that uses the candidate for the
// built-in modules in dirs.
func (c candidate) config(dirs ...string) Config {
	interruptible := c.interruptible
	return Config{ModuleDirs: dirs, Runtime: c.runtime, Interruptible: &interruptible}
}

// moduleNamed returns the engine's module called name.
func moduleNamed(tb testing.TB, e *Engine, name string) *module {
	tb.Helper()
	for _, md := range e.modules {
		if md.man.Name == name {
			return md
		}
	}
	tb.Fatalf("no module %q", name)
	return nil
}

// guest drives one module instance directly, without a job, for
// measurements that need to control single calls.
type guest struct {
	md *module
	in *instance
}

func newGuest(tb testing.TB, e *Engine, name string) *guest {
	tb.Helper()
	md := moduleNamed(tb, e, name)
	in, err := md.get(context.Background(), md.setting())
	if err != nil {
		tb.Fatalf("instance of %s: %v", name, err)
	}
	return &guest{md: md, in: in}
}

// call runs export as a job would; arg goes through the transfer buffer for
// begin and feed.
func (g *guest) call(ctx context.Context, export string, arg []byte) (uint32, error) {
	if export == "finish" {
		return g.in.w.call(ctx, export)
	}
	ptr, err := g.md.writeBuf(ctx, g.in, arg)
	if err != nil {
		return 0, err
	}
	return g.in.w.call(ctx, export, ptr, uint32(len(arg)))
}

// mustCall runs export and fails unless it returns OK (or DONE from feed).
func (g *guest) mustCall(tb testing.TB, ctx context.Context, export string, arg []byte) {
	tb.Helper()
	status, err := g.call(ctx, export, arg)
	if err != nil || (status != statusOK && !(status == statusDone && export == "feed")) {
		tb.Fatalf("%s %s: status %d, error %v", g.md.man.Name, export, status, err)
	}
}

// begin starts a file of size bytes.
func (g *guest) begin(tb testing.TB, ctx context.Context, size int) {
	tb.Helper()
	meta, err := json.Marshal(core.FileMeta{Name: "bench.bin", Size: int64(size)})
	if err != nil {
		tb.Fatal(err)
	}
	g.mustCall(tb, ctx, "begin", meta)
}

// file analyses data in chunks of chunk bytes.
func (g *guest) file(tb testing.TB, ctx context.Context, data []byte, chunk int) {
	tb.Helper()
	g.begin(tb, ctx, len(data))
	for len(data) > 0 {
		n := min(chunk, len(data))
		g.mustCall(tb, ctx, "feed", data[:n])
		data = data[n:]
	}
	g.mustCall(tb, ctx, "finish", nil)
}

// release returns a healthy instance to the pool; discard drops one whose
// call failed.
func (g *guest) release() { g.md.put(g.in) }
func (g *guest) discard() { g.md.discard(g.in, "test") }

// busyArg is a chunk that makes the chaos guest loop n times.
func busyArg(n int64) []byte { return fmt.Appendf(nil, "BUSY%d", n) }

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/1e6) }

// stopBusy ends a BUSY loop the chaos guest runs on the chunk it was fed
// last: the loop checks the marker's first byte, at the start of the
// transfer buffer, at every iteration.
func (g *guest) stopBusy() error { return g.in.w.write(g.in.buf, []byte{'b'}) }

// busyRate measures the chaos guest's BUSY loop in iterations per second:
// the best of three runs of at least minTime, since a noisy machine only
// ever makes it look slower. The guest must be in a file (after begin).
func busyRate(tb testing.TB, g *guest, minTime time.Duration) float64 {
	tb.Helper()
	n := int64(1 << 18)
	best := 0.0
	for runs := 0; runs < 3; {
		start := time.Now()
		g.mustCall(tb, context.Background(), "feed", busyArg(n))
		took := time.Since(start)
		if took < minTime && n < 1<<40 {
			n *= 2
			continue
		}
		best = max(best, float64(n)/took.Seconds())
		runs++
	}
	return best
}

// TestDeadlineInsideCall checks that interruptible runtimes end a guest call
// in a tight loop within a second of its deadline, and that modules not
// built in get that whatever Config.Interruptible says. The BUSY loop is
// bounded and the host stops it at deadline + 1s, so no guest keeps
// spinning if interruption fails. Without interruption (wazero-fast) a call
// runs to its end: BenchmarkStuckCall checks that the watchdog reports it.
func TestDeadlineInsideCall(t *testing.T) {
	no := false
	tests := []struct {
		name string
		cfg  Config
	}{
		{name: "wazero-safe", cfg: candidates[0].config(chaosDir)},
		{name: "wazero, module not built in", cfg: Config{ExtraModuleDirs: []string{chaosDir}, Runtime: "wazero", Interruptible: &no}},
		{name: "wazy", cfg: candidates[2].config(chaosDir)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Concurrency = 1
			e := newEngine(t, tc.cfg)
			md := moduleNamed(t, e, "chaos")
			// A shorter deadline than the manifest's keeps the test fast.
			md.man.Limits.CallMillis = 50
			callTimeout := 50 * time.Millisecond
			// Calibrate on the prewarmed instance, then put it back: the job
			// below takes the same one, so g.in is the instance it runs.
			g := newGuest(t, e, "chaos")
			g.begin(t, t.Context(), 0)
			work := int64(busyRate(t, g, 20*time.Millisecond) * 3) // about 3 s
			g.release()
			// Calls in flight hold e.mu: stopping under it never writes to
			// an instance that a failed call has discarded.
			guard := time.AfterFunc(callTimeout+time.Second, func() {
				e.mu.Lock()
				defer e.mu.Unlock()
				if len(e.inflight) > 0 {
					g.stopBusy()
				}
			})
			defer guard.Stop()

			var events []core.Event
			j, err := e.NewJob(t.Context(), core.FileMeta{Name: "busy", Size: -1}, func(ev core.Event) { events = append(events, ev) })
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			j.Feed(busyArg(work))
			took := time.Since(start)
			j.Finish()
			t.Logf("call returned %s after its deadline", ms(took-callTimeout))
			if limit := callTimeout + time.Second; took > limit {
				t.Errorf("call took %v, want under its deadline plus 1s (%v)", took, limit)
			}
			got := findings(events, "chaos")
			if len(got) != 1 || got[0].Kind != core.KindAnalysisFailed || got[0].Detail["reason"] != "deadline" {
				t.Errorf("chaos findings = %+v, want one analysis_failed for the deadline", got)
			}
		})
	}
}

// TestHealthyReportsStuckCall checks the watchdog that candidates without
// interruption rely on: a call StuckGrace past its deadline makes the engine
// unhealthy until it returns.
func TestHealthyReportsStuckCall(t *testing.T) {
	e := newEngine(t, Config{})
	w := e.watch(time.Now().Add(-StuckGrace + time.Minute))
	if ok, info := e.Healthy(); !ok {
		t.Errorf("Healthy with a call before its deadline = false (%s), want true", info)
	}
	e.unwatch(w)
	w = e.watch(time.Now().Add(-StuckGrace - time.Millisecond))
	if ok, _ := e.Healthy(); ok {
		t.Errorf("Healthy with a call StuckGrace past its deadline = true, want false")
	}
	e.unwatch(w)
	if ok, info := e.Healthy(); !ok {
		t.Errorf("Healthy after the call returned = false (%s), want true", info)
	}
}
