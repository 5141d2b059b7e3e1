package engine

import (
	"bytes"
	"log/slog"
	"sync"
)

// maxLogLine bounds one logged line of guest stderr; longer lines are split.
const maxLogLine = 4 << 10

// guestLog turns a guest's stderr into structured log records, one per line.
type guestLog struct {
	log *slog.Logger
	mu  sync.Mutex
	buf []byte
	oom bool // the guest said it ran out of memory
}

func (g *guestLog) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.buf = append(g.buf, p...)
	for {
		i := bytes.IndexByte(g.buf, '\n')
		if i < 0 && len(g.buf) < maxLogLine {
			break
		}
		if i < 0 || i > maxLogLine {
			i = maxLogLine
		}
		g.line(g.buf[:i])
		g.buf = g.buf[min(i+1, len(g.buf)):]
	}
	return len(p), nil
}

// flush logs a trailing line without a newline.
func (g *guestLog) flush() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.buf) > 0 {
		g.line(g.buf)
		g.buf = nil
	}
}

func (g *guestLog) line(b []byte) {
	g.oom = g.oom || bytes.Contains(b, []byte("out of memory"))
	g.log.Warn("guest stderr", "line", string(b))
}

// outOfMemory reports whether the guest wrote "out of memory" on stderr, as
// Go's runtime does before it aborts.
func (g *guestLog) outOfMemory() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.oom || bytes.Contains(g.buf, []byte("out of memory"))
}
