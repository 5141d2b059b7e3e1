package modules

import (
	"bytes"
	"encoding/binary"

	"athena/internal/peord"
)

// Limits on the work done for one file, as YARA caps them.
const (
	maxPESections = 96
	maxPEImports  = 16384 // descriptors, and functions per descriptor
	// maxPEThunks bounds the thunks read over all descriptors (YARA's
	// limits alone allow 16384 x 16384); real files have a few thousand.
	maxPEThunks        = 1 << 18
	maxPEExports       = 8192
	maxPEResources     = 65536
	maxPEDebugEntries  = 16
	maxImportNameBytes = 512
	maxRichEntries     = 1024
	numDataDirectories = 16

	imageDirExport   = 0
	imageDirImport   = 1
	imageDirResource = 2
	imageDirDebug    = 6

	fileHeaderSize   = 20
	sectionEntrySize = 40
	optMagic32       = 0x10b
	optMagic64       = 0x20b
)

// peFile is what the parser found in a PE file. Offsets are file offsets;
// every slice read from the data has been bounds-checked.
type peFile struct {
	data []byte // the bytes the scanner kept
	size int64  // the file's full size

	ntOffset  int64 // e_lfanew
	machine   int64
	nSections int64 // as the header says
	timestamp int64
	symtabPtr int64
	nSymbols  int64
	optSize   int64
	chars     int64

	is64 bool
	opt  map[string]int64 // optional header fields, by YARA name
	dirs [][2]int64       // data directories present: virtual address, size
	secs []peSection
	// secsOK is false when the section table the header declares does
	// not fit in the data; YARA then maps no address at all.
	secsOK     bool
	imports    []peImport
	delayed    []peImport // delay-load imports
	exports    *peExports
	rich       *peRich
	pdbPath    []byte
	res        *peResources // nil without a resource directory
	version    []peVersionPair
	versionRes int // RT_VERSION resources seen
}

type peResources struct {
	timestamp, major, minor int64
	list                    []peResource
}

type peResource struct {
	rva, length int64
	path        [3]peResourceName // type, name, language
}

// peResourceName is an ID, or a name when name is not nil.
type peResourceName struct {
	id   int64
	name []byte
}

type peSection struct {
	name                    []byte
	va, vsize, raw, rawSize int64
	chars                   int64
	relocPtr, linePtr       int64
	nRelocs, nLines         int64
}

type peImport struct {
	dll    []byte
	funcs  []peImportFunc
	thunks int64 // thunks read, funcs and the unreadable ones
}

type peImportFunc struct {
	name      []byte // for an import by ordinal, its known name or "ordN"
	ordinal   int64  // only for an import by ordinal
	byOrdinal bool
}

type peExports struct {
	name      []byte
	timestamp int64
	funcs     []peExport
}

type peExport struct {
	name    []byte // nil when the function is exported by ordinal only
	ordinal int64
	offset  int64 // when not a forwarder; -1 when the address does not map into the file
	forward []byte
}

type peRich struct {
	offset, length, key int64
	raw, clear          []byte
}

// u16, u32 and u64 read little-endian integers at off, ok false when the
// bytes are not all there.
func (p *peFile) u16(off int64) (int64, bool) {
	if off < 0 || off+2 > int64(len(p.data)) {
		return 0, false
	}
	return int64(binary.LittleEndian.Uint16(p.data[off:])), true
}

func (p *peFile) u32(off int64) (int64, bool) {
	if off < 0 || off+4 > int64(len(p.data)) {
		return 0, false
	}
	return int64(binary.LittleEndian.Uint32(p.data[off:])), true
}

func (p *peFile) u64(off int64) (int64, bool) {
	if off < 0 || off+8 > int64(len(p.data)) {
		return 0, false
	}
	return int64(binary.LittleEndian.Uint64(p.data[off:])), true
}

func (p *peFile) fits(off, n int64) bool {
	return off >= 0 && n >= 0 && off <= int64(len(p.data)) && n <= int64(len(p.data))-off
}

// cString reads a NUL-terminated string at off of at most max bytes; a
// string the data ends in without a NUL is returned as far as it goes.
func (p *peFile) cString(off int64, max int) ([]byte, bool) {
	if off < 0 || off >= int64(len(p.data)) {
		return nil, false
	}
	b := p.data[off:]
	if len(b) > max {
		b = b[:max]
	}
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return b, true
}

