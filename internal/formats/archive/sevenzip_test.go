package archive

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"testing"

	"github.com/ulikunitz/xz/lzma"
	"unicode/utf16"

	"athena/internal/formats"
)

// make7z hand-writes a 7-Zip archive of one file stored with the Copy
// coder (there is no Go 7z writer).
func make7z(name string, data, coder []byte, unpacked int) []byte {
	if coder == nil {
		coder = []byte{0x01, 0x00} // id size 1, Copy
	}
	var h bytes.Buffer
	num := func(v int) { // 7z number, values below 0x80 only
		if v >= 0x80 {
			panic("make7z: number too large")
		}
		h.WriteByte(byte(v))
	}
	h.WriteByte(0x01)                       // kHeader
	h.WriteByte(0x04)                       // kMainStreamsInfo
	h.Write([]byte{0x06, 0x00, 0x01, 0x09}) // kPackInfo: pos 0, 1 stream, kSize
	num(len(data))
	h.WriteByte(0x00)                             // kEnd
	h.Write([]byte{0x07, 0x0b, 0x01, 0x00, 0x01}) // kUnPackInfo, kFolder, 1 folder, inline, 1 coder
	h.Write(coder)
	h.WriteByte(0x0c) // kCodersUnPackSize
	num(len(data))
	h.Write([]byte{0x0a, 0x01}) // kCRC, all defined
	_ = binary.Write(&h, binary.LittleEndian, crc32.ChecksumIEEE(data))
	h.WriteByte(0x00)           // kEnd (unpack info)
	h.Write([]byte{0x00})       // kEnd (streams info)
	h.Write([]byte{0x05, 0x01}) // kFilesInfo, 1 file
	u := utf16.Encode([]rune(name))
	h.WriteByte(0x11) // kName
	num(1 + 2*len(u) + 2)
	h.WriteByte(0x00) // not external
	for _, c := range u {
		_ = binary.Write(&h, binary.LittleEndian, c)
	}
	h.Write([]byte{0, 0})
	h.WriteByte(0x00) // kEnd (files)
	h.WriteByte(0x00) // kEnd (header)

	var start [20]byte
	binary.LittleEndian.PutUint64(start[0:], uint64(len(data)))
	binary.LittleEndian.PutUint64(start[8:], uint64(h.Len()))
	binary.LittleEndian.PutUint32(start[16:], crc32.ChecksumIEEE(h.Bytes()))
	var out bytes.Buffer
	out.Write([]byte{'7', 'z', 0xbc, 0xaf, 0x27, 0x1c, 0, 4})
	_ = binary.Write(&out, binary.LittleEndian, crc32.ChecksumIEEE(start[:]))
	out.Write(start[:])
	out.Write(data)
	out.Write(h.Bytes())
	return out.Bytes()
}

func TestSevenZip(t *testing.T) {
	lzma2Data := func(plain string) []byte {
		var buf bytes.Buffer
		w, err := lzma.Writer2Config{DictCap: 1 << 20}.NewWriter2(&buf)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(plain))
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	const text = "hello hello hello from a hand-made LZMA2 7z"
	tests := []struct {
		name, member, want string
		packed, coder      []byte
		wantPath           bool
	}{
		{"stored", "dir/hello.txt", "hello from a hand-made 7z", nil, nil, false},
		{"slip", "../../evil.txt", "evil", nil, nil, true},
		{"lzma2", "l.txt", text, lzma2Data(text), []byte{0x21, 0x21, 0x01, 16}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSink(t, formats.Budget{})
			packed := tt.packed
			if packed == nil {
				packed = []byte(tt.want)
			}
			if err := s.extract(t, make7z(tt.member, packed, tt.coder, len(tt.want))); err != nil {
				t.Fatal(err)
			}
			clean, _ := formats.SanitizePath(tt.member)
			if got := string(s.children[clean]); got != tt.want {
				t.Fatalf("child %q = %q, want %q; findings %+v", clean, got, tt.want, s.findings)
			}
			if got := len(s.find(formats.KindPath)) > 0; got != tt.wantPath {
				t.Fatalf("path finding %v, want %v", got, tt.wantPath)
			}
			if len(s.find("archive")) != 1 {
				t.Fatalf("no archive finding: %+v", s.findings)
			}
		})
	}
}

func TestSevenZipHugeDictionary(t *testing.T) {
	tests := []struct {
		name  string
		coder []byte
	}{
		{"lzma2 4 GiB", []byte{0x21, 0x21, 0x01, 40}},
		{"lzma 1 GiB", []byte{0x23, 0x03, 0x01, 0x01, 0x05, 0x5d, 0x00, 0x00, 0x00, 0x40}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSink(t, formats.Budget{})
			if err := s.extract(t, make7z("x", []byte("not really compressed"), tt.coder, 21)); err != nil {
				t.Fatal(err)
			}
			fs := s.find(formats.KindBudget)
			if len(fs) != 1 || fs[0].Detail["budget"] != "window" || len(s.children) != 0 {
				t.Fatalf("budget findings %+v, children %q; all %+v", fs, s.order, s.findings)
			}
		})
	}
}
