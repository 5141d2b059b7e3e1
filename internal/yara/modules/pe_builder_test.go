package modules

import (
	"encoding/binary"
	"fmt"
)

// A small deterministic PE writer for the tests: DOS header, optional Rich
// header, 32- or 64-bit headers, sections, and import, export, debug and
// resource tables in them, then an overlay.

type peSpec struct {
	is64      bool
	machine   uint16
	chars     uint16
	timestamp uint32
	subsystem uint16
	dllChars  uint16
	fileAlign uint32 // default 0x200
	imageBase uint64
	entry     uint32 // entry point RVA; default the start of .text
	entrySet  bool
	nRva      uint32 // NumberOfRvaAndSizes, default 16
	optExtra  int    // bytes added to SizeOfOptionalHeader
	rawSkew   uint32 // added to every section's PointerToRawData
	textRaw   uint32 // when > 0, .text's SizeOfRawData (data layout unchanged)
	imports   []impSpec
	delayed   []impSpec // delay-load imports
	delayVA   bool      // delay descriptors with virtual addresses, not RVAs
	noILT     bool      // imports through FirstThunk only
	exports   *expSpec
	rich      []richEntry
	richKey   uint32
	pdb       string
	nb10      bool
	resources int
	namedRes  bool // resource types and names by name, not ID
	// versionInfo, when not nil, adds an RT_VERSION resource with these
	// StringFileInfo pairs, split into two string tables if over 2.
	versionInfo [][2]string
	extraSecs   int // empty sections appended
	overlay     []byte
	nSections   int // when > 0, overrides NumberOfSections
	lfanewSet   bool
	lfanew      int32
	truncateTo  int // when > 0, the file is cut to this many bytes
}

type impSpec struct {
	dll      string
	names    []string
	ordinals []uint16
}

type expSpec struct {
	dll      string
	base     uint32
	names    []string // exported by name, function indexes 0..
	unnamed  int      // functions exported by ordinal only, after the named
	forwards []string // forwarders, after the unnamed
}

type richEntry struct{ id, count uint32 }

type blob struct {
	base uint32 // RVA of b[0]
	b    []byte
}

func (x *blob) rva() uint32 { return x.base + uint32(len(x.b)) }

func (x *blob) reserve(n int) int {
	off := len(x.b)
	x.b = append(x.b, make([]byte, n)...)
	return off
}

func (x *blob) put16(off int, v uint16) { binary.LittleEndian.PutUint16(x.b[off:], v) }
func (x *blob) put32(off int, v uint32) { binary.LittleEndian.PutUint32(x.b[off:], v) }
func (x *blob) put64(off int, v uint64) { binary.LittleEndian.PutUint64(x.b[off:], v) }

func (x *blob) cstr(s string) uint32 {
	r := x.rva()
	x.b = append(x.b, s...)
	x.b = append(x.b, 0)
	if len(x.b)%2 == 1 {
		x.b = append(x.b, 0)
	}
	return r
}

func (x *blob) align(n int) {
	for len(x.b)%n != 0 {
		x.b = append(x.b, 0)
	}
}

type builtSection struct {
	name  string
	va    uint32
	data  []byte
	chars uint32
}

// utf16 appends a resource directory string (length, then UTF-16LE) and
// returns its offset in the blob.
func (x *blob) utf16(s string) int {
	off := len(x.b)
	x.b = append(x.b, byte(len(s)), 0)
	for _, c := range s {
		x.b = append(x.b, byte(c), 0)
	}
	return off
}

// versionNode encodes a version resource node: length, value length,
// type, UTF-16 key, then the value and children, each 4-aligned.
func versionNode(key string, value []byte, valueLen int, text bool, children ...[]byte) []byte {
	b := &blob{}
	b.reserve(6)
	for _, c := range key {
		b.b = append(b.b, byte(c), 0)
	}
	b.b = append(b.b, 0, 0)
	b.align(4)
	b.b = append(b.b, value...)
	for _, c := range children {
		b.align(4)
		b.b = append(b.b, c...)
	}
	b.put16(0, uint16(len(b.b)))
	b.put16(2, uint16(valueLen))
	if text {
		b.put16(4, 1)
	}
	return b.b
}

