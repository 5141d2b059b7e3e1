package yaragen

import (
	"encoding/binary"
	"fmt"
)

// peInfo is what a fake PE file declares, for rules to aim at.
type peInfo struct {
	is64       bool
	dll        bool
	sections   []string
	imports    []peImport
	entryPoint int // file offset, as pe.entry_point reports it
	timestamp  uint32
}

type peImport struct {
	dll   string
	funcs []string
}

const (
	peFileAlign = 0x200
	peSectAlign = 0x1000
	peHeaders   = 0x400
	peLfanew    = 0x80
)

func alignUp(n, a int) int { return (n + a - 1) / a * a }

// genPE writes a small but well-formed PE32 or PE32+ image: DOS header and
// stub, COFF and optional headers, a section table, a code section, an
// import section with descriptors, lookup and address tables, and data
// sections carrying planted markers; sometimes an overlay.
func genPE(r *rng, b *builder) {
	info := &peInfo{is64: r.chance(40), dll: r.chance(25), timestamp: uint32(r.between(0x50000000, 0x66000000))}
	nsec := r.between(2, 5)
	info.sections = []string{pick(r, []string{".text", ".text", "CODE", "UPX0"})}
	for len(info.sections) < nsec {
		info.sections = append(info.sections, pick(r, peSectionNames))
	}
	for _, i := range perm(r, len(peDLLs))[:r.between(1, len(peDLLs))] {
		d := peDLLs[i]
		var fs []string
		for _, j := range perm(r, len(d.funcs))[:r.between(1, len(d.funcs))] {
			fs = append(fs, d.funcs[j])
		}
		info.imports = append(info.imports, peImport{dll: d.name, funcs: fs})
	}

	// Section contents; section 1 holds the imports.
	contents := make([][]byte, nsec)
	code := []byte{0x55, 0x8B, 0xEC, 0x83, 0xEC, 0x10}
	code = append(code, r.bytes(r.between(64, 3000))...)
	if r.chance(40) {
		k := r.intn(len(sigs))
		code = append(append(append(code, sigs[k][0]...), r.bytes(r.intn(maxGap+1))...), sigs[k][1]...)
	}
	code = append(code, 0xC3)
	contents[0] = code
	entry := r.intn(len(code) - 1)
	var dirRVA, dirSize uint32
	contents[1], dirRVA, dirSize = importSection(2*peSectAlign, info.imports, info.is64, r)
	type secPlant struct {
		sec int
		p   plant
	}
	var dataPlants []secPlant
	for s := 2; s < nsec; s++ {
		var t builder
		t.binaryChunk(r, r.between(32, 1500))
		if r.chance(60) {
			t.write([]byte{0})
			m := pick(r, markers)
			t.plantAs(m, "plain", 0, []byte(m))
			t.write([]byte{0})
		}
		contents[s] = t.buf.Bytes()
		for _, p := range t.plants {
			dataPlants = append(dataPlants, secPlant{s, p})
		}
	}

	raw := make([]int, nsec)
	off := peHeaders
	for i, c := range contents {
		raw[i] = off
		off += alignUp(len(c), peFileAlign)
	}
	info.entryPoint = raw[0] + entry
	sizeOfImage := (nsec + 1) * peSectAlign

	h := make([]byte, peHeaders)
	copy(h, "MZ")
	binary.LittleEndian.PutUint16(h[2:], 0x90)
	binary.LittleEndian.PutUint16(h[4:], 3)
	binary.LittleEndian.PutUint16(h[8:], 4)
	binary.LittleEndian.PutUint16(h[0x18:], 0x40)
	binary.LittleEndian.PutUint32(h[0x3C:], peLfanew)
	copy(h[0x40:], "\x0e\x1f\xba\x0e\x00\xb4\x09\xcd\x21\xb8\x01\x4c\xcd\x21This program cannot be run in DOS mode.\r\r\n$")
	copy(h[peLfanew:], "PE\x00\x00")
	coff := h[peLfanew+4:]
	machine, optSize, chars := uint16(0x14c), 224, uint16(0x0102)
	if info.is64 {
		machine, optSize, chars = 0x8664, 240, 0x0022
	}
	if info.dll {
		chars |= 0x2000
	}
	binary.LittleEndian.PutUint16(coff[0:], machine)
	binary.LittleEndian.PutUint16(coff[2:], uint16(nsec))
	binary.LittleEndian.PutUint32(coff[4:], info.timestamp)
	binary.LittleEndian.PutUint16(coff[16:], uint16(optSize))
	binary.LittleEndian.PutUint16(coff[18:], chars)

	opt := coff[20:]
	le := binary.LittleEndian
	w16 := func(at int, v uint16) { le.PutUint16(opt[at:], v) }
	w32 := func(at int, v uint32) { le.PutUint32(opt[at:], v) }
	codeSize := uint32(alignUp(len(contents[0]), peFileAlign))
	var dataSize uint32
	for _, c := range contents[1:] {
		dataSize += uint32(alignUp(len(c), peFileAlign))
	}
	w16(0, 0x10b)
	if info.is64 {
		w16(0, 0x20b)
	}
	opt[2], opt[3] = 14, 0
	w32(4, codeSize)
	w32(8, dataSize)
	w32(16, uint32(peSectAlign+entry))
	w32(20, peSectAlign)
	var p int // offset of SectionAlignment
	if info.is64 {
		le.PutUint64(opt[24:], 0x140000000)
		p = 32
	} else {
		w32(24, 2*peSectAlign)
		w32(28, 0x400000)
		p = 32
	}
	w32(p, peSectAlign)
	w32(p+4, peFileAlign)
	w16(p+8, 6)  // OS major
	w16(p+16, 6) // subsystem major
	w32(p+24, uint32(sizeOfImage))
	w32(p+28, peHeaders)
	w16(p+36, uint16(pick(r, []int{2, 3})))
	w16(p+38, 0x8140)
	q := p + 40 // stack and heap sizes
	for i, v := range []uint64{0x100000, 0x1000, 0x100000, 0x1000} {
		if info.is64 {
			le.PutUint64(opt[q+8*i:], v)
		} else {
			w32(q+4*i, uint32(v))
		}
	}
	if info.is64 {
		q += 32
	} else {
		q += 16
	}
	w32(q+4, 16) // NumberOfRvaAndSizes
	dirs := q + 8
	w32(dirs+8, dirRVA) // import directory
	w32(dirs+12, dirSize)

	sec := opt[optSize:]
	chars32 := []uint32{0x60000020, 0x40000040, 0xC0000040}
	for i, c := range contents {
		e := sec[40*i:]
		copy(e[:8], info.sections[i])
		le.PutUint32(e[8:], uint32(len(c)))
		le.PutUint32(e[12:], uint32((i+1)*peSectAlign))
		le.PutUint32(e[16:], uint32(alignUp(len(c), peFileAlign)))
		le.PutUint32(e[20:], uint32(raw[i]))
		le.PutUint32(e[36:], chars32[min(i, 2)])
	}

	b.write(h)
	for i, c := range contents {
		b.write(c)
		b.write(make([]byte, alignUp(len(c), peFileAlign)-len(c)))
		for _, dp := range dataPlants {
			if dp.sec == i {
				p := dp.p
				p.off += raw[i]
				b.plants = append(b.plants, p)
			}
		}
	}
	if r.chance(30) {
		m := pick(r, markers)
		b.write(r.bytes(r.between(16, 500)))
		b.plantAs(m, "plain", 0, []byte(m))
	}
	b.pe = info
}

