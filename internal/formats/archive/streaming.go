package archive

import (
	"bufio"
	"errors"
	"fmt"
	"io"

	"athena/internal/formats"
)

// Streamable reports whether ExtractStream reads format (a Detect result)
// in one pass: tar and the compressed streams (gzip, also multi-member,
// bzip2, xz, zstd). The others need random access (zip's central
// directory is at the end) and go through Extract.
func Streamable(format string) bool {
	switch format {
	case "tar", "gzip", "bzip2", "xz", "zstd":
		return true
	}
	return false
}

// ExtractStream extracts a Streamable container from r in one pass, as its
// bytes arrive: each member is a child as soon as its header is read, and
// its bytes flow to the sink while r delivers them. size reports the
// container's size as known so far (the bytes received, or the declared
// size when larger); it stands for the compressed size in the expansion
// ratio, so the ratio is never looser than Extract's with the final size.
//
// A compressed stream whose decoded bytes start with a tar header is
// extracted as one container (a tar.gz gives the tar's members, not a
// "data" child holding the tar), with the budgets Extract and a second
// Extract of the decoded layer would apply: the layer counts as one member
// of m with its bytes and its ratio, and the tar's members are counted
// against a fresh Meter of m's Budget. Otherwise the decoded stream is the
// one child, as with Extract.
//
// Errors and findings are Extract's: a broken budget or a sink error is
// returned, a malformed or truncated container is reported (detail
// "truncated": true when the input ended early) and what came before it
// stays extracted.
func ExtractStream(format string, r io.Reader, size func() int64, m *formats.Meter, sink formats.Sink) (err error) {
	x := &extractor{format: format, m: m, sink: sink}
	defer func() {
		if p := recover(); p != nil {
			x.malformed("", fmt.Errorf("panic: %v", p))
			err = nil
		}
	}()
	switch format {
	case "tar":
		return x.tar(r)
	case "gzip", "bzip2", "xz", "zstd":
		return x.streamLayer(r, size)
	}
	return fmt.Errorf("%w: %q", ErrUnsupported, format)
}

// streamLayer decodes a compressed stream as it arrives.
func (x *extractor) streamLayer(r io.Reader, size func() int64) error {
	// A small buffer: a member ends (and is analysed) at most this many
	// compressed bytes after its last one arrived.
	src := bufio.NewReaderSize(r, 4<<10)
	detail := map[string]any{}
	dec, name, closeDec, err := x.decoder(src, detail)
	if dec == nil {
		return err
	}
	defer closeDec()
	defer func() {
		detail["compressed_bytes"] = size()
		x.summary(detail)
	}()
	// Peek at the decoded head for a tar: bounded (one header), and not
	// yet metered, which the layer's reader does from its first byte.
	layer := bufio.NewReaderSize(dec, 4096)
	head, perr := layer.Peek(512)
	if perr != nil && !errors.Is(perr, io.EOF) && !errors.Is(perr, bufio.ErrBufferFull) && len(head) == 0 {
		x.malformed("", perr)
		return nil
	}
	if !isTar(head) {
		return x.streamChild(name, layer, size)
	}
	// The layer as the decoded file Extract would have made a child of.
	clean := x.path(name, 0)
	if err := x.m.Member(); err != nil {
		return x.budget(clean, err)
	}
	lr := &layerReader{x: x, name: clean, r: x.m.StreamReader(layer, size)}
	inner := &extractor{format: "tar", m: formats.NewMeter(x.m.Budget()), sink: x.sink}
	err = inner.tar(lr)
	if lr.decodeErr != nil {
		x.malformed(clean, lr.decodeErr)
	}
	if err == nil && lr.budgetErr != nil {
		err = lr.budgetErr // the tar stopped on it without saying so
	}
	return err
}

// streamChild is child for a decoded stream whose compressed size grows
// as it arrives.
func (x *extractor) streamChild(name string, r io.Reader, size func() int64) error {
	return x.emit(x.path(name, 0), r, func(rec io.Reader) io.Reader { return x.m.StreamReader(rec, size) })
}

// layerReader is a decoded layer read by the tar inside it. A broken
// budget of the layer is reported once, under the layer's name and
// format, and reaches the tar as already reported; a decode error
// (corrupt or truncated input) is remembered for the layer's own
// malformed finding.
type layerReader struct {
	x         *extractor
	name      string
	r         io.Reader
	budgetErr error
	decodeErr error
}

func (l *layerReader) Read(p []byte) (int, error) {
	if l.budgetErr != nil {
		return 0, l.budgetErr
	}
	n, err := l.r.Read(p)
	switch {
	case err == nil, err == io.EOF:
	case errors.Is(err, formats.ErrBudget):
		l.budgetErr = l.x.budget(l.name, err)
		err = l.budgetErr
	case l.decodeErr == nil:
		l.decodeErr = err
	}
	return n, err
}
