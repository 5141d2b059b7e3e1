// Package engine runs Athena's analyzer modules: WebAssembly reactors that
// speak the module ABI v1 (modules/README.md).
//
// An Engine loads every module in its directories once, compiles them with an
// on-disk compilation cache, pre-warms instances of the critical ones and
// loads the others on first use. A Job feeds one file's bytes, in order, to
// the modules that want the file; findings come back through the job's
// callback as they are found, and Finish returns the verdict.
//
// A module that traps, exits, panics, runs out of memory or misses its
// deadline fails only itself for that file: its instance is discarded, the
// job gets an analysis_failed finding and goes on with the other modules.
// The engine never imports the gateway; in a deployment it runs in its own
// process under a supervisor (internal/supervise).
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"athena/internal/cache"
	"athena/internal/manifest"

	"github.com/prometheus/client_golang/prometheus"
)

// Config configures an Engine. The zero value of each field means its
// documented default.
type Config struct {
	// ModuleDirs are trusted directories of built-in modules (*.wasm with a
	// manifest section), typically dist/modules.
	ModuleDirs []string
	// ExtraModuleDirs hold modules that are not built in. They always run
	// with deadlines enforced inside the call, whatever Runtime says.
	ExtraModuleDirs []string
	// CacheDir keeps compiled code between runs; empty disables the on-disk
	// cache (modules compile in memory at every start).
	CacheDir string
	// Runtime names the wasm runtime adapter (see Runtimes). Default "wazy".
	Runtime string
	// Interruptible enforces deadlines inside the call for built-in modules
	// too. The wazy runtime always does; with "wazero" it costs 2-9x per
	// module and 5-7x on tight loops (RATIONALE.md). Default true.
	Interruptible *bool
	// Concurrency is how many jobs may run at once; it bounds idle instances
	// kept per module. Default 4.
	Concurrency int
	// JobTimeout bounds the analysis time of one job: the time its guest
	// calls take, summed. Waiting for the next bytes does not count (a slow
	// upload is bounded by whoever feeds the job). Default 5 minutes.
	JobTimeout time.Duration
	// TypeModule is the module whose filetype finding decides which other
	// modules want the file. Default "filetype".
	TypeModule string
	// MaxFindings caps the findings relayed per module per file. Default 10,000.
	MaxFindings int
	// Logger receives engine and guest logs. Default slog.Default().
	Logger *slog.Logger
	// Registerer receives the engine's metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// MaxDepth bounds how deep children nest (a child of a child is at
	// depth 2). Default 8.
	MaxDepth int
	// MaxChildren bounds the children extracted from one top file, all
	// depths together. Default 1,000.
	MaxChildren int
	// MaxChildBytes caps one child; MaxExtractedBytes all the children of
	// one top file together. Defaults 256 MiB and 1 GiB.
	MaxChildBytes, MaxExtractedBytes int64
	// SpoolMemory is how many bytes of a file (for modules with file
	// access) or of a child are kept in memory before a temporary file in
	// SpoolDir (default the system's) takes over. Default 32 MiB.
	SpoolMemory int
	SpoolDir    string
	// NoDigests leaves the verdict's file digests (md5, sha1, sha256,
	// sha512) empty and saves computing them, which costs about as much
	// CPU as the pattern module: for callers that print only matches,
	// like `athena rules scan`.
	NoDigests bool
	// Only names the modules to run; empty runs every module found. A
	// name that no module has is an error.
	Only []string
	// Settings are the initial settings (see Setting), applied before
	// critical modules are pre-warmed. A module that takes a kind of
	// setting no one configured does not run until Configure gives one.
	Settings []Setting
	// ProfileLabels labels every guest call with pprof labels module
	// (its name), file ("top" or "child") and op (the export), and every
	// instantiation during a job with module and op "instantiate", so that
	// a CPU profile splits the time spent in guest code
	// (runtime._ExternalCode, which has no stack) by module: go tool pprof
	// -tags. A debugging aid that costs an allocation per call; off by
	// default.
	ProfileLabels bool
}

