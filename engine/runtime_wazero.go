package engine

//go:generate sh gen_wazy.sh

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"
)

func init() { adapters["wazero"] = newWazero }

type wazeroRuntime struct {
	rt    wazero.Runtime
	cache wazero.CompilationCache
}

func newWazero(ctx context.Context, cfg runtimeConfig) (wasmRuntime, error) {
	rc := wazero.NewRuntimeConfigCompiler().WithMemoryLimitPages(cfg.memoryPages)
	rc = rc.WithCloseOnContextDone(cfg.interruptible) // wazy: always interruptible
	var cache wazero.CompilationCache
	if cfg.cacheDir != "" {
		c, err := wazero.NewCompilationCacheWithDir(cfg.cacheDir)
		if err != nil {
			return nil, fmt.Errorf("engine: compilation cache %s: %w", cfg.cacheDir, err)
		}
		cache = c
		rc = rc.WithCompilationCache(c)
	}
	rt := wazero.NewRuntimeWithConfig(ctx, rc)
	r := &wazeroRuntime{rt: rt, cache: cache}
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		r.close(ctx)
		return nil, fmt.Errorf("engine: wasi: %w", err)
	}
	i32, i64 := api.ValueTypeI32, api.ValueTypeI64
	_, err := rt.NewHostModuleBuilder("athena").
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(wazeroEmit), []api.ValueType{i32, i32}, nil).
		WithParameterNames("ptr", "len").
		Export("emit").
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(wazeroReadAt), []api.ValueType{i64, i32, i32}, []api.ValueType{i32}).
		WithParameterNames("offset", "ptr", "len").
		Export("read_at").
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(wazeroChildBegin), []api.ValueType{i32, i32}, []api.ValueType{i32}).
		WithParameterNames("name_ptr", "name_len").
		Export("child_begin").
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(wazeroChildWrite), []api.ValueType{i32, i32}, []api.ValueType{i32}).
		WithParameterNames("ptr", "len").
		Export("child_write").
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(wazeroChildEnd), nil, []api.ValueType{i32}).
		Export("child_end").
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(wazeroFilterFind), []api.ValueType{i32, i32, i32, i32, i32, i32, i32}, []api.ValueType{i64}).
		WithParameterNames("filter_ptr", "filter_len", "data_ptr", "data_len", "n", "out_ptr", "out_cap").
		Export("filter_find").
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(wazeroByteCounts), []api.ValueType{i32, i32, i32}, []api.ValueType{i32}).
		WithParameterNames("data_ptr", "data_len", "counts_ptr").
		Export("byte_counts").
		Instantiate(ctx)
	if err != nil {
		r.close(ctx)
		return nil, fmt.Errorf("engine: host module: %w", err)
	}
	return r, nil
}

func wazeroEmit(ctx context.Context, m api.Module, stack []uint64) {
	raw, ok := m.Memory().Read(api.DecodeU32(stack[0]), api.DecodeU32(stack[1]))
	deliver(ctx, raw, ok)
}

// The file-access imports answer -1 (read_at) or childBadState when the
// call has no files (a module that did not ask for them) or the guest
// passed a range outside its memory.

// wazeroFiles runs f with the call's files and the guest bytes at (ptr,
// n), or returns bad.
func wazeroFiles(ctx context.Context, m api.Module, ptr, n uint64, bad int32, f func(files, []byte) int32) uint64 {
	fs := filesOf(ctx)
	b, ok := m.Memory().Read(api.DecodeU32(ptr), api.DecodeU32(n))
	if fs == nil || !ok {
		return api.EncodeI32(bad)
	}
	return api.EncodeI32(f(fs, b))
}

func wazeroReadAt(ctx context.Context, m api.Module, stack []uint64) {
	off := int64(stack[0])
	stack[0] = wazeroFiles(ctx, m, stack[1], stack[2], -1, func(fs files, p []byte) int32 { return fs.readAt(p, off) })
}

