package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/pprof"
	"sync"
	"time"

	"athena/internal/manifest"
)

// module is one loaded analyzer: its manifest, its runtime and a pool of
// ready instances. It is safe for concurrent use.
type module struct {
	e       *Engine
	man     manifest.Manifest
	path    string
	size    int
	wasm    []byte // kept until compiled
	trusted bool
	rtCfg   runtimeConfig
	newRT   adapter
	log     *slog.Logger
	m       *metrics

	mu       sync.Mutex
	rt       wasmRuntime
	code     wasmCode
	compiled time.Duration
	idle     []*instance
	maxIdle  int
	busy     int
	closed   bool
}

// instance is a module instance with its transfer buffer.
type instance struct {
	w      wasmInstance
	stderr *guestLog
	buf    uint32 // guest pointer returned by alloc
	bufLen uint32
	files  int
	st     *Setting // the setting it was configured with, if the module takes one
}

// ModuleInfo describes a loaded module for listings.
type ModuleInfo struct {
	manifest.Manifest
	Size     int           `json:"size"`
	Trusted  bool          `json:"trusted"`
	Compiled bool          `json:"compiled"`
	Compile  time.Duration `json:"compile_ns,omitempty"`
	Idle     int           `json:"idle"`
	Busy     int           `json:"busy"`
}

func (md *module) info() ModuleInfo {
	md.mu.Lock()
	defer md.mu.Unlock()
	return ModuleInfo{Manifest: md.man, Size: md.size, Trusted: md.trusted,
		Compiled: md.code != nil, Compile: md.compiled, Idle: len(md.idle), Busy: md.busy}
}

// compile compiles the module once; later calls return at once. The caller
// holds md.mu.
func (md *module) compileLocked(ctx context.Context) error {
	if md.code != nil {
		return nil
	}
	if md.closed {
		return errors.New("engine: closed")
	}
	start := time.Now()
	rt, err := md.newRT(ctx, md.rtCfg)
	if err != nil {
		return err
	}
	code, err := rt.compile(ctx, md.wasm)
	if err != nil {
		rt.close(ctx)
		return fmt.Errorf("engine: compile %s: %w", md.man.Name, err)
	}
	md.rt, md.code, md.wasm = rt, code, nil
	md.compiled = time.Since(start)
	md.m.compileSeconds.WithLabelValues(md.man.Name).Set(md.compiled.Seconds())
	return nil
}

// setting returns the current setting of the kind the module takes: nil
// when it takes none, or none is configured yet.
// unconfigured reports whether the module takes a setting it cannot run
// without and ss holds none: it is left out until one is configured.
func (md *module) unconfigured(ss settings) bool {
	return md.man.Config != "" && !md.man.ConfigOptional && ss[md.man.Config] == nil
}

func (md *module) setting() *Setting {
	if md.man.Config == "" {
		return nil
	}
	return md.e.current()[md.man.Config]
}

// newInstance instantiates the module (compiling it first if needed) and
// configures it with st when the module takes a setting.
func (md *module) newInstance(ctx context.Context, st *Setting) (*instance, error) {
	md.mu.Lock()
	err := md.compileLocked(ctx)
	code := md.code
	md.mu.Unlock()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	stderr := &guestLog{log: md.log}
	w, err := code.instantiate(ctx, stderr)
	if err != nil {
		stderr.flush()
		return nil, fmt.Errorf("engine: instantiate %s: %w", md.man.Name, err)
	}
	in := &instance{w: w, stderr: stderr, st: st}
	if st != nil {
		if err := md.configure(ctx, in, st); err != nil {
			md.closeInstance(in)
			return nil, fmt.Errorf("engine: configure %s with %s %s: %w", md.man.Name, st.Kind, st.Version, err)
		}
	}
	md.m.instantiateSeconds.WithLabelValues(md.man.Name).Observe(time.Since(start).Seconds())
	return in, nil
}

// prewarm fills the pool with the manifest's pre-warmed instances, at
// most one per job the engine runs at once.
func (md *module) prewarm(ctx context.Context) error {
	st := md.setting()
	for range min(md.man.Prewarm, md.e.cfg.Concurrency) {
		in, err := md.newInstance(ctx, st)
		if err != nil {
			return err
		}
		md.mu.Lock()
		closed := md.closed
		if !closed {
			md.idle = append(md.idle, in)
		}
		md.mu.Unlock()
		if closed { // Close ran meanwhile (WarmUp runs beside jobs)
			md.closeInstance(in)
			return errors.New("engine: closed")
		}
	}
	md.gauges()
	return nil
}

