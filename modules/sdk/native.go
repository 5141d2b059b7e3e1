//go:build !wasip1

package sdk

// FindAtoms and ByteCounts are nil outside wasm: a native build of a module
// has no host to ask, and runs its own loops.
var (
	FindAtoms  func(filter, data []byte, n int, out []uint32) ([]uint32, int)
	ByteCounts func(data []byte, counts *[256]uint32) bool
)