func (c *Config) setDefaults() {
	if c.Runtime == "" {
		c.Runtime = "wazy"
	}
	if c.Interruptible == nil {
		t := true
		c.Interruptible = &t
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 4
	}
	if c.JobTimeout <= 0 {
		c.JobTimeout = 5 * time.Minute
	}
	if c.TypeModule == "" {
		c.TypeModule = "filetype"
	}
	if c.MaxFindings <= 0 {
		c.MaxFindings = 10_000
	}
	if c.MaxDepth <= 0 {
		c.MaxDepth = 8
	}
	if c.MaxChildren <= 0 {
		c.MaxChildren = 1000
	}
	if c.MaxChildBytes <= 0 {
		c.MaxChildBytes = 256 << 20
	}
	if c.MaxExtractedBytes <= 0 {
		c.MaxExtractedBytes = 1 << 30
	}
	if c.SpoolMemory <= 0 {
		c.SpoolMemory = 32 << 20
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Engine runs jobs against a fixed set of modules. It is safe for concurrent
// use; Close it to free its runtimes.
type Engine struct {
	cfg     Config
	log     *slog.Logger
	m       *metrics
	modules []*module // type module first, then by name

	// settings is the current settings snapshot; configMu serialises
	// Configure.
	settings atomic.Pointer[settings]
	configMu sync.Mutex

	mu       sync.Mutex
	inflight map[*callWatch]struct{}
}

// New loads, compiles and pre-warms modules. It fails if a directory cannot
// be read, a module is invalid, two modules share a name, or a critical
// module cannot be compiled and instantiated.
func New(ctx context.Context, cfg Config) (*Engine, error) {
	cfg.setDefaults()
	newRT, err := lookupAdapter(cfg.Runtime)
	if err != nil {
		return nil, err
	}
	e := &Engine{cfg: cfg, log: cfg.Logger, m: newMetrics(cfg.Registerer), inflight: map[*callWatch]struct{}{}}
	initial := settings{}
	for _, s := range cfg.Settings {
		if s.Kind == "" || s.Version == "" {
			return nil, errors.New("engine: a setting needs a kind and a version")
		}
		initial[s.Kind] = &s
	}
	e.settings.Store(&initial)
	byName := map[string]*module{}
	load := func(dir string, trusted bool) error {
		paths, err := filepath.Glob(filepath.Join(dir, "*.wasm"))
		if err != nil {
			return err
		}
		if _, err := os.Stat(dir); err != nil {
			return fmt.Errorf("engine: module directory: %w", err)
		}
		for _, p := range paths {
			md, err := e.loadModule(p, trusted, newRT)
			if err != nil {
				return err
			}
			if len(cfg.Only) > 0 && !slices.Contains(cfg.Only, md.man.Name) {
				continue
			}
			if prev, dup := byName[md.man.Name]; dup {
				return fmt.Errorf("engine: module %q defined twice (%s and %s)", md.man.Name, prev.path, md.path)
			}
			byName[md.man.Name] = md
			e.modules = append(e.modules, md)
		}
		return nil
	}
	for _, d := range cfg.ModuleDirs {
		if err := load(d, true); err != nil {
			return nil, err
		}
	}
	for _, d := range cfg.ExtraModuleDirs {
		if err := load(d, false); err != nil {
			return nil, err
		}
	}
	for _, name := range cfg.Only {
		if byName[name] == nil {
			return nil, fmt.Errorf("engine: no module named %q", name)
		}
	}
	slices.SortFunc(e.modules, func(a, b *module) int {
		if (a.man.Name == cfg.TypeModule) != (b.man.Name == cfg.TypeModule) {
			if a.man.Name == cfg.TypeModule {
				return -1
			}
			return 1
		}
		return strings.Compare(a.man.Name, b.man.Name)
	})
	for _, md := range e.modules {
		if md.unconfigured(e.current()) {
			e.log.Warn("module takes a setting no one configured: it runs once one is", "module", md.man.Name, "kind", md.man.Config)
			continue
		}
		if !md.man.Critical {
			continue
		}
		if err := md.prewarm(ctx); err != nil {
			e.Close(ctx)
			return nil, err
		}
	}
	return e, nil
}

// WarmUp compiles (or loads from the compilation cache) the modules New
// left for their first job, the ones that are not critical, and makes
// their pre-warmed instances, so that the first files after start-up do
// not wait for them: loading the file processor from the cache took its
// first job 50 to 70 ms, compiling it without a cache about 8 CPU-seconds
// (BENCHMARKS.md). A long-running engine calls it once it is ready; it
// runs beside jobs, stops at ctx's end or Close, and returns the first
// error.
func (e *Engine) WarmUp(ctx context.Context) error {
	for _, md := range e.modules {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if md.man.Critical || !md.unused() || md.unconfigured(e.current()) {
			continue
		}
		if err := md.prewarm(ctx); err != nil {
			return fmt.Errorf("engine: warm up %s: %w", md.man.Name, err)
		}
	}
	return nil
}

func (e *Engine) loadModule(path string, trusted bool, newRT adapter) (*module, error) {
	wasm, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	raw, err := manifest.Read(wasm)
	if err != nil {
		return nil, fmt.Errorf("engine: %s: %w", path, err)
	}
	man, err := manifest.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("engine: %s: %w", path, err)
	}
	return &module{
		e:       e,
		man:     man,
		path:    path,
		size:    len(wasm),
		wasm:    wasm,
		trusted: trusted,
		rtCfg: runtimeConfig{
			memoryPages:   uint32(man.Limits.MemoryMiB) * 16,
			interruptible: !trusted || *e.cfg.Interruptible,
			cacheDir:      e.cfg.CacheDir,
		},
		newRT:   newRT,
		log:     e.log.With("module", man.Name, "path", path),
		m:       e.m,
		maxIdle: max(man.Prewarm, e.cfg.Concurrency),
	}, nil
}

// Modules describes the loaded modules, type module first.
func (e *Engine) Modules() []ModuleInfo {
	out := make([]ModuleInfo, len(e.modules))
	for i, md := range e.modules {
		out[i] = md.info()
	}
	return out
}

// scoringVersion names the rule that turns findings into a verdict
// (core.VerdictFrom). Change it whenever that rule changes: it is part of
// the pipeline fingerprint, so cached verdicts of the old rule stop being
// served.
const scoringVersion = "interim-1"

// Pipeline describes what decides the verdicts of jobs that start now
// besides the file: the modules with their manifest versions, the current
// settings' versions (the "rules" one as RuleSet), and the options that
// change results (the type module, the findings cap, the scoring rule).
// Options that only bound time or memory are left out: a job they cut short
// ends with a partial verdict, which is never cached. Its Fingerprint keys
// the verdict cache and is announced in presence heartbeats. A job's own is
// Job.Pipeline.
func (e *Engine) Pipeline() cache.Pipeline { return e.pipeline(e.current()) }

func (e *Engine) pipeline(ss settings) cache.Pipeline {
	p := cache.Pipeline{
		Modules: make([]cache.Module, len(e.modules)),
		Config: map[string]string{
			"type_module":  e.cfg.TypeModule,
			"max_findings": fmt.Sprint(e.cfg.MaxFindings),
			"max_depth":    fmt.Sprint(e.cfg.MaxDepth),
			"scoring":      scoringVersion,
		},
	}
	for i, md := range e.modules {
		p.Modules[i] = cache.Module{Name: md.man.Name, Version: md.man.Version}
	}
	for kind, s := range ss {
		if kind == "rules" {
			p.RuleSet = s.Version
		} else {
			p.Config["setting."+kind] = s.Version
		}
	}
	return p
}

// Close frees every instance and runtime. Jobs still running fail.
func (e *Engine) Close(ctx context.Context) error {
	var errs []error
	for _, md := range e.modules {
		errs = append(errs, md.close(ctx))
	}
	return errors.Join(errs...)
}

// callWatch records a guest call in progress, for Healthy.
type callWatch struct {
	deadline time.Time
}

func (e *Engine) watch(deadline time.Time) *callWatch {
	w := &callWatch{deadline: deadline}
	e.mu.Lock()
	e.inflight[w] = struct{}{}
	e.mu.Unlock()
	return w
}

func (e *Engine) unwatch(w *callWatch) {
	e.mu.Lock()
	delete(e.inflight, w)
	e.mu.Unlock()
}

// StuckGrace is how long past its deadline a guest call may run before the
// engine reports itself unhealthy.
const StuckGrace = 2 * time.Second

// Healthy reports whether every guest call in progress is within its
// deadline plus StuckGrace. A call past that is a runaway guest the runtime
// could not interrupt; the supervisor should kill the process.
func (e *Engine) Healthy() (bool, string) {
	now := time.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	for w := range e.inflight {
		if over := now.Sub(w.deadline); over > StuckGrace {
			return false, fmt.Sprintf("guest call %s past its deadline", over.Round(time.Millisecond))
		}
	}
	return true, fmt.Sprintf("%d calls in flight", len(e.inflight))
}
