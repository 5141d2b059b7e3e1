//go:build wasip1

package sdk

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"unsafe"

	"athena/internal/core"
)

// The guest's single transfer buffer. It stays reachable from this global so
// the pointer alloc returns remains valid until the next alloc.
var transfer []byte

var (
	analyzer Analyzer
	inFile   bool
	done     bool
)

//go:wasmimport athena emit
func hostEmit(ptr unsafe.Pointer, n uint32)

func emit(f core.Finding) {
	b, err := json.Marshal(f)
	if err != nil {
		fmt.Fprintf(os.Stderr, "sdk: encode finding: %v\n", err)
		return
	}
	hostEmit(unsafe.Pointer(unsafe.SliceData(b)), uint32(len(b)))
}

//go:wasmexport alloc
func alloc(n uint32) unsafe.Pointer {
	if uint32(cap(transfer)) < n {
		transfer = make([]byte, n)
	}
	transfer = transfer[:n]
	if n == 0 {
		return nil
	}
	return unsafe.Pointer(unsafe.SliceData(transfer))
}

// guarded runs f and turns an error or a panic into a status code, logging
// the cause on stderr, which the host sends to its structured log.
func guarded(op string, f func() error) (status int32) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(os.Stderr, "sdk: %s panicked: %v\n%s", op, r, debug.Stack())
			status = StatusFailed
		}
	}()
	err := f()
	switch {
	case err == nil:
		return StatusOK
	case errors.Is(err, ErrDone):
		return StatusDone
	case errors.Is(err, ErrStream):
		return StatusStream
	default:
		fmt.Fprintf(os.Stderr, "sdk: %s: %v\n", op, err)
		return StatusFailed
	}
}

// view returns the guest bytes the host wrote at ptr, or false when the range
// is not inside the transfer buffer.
func view(ptr unsafe.Pointer, n uint32) ([]byte, bool) {
	if n == 0 {
		return nil, true
	}
	if ptr != unsafe.Pointer(unsafe.SliceData(transfer)) || n > uint32(len(transfer)) {
		return nil, false
	}
	return transfer[:n], true
}

// ensureAnalyzer builds the registered analyzer on first use.
func ensureAnalyzer() bool {
	if analyzer == nil {
		if factory == nil {
			fmt.Fprintln(os.Stderr, "sdk: no analyzer registered")
			return false
		}
		analyzer = factory(emit)
		if u, ok := analyzer.(FileUser); ok {
			u.UseFiles(hostFiles{})
		}
	}
	return true
}

//go:wasmimport athena read_at
func hostReadAt(off int64, ptr unsafe.Pointer, n uint32) int32

//go:wasmimport athena child_begin
func hostChildBegin(ptr unsafe.Pointer, n uint32) int32

//go:wasmimport athena child_write
func hostChildWrite(ptr unsafe.Pointer, n uint32) int32

//go:wasmimport athena child_end
func hostChildEnd() int32

// hostFiles is Files over the ABI v1.2 imports.
type hostFiles struct{}

func (hostFiles) ReadAt(p []byte, off int64) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n := hostReadAt(off, unsafe.Pointer(unsafe.SliceData(p)), uint32(len(p)))
	switch {
	case n < 0:
		return 0, fmt.Errorf("sdk: read_at(%d, %d) refused", off, len(p))
	case int(n) < len(p):
		return int(n), io.EOF
	}
	return int(n), nil
}

// childChunk is how much of a child goes to the host per child_write.
const childChunk = 64 << 10

func (hostFiles) Child(name string, r io.Reader) error {
	nb := []byte(name)
	if st := hostChildBegin(unsafe.Pointer(unsafe.SliceData(nb)), uint32(len(nb))); st != 0 {
		return ErrRefused
	}
	buf := make([]byte, childChunk)
	var werr error
	for werr == nil {
		n, err := r.Read(buf)
		if n > 0 && hostChildWrite(unsafe.Pointer(unsafe.SliceData(buf)), uint32(n)) != 0 {
			werr = ErrRefused
		}
		if err == io.EOF {
			break
		}
		if err != nil && werr == nil {
			werr = err
		}
	}
	hostChildEnd() // what arrived is analysed, even when cut short
	return werr
}