func wazeroChildBegin(ctx context.Context, m api.Module, stack []uint64) {
	stack[0] = wazeroFiles(ctx, m, stack[0], stack[1], childBadState, files.childBegin)
}

func wazeroChildWrite(ctx context.Context, m api.Module, stack []uint64) {
	stack[0] = wazeroFiles(ctx, m, stack[0], stack[1], childBadState, files.childWrite)
}

func wazeroChildEnd(ctx context.Context, m api.Module, stack []uint64) {
	stack[0] = wazeroFiles(ctx, m, 0, 0, childBadState, func(fs files, _ []byte) int32 { return fs.childEnd() })
}

func wazeroFilterFind(_ context.Context, m api.Module, stack []uint64) {
	var a [7]uint32
	for i := range a {
		a[i] = api.DecodeU32(stack[i])
	}
	stack[0] = uint64(filterFind(m.Memory().Read, a[0], a[1], a[2], a[3], a[4], a[5], a[6]))
}

func wazeroByteCounts(_ context.Context, m api.Module, stack []uint64) {
	stack[0] = api.EncodeI32(byteCounts(m.Memory().Read, api.DecodeU32(stack[0]), api.DecodeU32(stack[1]), api.DecodeU32(stack[2])))
}

func (r *wazeroRuntime) compile(ctx context.Context, wasm []byte) (wasmCode, error) {
	code, err := r.rt.CompileModule(ctx, wasm)
	if err != nil {
		return nil, err
	}
	return &wazeroCode{rt: r.rt, code: code}, nil
}

func (r *wazeroRuntime) close(ctx context.Context) error {
	err := r.rt.Close(ctx)
	if r.cache != nil {
		r.cache.Close(ctx)
	}
	return err
}

// wazeroAllocator backs every instance's memory with a linearMemory.
var wazeroAllocator = experimental.MemoryAllocatorFunc(func(capacity, max uint64) experimental.LinearMemory {
	return newLinearMemory(capacity, max)
})

type wazeroCode struct {
	rt   wazero.Runtime
	code wazero.CompiledModule
}

func (c *wazeroCode) instantiate(ctx context.Context, stderr io.Writer) (wasmInstance, error) {
	mc := wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions("_initialize").
		WithStderr(stderr)
	mod, err := c.rt.InstantiateModule(experimental.WithMemoryAllocator(ctx, wazeroAllocator), c.code, mc)
	if err != nil {
		return nil, err
	}
	return &wazeroInstance{mod: mod, fns: map[string]api.Function{}, stack: make([]uint64, 4)}, nil
}

type wazeroInstance struct {
	mod   api.Module
	fns   map[string]api.Function
	stack []uint64
}

func (i *wazeroInstance) call(ctx context.Context, export string, args ...uint32) (uint32, error) {
	fn := i.fns[export]
	if fn == nil {
		if fn = i.mod.ExportedFunction(export); fn == nil {
			return 0, fmt.Errorf("export %q missing", export)
		}
		i.fns[export] = fn
	}
	for n, a := range args {
		i.stack[n] = api.EncodeU32(a)
	}
	if err := fn.CallWithStack(ctx, i.stack); err != nil {
		var exit *sys.ExitError
		if errors.As(err, &exit) && ctx.Err() == nil {
			return 0, &exitError{code: exit.ExitCode()}
		}
		return 0, err
	}
	return api.DecodeU32(i.stack[0]), nil
}

func (i *wazeroInstance) write(ptr uint32, b []byte) error {
	if !i.mod.Memory().Write(ptr, b) {
		return fmt.Errorf("write of %d bytes at %#x is out of guest memory", len(b), ptr)
	}
	return nil
}

func (i *wazeroInstance) memoryBytes() uint64 { return uint64(i.mod.Memory().Size()) }

func (i *wazeroInstance) close(ctx context.Context) error { return i.mod.Close(ctx) }