// parsePE parses the headers of a PE file and the tables they reach, or
// returns nil when data is not a PE file.
func parsePE(data []byte, size int64) *peFile {
	p := &peFile{data: data, size: size}
	if len(data) < 64 || data[0] != 'M' || data[1] != 'Z' {
		return nil
	}
	lfanew, _ := p.u32(0x3c)
	lfanew = int64(int32(lfanew))
	if lfanew < 0 || !p.fits(lfanew, 4+fileHeaderSize) || !bytes.Equal(data[lfanew:lfanew+4], []byte("PE\x00\x00")) {
		return nil
	}
	p.ntOffset = lfanew
	fh := lfanew + 4
	p.machine, _ = p.u16(fh)
	p.nSections, _ = p.u16(fh + 2)
	p.timestamp, _ = p.u32(fh + 4)
	p.symtabPtr, _ = p.u32(fh + 8)
	p.nSymbols, _ = p.u32(fh + 12)
	p.optSize, _ = p.u16(fh + 16)
	p.chars, _ = p.u16(fh + 18)

	oh := fh + fileHeaderSize
	magic, _ := p.u16(oh)
	p.is64 = magic == optMagic64
	optLen := int64(96 + 16*8)
	if p.is64 {
		optLen = 112 + 16*8
	}
	if !p.fits(oh, optLen) {
		return nil
	}
	p.parseOptionalHeader(oh)
	p.parseSections(oh + p.optSize)
	p.parseRich()
	p.parseImports()
	p.parseDelayedImports()
	p.parseExports()
	p.parseDebug()
	p.parseResources()
	return p
}

func (p *peFile) parseOptionalHeader(oh int64) {
	get := func(off, width int64) int64 {
		var v int64
		switch width {
		case 1:
			v = int64(p.data[oh+off])
		case 2:
			v, _ = p.u16(oh + off)
		case 4:
			v, _ = p.u32(oh + off)
		default:
			v, _ = p.u64(oh + off)
		}
		return v
	}
	p.opt = map[string]int64{
		"opthdr_magic":               get(0, 2),
		"linker_major":               get(2, 1),
		"linker_minor":               get(3, 1),
		"size_of_code":               get(4, 4),
		"size_of_initialized_data":   get(8, 4),
		"size_of_uninitialized_data": get(12, 4),
		"entry_point_raw":            get(16, 4),
		"base_of_code":               get(20, 4),
		"section_alignment":          get(32, 4),
		"file_alignment":             get(36, 4),
		"os_major":                   get(40, 2),
		"os_minor":                   get(42, 2),
		"image_major":                get(44, 2),
		"image_minor":                get(46, 2),
		"subsystem_major":            get(48, 2),
		"subsystem_minor":            get(50, 2),
		"win32_version_value":        get(52, 4),
		"size_of_image":              get(56, 4),
		"size_of_headers":            get(60, 4),
		"checksum":                   get(64, 4),
		"subsystem":                  get(68, 2),
		"dll_characteristics":        get(70, 2),
	}
	dirOff := int64(96)
	if p.is64 {
		p.opt["image_base"] = get(24, 8)
		p.opt["size_of_stack_reserve"] = get(72, 8)
		p.opt["size_of_stack_commit"] = get(80, 8)
		p.opt["size_of_heap_reserve"] = get(88, 8)
		p.opt["size_of_heap_commit"] = get(96, 8)
		p.opt["loader_flags"] = get(104, 4)
		p.opt["number_of_rva_and_sizes"] = get(108, 4)
		dirOff = 112
	} else {
		p.opt["base_of_data"] = get(24, 4)
		p.opt["image_base"] = get(28, 4)
		p.opt["size_of_stack_reserve"] = get(72, 4)
		p.opt["size_of_stack_commit"] = get(76, 4)
		p.opt["size_of_heap_reserve"] = get(80, 4)
		p.opt["size_of_heap_commit"] = get(84, 4)
		p.opt["loader_flags"] = get(88, 4)
		p.opt["number_of_rva_and_sizes"] = get(92, 4)
	}
	// YARA lists no directory at all when the header claims more than 16,
	// yet still finds the tables through them.
	for i := int64(0); i < numDataDirectories; i++ {
		va := get(dirOff+8*i, 4)
		sz := get(dirOff+8*i+4, 4)
		p.dirs = append(p.dirs, [2]int64{va, sz})
	}
}

