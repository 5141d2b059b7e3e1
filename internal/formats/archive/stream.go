package archive

import (
	"bufio"
	"compress/bzip2"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"athena/internal/formats"
)

// maxWindow caps the dictionary or window a stream decoder may allocate
// (xz -9 and zstd -19 use 64 MiB and 8 MiB). A stream that asks for more
// is reported as a broken budget rather than decoded.
const maxWindow = 64 << 20

// stream extracts the one decoded stream of a gzip, bzip2, xz or zstd file.
func (x *extractor) stream(r io.ReaderAt, size int64) error {
	src := bufio.NewReaderSize(io.NewSectionReader(r, 0, size), 64<<10)
	detail := map[string]any{"compressed_bytes": size}
	dec, name, closeDec, err := x.decoder(src, detail)
	if dec == nil {
		return err
	}
	defer closeDec()
	x.summary(detail)
	return x.child(name, 0, dec, size)
}

// decoder opens the decoded stream of x.format from src, with the name
// its header gives (else "data") and its header's metadata added to
// detail. A nil reader means there is nothing to decode: err is then a
// budget or format error to return, or nil when a malformed header was
// reported. closeDec releases the decoder.
func (x *extractor) decoder(src *bufio.Reader, detail map[string]any) (dec io.Reader, name string, closeDec func(), err error) {
	name, closeDec = "data", func() {}
	switch x.format {
	case "gzip":
		zr, err := gzip.NewReader(src)
		if err != nil {
			x.malformed("", err)
			return nil, "", nil, nil
		}
		if zr.Name != "" {
			name = zr.Name
			detail["name"] = clip(zr.Name, maxText)
		}
		if zr.Comment != "" {
			detail["comment"] = clip(zr.Comment, maxText)
		}
		if !zr.ModTime.IsZero() {
			detail["modified"] = zr.ModTime.UTC().Format(time.RFC3339)
		}
		detail["os"] = zr.OS
		dec = zr
	case "bzip2":
		dec = bzip2.NewReader(src)
	case "xz":
		if dict, ok := xzDictCap(src); ok && dict > maxWindow {
			x.summary(detail)
			return nil, "", nil, x.budget("", &formats.BudgetError{Budget: "window", Limit: maxWindow})
		}
		zr, err := xz.NewReader(src)
		if err != nil {
			x.malformed("", err)
			return nil, "", nil, nil
		}
		dec = zr
	case "zstd":
		zr, err := newZstd(src)
		if err != nil {
			x.malformed("", err)
			return nil, "", nil, nil
		}
		dec, closeDec = zr, func() { zr.Close() }
	default:
		return nil, "", nil, fmt.Errorf("%w: %q", ErrUnsupported, x.format)
	}
	return dec, name, closeDec, nil
}

// newZstd returns a zstd decoder with a bounded window and no goroutines.
// Close releases it.
func newZstd(r io.Reader) (io.ReadCloser, error) {
	d, err := zstd.NewReader(r,
		zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxWindow(maxWindow),
		zstd.WithDecoderMaxMemory(maxWindow),
	)
	if err != nil {
		return nil, err
	}
	return d.IOReadCloser(), nil
}

// xzDictCap reads the LZMA2 dictionary size of the first block of an xz
// stream (the xz library allocates whatever a block asks for). ok is false
// when the header cannot be read that far or holds no LZMA2 filter.
func xzDictCap(src *bufio.Reader) (dict int64, ok bool) {
	head, err := src.Peek(12 + 1024)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return 0, false
	}
	if len(head) < 13 || head[12] == 0 {
		return 0, false
	}
	hsize := (int(head[12]) + 1) * 4
	if len(head) < 12+hsize {
		return 0, false
	}
	b := head[12+1 : 12+hsize]
	flags := b[0]
	b = b[1:]
	uvarint := func() (uint64, bool) {
		var v uint64
		for i := 0; i < 9 && i < len(b); i++ {
			v |= uint64(b[i]&0x7f) << (7 * i)
			if b[i]&0x80 == 0 {
				b = b[i+1:]
				return v, true
			}
		}
		return 0, false
	}
	if flags&0x40 != 0 {
		if _, ok := uvarint(); !ok {
			return 0, false
		}
	}
	if flags&0x80 != 0 {
		if _, ok := uvarint(); !ok {
			return 0, false
		}
	}
	for range int(flags&3) + 1 {
		id, ok1 := uvarint()
		n, ok2 := uvarint()
		if !ok1 || !ok2 || n > uint64(len(b)) {
			return 0, false
		}
		props := b[:n]
		b = b[n:]
		if id == 0x21 && n == 1 {
			bits := props[0] & 0x3f
			if bits > 40 {
				return 1 << 62, true
			}
			if bits == 40 {
				return 1<<32 - 1, true
			}
			return int64(2|bits&1) << (bits/2 + 11), true
		}
	}
	return 0, false
}
