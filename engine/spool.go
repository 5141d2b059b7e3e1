package engine

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// spool keeps bytes for random access: in memory up to a limit, then in a
// temporary file that close always removes. Jobs spool a file for modules
// that read it at random (module ABI v1.2 read_at), and every extracted
// child until it is analysed. Each is counted in its kind's spoolStats
// until close.
type spool struct {
	mem   []byte
	limit int    // bytes kept in memory before the file takes over
	dir   string // where the temporary file goes; "" is os.TempDir
	f     *os.File
	size  int64
	err   error // the first write error: the spool is then unusable
	stats *spoolStats
}

func newSpool(limit int, dir string, stats *spoolStats) *spool {
	stats.spools.Inc()
	return &spool{limit: limit, dir: dir, stats: stats}
}

// spoolStats counts the spools of one kind (a file kept for random access,
// or extracted children waiting for analysis) and the bytes they hold,
// for the metrics and, as the peak of bytes held at once, for tests and
// benchmarks.
type spoolStats struct {
	spools, bytes prometheus.Gauge
	held, peak    atomic.Int64
}

func (st *spoolStats) add(n int64) {
	st.bytes.Add(float64(n))
	v := st.held.Add(n)
	for p := st.peak.Load(); v > p && !st.peak.CompareAndSwap(p, v); p = st.peak.Load() {
	}
}

// Write appends b. A spool that failed to write keeps failing.
func (s *spool) Write(b []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if s.f == nil && len(s.mem)+len(b) <= s.limit {
		s.mem = append(s.mem, b...)
		s.size += int64(len(b))
		s.stats.add(int64(len(b)))
		return len(b), nil
	}
	if s.f == nil {
		f, err := os.CreateTemp(s.dir, "athena-spool-*")
		if err != nil {
			s.err = fmt.Errorf("spool: %w", err)
			return 0, s.err
		}
		s.f = f
		if _, err := f.Write(s.mem); err != nil {
			s.err = fmt.Errorf("spool: %w", err)
			return 0, s.err
		}
		s.mem = nil
	}
	n, err := s.f.Write(b)
	s.size += int64(n)
	s.stats.add(int64(n))
	if err != nil {
		s.err = fmt.Errorf("spool: %w", err)
	}
	return n, s.err
}

// ReadAt reads what was written; reads past the end return io.EOF.
func (s *spool) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("spool: negative offset")
	}
	if s.err != nil {
		return 0, s.err
	}
	if off >= s.size {
		return 0, io.EOF
	}
	want := len(p)
	if rest := s.size - off; int64(want) > rest {
		p = p[:rest]
	}
	var n int
	var err error
	if s.f == nil {
		n = copy(p, s.mem[off:])
	} else {
		n, err = s.f.ReadAt(p, off)
	}
	if err == nil && n < want {
		err = io.EOF
	}
	return n, err
}

// Size is the number of bytes written.
func (s *spool) Size() int64 { return s.size }

// Reader reads the spool from the start.
func (s *spool) Reader() io.Reader { return io.NewSectionReader(s, 0, s.size) }

// close frees the memory and removes the temporary file.
func (s *spool) close() {
	if s.stats != nil {
		s.stats.spools.Dec()
		s.stats.add(-s.size)
		s.stats = nil
	}
	s.mem = nil
	if s.f != nil {
		s.f.Close()
		os.Remove(s.f.Name())
		s.f = nil
	}
	if s.err == nil {
		s.err = errors.New("spool: closed")
	}
}