// importSection lays out an import directory at rva: descriptors, then the
// lookup tables, the address tables, the hint/name entries and DLL names.
func importSection(rva int, imps []peImport, is64 bool, r *rng) ([]byte, uint32, uint32) {
	ptr := 4
	if is64 {
		ptr = 8
	}
	off := (len(imps) + 1) * 20
	ilt := make([]int, len(imps))
	iat := make([]int, len(imps))
	for i, imp := range imps {
		ilt[i] = off
		off += (len(imp.funcs) + 1) * ptr
	}
	for i, imp := range imps {
		iat[i] = off
		off += (len(imp.funcs) + 1) * ptr
	}
	hints := make([][]int, len(imps))
	for i, imp := range imps {
		for _, f := range imp.funcs {
			off = alignUp(off, 2)
			hints[i] = append(hints[i], off)
			off += 2 + len(f) + 1
		}
	}
	names := make([]int, len(imps))
	for i, imp := range imps {
		names[i] = off
		off += len(imp.dll) + 1
	}
	data := make([]byte, off)
	le := binary.LittleEndian
	for i, imp := range imps {
		d := data[20*i:]
		le.PutUint32(d[0:], uint32(rva+ilt[i]))
		le.PutUint32(d[12:], uint32(rva+names[i]))
		le.PutUint32(d[16:], uint32(rva+iat[i]))
		copy(data[names[i]:], imp.dll)
		for j, f := range imp.funcs {
			for _, table := range []int{ilt[i], iat[i]} {
				if is64 {
					le.PutUint64(data[table+8*j:], uint64(rva+hints[i][j]))
				} else {
					le.PutUint32(data[table+4*j:], uint32(rva+hints[i][j]))
				}
			}
			le.PutUint16(data[hints[i][j]:], uint16(r.intn(900)))
			copy(data[hints[i][j]+2:], f)
		}
	}
	return data, uint32(rva), uint32((len(imps) + 1) * 20)
}

func perm(r *rng, n int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	for i := n - 1; i > 0; i-- {
		j := r.intn(i + 1)
		p[i], p[j] = p[j], p[i]
	}
	return p
}

func (p peInfo) String() string {
	return fmt.Sprintf("pe(64=%v dll=%v sections=%v)", p.is64, p.dll, p.sections)
}
