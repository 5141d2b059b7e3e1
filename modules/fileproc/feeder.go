package fileproc

import (
	"errors"
	"io"
)

// errStopped ends the reads of an extraction the host abandoned (it began
// another file without finishing this one).
var errStopped = errors.New("fileproc: extraction stopped")

// feeder turns the chunks Feed receives into an io.Reader for a parser
// running on its own goroutine, one chunk at a time and in lockstep: push
// hands a chunk over and returns once the parser has copied all of it and
// waits for more (or has ended), so the parser never holds a chunk the
// host may overwrite, and runs only inside the module's own calls.
//
// The protocol: the parser goroutine signals on back whenever it needs
// input (and once when it ends); push and end wait for that signal.
type feeder struct {
	in   chan []byte   // chunks to the parser; closed at the end of the file
	back chan struct{} // the parser needs more, or has ended
	cur  []byte        // the part of the chunk not read yet
	eof  bool          // in is closed
	err  error         // what reads return once eof (io.EOF or errStopped)
	done bool          // the parser goroutine has ended
	read int64         // bytes the parser has read
}

func newFeeder() *feeder {
	return &feeder{in: make(chan []byte), back: make(chan struct{}), err: io.EOF}
}

// start runs parse on a goroutine and returns once it asks for input (or
// has ended without).
func (f *feeder) start(parse func()) {
	go func() {
		defer func() {
			f.done = true
			f.back <- struct{}{}
		}()
		parse()
	}()
	<-f.back
}

// Read is the parser's side. It fills p unless the file ends first, so
// the parser sees the same reads however the file was chunked, and what
// it finds does not depend on the chunking (modules/README.md).
func (f *feeder) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(f.cur) == 0 {
			if f.eof {
				if n > 0 {
					return n, nil
				}
				return 0, f.err
			}
			f.back <- struct{}{} // the chunk is used up: push may return
			c, ok := <-f.in
			if !ok {
				f.eof = true
				continue
			}
			f.cur = c
		}
		k := copy(p[n:], f.cur)
		f.cur = f.cur[k:]
		n += k
	}
	f.read += int64(n)
	return n, nil
}

// push hands chunk to the parser and returns once it has read all of it
// or ended. It reports whether the parser still wants input.
func (f *feeder) push(chunk []byte) bool {
	if f.done {
		return false
	}
	if len(chunk) == 0 {
		return true
	}
	f.in <- chunk
	<-f.back
	return !f.done
}

// end tells the parser the file is complete and waits for it to finish.
func (f *feeder) end() { f.close(io.EOF) }

// stop makes the parser's reads fail with errStopped and waits for it to end.
func (f *feeder) stop() { f.close(errStopped) }

func (f *feeder) close(err error) {
	if f.done {
		return
	}
	f.err = err
	close(f.in)
	<-f.back
}