func (p *peFile) parseSections(off int64) {
	n := min(p.nSections, maxPESections)
	p.secsOK = true
	for i := int64(0); i < n; i++ {
		s := off + i*sectionEntrySize
		if !p.fits(s, sectionEntrySize) {
			p.secsOK = false
			break
		}
		// YARA keeps the 8 bytes but for trailing NULs: ".da\x00a" stays.
		name := bytes.TrimRight(p.data[s:s+8], "\x00")
		var sec peSection
		sec.name = name
		sec.vsize, _ = p.u32(s + 8)
		sec.va, _ = p.u32(s + 12)
		sec.rawSize, _ = p.u32(s + 16)
		sec.raw, _ = p.u32(s + 20)
		sec.relocPtr, _ = p.u32(s + 24)
		sec.linePtr, _ = p.u32(s + 28)
		sec.nRelocs, _ = p.u16(s + 32)
		sec.nLines, _ = p.u16(s + 34)
		sec.chars, _ = p.u32(s + 36)
		p.secs = append(p.secs, sec)
	}
}

// directory returns data directory i, ok false when it is empty or past
// the number the header declares (YARA lets index n through).
func (p *peFile) directory(i int) (va, size int64, ok bool) {
	if i >= len(p.dirs) || int64(i) > p.opt["number_of_rva_and_sizes"] {
		return 0, 0, false
	}
	d := p.dirs[i]
	return d[0], d[1], d[0] != 0
}

// rvaToOffset maps a relative virtual address to a file offset, -1 when
// it does not map into the file, as YARA maps them: addresses below every
// section map to themselves; otherwise, of the sections whose virtual size
// holds rva, the one starting highest does (the last of equals), provided
// rva is also within its raw size; its raw offset is rounded down to the
// file alignment (at most 0x200). Nothing maps when the section table is
// cut short.
func (p *peFile) rvaToOffset(rva int64) int64 {
	if !p.secsOK {
		return -1
	}
	lowest := int64(0xffffffff)
	var sec *peSection
	for i := range p.secs {
		s := &p.secs[i]
		lowest = min(lowest, s.va)
		if rva >= s.va && rva-s.va < s.vsize && (sec == nil || sec.va <= s.va) {
			sec = s
		}
	}
	var off int64
	switch {
	case rva < lowest:
		off = rva
	case sec == nil || rva-sec.va >= sec.rawSize:
		return -1
	default:
		raw := sec.raw
		if align := min(p.opt["file_alignment"], 0x200); align > 0 {
			raw -= raw % align
		}
		off = raw + rva - sec.va
	}
	if off < int64(len(p.data)) {
		return off
	}
	return -1
}

func (p *peFile) parseImports() {
	va, _, ok := p.directory(imageDirImport)
	if !ok {
		return
	}
	off := p.rvaToOffset(va)
	if off < 0 {
		return
	}
	const descSize = 20
	budget := int64(maxPEThunks)
	for n := 0; n < maxPEImports && p.fits(off, descSize); n, off = n+1, off+descSize {
		origThunk, _ := p.u32(off)
		nameRVA, _ := p.u32(off + 12)
		firstThunk, _ := p.u32(off + 16)
		if nameRVA == 0 {
			break
		}
		// A descriptor whose name cannot be read still counts in
		// number_of_imports, as in YARA, but lists no functions; one whose
		// name is not a valid file name is skipped.
		dll, ok := p.cString(p.rvaToOffset(nameRVA), 256)
		if !ok {
			p.imports = append(p.imports, peImport{})
			continue
		}
		if !validDLLName(dll) {
			continue
		}
		// The lookup table, or the address table when there is no lookup
		// table or it is out of the file.
		thunkOff := p.rvaToOffset(origThunk)
		if origThunk == 0 || thunkOff < 0 {
			thunkOff = p.rvaToOffset(firstThunk)
		}
		imp := peImport{dll: dll}
		if thunkOff >= 0 {
			imp.funcs, imp.thunks = p.importFuncs(thunkOff, dll, min(budget, maxPEImports))
			budget -= imp.thunks
		}
		p.imports = append(p.imports, imp)
	}
}

