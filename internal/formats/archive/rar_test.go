package archive

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"testing"

	"athena/internal/formats"
)

// rar5Block frames one RAR5 header: CRC32, size, then body (type onward).
func rar5Block(body []byte) []byte {
	var size []byte
	size = binary.AppendUvarint(size, uint64(len(body)))
	crcd := append(bytes.Clone(size), body...)
	out := binary.LittleEndian.AppendUint32(nil, crc32.ChecksumIEEE(crcd))
	return append(out, crcd...)
}

// makeRar5 hand-writes a RAR5 archive of stored files (there is no Go RAR
// writer and Debian's rar is non-free).
func makeRar5(files map[string][]byte, order []string) []byte {
	return makeRar5Extra(files, order, nil)
}

// makeRar5Extra is makeRar5 with an extra area added to every file header.
func makeRar5Extra(files map[string][]byte, order []string, extra []byte) []byte {
	v := binary.AppendUvarint
	out := []byte("Rar!\x1a\x07\x01\x00")
	out = append(out, rar5Block([]byte{1, 0, 0})...) // main header: type 1, flags 0, archive flags 0
	for _, name := range order {
		data := files[name]
		var b []byte
		b = v(b, 2) // file header
		if extra != nil {
			b = v(b, 0x0003) // extra and data area present
			b = v(b, uint64(len(extra)))
		} else {
			b = v(b, 0x0002) // data area present
		}
		b = v(b, uint64(len(data))) // data size
		b = v(b, 0x0004)            // file flags: CRC32 present
		b = v(b, uint64(len(data))) // unpacked size
		b = v(b, 0x20)              // attributes
		b = binary.LittleEndian.AppendUint32(b, crc32.ChecksumIEEE(data))
		b = v(b, 0) // compression: version 0, store
		b = v(b, 0) // host OS windows
		b = v(b, uint64(len(name)))
		b = append(b, name...)
		b = append(b, extra...)
		out = append(out, rar5Block(b)...)
		out = append(out, data...)
	}
	return append(out, rar5Block([]byte{5, 0, 0})...) // end of archive
}

func TestRar(t *testing.T) {
	files := map[string][]byte{"doc/readme.txt": []byte("stored in a hand-made rar5"), "../../escape.bat": []byte("echo")}
	s := newSink(t, formats.Budget{})
	if err := s.extract(t, makeRar5(files, []string{"doc/readme.txt", "../../escape.bat"})); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"doc/readme.txt": "stored in a hand-made rar5", "escape.bat": "echo"} {
		if got := string(s.children[name]); got != want {
			t.Errorf("child %q = %q, want %q; findings %+v", name, got, want, s.findings)
		}
	}
	if n := len(s.find(formats.KindPath)); n != 1 {
		t.Errorf("%d path findings, want 1", n)
	}
	if a := s.find("archive"); len(a) != 1 || a[0].Detail["members"] != 2 {
		t.Errorf("archive findings %+v", a)
	}
}

func TestRarEncrypted(t *testing.T) {
	// An encryption record (type 1): version 0, flags 1 (password check
	// present), KDF count 15, salt, IV, check value; no budget password
	// matches it.
	rec := []byte{1, 0, 1, 15}
	rec = append(rec, bytes.Repeat([]byte{0x5a}, 16+16+12)...)
	extra := append(binary.AppendUvarint(nil, uint64(len(rec))), rec...)
	data := bytes.Repeat([]byte{0xc3}, 32) // "ciphertext", a multiple of the AES block
	s := newSink(t, formats.Budget{})
	if err := s.extract(t, makeRar5Extra(map[string][]byte{"locked.exe": data}, []string{"locked.exe"}, extra)); err != nil {
		t.Fatal(err)
	}
	enc := s.find(formats.KindEncrypted)
	if len(enc) != 1 || enc[0].Detail["decrypted"] != false || enc[0].Detail["member"] != "locked.exe" {
		t.Fatalf("encrypted findings %+v; all %+v", enc, s.findings)
	}
	if len(s.children) != 0 {
		t.Fatalf("children %q, want none", s.order)
	}
}
