// Package formatstest builds container samples that no Go library writes,
// for the tests of the file processor and of the pipeline.
package formatstest

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"unicode/utf16"
)

// SevenZip hand-writes a 7-Zip archive of one file of at most 127 bytes
// (packed), with the Copy coder unless coder names another (there is no Go
// 7z writer). unpacked is the member's size once decoded.
func SevenZip(name string, data, coder []byte, unpacked int) []byte {
	if coder == nil {
		coder = []byte{0x01, 0x00} // id size 1, Copy
	}
	var h bytes.Buffer
	num := func(v int) { // 7z number, values below 0x80 only
		if v >= 0x80 {
			panic("formatstest: a 7z number of 128 or more")
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

// Noise is n deterministic, poorly compressible bytes (xorshift).
func Noise(n int) []byte {
	out := make([]byte, n)
	x := uint64(0x9e3779b97f4a7c15)
	for i := range out {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		out[i] = byte(x)
	}
	return out
}
