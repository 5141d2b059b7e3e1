package engine

import (
	"context"
	"fmt"
	"io"
	"sort"
)

// The engine reaches WebAssembly only through the three small interfaces in
// this file, so the runtime behind them is one choice among adapters
// (RATIONALE.md, "The wasm runtime").

// runtimeConfig is what an adapter needs to build a runtime for one module.
type runtimeConfig struct {
	// memoryPages caps each instance's linear memory (64 KiB pages).
	memoryPages uint32
	// interruptible makes a call's context deadline end the call even while
	// the guest runs a tight loop. Without it only the process watchdog can
	// stop a runaway guest.
	interruptible bool
	// cacheDir holds compiled code between runs; empty means memory only.
	cacheDir string
}

// wasmRuntime compiles modules. One runtime serves one module, because
// memory limits are per runtime in the adapters we use.
type wasmRuntime interface {
	compile(ctx context.Context, wasm []byte) (wasmCode, error)
	close(ctx context.Context) error
}

// wasmCode is a compiled module that instantiates cheaply.
type wasmCode interface {
	// instantiate runs _initialize. Guest stderr goes to stderr. Findings the
	// guest emits during a later call reach the sink in that call's context
	// (withSink).
	instantiate(ctx context.Context, stderr io.Writer) (wasmInstance, error)
}

// wasmInstance is one instance of a module. It is not safe for concurrent use.
type wasmInstance interface {
	// call invokes an export with i32 arguments and one i32 result.
	call(ctx context.Context, export string, args ...uint32) (uint32, error)
	// write copies b into guest memory at ptr.
	write(ptr uint32, b []byte) error
	// memoryBytes is the current size of linear memory.
	memoryBytes() uint64
	close(ctx context.Context) error
}

// adapter builds runtimes of one implementation.
type adapter func(ctx context.Context, cfg runtimeConfig) (wasmRuntime, error)

var adapters = map[string]adapter{}

// Runtimes lists the names of the wasm runtimes compiled in.
func Runtimes() []string {
	names := make([]string, 0, len(adapters))
	for n := range adapters {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func lookupAdapter(name string) (adapter, error) {
	a, ok := adapters[name]
	if !ok {
		return nil, fmt.Errorf("engine: unknown wasm runtime %q (have %v)", name, Runtimes())
	}
	return a, nil
}

type sinkKey struct{}

// withSink returns a context whose guest calls deliver emitted findings
// (raw JSON, valid only during the callback) to sink.
func withSink(ctx context.Context, sink func(raw []byte)) context.Context {
	return context.WithValue(ctx, sinkKey{}, sink)
}

// maxEmit bounds one finding's JSON; larger ones fail the module.
const maxEmit = 64 << 10

// deliver hands bytes the guest emitted to the sink of ctx. It copies nothing
// itself; sinks copy what they keep.
func deliver(ctx context.Context, raw []byte, ok bool) {
	sink, _ := ctx.Value(sinkKey{}).(func([]byte))
	if sink == nil {
		return
	}
	if !ok || len(raw) > maxEmit {
		sink(nil) // the sink reports the bad finding
		return
	}
	sink(raw)
}

// exitError is a guest that called proc_exit (a Go guest does on a fatal
// error or an unrecovered panic). Adapters return it for their own types.
type exitError struct{ code uint32 }

func (e *exitError) Error() string { return fmt.Sprintf("guest exited with code %d", e.code) }

// files is what the file-access imports of ABI v1.2 reach during a call:
// random reads of the bytes received so far and extracted children.
type files interface {
	// readAt fills p from offset off of the file; it returns the bytes
	// read, or -1 when the module may not read the file or off is outside
	// what has arrived.
	readAt(p []byte, off int64) int32
	// childBegin, childWrite and childEnd stream one child; each returns
	// an import status (childOK, childRefused, childBadState).
	childBegin(name []byte) int32
	childWrite(b []byte) int32
	childEnd() int32
}

// Statuses of the child imports (modules/README.md).
const (
	childOK       = 0
	childRefused  = 1 // a budget is spent: stop sending this child (and usually all)
	childBadState = 3 // out of order, or the module may not extract children
)

type filesKey struct{}

// withFiles returns a context whose guest calls reach f through the
// file-access imports.
func withFiles(ctx context.Context, f files) context.Context {
	return context.WithValue(ctx, filesKey{}, f)
}

func filesOf(ctx context.Context) files {
	f, _ := ctx.Value(filesKey{}).(files)
	return f
}