// parseDelayedImports reads the delay-load descriptors (32 bytes each).
// Their addresses are RVAs when bit 0 of the attributes is set, virtual
// addresses otherwise. Like YARA, a function list ends at the first zero
// in either the name table or the address table.
func (p *peFile) parseDelayedImports() {
	const imageDirDelayImport = 13
	va, _, ok := p.directory(imageDirDelayImport)
	if !ok {
		return
	}
	off := p.rvaToOffset(va)
	if off < 0 {
		return
	}
	width := int64(4)
	ordinalFlag := uint64(1) << 31
	if p.is64 {
		width, ordinalFlag = 8, 1<<63
	}
	thunk := func(off int64) (int64, bool) {
		if p.is64 {
			return p.u64(off)
		}
		return p.u32(off)
	}
	budget := int64(maxPEThunks)
	for n := 0; n < maxPEImports && p.fits(off, 32); n, off = n+1, off+32 {
		attrs, _ := p.u32(off)
		nameRVA, _ := p.u32(off + 4)
		iatRVA, _ := p.u32(off + 12)
		intRVA, _ := p.u32(off + 16)
		if nameRVA == 0 {
			break
		}
		var base int64
		if attrs&1 == 0 {
			base = p.opt["image_base"]
		}
		dll, ok := p.cString(p.rvaToOffset(nameRVA-base), 256)
		if !ok || !validDLLName(dll) {
			continue
		}
		imp := peImport{dll: dll}
		intOff, iatOff := p.rvaToOffset(intRVA-base), p.rvaToOffset(iatRVA-base)
		for j := int64(0); intOff >= 0 && iatOff >= 0 && j < min(budget, maxPEImports); j++ {
			name, ok1 := thunk(intOff + j*width)
			fn, ok2 := thunk(iatOff + j*width)
			if !ok1 || !ok2 || name == 0 || fn == 0 {
				break
			}
			imp.thunks++
			if uint64(name)&ordinalFlag != 0 {
				ord := name & 0xffff
				imp.funcs = append(imp.funcs, peImportFunc{name: ordinalName(dll, ord), ordinal: ord, byOrdinal: true})
				continue
			}
			nameOff := p.rvaToOffset(name - base)
			if nameOff < 0 || !p.fits(nameOff, 3) {
				continue
			}
			fname, _ := p.cString(nameOff+2, maxImportNameBytes)
			imp.funcs = append(imp.funcs, peImportFunc{name: fname})
		}
		budget -= imp.thunks
		p.delayed = append(p.delayed, imp)
	}
}

// validDLLName reports whether YARA accepts b as an imported DLL's name:
// not empty, and no control characters nor any of "*<>?|.
func validDLLName(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c < 0x20 || bytes.IndexByte([]byte(`"*<>?|`), c) >= 0 {
			return false
		}
	}
	return true
}

// importFuncs reads a thunk array. Every thunk counts in thunks; those
// naming a function that cannot be read are left out of funcs, as YARA
// leaves them out.
func (p *peFile) importFuncs(off int64, dll []byte, limit int64) (funcs []peImportFunc, thunks int64) {
	width := int64(4)
	ordinalFlag := uint64(1) << 31
	if p.is64 {
		width, ordinalFlag = 8, 1<<63
	}
	for ; thunks < limit; thunks, off = thunks+1, off+width {
		var v int64
		var ok bool
		if p.is64 {
			v, ok = p.u64(off)
		} else {
			v, ok = p.u32(off)
		}
		if !ok || v == 0 {
			break
		}
		if uint64(v)&ordinalFlag != 0 {
			ord := v & 0xffff
			funcs = append(funcs, peImportFunc{name: ordinalName(dll, ord), ordinal: ord, byOrdinal: true})
			continue
		}
		// An IMAGE_IMPORT_BY_NAME: a 2-byte hint, then the name.
		nameOff := p.rvaToOffset(v)
		if nameOff < 0 || !p.fits(nameOff, 3) {
			continue
		}
		name, _ := p.cString(nameOff+2, maxImportNameBytes)
		funcs = append(funcs, peImportFunc{name: name})
	}
	return funcs, thunks
}

