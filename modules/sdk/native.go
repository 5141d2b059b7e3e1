//go:build !wasip1

package sdk

// FindAtoms is nil outside wasm: a native build of a module has no host to
// ask, and runs its own loop.
var FindAtoms func(filter, data []byte, n int, out []uint32) ([]uint32, int)
