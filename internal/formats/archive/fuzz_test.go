package archive

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"io"
	"testing"

	"athena/internal/core"
	"athena/internal/formats"
	"athena/internal/formats/formatstest"
)

func jsonSize(f core.Finding) (int, error) {
	b, err := json.Marshal(f)
	return len(b), err
}

// discardSink reads every child through and keeps nothing.
type discardSink struct{}

func (discardSink) Finding(core.Finding) {}
func (discardSink) Child(_ string, r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	return err
}

func FuzzDetect(f *testing.F) {
	f.Add([]byte("PK\x03\x04"))
	f.Add([]byte(testEML))
	f.Add(bzip2Hello)
	f.Fuzz(func(t *testing.T, head []byte) {
		switch Detect(head) {
		case "", "zip", "tar", "gzip", "bzip2", "xz", "zstd", "7z", "rar", "eml":
		default:
			t.Fatal("unknown format")
		}
	})
}

var fuzzFormats = []string{"zip", "tar", "gzip", "bzip2", "xz", "zstd", "7z", "rar", "eml"}

func FuzzExtract(f *testing.F) {
	f.Add(uint8(0), makeZip(f, []zipFile{{"a/b.txt", []byte("hello hello hello"), zip.Deflate}, {"../c", []byte("c"), zip.Store}}, "comment"))
	f.Add(uint8(0), makeZipCrypto(f, "s", "infected", []byte("secret"), zip.Deflate))
	f.Add(uint8(1), formatstest.Tar(f, formatstest.Member{Name: "x", Data: []byte("tar member")}))
	f.Add(uint8(2), makeGzip(f, "n", []byte("gzip member"), []byte("second")))
	f.Add(uint8(3), bzip2Hello)
	f.Add(uint8(4), formatstest.Compress(f, "xz", []byte("xz member")))
	f.Add(uint8(5), formatstest.Compress(f, "zstd", []byte("zstd member")))
	f.Add(uint8(6), formatstest.SevenZip("a.txt", []byte("7z member"), nil, 9))
	f.Add(uint8(6), formatstest.SevenZip("b.txt", []byte{0x01, 0x00, 0x02, 'h', 'i', 0x0a, 0x00}, []byte{0x21, 0x21, 0x01, 16}, 3))
	f.Add(uint8(7), makeRar5(map[string][]byte{"a": []byte("rar member")}, []string{"a"}))
	f.Add(uint8(8), []byte(testEML))
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		format := fuzzFormats[int(which)%len(fuzzFormats)]
		m := formats.NewMeter(formats.Budget{MaxMemberBytes: 1 << 20, MaxTotalBytes: 4 << 20, MaxMembers: 100})
		_ = Extract(format, bytes.NewReader(data), int64(len(data)), m, discardSink{})
	})
}

var streamFormats = []string{"tar", "gzip", "bzip2", "xz", "zstd"}

// FuzzExtractStream: no panic, and the children stay within the budget.
func FuzzExtractStream(f *testing.F) {
	f.Add(uint8(0), formatstest.Tar(f, formatstest.Member{Name: "x", Data: []byte("tar member")}))
	f.Add(uint8(1), makeGzip(f, "n", []byte("gzip member"), []byte("second")))
	f.Add(uint8(2), bzip2Hello)
	f.Add(uint8(3), formatstest.Compress(f, "xz", []byte("xz member")))
	f.Add(uint8(4), formatstest.Compress(f, "zstd", []byte("zstd member")))
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		format := streamFormats[int(which)%len(streamFormats)]
		b := formats.Budget{MaxMemberBytes: 1 << 20, MaxTotalBytes: 4 << 20, MaxMembers: 100}
		s := &countSink{}
		size := func() int64 { return int64(len(data)) }
		_ = ExtractStream(format, bytes.NewReader(data), size, formats.NewMeter(b), s)
		if s.children > b.MaxMembers || s.total > b.MaxTotalBytes {
			t.Fatalf("%d children, %d bytes: past the budget", s.children, s.total)
		}
	})
}

// countSink reads every child through, counting.
type countSink struct {
	children int
	total    int64
}

func (*countSink) Finding(core.Finding) {}
func (s *countSink) Child(_ string, r io.Reader) error {
	s.children++
	n, err := io.Copy(io.Discard, r)
	s.total += n
	return err
}