func (p *peFile) parseExports() {
	va, size, ok := p.directory(imageDirExport)
	if !ok {
		return
	}
	off := p.rvaToOffset(va)
	if off < 0 || !p.fits(off, 40) {
		return
	}
	e := &peExports{}
	e.timestamp, _ = p.u32(off + 4)
	nameRVA, _ := p.u32(off + 12)
	if nameOff := p.rvaToOffset(nameRVA); nameOff > 0 { // YARA wants > 0
		e.name, _ = p.cString(nameOff, 256)
	}
	base, _ := p.u32(off + 16)
	nFuncs, _ := p.u32(off + 20)
	nNames, _ := p.u32(off + 24)
	funcsRVA, _ := p.u32(off + 28)
	namesRVA, _ := p.u32(off + 32)
	ordsRVA, _ := p.u32(off + 36)
	funcsOff, namesOff, ordsOff := p.rvaToOffset(funcsRVA), p.rvaToOffset(namesRVA), p.rvaToOffset(ordsRVA)
	nFuncs = min(nFuncs, maxPEExports)
	p.exports = e
	// YARA lists no export unless the name and ordinal tables are all
	// there, and none unless the address table is.
	if namesOff < 0 || ordsOff < 0 || !p.fits(namesOff, 4*nNames) || !p.fits(ordsOff, 2*nNames) {
		return
	}
	nNames = min(nNames, nFuncs)
	// names[i] is the name of function index i, from the name tables.
	names := make(map[int64][]byte)
	for j := int64(0); j < nNames; j++ {
		idx, _ := p.u16(ordsOff + 2*j)
		nrva, _ := p.u32(namesOff + 4*j)
		if _, seen := names[idx]; seen {
			continue
		}
		if name, ok := p.cString(p.rvaToOffset(nrva), maxImportNameBytes); ok {
			names[idx] = name
		}
	}
	// YARA lists no function unless the whole address table is there.
	if funcsOff >= 0 && p.fits(funcsOff, 4*nFuncs) {
		for i := int64(0); i < nFuncs; i++ {
			rva, ok := p.u32(funcsOff + 4*i)
			if !ok {
				break
			}
			// An address inside the export directory is a forwarder's
			// name; any other maps to a file offset, -1 if it cannot.
			ex := peExport{name: names[i], ordinal: base + i}
			if rva >= va && rva < va+size {
				ex.forward, _ = p.cString(p.rvaToOffset(rva), 256)
			}
			if ex.forward == nil {
				ex.offset = p.rvaToOffset(rva)
			}
			e.funcs = append(e.funcs, ex)
		}
	}
}

// parseRich finds the Rich header in the DOS stub: the "Rich" marker
// searched backwards from the PE header, the XOR key after it, and the
// "DanS" marker (XORed with the key) searched backwards from there.
func (p *peFile) parseRich() {
	end := min(p.ntOffset, int64(len(p.data)))
	richAt := int64(-1)
	for o := (end - 4) &^ 3; o >= 0x40; o -= 4 {
		if bytes.Equal(p.data[o:o+4], []byte("Rich")) {
			richAt = o
			break
		}
	}
	if richAt < 0 {
		return
	}
	key, ok := p.u32(richAt + 4)
	if !ok || key == 0 { // YARA finds no Rich header whose key is 0
		return
	}
	dansAt := int64(-1)
	for o := richAt - 4; o >= 0x40 && richAt-o <= 8*maxRichEntries; o -= 4 {
		if v, _ := p.u32(o); v^key == 0x536e6144 { // "DanS"
			dansAt = o
			break
		}
	}
	// "DanS" is followed by three words that are 0 once decoded.
	if dansAt < 0 || !p.fits(dansAt, 16) {
		return
	}
	for o := dansAt + 4; o < dansAt+16; o += 4 {
		if v, _ := p.u32(o); v != key {
			return
		}
	}
	raw := p.data[dansAt:richAt]
	clear := make([]byte, len(raw))
	for i := 0; i+4 <= len(raw); i += 4 {
		v := binary.LittleEndian.Uint32(raw[i:]) ^ uint32(key)
		binary.LittleEndian.PutUint32(clear[i:], v)
	}
	p.rich = &peRich{offset: dansAt, length: richAt - dansAt, key: key, raw: raw, clear: clear}
}

// richCount sums the use counts of the Rich entries that match version
// and/or toolid (nil meaning "any").
func (r *peRich) count(version, toolid *int64) int64 {
	var total int64
	// Entries follow "DanS" and three padding words, 8 bytes each.
	for i := 16; i+8 <= int(r.length) && i+8 <= len(r.clear); i += 8 {
		id := int64(binary.LittleEndian.Uint32(r.clear[i:]))
		times := int64(binary.LittleEndian.Uint32(r.clear[i+4:]))
		if version != nil && id&0xffff != *version {
			continue
		}
		if toolid != nil && id>>16 != *toolid {
			continue
		}
		total += times
	}
	return total
}

