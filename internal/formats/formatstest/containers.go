package formatstest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// Member is a file of a generated archive.
type Member struct {
	Name string
	Data []byte
}

// Tar writes members, in order, as a tar archive of regular files.
func Tar(tb testing.TB, members ...Member) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, m := range members {
		check(tb, tw.WriteHeader(&tar.Header{Name: m.Name, Mode: 0o644, Size: int64(len(m.Data)), Typeflag: tar.TypeReg}))
		_, err := tw.Write(m.Data)
		check(tb, err)
	}
	check(tb, tw.Close())
	return buf.Bytes()
}

// TarGz is Tar compressed with gzip.
func TarGz(tb testing.TB, members ...Member) []byte { return Compress(tb, "gzip", Tar(tb, members...)) }

// Compress writes data as one gzip, xz or zstd stream.
func Compress(tb testing.TB, format string, data []byte) []byte {
	var buf bytes.Buffer
	var w io.WriteCloser
	var err error
	switch format {
	case "gzip":
		w = gzip.NewWriter(&buf)
	case "xz":
		w, err = xz.NewWriter(&buf)
	case "zstd":
		w, err = zstd.NewWriter(&buf, zstd.WithEncoderConcurrency(1))
	default:
		panic("formatstest: no compressor " + format)
	}
	check(tb, err)
	_, err = w.Write(data)
	check(tb, err)
	check(tb, w.Close())
	return buf.Bytes()
}

// check fails tb on err; without tb (a benchmark's setup) it panics.
func check(tb testing.TB, err error) {
	if err == nil {
		return
	}
	if tb == nil {
		panic(err)
	}
	tb.Helper()
	tb.Fatal(err)
}
