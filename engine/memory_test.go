package engine

import (
	"bytes"
	"runtime"
	"testing"
)

// TestLinearMemory grows both kinds of backing: contents are kept, new
// bytes are zero, and a mapped memory refuses to pass its reservation.
func TestLinearMemory(t *testing.T) {
	const max = 1 << 20
	for _, m := range []*linearMemory{newLinearMemory(4096, max), {buf: make([]byte, 0, 4096)}} {
		b := m.Reallocate(4096)
		if len(b) != 4096 {
			t.Fatalf("mapped %v: len %d", m.mapped, len(b))
		}
		copy(b, "guest data")
		for _, size := range []uint64{8192, 65536, max} {
			b = m.Reallocate(size)
			if uint64(len(b)) != size || !bytes.HasPrefix(b, []byte("guest data")) {
				t.Fatalf("mapped %v: grown to %d: len %d, prefix %q", m.mapped, size, len(b), b[:10])
			}
			if bytes.ContainsFunc(b[10:], func(r rune) bool { return r != 0 }) {
				t.Fatalf("mapped %v: new bytes not zero at %d", m.mapped, size)
			}
		}
		if m.mapped && m.Reallocate(max+1) != nil {
			t.Fatal("mapped memory grew past its reservation")
		}
		m.Free()
	}
	if runtime.GOOS == "linux" && !newLinearMemory(0, max).mapped {
		t.Fatal("this platform maps guest memory (linux): reserve failed")
	}
}
