package exe

import (
	"bytes"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"testing"

	"athena/internal/core"
	"athena/internal/formats"
)

var le = binary.LittleEndian

// recorder is a formats.Sink that keeps what it gets.
type recorder struct {
	findings []core.Finding
	children map[string][]byte
}

func (r *recorder) Finding(f core.Finding) { r.findings = append(r.findings, f) }

func (r *recorder) Child(path string, rd io.Reader) error {
	b, err := io.ReadAll(rd)
	if err != nil {
		return err
	}
	if r.children == nil {
		r.children = map[string][]byte{}
	}
	r.children[path] = b
	return nil
}

// kind returns the findings of one kind.
func (r *recorder) kind(k string) []core.Finding {
	var out []core.Finding
	for _, f := range r.findings {
		if f.Kind == k {
			out = append(out, f)
		}
	}
	return out
}

func analyze(t testing.TB, data []byte) *recorder {
	t.Helper()
	rec := &recorder{}
	m := formats.NewMeter(formats.Budget{}.WithDefaults())
	format := Detect(data)
	if err := Analyze(format, bytes.NewReader(data), int64(len(data)), m, rec); err != nil {
		t.Fatalf("Analyze(%q): %v", format, err)
	}
	return rec
}

// noise returns n pseudo-random bytes (high entropy), the same every run.
func noise(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// peImp is one imported DLL of a generated PE: function names, or
// ordinals when a name is empty.
type peImp struct {
	dll   string
	names []string
	ords  []uint16
}

type peSpec struct {
	is64      bool
	names     [2]string // section names; default .text, .rdata
	entry     uint32    // RVA; default the start of the first section
	writable  bool      // the first section is writable
	imports   []peImp
	exports   []string
	tls       int // TLS callbacks; -1 for no TLS directory
	rich      bool
	overlay   []byte
	textBytes []byte // the first section's content (0x200 bytes max)
	certSize  int    // a certificate table of this size before the overlay
	rcdata    [][]byte
}

const (
	peImageBase32 = 0x400000
	peImageBase64 = 0x140000000
	peTextRVA     = 0x1000
	peDataRVA     = 0x2000
	peTextRaw     = 0x400
	peDataRaw     = 0x600
)

// buildPE writes a small PE32 or PE32+ image: headers (with a Rich header
// when asked), a code section and a data section holding the import,
// export and TLS directories, then a certificate table and an overlay.
func buildPE(s peSpec) []byte {
	imageBase := uint64(peImageBase32)
	width := 4
	if s.is64 {
		imageBase, width = peImageBase64, 8
	}
	if s.names[0] == "" {
		s.names = [2]string{".text", ".rdata"}
	}
	if s.entry == 0 {
		s.entry = peTextRVA
	}

	// The data section, laid out with an allocator.
	var data []byte
	alloc := func(b []byte) uint32 {
		for len(data)%8 != 0 {
			data = append(data, 0)
		}
		rva := peDataRVA + uint32(len(data))
		data = append(data, b...)
		return rva
	}
	put32 := func(rva uint32, v uint32) { le.PutUint32(data[rva-peDataRVA:], v) }
	put64 := func(rva uint32, v uint64) { le.PutUint64(data[rva-peDataRVA:], v) }
	thunk := func(rva uint32, v uint64) {
		if width == 8 {
			put64(rva, v)
		} else {
			put32(rva, uint32(v))
		}
	}
	var dirs [16][2]uint32
	if len(s.imports) > 0 {
		desc := alloc(make([]byte, 20*(len(s.imports)+1)))
		for i, imp := range s.imports {
			n := len(imp.names) + len(imp.ords)
			ilt := alloc(make([]byte, width*(n+1)))
			iat := alloc(make([]byte, width*(n+1)))
			j := 0
			for _, name := range imp.names {
				hn := alloc(append([]byte{0, 0}, name+"\x00"...))
				thunk(ilt+uint32(j*width), uint64(hn))
				thunk(iat+uint32(j*width), uint64(hn))
				j++
			}
			flag := uint64(1) << 31
			if width == 8 {
				flag = 1 << 63
			}
			for _, ord := range imp.ords {
				thunk(ilt+uint32(j*width), flag|uint64(ord))
				thunk(iat+uint32(j*width), flag|uint64(ord))
				j++
			}
			dll := alloc([]byte(imp.dll + "\x00"))
			d := desc + uint32(i*20)
			put32(d, ilt)
			put32(d+12, dll)
			put32(d+16, iat)
		}
		dirs[1] = [2]uint32{desc, uint32(20 * (len(s.imports) + 1))}
	}
	if len(s.exports) > 0 {
		dir := alloc(make([]byte, 40))
		name := alloc([]byte("test.dll\x00"))
		n := len(s.exports)
		funcs := alloc(make([]byte, 4*n))
		names := alloc(make([]byte, 4*n))
		ords := alloc(make([]byte, 2*n))
		for i, e := range s.exports {
			put32(funcs+uint32(4*i), peTextRVA+uint32(i))
			put32(names+uint32(4*i), alloc([]byte(e+"\x00")))
			le.PutUint16(data[ords-peDataRVA+uint32(2*i):], uint16(i))
		}
		put32(dir+12, name)
		put32(dir+16, 1)
		put32(dir+20, uint32(n))
		put32(dir+24, uint32(n))
		put32(dir+28, funcs)
		put32(dir+32, names)
		put32(dir+36, ords)
		dirs[0] = [2]uint32{dir, 40}
	}
	if s.tls >= 0 {
		cbs := alloc(make([]byte, width*(s.tls+1)))
		for i := range s.tls {
			thunk(cbs+uint32(i*width), imageBase+peTextRVA+uint64(i*16))
		}
		if width == 8 {
			dir := alloc(make([]byte, 40))
			put64(dir+24, imageBase+uint64(cbs))
			dirs[9] = [2]uint32{dir, 40}
		} else {
			dir := alloc(make([]byte, 24))
			put32(dir+12, uint32(imageBase)+cbs)
			dirs[9] = [2]uint32{dir, 24}
		}
	}
	if len(s.rcdata) > 0 {
		// Type RT_RCDATA, then one name (1, 2...) per resource, each in
		// language 0x409. Subdirectory offsets are from the root.
		n := len(s.rcdata)
		root := alloc(make([]byte, 16+8))
		names := alloc(make([]byte, 16+8*n))
		dirent := func(dir uint32, i int, id, target uint32) {
			put32(dir+16+uint32(8*i), id)
			put32(dir+20+uint32(8*i), target)
			le.PutUint16(data[dir-peDataRVA+14:], uint16(i+1))
		}
		dirent(root, 0, 10, 0x80000000|(names-root))
		for i, r := range s.rcdata {
			lang := alloc(make([]byte, 16+8))
			entry := alloc(make([]byte, 16))
			body := alloc(r)
			put32(entry, body)
			put32(entry+4, uint32(len(r)))
			dirent(names, i, uint32(i+1), 0x80000000|(lang-root))
			dirent(lang, 0, 0x409, entry-root)
		}
		dirs[2] = [2]uint32{root, uint32(len(data)) - (root - peDataRVA)}
	}
	dataSize := (len(data) + 0x1ff) &^ 0x1ff
	dataSize = max(dataSize, 0x200)
	data = append(data, make([]byte, dataSize-len(data))...)

	// The headers.
	out := make([]byte, 0x400)
	copy(out, "MZ")
	copy(out[0x40:], "This program cannot be run in DOS mode.\r\n$")
	lfanew := 0x80
	if s.rich {
		const key = 0x1234abcd
		entries := [][2]uint32{{0x00ff7809, 3}, {0x01047809, 12}}
		w := 0x80
		put := func(v uint32) { le.PutUint32(out[w:], v); w += 4 }
		put(0x536e6144 ^ key) // "DanS"
		put(key)
		put(key)
		put(key)
		for _, e := range entries {
			put(e[0] ^ key)
			put(e[1] ^ key)
		}
		copy(out[w:], "Rich")
		w += 4
		put(key)
		lfanew = (w + 15) &^ 15
	}
	le.PutUint32(out[0x3c:], uint32(lfanew))
	copy(out[lfanew:], "PE\x00\x00")
	fh := lfanew + 4
	machine := uint16(0x14c)
	optSize := 224
	if s.is64 {
		machine, optSize = 0x8664, 240
	}
	le.PutUint16(out[fh:], machine)
	le.PutUint16(out[fh+2:], 2)
	le.PutUint32(out[fh+4:], 0x5f000000)
	le.PutUint16(out[fh+16:], uint16(optSize))
	le.PutUint16(out[fh+18:], 0x0102)
	oh := fh + 20
	if s.is64 {
		le.PutUint16(out[oh:], 0x20b)
		le.PutUint64(out[oh+24:], imageBase)
		le.PutUint32(out[oh+108:], 16)
	} else {
		le.PutUint16(out[oh:], 0x10b)
		le.PutUint32(out[oh+28:], uint32(imageBase))
		le.PutUint32(out[oh+92:], 16)
	}
	le.PutUint32(out[oh+16:], s.entry)
	le.PutUint32(out[oh+32:], 0x1000)
	le.PutUint32(out[oh+36:], 0x200)
	le.PutUint32(out[oh+56:], uint32(peDataRVA+(dataSize+0xfff)&^0xfff))
	le.PutUint32(out[oh+60:], 0x400)
	le.PutUint16(out[oh+68:], 3)
	fileEnd := uint32(peDataRaw + dataSize)
	if s.certSize > 0 {
		dirs[4] = [2]uint32{fileEnd, uint32(s.certSize)}
	}
	dirsOff := oh + 96
	if s.is64 {
		dirsOff = oh + 112
	}
	for i, d := range dirs {
		le.PutUint32(out[dirsOff+8*i:], d[0])
		le.PutUint32(out[dirsOff+8*i+4:], d[1])
	}
	sec := oh + optSize
	textChars := uint32(0x60000020)
	if s.writable {
		textChars |= 0x80000000
	}
	for i, h := range []struct {
		va, size, raw uint32
		chars         uint32
	}{{peTextRVA, 0x200, peTextRaw, textChars}, {peDataRVA, uint32(dataSize), peDataRaw, 0x40000040}} {
		o := sec + 40*i
		copy(out[o:o+8], s.names[i])
		le.PutUint32(out[o+8:], h.size)
		le.PutUint32(out[o+12:], h.va)
		le.PutUint32(out[o+16:], h.size)
		le.PutUint32(out[o+20:], h.raw)
		le.PutUint32(out[o+36:], h.chars)
	}
	text := make([]byte, 0x200)
	for i := range text {
		text[i] = 0xc3
	}
	copy(text, s.textBytes)
	out = append(out, text...)
	out = append(out, data...)
	out = append(out, make([]byte, s.certSize)...)
	return append(out, s.overlay...)
}

// buildELF writes an ELF64 executable without sections: two program
// headers (a PT_LOAD with flags loadFlags, a PT_GNU_STACK), a body with
// extra at its start, then overlay.
func buildELF(loadFlags uint32, extra, overlay []byte) []byte {
	const ehsize, phsize = 64, 56
	body := append(append([]byte{}, extra...), make([]byte, 256)...)
	loadEnd := ehsize + 2*phsize + len(body)
	out := make([]byte, ehsize+2*phsize)
	copy(out, "\x7fELF\x02\x01\x01")
	le.PutUint16(out[16:], 2)    // ET_EXEC
	le.PutUint16(out[18:], 0x3e) // x86-64
	le.PutUint32(out[20:], 1)
	le.PutUint64(out[24:], 0x400000+ehsize+2*phsize)
	le.PutUint64(out[32:], ehsize) // phoff
	le.PutUint16(out[52:], ehsize)
	le.PutUint16(out[54:], phsize)
	le.PutUint16(out[56:], 2)
	le.PutUint16(out[58:], 64)
	ph := out[ehsize:]
	le.PutUint32(ph[0:], 1) // PT_LOAD
	le.PutUint32(ph[4:], loadFlags)
	le.PutUint64(ph[16:], 0x400000)
	le.PutUint64(ph[24:], 0x400000)
	le.PutUint64(ph[32:], uint64(loadEnd))
	le.PutUint64(ph[40:], uint64(loadEnd))
	le.PutUint64(ph[48:], 0x1000)
	ph = out[ehsize+phsize:]
	le.PutUint32(ph[0:], 0x6474e551) // PT_GNU_STACK
	le.PutUint32(ph[4:], 6)          // RW
	out = append(out, body...)
	return append(out, overlay...)
}

// buildMachO writes a thin 64-bit Mach-O for cpu: a __TEXT segment with
// one __text section, an LC_LOAD_DYLIB and, when signed, an
// LC_CODE_SIGNATURE whose blob ends the image.
func buildMachO(cpu uint32, signed bool) []byte {
	const hdr = 32
	var cmds []byte
	add := func(c []byte) { cmds = append(cmds, c...) }
	// LC_SEGMENT_64 with one section_64.
	seg := make([]byte, 72+80)
	le.PutUint32(seg, 0x19)
	le.PutUint32(seg[4:], uint32(len(seg)))
	copy(seg[8:], "__TEXT")
	le.PutUint64(seg[24:], 0x100000000)
	le.PutUint64(seg[32:], 0x1000)
	le.PutUint64(seg[40:], 0)      // fileoff
	le.PutUint64(seg[48:], 0x1000) // filesize
	le.PutUint32(seg[56:], 5)
	le.PutUint32(seg[60:], 5)
	le.PutUint32(seg[64:], 1)
	sec := seg[72:]
	copy(sec, "__text")
	copy(sec[16:], "__TEXT")
	le.PutUint64(sec[32:], 0x100000800)
	le.PutUint64(sec[40:], 0x100)
	le.PutUint32(sec[48:], 0x800)
	le.PutUint32(sec[64:], 0x80000400)
	add(seg)
	name := "/usr/lib/libSystem.B.dylib\x00"
	dl := make([]byte, (24+len(name)+7)&^7)
	le.PutUint32(dl, 0xc)
	le.PutUint32(dl[4:], uint32(len(dl)))
	le.PutUint32(dl[8:], 24)
	copy(dl[24:], name)
	add(dl)
	ncmds := 2
	if signed {
		cs := make([]byte, 16)
		le.PutUint32(cs, 0x1d)
		le.PutUint32(cs[4:], 16)
		le.PutUint32(cs[8:], 0x1000)
		le.PutUint32(cs[12:], 0x100)
		add(cs)
		ncmds++
	}
	out := make([]byte, 0x1000)
	le.PutUint32(out, 0xfeedfacf)
	le.PutUint32(out[4:], cpu)
	le.PutUint32(out[12:], 2) // MH_EXECUTE
	le.PutUint32(out[16:], uint32(ncmds))
	le.PutUint32(out[20:], uint32(len(cmds)))
	copy(out[hdr:], cmds)
	for i := 0x800; i < 0x900; i++ {
		out[i] = 0x90
	}
	if signed {
		out = append(out, make([]byte, 0x100)...)
	}
	return out
}

// buildFat wraps thin Mach-O images in a fat file (4 KiB aligned), then
// appends overlay.
func buildFat(thin [][]byte, cpus []uint32, overlay []byte) []byte {
	be := binary.BigEndian
	out := make([]byte, 8+20*len(thin))
	be.PutUint32(out, 0xcafebabe)
	be.PutUint32(out[4:], uint32(len(thin)))
	for i, t := range thin {
		for len(out)%0x1000 != 0 {
			out = append(out, 0)
		}
		e := out[8+20*i:]
		be.PutUint32(e, cpus[i])
		be.PutUint32(e[8:], uint32(len(out)))
		be.PutUint32(e[12:], uint32(len(t)))
		be.PutUint32(e[16:], 12)
		out = append(out, t...)
	}
	return append(out, overlay...)
}