// unused reports whether the module has no instance yet, idle or busy.
func (md *module) unused() bool {
	md.mu.Lock()
	defer md.mu.Unlock()
	return len(md.idle) == 0 && md.busy == 0
}

// get takes an idle instance configured with st, or makes a new one. The
// caller owns it until put or discard.
func (md *module) get(ctx context.Context, st *Setting) (*instance, error) {
	md.mu.Lock()
	if md.closed {
		md.mu.Unlock()
		return nil, errors.New("engine: closed")
	}
	for i := len(md.idle) - 1; i >= 0; i-- {
		in := md.idle[i]
		if in.st != st {
			continue
		}
		md.idle = append(md.idle[:i], md.idle[i+1:]...)
		md.busy++
		md.mu.Unlock()
		md.gauges()
		return in, nil
	}
	md.busy++
	md.mu.Unlock()
	var in *instance
	var err error
	if md.e.cfg.ProfileLabels {
		pprof.Do(ctx, pprof.Labels("module", md.man.Name, "op", "instantiate"), func(ctx context.Context) {
			in, err = md.newInstance(ctx, st)
		})
	} else {
		in, err = md.newInstance(ctx, st)
	}
	if err != nil {
		md.mu.Lock()
		md.busy--
		md.mu.Unlock()
		return nil, err
	}
	md.gauges()
	return in, nil
}

// put returns a healthy instance after a file, recycling it when it has
// served its files or grown past the high-water mark.
func (md *module) put(in *instance) {
	in.files++
	reason := ""
	switch {
	case in.files >= md.man.Limits.FilesPerInstance:
		reason = "files"
	case in.w.memoryBytes() > uint64(md.man.Limits.HighWaterMiB)<<20:
		reason = "memory"
	case in.st != md.setting():
		reason = "setting"
	}
	md.mu.Lock()
	md.busy--
	keep := reason == "" && !md.closed && len(md.idle) < md.maxIdle
	if keep {
		md.idle = append(md.idle, in)
	}
	md.mu.Unlock()
	if !keep {
		if reason != "" {
			md.m.recycles.WithLabelValues(md.man.Name, reason).Inc()
		}
		md.closeInstance(in)
	}
	md.gauges()
}

// discard drops an instance that failed; it is never reused.
func (md *module) discard(in *instance, reason string) {
	md.m.failures.WithLabelValues(md.man.Name, reason).Inc()
	md.mu.Lock()
	md.busy--
	md.mu.Unlock()
	md.closeInstance(in)
	md.gauges()
}

// closeStale closes the idle instances configured with a setting that is
// no longer current.
func (md *module) closeStale() {
	cur := md.setting()
	md.mu.Lock()
	var stale []*instance
	keep := md.idle[:0]
	for _, in := range md.idle {
		if in.st == cur {
			keep = append(keep, in)
		} else {
			stale = append(stale, in)
		}
	}
	md.idle = keep
	md.mu.Unlock()
	for _, in := range stale {
		md.m.recycles.WithLabelValues(md.man.Name, "setting").Inc()
		md.closeInstance(in)
	}
}

func (md *module) closeInstance(in *instance) {
	in.w.close(context.Background())
	in.stderr.flush()
}

func (md *module) gauges() {
	md.mu.Lock()
	idle, busy := len(md.idle), md.busy
	md.mu.Unlock()
	md.m.instances.WithLabelValues(md.man.Name, "idle").Set(float64(idle))
	md.m.instances.WithLabelValues(md.man.Name, "busy").Set(float64(busy))
}

func (md *module) close(ctx context.Context) error {
	md.mu.Lock()
	md.closed = true
	idle := md.idle
	md.idle = nil
	rt := md.rt
	md.mu.Unlock()
	for _, in := range idle {
		md.closeInstance(in)
	}
	if rt != nil {
		return rt.close(ctx)
	}
	return nil
}

// writeBuf places b in the instance's transfer buffer, growing it with alloc
// when needed, and returns the guest pointer.
func (md *module) writeBuf(ctx context.Context, in *instance, b []byte) (uint32, error) {
	if uint32(len(b)) > in.bufLen || in.bufLen == 0 {
		size := max(uint32(len(b)), uint32(md.man.Limits.MaxFeed))
		ptr, err := in.w.call(ctx, "alloc", size)
		if err != nil {
			return 0, err
		}
		if ptr == 0 {
			return 0, fmt.Errorf("alloc(%d) returned a null pointer", size)
		}
		in.buf, in.bufLen = ptr, size
	}
	if err := in.w.write(in.buf, b); err != nil {
		return 0, err
	}
	return in.buf, nil
}