func (p *peFile) parseDebug() {
	va, size, ok := p.directory(imageDirDebug)
	const entrySize = 28
	if !ok || size%entrySize != 0 { // YARA ignores a directory of odd size
		return
	}
	off := p.rvaToOffset(va)
	if off < 0 {
		return
	}
	for i := int64(0); i < min(size/entrySize, maxPEDebugEntries); i++ {
		e := off + i*entrySize
		typ, ok := p.u32(e + 12)
		if !ok || !p.fits(e, entrySize) {
			return
		}
		if typ != 2 { // IMAGE_DEBUG_TYPE_CODEVIEW
			continue
		}
		// The CodeView record by address, else by file offset.
		cv := int64(-1)
		if rva, _ := p.u32(e + 20); rva != 0 {
			cv = p.rvaToOffset(rva)
		}
		if ptr, _ := p.u32(e + 24); cv < 0 && ptr != 0 {
			cv = ptr
		}
		if cv < 0 || !p.fits(cv, 4) {
			continue
		}
		var pathOff int64
		switch string(p.data[cv : cv+4]) {
		case "RSDS":
			pathOff = cv + 24
		case "NB10":
			pathOff = cv + 16
		default:
			continue
		}
		if path, ok := p.cString(pathOff, 1024); ok && len(path) > 0 {
			p.pdbPath = path
			return
		}
	}
}

// parseResources lists the resource tree's leaves as YARA does: the
// entries of the type, name and language directories that are not
// subdirectories (or are below the third level) and whose data entry fits
// in the file. The walk stops at the first directory or data entry that
// does not fit, and skips a directory that does not look like one.
func (p *peFile) parseResources() {
	va, _, ok := p.directory(imageDirResource)
	if !ok {
		return
	}
	base := p.rvaToOffset(va)
	if base < 0 || !p.fits(base, 16) {
		return
	}
	p.res = &peResources{}
	p.res.timestamp, _ = p.u32(base + 4)
	p.res.major, _ = p.u16(base + 8)
	p.res.minor, _ = p.u16(base + 10)
	visited := 0
	var path [3]peResourceName // type, name, language of the current entry
	// walk reports whether the walk must stop.
	var walk func(dir int64, depth int) bool
	walk = func(dir int64, depth int) bool {
		chars, _ := p.u32(dir)
		named, _ := p.u16(dir + 12)
		ids, _ := p.u16(dir + 14)
		if chars != 0 || named > 32768 || ids > 32768 {
			return false
		}
		for i := int64(0); i < named+ids; i++ {
			if visited++; visited > maxPEResources {
				return true
			}
			e := dir + 16 + 8*i
			name, ok1 := p.u32(e)
			target, ok2 := p.u32(e + 4)
			if !ok1 || !ok2 {
				return true
			}
			path[depth] = p.resourceName(base, name)
			if target&0x80000000 != 0 && depth < 2 {
				sub := base + target&0x7fffffff
				if !p.fits(sub, 16) || walk(sub, depth+1) {
					return true
				}
				continue
			}
			data := base + target
			if !p.fits(data, 16) {
				return true
			}
			rva, _ := p.u32(data)
			size, _ := p.u32(data + 4)
			p.res.list = append(p.res.list, peResource{rva: rva, length: size, path: path})
			if path[0].name == nil && path[0].id == rtVersion {
				if off := p.rvaToOffset(rva); off >= 0 {
					p.parseVersionInfo(off)
				}
			}
		}
		return false
	}
	walk(base, 0)
}

// resourceName is a directory entry's ID, or its name (UTF-16LE, as
// stored) when the high bit says it has one.
func (p *peFile) resourceName(base, v int64) peResourceName {
	if v&0x80000000 == 0 {
		return peResourceName{id: v}
	}
	off := base + v&0x7fffffff
	n, ok := p.u16(off)
	if !ok || !p.fits(off+2, 2*n) {
		// YARA then gives the raw field as a signed 32-bit ID.
		return peResourceName{id: int64(int32(v))}
	}
	return peResourceName{name: p.data[off+2 : off+2+2*n]}
}

// ordinalName names a function imported by ordinal: its known name for the
// few DLLs whose ordinals YARA knows, otherwise "ordN".
func ordinalName(dll []byte, ord int64) []byte { return []byte(peord.Name(string(dll), ord)) }
