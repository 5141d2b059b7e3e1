package archive

import (
	"archive/zip"
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// zipScan walks the local headers of a zip whose central directory is
// missing or broken (truncated downloads, and archives made so on purpose
// to slip past tools that trust the directory), as unzip and 7-Zip do.
// It stops at the first thing it cannot walk past: a stored entry whose
// size is only in a data descriptor, or bytes that are no local header.
func (x *extractor) zipScan(r io.ReaderAt, size int64) error {
	var names nameList
	members := 0
	detail := map[string]any{"central_directory": "missing or broken, local headers scanned"}
	defer func() {
		detail["members"] = members
		names.put(detail)
		x.summary(detail)
	}()
	pos := int64(0)
	for pos+30 <= size {
		var h [30]byte
		if _, err := r.ReadAt(h[:], pos); err != nil {
			return nil
		}
		if !bytes.Equal(h[:4], []byte("PK\x03\x04")) {
			return nil
		}
		flags := binary.LittleEndian.Uint16(h[6:])
		method := binary.LittleEndian.Uint16(h[8:])
		csize := int64(binary.LittleEndian.Uint32(h[18:]))
		nameLen := int64(binary.LittleEndian.Uint16(h[26:]))
		extraLen := int64(binary.LittleEndian.Uint16(h[28:]))
		nameExtra := make([]byte, nameLen+extraLen)
		if _, err := r.ReadAt(nameExtra, pos+30); err != nil {
			x.malformed("", fmt.Errorf("zip local header at %d: %w", pos, err))
			return nil
		}
		name := string(nameExtra[:nameLen])
		if csize == 0xffffffff {
			csize = zip64Size(nameExtra[nameLen:])
		}
		dataStart := pos + 30 + nameLen + extraLen
		members++
		names.add(name)
		known := flags&8 == 0
		if known && (csize < 0 || csize > size-dataStart) {
			x.malformed(clip(name, maxText), fmt.Errorf("zip local header at %d: size %d past the end", pos, csize))
			return nil
		}
		if !known && method != zip.Deflate {
			x.malformed(clip(name, maxText), fmt.Errorf("zip local header at %d: size only in a data descriptor", pos))
			return nil
		}
		isDir := len(name) > 0 && name[len(name)-1] == '/' && csize <= 2
		end := dataStart + csize
		switch {
		case isDir:
			x.path(name, pos)
		case flags&1 != 0 || method == methodAES:
			x.encryptedMember(clip(name, maxText), "zip", false, "")
			x.path(name, pos)
			if !known {
				x.malformed(clip(name, maxText), errors.New("encrypted entry of unknown size"))
				return nil
			}
		default:
			cr := &countingReader{r: bufio.NewReader(io.NewSectionReader(r, dataStart, size-dataStart))}
			var dec io.Reader
			switch method {
			case zip.Store:
				dec = io.LimitReader(cr, csize)
			case zip.Deflate:
				dec = flate.NewReader(cr)
			case methodBzip2:
				dec = bzip2.NewReader(io.LimitReader(cr, csize))
			default:
				x.malformed(clip(name, maxText), fmt.Errorf("zip method %d: %w", method, zip.ErrAlgorithm))
			}
			if dec != nil {
				if err := x.child(name, pos, dec, max(csize, 1)); err != nil {
					return err
				}
			}
			if !known {
				// Finish the deflate stream to find where it ends; bounded by
				// the per-member budget.
				budget := x.m.Budget().MaxMemberBytes
				if n, err := io.CopyN(io.Discard, dec, budget); err != io.EOF || n == budget {
					return nil
				}
				end = dataStart + cr.n
				var sig [4]byte
				_, _ = r.ReadAt(sig[:], end)
				if bytes.Equal(sig[:], []byte("PK\x07\x08")) {
					end += 16
				} else {
					end += 12
				}
			}
		}
		pos = end
	}
	return nil
}

// zip64Size reads the compressed size from a zip64 extra field of a local
// header (uncompressed size first, then compressed), or -1.
func zip64Size(extra []byte) int64 {
	for len(extra) >= 4 {
		id := binary.LittleEndian.Uint16(extra)
		n := int(binary.LittleEndian.Uint16(extra[2:]))
		extra = extra[4:]
		if n > len(extra) {
			return -1
		}
		if id == 0x0001 && n >= 16 {
			v := binary.LittleEndian.Uint64(extra[8:])
			if v > 1<<62 {
				return -1
			}
			return int64(v)
		}
		extra = extra[n:]
	}
	return -1
}

// countingReader counts the bytes its consumer took; as an io.ByteReader
// it keeps flate from reading ahead.
type countingReader struct {
	r *bufio.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (c *countingReader) ReadByte() (byte, error) {
	b, err := c.r.ReadByte()
	if err == nil {
		c.n++
	}
	return b, err
}
