package archive

import (
	"archive/zip"
	"compress/bzip2"
	"compress/flate"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
	"strings"

	"athena/internal/core"
	"athena/internal/formats"
)

// Zip compression methods beyond store and deflate that Extract decodes.
const (
	methodBzip2 = 12
	methodZstd  = 93
	methodAES   = 99 // WinZip AES: the real method is in an extra field
)

// zipTrialBytes is how much of an encrypted member is decoded to check a
// password whose check byte matched (1 in 256 wrong passwords do).
const zipTrialBytes = 64 << 10

func (x *extractor) zip(r io.ReaderAt, size int64) error {
	zr, err := zip.NewReader(r, size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		x.malformed("", err)
		return x.zipScan(r, size)
	}
	zr.RegisterDecompressor(methodBzip2, func(r io.Reader) io.ReadCloser { return io.NopCloser(bzip2.NewReader(r)) })
	zr.RegisterDecompressor(methodZstd, func(r io.Reader) io.ReadCloser {
		rc, err := newZstd(r)
		if err != nil {
			return io.NopCloser(errReader{err})
		}
		return rc
	})

	var compressed, uncompressed uint64
	files, dirs := 0, 0
	var names nameList
	for _, f := range zr.File {
		compressed += f.CompressedSize64
		uncompressed += f.UncompressedSize64
		if isZipDir(f) {
			dirs++
		} else {
			files++
		}
		names.add(f.Name)
	}
	detail := map[string]any{
		"members": len(zr.File), "files": files, "dirs": dirs,
		"compressed_bytes": compressed, "uncompressed_bytes": uncompressed,
	}
	names.put(detail)
	if zr.Comment != "" {
		detail["comment"] = clip(zr.Comment, maxText)
	}
	defer x.summary(detail)

	if err := x.zipOverlap(zr.File, size); err != nil {
		return err
	}
	for _, f := range zr.File {
		off, _ := f.DataOffset()
		if isZipDir(f) {
			x.path(f.Name, off)
			continue
		}
		if f.Flags&1 != 0 || f.Method == methodAES {
			if err := x.zipEncrypted(f, off); err != nil {
				return err
			}
			continue
		}
		rc, err := f.Open()
		if err != nil {
			x.malformed(clip(f.Name, maxText), err)
			continue
		}
		err = x.child(f.Name, off, rc, int64(min(f.CompressedSize64, 1<<62)))
		rc.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

func isZipDir(f *zip.File) bool {
	return strings.HasSuffix(f.Name, "/") && f.UncompressedSize64 == 0 && f.CompressedSize64 <= 2
}

// zipOverlap stops on entries whose local data ranges overlap, the
// non-recursive zip bomb (one compressed kernel referenced by many
// entries), with a KindBomb finding.
func (x *extractor) zipOverlap(files []*zip.File, size int64) error {
	type span struct {
		start, end int64
		name       string
	}
	spans := make([]span, 0, len(files))
	for _, f := range files {
		off, err := f.DataOffset()
		if err != nil || f.CompressedSize64 == 0 || off < 0 || off >= size {
			continue
		}
		end := size
		if f.CompressedSize64 < uint64(size-off) {
			end = off + int64(f.CompressedSize64)
		}
		spans = append(spans, span{off, end, f.Name})
	}
	slices.SortFunc(spans, func(a, b span) int {
		switch {
		case a.start < b.start:
			return -1
		case a.start > b.start:
			return 1
		}
		return 0
	})
	for i := 1; i < len(spans); i++ {
		prev, cur := spans[i-1], spans[i]
		if cur.start < prev.end {
			x.finding(formats.KindBomb, core.High, cur.start, map[string]any{
				"reason":  "overlapping entries",
				"members": []string{clip(prev.name, maxText), clip(cur.name, maxText)},
				"format":  x.format,
				"entries": len(files),
			})
			return fmt.Errorf("%w: zip entries %q and %q overlap", ErrBomb, clip(prev.name, 200), clip(cur.name, 200))
		}
	}
	return nil
}

// zipEncrypted reports an encrypted member and, for traditional PKWARE
// encryption, tries the budget's passwords and emits it decrypted.
func (x *extractor) zipEncrypted(f *zip.File, off int64) error {
	if f.Method == methodAES {
		x.encryptedMember(clip(f.Name, maxText), "aes", false, "")
		x.path(f.Name, off)
		return nil
	}
	for _, pw := range x.m.Budget().Passwords {
		if !zipCryptoTry(f, pw) {
			continue
		}
		x.encryptedMember(clip(f.Name, maxText), "zipcrypto", true, pw)
		r, err := zipCryptoOpen(f, pw)
		if err != nil {
			x.malformed(clip(f.Name, maxText), err)
			return nil
		}
		return x.child(f.Name, off, r, int64(min(f.CompressedSize64, 1<<62)))
	}
	x.encryptedMember(clip(f.Name, maxText), "zipcrypto", false, "")
	x.path(f.Name, off)
	return nil
}

// zipCryptoTry reports whether pw decrypts f: its check byte matches and
// the first zipTrialBytes decode (and, when that is the whole member,
// its CRC holds).
func zipCryptoTry(f *zip.File, pw string) bool {
	r, err := zipCryptoOpen(f, pw)
	if err != nil {
		return false
	}
	_, err = io.CopyN(io.Discard, r, zipTrialBytes)
	return err == nil || err == io.EOF
}

// zipCryptoOpen returns f's decrypted, decompressed, CRC-checked stream,
// or an error when pw fails the check byte.
func zipCryptoOpen(f *zip.File, pw string) (io.Reader, error) {
	raw, err := f.OpenRaw()
	if err != nil {
		return nil, err
	}
	var hdr [12]byte
	if _, err := io.ReadFull(raw, hdr[:]); err != nil {
		return nil, err
	}
	z := newZipCrypto(pw)
	for i := range hdr {
		hdr[i] = z.decryptByte(hdr[i])
	}
	check := hdr[11]
	if check != byte(f.CRC32>>24) && !(f.Flags&8 != 0 && check == byte(f.ModifiedTime>>8)) {
		return nil, errors.New("archive: zipcrypto check byte mismatch")
	}
	var dec io.Reader = &zipCryptoReader{z: z, r: raw}
	switch f.Method {
	case zip.Store:
	case zip.Deflate:
		dec = flate.NewReader(dec)
	case methodBzip2:
		dec = bzip2.NewReader(dec)
	default:
		return nil, fmt.Errorf("archive: zip method %d: %w", f.Method, zip.ErrAlgorithm)
	}
	return &crcReader{r: dec, want: f.CRC32}, nil
}

// zipCrypto is the traditional PKWARE stream cipher (APPNOTE 6.1).
type zipCrypto struct{ k0, k1, k2 uint32 }

func newZipCrypto(pw string) *zipCrypto {
	z := &zipCrypto{0x12345678, 0x23456789, 0x34567890}
	for i := 0; i < len(pw); i++ {
		z.update(pw[i])
	}
	return z
}

func crc32Byte(crc uint32, b byte) uint32 {
	return crc32.IEEETable[byte(crc)^b] ^ crc>>8
}

func (z *zipCrypto) update(b byte) {
	z.k0 = crc32Byte(z.k0, b)
	z.k1 = (z.k1+z.k0&0xff)*134775813 + 1
	z.k2 = crc32Byte(z.k2, byte(z.k1>>24))
}

func (z *zipCrypto) stream() byte {
	t := z.k2 | 2
	return byte((t * (t ^ 1)) >> 8)
}

func (z *zipCrypto) decryptByte(c byte) byte {
	p := c ^ z.stream()
	z.update(p)
	return p
}

type zipCryptoReader struct {
	z *zipCrypto
	r io.Reader
}

func (zr *zipCryptoReader) Read(p []byte) (int, error) {
	n, err := zr.r.Read(p)
	for i := range p[:n] {
		p[i] = zr.z.decryptByte(p[i])
	}
	return n, err
}

// crcReader fails with zip.ErrChecksum at the end of a stream whose
// CRC-32 is not want.
type crcReader struct {
	r    io.Reader
	want uint32
	crc  uint32
}

func (c *crcReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.crc = crc32.Update(c.crc, crc32.IEEETable, p[:n])
	if err == io.EOF && c.crc != c.want {
		err = zip.ErrChecksum
	}
	return n, err
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