// configure hands the instance its setting (ABI v1.1), once, before the
// first begin. The setting-sized transfer buffer is dropped afterwards.
//
//go:wasmexport configure
func configure(ptr unsafe.Pointer, n uint32) int32 {
	raw, ok := view(ptr, n)
	if !ok {
		return StatusBadInput
	}
	defer func() { transfer = nil }()
	if inFile {
		return StatusBadState
	}
	if !ensureAnalyzer() {
		return StatusFailed
	}
	c, ok := analyzer.(Configurer)
	if !ok {
		fmt.Fprintln(os.Stderr, "sdk: configure: the analyzer takes no setting")
		return StatusFailed
	}
	return guarded("configure", func() error { return c.Configure(raw) })
}

//go:wasmexport begin
func begin(ptr unsafe.Pointer, n uint32) int32 {
	raw, ok := view(ptr, n)
	if !ok {
		return StatusBadInput
	}
	var meta core.FileMeta
	if err := json.Unmarshal(raw, &meta); err != nil {
		fmt.Fprintf(os.Stderr, "sdk: begin: bad metadata: %v\n", err)
		return StatusBadInput
	}
	if !ensureAnalyzer() {
		return StatusFailed
	}
	inFile, done = true, false
	return guarded("begin", func() error { return analyzer.Begin(meta) })
}

//go:wasmexport feed
func feed(ptr unsafe.Pointer, n uint32) int32 {
	if !inFile {
		return StatusBadState
	}
	if done {
		return StatusDone
	}
	chunk, ok := view(ptr, n)
	if !ok {
		return StatusBadInput
	}
	status := guarded("feed", func() error { return analyzer.Feed(chunk) })
	done = status == StatusDone
	return status
}

//go:wasmexport finish
func finish() int32 {
	if !inFile {
		return StatusBadState
	}
	inFile = false
	return guarded("finish", analyzer.Finish)
}

//go:wasmimport athena filter_find
func hostFilterFind(fptr unsafe.Pointer, flen uint32, dptr unsafe.Pointer, dlen, n uint32, optr unsafe.Pointer, ocap uint32) int64

// FindAtoms is internal/yara/atomfilter's Filter.Find over the filter's
// wire form, run by the host (ABI v1.4 filter_find). When the host refuses
// (it never should), it looks at nothing and returns 0: the caller then
// looks at the offsets itself.
func FindAtoms(filter, data []byte, n int, out []uint32) ([]uint32, int) {
	room := cap(out) - len(out)
	if len(filter) == 0 || len(data) == 0 || n <= 0 || room < 8 {
		return out, 0
	}
	free := out[len(out):cap(out)]
	r := hostFilterFind(unsafe.Pointer(unsafe.SliceData(filter)), uint32(len(filter)),
		unsafe.Pointer(unsafe.SliceData(data)), uint32(len(data)), uint32(min(n, len(data))),
		unsafe.Pointer(unsafe.SliceData(free)), uint32(room))
	count := int(uint32(r))
	if r < 0 || count > room {
		return out, 0
	}
	return out[:len(out)+count], int(r >> 32)
}

//go:wasmimport athena byte_counts
func hostByteCounts(dptr unsafe.Pointer, dlen uint32, cptr unsafe.Pointer) int32

// ByteCounts adds to counts how many bytes of each value data holds,
// counted by the host (ABI v1.5 byte_counts). It reports false, counts
// unchanged, when the host refused (it never should): the caller then
// counts itself.
func ByteCounts(data []byte, counts *[256]uint32) bool {
	if len(data) == 0 {
		return true
	}
	return hostByteCounts(unsafe.Pointer(unsafe.SliceData(data)), uint32(len(data)), unsafe.Pointer(counts)) == 0
}