func wide(s string) []byte {
	var b []byte
	for _, c := range s {
		b = append(b, byte(c), byte(c>>8))
	}
	return append(b, 0, 0)
}

func versionBlob(pairs [][2]string) []byte {
	var tables [][]byte
	for start := 0; start < len(pairs); start += 2 {
		var strs [][]byte
		for _, kv := range pairs[start:min(start+2, len(pairs))] {
			strs = append(strs, versionNode(kv[0], wide(kv[1]), len(kv[1])+1, true))
		}
		tables = append(tables, versionNode(fmt.Sprintf("04%02x04b0", 9+start), nil, 0, true, strs...))
	}
	fixed := make([]byte, 52)
	binary.LittleEndian.PutUint32(fixed, 0xfeef04bd)
	sfi := versionNode("StringFileInfo", nil, 0, true, tables...)
	vfi := versionNode("VarFileInfo", nil, 0, true, versionNode("Translation", []byte{9, 4, 0xb0, 4}, 4, false))
	return versionNode("VS_VERSION_INFO", fixed, 52, false, sfi, vfi)
}

func alignUp(v, a uint32) uint32 { return (v + a - 1) / a * a }

// build writes the PE file spec describes.
func (s peSpec) build() []byte {
	fileAlign := s.fileAlign
	if fileAlign == 0 {
		fileAlign = 0x200
	}
	nRva := s.nRva
	if nRva == 0 {
		nRva = 16
	}
	const textVA, rdataVA = 0x1000, 0x2000

	// DOS header and the Rich header at 0x80.
	hdr := &blob{}
	hdr.reserve(0x80)
	copy(hdr.b, "MZ")
	copy(hdr.b[0x40:], "This program cannot be run in DOS mode.\r\r\n$")
	if len(s.rich) > 0 {
		key := s.richKey
		start := hdr.reserve(16)
		hdr.put32(start, 0x536e6144^key)
		hdr.put32(start+4, key)
		hdr.put32(start+8, key)
		hdr.put32(start+12, key)
		for _, e := range s.rich {
			o := hdr.reserve(8)
			hdr.put32(o, e.id^key)
			hdr.put32(o+4, e.count^key)
		}
		o := hdr.reserve(8)
		copy(hdr.b[o:], "Rich")
		hdr.put32(o+4, key)
		hdr.align(16)
	}
	lfanew := int32(len(hdr.b))
	if s.lfanewSet {
		lfanew = s.lfanew
	}
	hdr.put32(0x3c, uint32(lfanew))
	if int(lfanew) > len(hdr.b) || lfanew < 0 {
		// The header goes where it fits; e_lfanew lies.
		lfanew = int32(len(hdr.b))
	}

	// Sections.
	text := &blob{base: textVA}
	text.reserve(0x180)
	for i := range text.b {
		text.b[i] = byte(i*7 + 3)
	}
	rdata := &blob{base: rdataVA}
	var dirs [16][2]uint32
	var iatVA, iatSize uint32
	if len(s.imports) > 0 {
		desc := rdata.reserve(20 * (len(s.imports) + 1))
		dirs[1] = [2]uint32{rdataVA, uint32(20 * (len(s.imports) + 1))}
		w := 4
		if s.is64 {
			w = 8
		}
		for i, imp := range s.imports {
			n := len(imp.names) + len(imp.ordinals)
			iltRVA := rdata.rva()
			ilt := rdata.reserve(w * (n + 1))
			iat := rdata.reserve(w * (n + 1))
			if iatVA == 0 {
				iatVA = rdataVA + uint32(iat)
			}
			iatSize += uint32(w * (n + 1))
			put := func(j int, v uint64) {
				if w == 8 {
					rdata.put64(ilt+8*j, v)
					rdata.put64(iat+8*j, v)
				} else {
					rdata.put32(ilt+4*j, uint32(v))
					rdata.put32(iat+4*j, uint32(v))
				}
			}
			for j, name := range imp.names {
				r := rdata.rva()
				rdata.b = append(rdata.b, byte(j), 0)
				rdata.cstr(name)
				put(j, uint64(r))
			}
			for j, ord := range imp.ordinals {
				flag := uint64(1) << 31
				if s.is64 {
					flag = 1 << 63
				}
				put(len(imp.names)+j, flag|uint64(ord))
			}
			d := desc + 20*i
			if !s.noILT {
				rdata.put32(d, iltRVA)
			}
			rdata.put32(d+12, rdata.cstr(imp.dll))
			rdata.put32(d+16, rdataVA+uint32(iat))
		}
	}
	if len(s.delayed) > 0 {
		rdata.align(4)
		start := rdata.rva()
		desc := rdata.reserve(32 * (len(s.delayed) + 1))
		dirs[13] = [2]uint32{start, uint32(32 * (len(s.delayed) + 1))}
		w := 4
		if s.is64 {
			w = 8
		}
		base := uint32(0x400000)
		if s.is64 {
			base = 0x40000000 // low 32 bits of the default 64-bit base
		}
		addr := func(rva uint32) uint32 {
			if s.delayVA {
				return rva + base
			}
			return rva
		}
		for i, imp := range s.delayed {
			n := len(imp.names) + len(imp.ordinals)
			intRVA := rdata.rva()
			ilt := rdata.reserve(w * (n + 1))
			iatRVA := rdata.rva()
			iat := rdata.reserve(w * (n + 1))
			// The address table starts out pointing at the loader stubs.
			put := func(j int, v uint64) {
				stub := uint64(addr(textVA + 0x100 + uint32(8*j)))
				if w == 8 {
					rdata.put64(ilt+8*j, v)
					rdata.put64(iat+8*j, stub)
				} else {
					rdata.put32(ilt+4*j, uint32(v))
					rdata.put32(iat+4*j, uint32(stub))
				}
			}
			for j, name := range imp.names {
				r := rdata.rva()
				rdata.b = append(rdata.b, byte(j), 0)
				rdata.cstr(name)
				put(j, uint64(addr(r)))
			}
			for j, ord := range imp.ordinals {
				flag := uint64(1) << 31
				if s.is64 {
					flag = 1 << 63
				}
				put(len(imp.names)+j, flag|uint64(ord))
			}
			d := desc + 32*i
			if !s.delayVA {
				rdata.put32(d, 1)
			}
			rdata.put32(d+4, addr(rdata.cstr(imp.dll)))
			rdata.put32(d+12, addr(iatRVA))
			rdata.put32(d+16, addr(intRVA))
		}
	}
	if e := s.exports; e != nil {
		rdata.align(4)
		start := rdata.rva()
		dir := rdata.reserve(40)
		nFuncs := len(e.names) + e.unnamed + len(e.forwards)
		funcs := rdata.reserve(4 * nFuncs)
		names := rdata.reserve(4 * len(e.names))
		ords := rdata.reserve(2 * len(e.names))
		rdata.put32(dir+4, 0x5f000000+uint32(nFuncs))
		rdata.put32(dir+12, rdata.cstr(e.dll))
		rdata.put32(dir+16, e.base)
		rdata.put32(dir+20, uint32(nFuncs))
		rdata.put32(dir+24, uint32(len(e.names)))
		rdata.put32(dir+28, rdataVA+uint32(funcs))
		rdata.put32(dir+32, rdataVA+uint32(names))
		rdata.put32(dir+36, rdataVA+uint32(ords))
		for i := 0; i < len(e.names)+e.unnamed; i++ {
			rdata.put32(funcs+4*i, textVA+uint32(16*i))
		}
		// The name table runs in reverse function order, so the two
		// tables differ: entry i names function len-1-i.
		for i := range e.names {
			idx := len(e.names) - 1 - i
			rdata.put32(names+4*i, rdata.cstr(e.names[idx]))
			rdata.put16(ords+2*i, uint16(idx))
		}
		for i, fw := range e.forwards {
			rdata.put32(funcs+4*(len(e.names)+e.unnamed+i), rdata.cstr(fw))
		}
		dirs[0] = [2]uint32{start, rdata.rva() - start}
	}
	var debugFix func(rdataRaw uint32)
	if s.pdb != "" {
		rdata.align(4)
		dbg := rdata.reserve(28)
		dirs[6] = [2]uint32{rdataVA + uint32(dbg), 28}
		cvRVA := rdata.rva()
		cv := len(rdata.b)
		if s.nb10 {
			rdata.b = append(rdata.b, "NB10"...)
			rdata.reserve(12)
		} else {
			rdata.b = append(rdata.b, "RSDS"...)
			rdata.reserve(20)
		}
		rdata.cstr(s.pdb)
		rdata.put32(dbg+12, 2)
		rdata.put32(dbg+16, uint32(len(rdata.b)-cv))
		rdata.put32(dbg+20, cvRVA)
		debugFix = func(rdataRaw uint32) { rdata.put32(dbg+24, rdataRaw+uint32(cv)) }
	}
	if len(rdata.b) == 0 {
		rdata.reserve(16)
	}
	dirs[12] = [2]uint32{iatVA, iatSize}

	// .data and .rsrc follow .rdata, at 0x4000 and 0x5000 unless it is big.
	dataVA := max(0x4000, alignUp(rdataVA+uint32(len(rdata.b)), 0x1000))
	rsrcVA := dataVA + 0x1000
	data := &blob{base: dataVA}
	data.reserve(0x40)
	copy(data.b, "some initialised data")

	secs := []builtSection{
		{".text", textVA, text.b, 0x60000020},
		{".rdata", rdataVA, rdata.b, 0x40000040},
		{".data", dataVA, data.b, 0xc0000040},
	}
	if s.resources > 0 || s.versionInfo != nil {
		rs := &blob{base: rsrcVA}
		// Root: one ID entry per type; each type: one name; each name: one
		// language leaf. The version information is the last type.
		n := s.resources
		if s.versionInfo != nil {
			n++
		}
		root := rs.reserve(16 + 8*n)
		rs.put16(root+14, uint16(n))
		for i := 0; i < n; i++ {
			typeDir := rs.reserve(16 + 8)
			rs.put16(typeDir+14, 1)
			nameDir := rs.reserve(16 + 8)
			rs.put16(nameDir+14, 1)
			leaf := rs.reserve(16)
			rs.put32(root+16+8*i, uint32(i+1))
			rs.put32(root+16+8*i+4, 0x80000000|uint32(typeDir))
			rs.put32(typeDir+16, uint32(100+i))
			if s.namedRes {
				rs.put32(root+16+8*i, 0x80000000|uint32(rs.utf16(fmt.Sprintf("TYPE%d", i))))
				rs.put32(typeDir+16, 0x80000000|uint32(rs.utf16("NAME")))
			}
			rs.put32(typeDir+20, 0x80000000|uint32(nameDir))
			rs.put32(nameDir+16, 0x409)
			rs.put32(nameDir+20, uint32(leaf))
			rs.put32(leaf, rsrcVA+uint32(leaf))
			rs.put32(leaf+4, 16)
			if s.versionInfo != nil && i == n-1 {
				rs.put32(root+16+8*i, 16)
				rs.align(4)
				v := versionBlob(s.versionInfo)
				rs.put32(leaf, rs.rva())
				rs.put32(leaf+4, uint32(len(v)))
				rs.b = append(rs.b, v...)
			}
		}
		dirs[2] = [2]uint32{rsrcVA, uint32(len(rs.b))}
		secs = append(secs, builtSection{".rsrc", rsrcVA, rs.b, 0x40000040})
	}
	for i := 0; i < s.extraSecs; i++ {
		secs = append(secs, builtSection{".x" + string(rune('a'+i%26)), rsrcVA + 0x1000*uint32(i+1), []byte{1, 2, 3}, 0x40000040})
	}

	// Headers.
	optSize := 224
	if s.is64 {
		optSize = 240
	}
	optSize += s.optExtra
	nt := &blob{}
	nt.reserve(4 + 20 + optSize + 40*len(secs))
	copy(nt.b, "PE\x00\x00")
	machine := s.machine
	if machine == 0 {
		machine = 0x14c
		if s.is64 {
			machine = 0x8664
		}
	}
	nSecs := len(secs)
	if s.nSections > 0 {
		nSecs = s.nSections
	}
	nt.put16(4, machine)
	nt.put16(6, uint16(nSecs))
	nt.put32(8, s.timestamp)
	nt.put16(20, uint16(optSize))
	nt.put16(22, s.chars|0x2)
	oh := 24
	entry := uint32(textVA)
	if s.entrySet {
		entry = s.entry
	}
	headersEnd := uint32(int(lfanew) + len(nt.b))
	sizeOfHeaders := alignUp(headersEnd, fileAlign)
	if s.is64 {
		nt.put16(oh, 0x20b)
		nt.put64(oh+24, s.imageBase|0x140000000)
	} else {
		nt.put16(oh, 0x10b)
		nt.put32(oh+24, rdataVA)
		nt.put32(oh+28, uint32(s.imageBase)|0x400000)
	}
	nt.b[oh+2], nt.b[oh+3] = 14, 29
	nt.put32(oh+4, uint32(len(text.b)))
	nt.put32(oh+8, uint32(len(rdata.b)+len(data.b)))
	nt.put32(oh+16, entry)
	nt.put32(oh+20, textVA)
	nt.put32(oh+32, 0x1000)
	nt.put32(oh+36, fileAlign)
	nt.put16(oh+40, 6)
	nt.put16(oh+42, 1)
	nt.put16(oh+44, 2)
	nt.put16(oh+46, 3)
	nt.put16(oh+48, 5)
	nt.put16(oh+50, 2)
	nt.put32(oh+56, rsrcVA+0x1000*uint32(1+s.extraSecs))
	nt.put32(oh+60, sizeOfHeaders)
	nt.put32(oh+64, 0x1234)
	subsystem := s.subsystem
	if subsystem == 0 {
		subsystem = 2
	}
	nt.put16(oh+68, subsystem)
	nt.put16(oh+70, s.dllChars)
	dirOff := oh + 96
	if s.is64 {
		nt.put64(oh+72, 0x100000)
		nt.put64(oh+80, 0x1000)
		nt.put32(oh+108, nRva)
		dirOff = oh + 112
	} else {
		nt.put32(oh+72, 0x100000)
		nt.put32(oh+76, 0x1000)
		nt.put32(oh+92, nRva)
	}
	for i, d := range dirs {
		nt.put32(dirOff+8*i, d[0])
		nt.put32(dirOff+8*i+4, d[1])
	}

	// Section table and raw data.
	raw := sizeOfHeaders
	table := 24 + optSize
	var body []byte
	for i, sec := range secs {
		if sec.name == ".rdata" && debugFix != nil {
			debugFix(raw + s.rawSkew)
		}
		size := alignUp(uint32(len(sec.data)), fileAlign)
		t := table + 40*i
		copy(nt.b[t:t+8], sec.name)
		nt.put32(t+8, uint32(len(sec.data)))
		nt.put32(t+12, sec.va)
		nt.put32(t+16, size)
		if sec.name == ".text" && s.textRaw > 0 {
			nt.put32(t+16, s.textRaw)
		}
		nt.put32(t+20, raw+s.rawSkew)
		nt.put32(t+36, sec.chars)
		chunk := make([]byte, size)
		copy(chunk, sec.data)
		body = append(body, chunk...)
		raw += size
	}

	out := append([]byte{}, hdr.b[:lfanew]...)
	out = append(out, nt.b...)
	for uint32(len(out)) < sizeOfHeaders+s.rawSkew {
		out = append(out, 0)
	}
	out = append(out, body...)
	out = append(out, s.overlay...)
	if s.truncateTo > 0 && s.truncateTo < len(out) {
		out = out[:s.truncateTo]
	}
	return out
}
