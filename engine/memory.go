package engine

// linearMemory backs a guest's linear memory outside the Go heap: its
// maximum size (the module's memory limit) is reserved as one anonymous
// mapping up front, and growing only exposes more of it. The runtimes'
// default backing is a Go slice that is reallocated and copied each time
// the guest grows its memory (doubling), which a freshly started Go guest
// does several times while its runtime and the module set up
// (RATIONALE.md, "Guest memory is mapped", has the measurements).
// Pages the guest never touches cost nothing; pages it does are zeroed by
// the kernel on first touch, and all of it is returned when the instance
// closes.
type linearMemory struct {
	buf    []byte // len is the reservation when mapped
	mapped bool
}

// newLinearMemory reserves max bytes, or, where the platform cannot map
// them, falls back to a Go slice of capacity bytes that grows by copying.
func newLinearMemory(capacity, max uint64) *linearMemory {
	if b, err := reserve(max); err == nil {
		return &linearMemory{buf: b, mapped: true}
	}
	return &linearMemory{buf: make([]byte, 0, min(capacity, max))}
}

// Reallocate returns the memory at size bytes, its contents kept and any
// new bytes zero; nil when size is past the reservation.
func (m *linearMemory) Reallocate(size uint64) []byte {
	if m.mapped {
		if size > uint64(len(m.buf)) {
			return nil
		}
		return m.buf[:size:size]
	}
	if size <= uint64(cap(m.buf)) {
		m.buf = m.buf[:size]
		return m.buf
	}
	grown := make([]byte, size, max(size, 2*uint64(cap(m.buf))))
	copy(grown, m.buf)
	m.buf = grown
	return m.buf
}

// Free returns the memory.
func (m *linearMemory) Free() {
	if m.mapped {
		release(m.buf)
	}
	m.buf = nil
}
