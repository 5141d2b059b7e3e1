package exe

import (
	"bytes"
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"athena/internal/core"
	"athena/internal/peord"
)

// Limits of the PE walk.
const (
	maxPESections   = 96
	maxPEImportDLLs = 1024
	maxPEThunks     = 1 << 16 // over all descriptors
	maxPEExports    = 1 << 16
	maxPEResources  = 1 << 14
	// maxPEResourceSteps caps the directory entries visited, data or not.
	maxPEResourceSteps = 1 << 16
	// maxResourceTypes caps the distinct types counted; the others are
	// counted under "other".
	maxResourceTypes = 64
	maxTLSCallbacks  = 64
	maxNameBytes     = 256
	maxRichEntries   = 256
)

// Section characteristics.
const (
	scnCode    = 0x00000020
	scnExecute = 0x20000000
	scnWrite   = 0x80000000
)

// peFile is what the walk found; offsets are file offsets.
type peFile struct {
	ntOffset                  int64
	machine, nSections, chars uint64
	timestamp                 uint64
	is64                      bool
	optMagic                  uint64
	symtabPtr, nSymbols       uint64 // the COFF symbol table (mingw leaves it)
	entry, imageBase          uint64
	sizeOfHeaders, sizeOfImg  uint64
	fileAlign, sectAlign      uint64
	subsystem, dllChars       uint64
	checksum                  uint64
	dirs                      [16][2]uint64
	secs                      []peSection
	imports                   []peImport
	thunks                    int
	exportName                string
	exports                   []string
	nExports                  uint64
	resources                 map[string]int
	nResources                int
	bigResources              []map[string]any
	tlsCallbacks              []uint64
	tls                       bool
	rich                      []map[string]any
	richPresent               bool
	headerEnd                 int64
}

type peSection struct {
	name                    string
	va, vsize, raw, rawSize uint64
	chars                   uint64
	entropy                 float64
}

type peImport struct {
	dll   string
	funcs []string // names, or "ordN" / known names for ordinals
}

func (a *analysis) pe() error {
	s := a.src
	p := &peFile{resources: map[string]int{}}
	lfanew, ok := s.u32(0x3c)
	if !ok || s.size < 64 {
		a.malformed(errors.New("truncated DOS header"))
		return nil
	}
	p.ntOffset = int64(int32(uint32(lfanew)))
	if sig := s.bytes(p.ntOffset, 4); !bytes.Equal(sig, []byte("PE\x00\x00")) {
		a.finding(KindPE, core.Info, 0, 0, map[string]any{"dos_only": true, "e_lfanew": p.ntOffset})
		return nil
	}
	fh := p.ntOffset + 4
	hdr := s.bytes(fh, 20)
	if hdr == nil {
		a.malformed(errors.New("truncated file header"))
		return nil
	}
	le := binary.LittleEndian
	p.machine = uint64(le.Uint16(hdr))
	p.nSections = uint64(le.Uint16(hdr[2:]))
	p.timestamp = uint64(le.Uint32(hdr[4:]))
	p.symtabPtr = uint64(le.Uint32(hdr[8:]))
	p.nSymbols = uint64(le.Uint32(hdr[12:]))
	optSize := int64(le.Uint16(hdr[16:]))
	p.chars = uint64(le.Uint16(hdr[18:]))
	oh := fh + 20
	p.optMagic, _ = s.u16(oh)
	p.is64 = p.optMagic == 0x20b
	p.parseOptional(s, oh)
	p.parseSections(a, oh+optSize)
	p.parseRich(s)
	p.parseImports(s)
	p.parseExports(s)
	p.parseResources(a)
	p.parseTLS(s)
	return a.reportPE(p)
}

func (p *peFile) parseOptional(s *source, oh int64) {
	p.entry, _ = s.u32(oh + 16)
	if p.is64 {
		p.imageBase, _ = s.u64(oh + 24)
	} else {
		p.imageBase, _ = s.u32(oh + 28)
	}
	p.sectAlign, _ = s.u32(oh + 32)
	p.fileAlign, _ = s.u32(oh + 36)
	p.sizeOfImg, _ = s.u32(oh + 56)
	p.sizeOfHeaders, _ = s.u32(oh + 60)
	p.checksum, _ = s.u32(oh + 64)
	p.subsystem, _ = s.u16(oh + 68)
	p.dllChars, _ = s.u16(oh + 70)
	nDirsOff, dirsOff := oh+92, oh+96
	if p.is64 {
		nDirsOff, dirsOff = oh+108, oh+112
	}
	n, _ := s.u32(nDirsOff)
	for i := range min(n, 16) {
		va, ok1 := s.u32(dirsOff + int64(i)*8)
		sz, ok2 := s.u32(dirsOff + int64(i)*8 + 4)
		if ok1 && ok2 {
			p.dirs[i] = [2]uint64{va, sz}
		}
	}
}

func (p *peFile) parseSections(a *analysis, off int64) {
	s := a.src
	for i := range min(p.nSections, maxPESections) {
		b := s.bytes(off+int64(i)*40, 40)
		if b == nil {
			break
		}
		le := binary.LittleEndian
		name := b[:8]
		if j := bytes.IndexByte(name, 0); j >= 0 {
			name = name[:j]
		}
		sec := peSection{
			name:    printable(name, 8),
			vsize:   uint64(le.Uint32(b[8:])),
			va:      uint64(le.Uint32(b[12:])),
			rawSize: uint64(le.Uint32(b[16:])),
			raw:     uint64(le.Uint32(b[20:])),
			chars:   uint64(le.Uint32(b[36:])),
		}
		sec.entropy = a.entropy(int64(p.rawOffset(sec.raw)), int64(sec.rawSize))
		p.secs = append(p.secs, sec)
	}
	p.headerEnd = off + int64(len(p.secs))*40
}

// rawOffset rounds a section's raw pointer down as the loader does.
func (p *peFile) rawOffset(raw uint64) uint64 {
	if p.fileAlign >= 0x200 {
		return raw &^ 0x1ff
	}
	return raw
}

// section returns the index of the section holding rva, or -1.
func (p *peFile) section(rva uint64) int {
	for i, sec := range p.secs {
		size := max(sec.vsize, sec.rawSize)
		if rva >= sec.va && rva-sec.va < size {
			return i
		}
	}
	return -1
}

// offset maps an RVA to a file offset, or -1.
func (p *peFile) offset(s *source, rva uint64) int64 {
	if i := p.section(rva); i >= 0 {
		sec := p.secs[i]
		if rva-sec.va >= sec.rawSize {
			return -1
		}
		off := int64(p.rawOffset(sec.raw) + rva - sec.va)
		if off < s.size {
			return off
		}
		return -1
	}
	if rva < max(p.sizeOfHeaders, uint64(p.headerEnd)) && int64(rva) < s.size {
		return int64(rva)
	}
	return -1
}

func (p *peFile) parseImports(s *source) {
	va, size := p.dirs[1][0], p.dirs[1][1]
	if va == 0 || size == 0 {
		return
	}
	off := p.offset(s, va)
	if off < 0 {
		return
	}
	width, flag := int64(4), uint64(1)<<31
	if p.is64 {
		width, flag = 8, 1<<63
	}
	for n := 0; n < maxPEImportDLLs; n, off = n+1, off+20 {
		d := s.bytes(off, 20)
		if d == nil {
			return
		}
		le := binary.LittleEndian
		oft, nameRVA, ft := uint64(le.Uint32(d)), uint64(le.Uint32(d[12:])), uint64(le.Uint32(d[16:]))
		if nameRVA == 0 && oft == 0 && ft == 0 {
			return
		}
		dll, _ := s.cString(p.offset(s, nameRVA), maxNameBytes)
		imp := peImport{dll: printable(dll, maxNameBytes)}
		toff := p.offset(s, oft)
		if oft == 0 || toff < 0 {
			toff = p.offset(s, ft)
		}
		for ; toff >= 0 && p.thunks < maxPEThunks; toff += width {
			var v uint64
			var ok bool
			if p.is64 {
				v, ok = s.u64(toff)
			} else {
				v, ok = s.u32(toff)
			}
			if !ok || v == 0 {
				break
			}
			p.thunks++
			if v&flag != 0 {
				imp.funcs = append(imp.funcs, ordinalName(imp.dll, v&0xffff))
				continue
			}
			no := p.offset(s, v&0x7fffffff)
			name, ok := s.cString(no+2, maxNameBytes)
			if no < 0 || !ok {
				continue
			}
			imp.funcs = append(imp.funcs, printable(name, maxNameBytes))
		}
		p.imports = append(p.imports, imp)
	}
}

// ordinalName names a function imported by ordinal as pefile does: its
// known name for ws2_32, wsock32 and oleaut32, otherwise "ordN".
func ordinalName(dll string, ord uint64) string { return peord.Name(dll, int64(ord)) }

// imphash is pefile's import hash: the MD5 of "dll.function" pairs,
// lowercased, the dll without a .dll/.ocx/.sys extension, joined by
// commas. It is "" without imports.
func imphash(imports []peImport) string {
	var parts []string
	for _, imp := range imports {
		dll := strings.ToLower(imp.dll)
		if dot := strings.LastIndexByte(dll, '.'); dot >= 0 {
			switch dll[dot+1:] {
			case "dll", "ocx", "sys":
				dll = dll[:dot]
			}
		}
		for _, f := range imp.funcs {
			parts = append(parts, dll+"."+strings.ToLower(f))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	sum := md5.Sum([]byte(strings.Join(parts, ",")))
	return hex.EncodeToString(sum[:])
}

func (p *peFile) parseExports(s *source) {
	va, size := p.dirs[0][0], p.dirs[0][1]
	if va == 0 || size == 0 {
		return
	}
	off := p.offset(s, va)
	d := s.bytes(off, 40)
	if d == nil {
		return
	}
	le := binary.LittleEndian
	if name, ok := s.cString(p.offset(s, uint64(le.Uint32(d[12:]))), maxNameBytes); ok {
		p.exportName = printable(name, maxNameBytes)
	}
	p.nExports = uint64(le.Uint32(d[20:]))
	nNames := min(uint64(le.Uint32(d[24:])), maxPEExports)
	namesOff := p.offset(s, uint64(le.Uint32(d[32:])))
	for i := range nNames {
		if namesOff < 0 || len(p.exports) >= maxListBig {
			break
		}
		rva, ok := s.u32(namesOff + int64(i)*4)
		if !ok {
			break
		}
		if name, ok := s.cString(p.offset(s, rva), maxNameBytes); ok {
			p.exports = append(p.exports, printable(name, maxNameBytes))
		}
	}
}

// resourceTypes names the standard resource type IDs.
var resourceTypes = map[uint64]string{
	1: "RT_CURSOR", 2: "RT_BITMAP", 3: "RT_ICON", 4: "RT_MENU", 5: "RT_DIALOG",
	6: "RT_STRING", 7: "RT_FONTDIR", 8: "RT_FONT", 9: "RT_ACCELERATOR", 10: "RT_RCDATA",
	11: "RT_MESSAGETABLE", 12: "RT_GROUP_CURSOR", 14: "RT_GROUP_ICON", 16: "RT_VERSION",
	17: "RT_DLGINCLUDE", 19: "RT_PLUGPLAY", 20: "RT_VXD", 21: "RT_ANICURSOR",
	22: "RT_ANIICON", 23: "RT_HTML", 24: "RT_MANIFEST",
}

// parseResources walks the three levels of the resource tree (type, name,
// language), counting resources per type and flagging large high-entropy
// ones.
func (p *peFile) parseResources(a *analysis) {
	s := a.src
	va, size := p.dirs[2][0], p.dirs[2][1]
	if va == 0 || size == 0 {
		return
	}
	base := p.offset(s, va)
	if base < 0 {
		return
	}
	steps := 0
	var walk func(dirOff int64, depth int, typ string)
	walk = func(dirOff int64, depth int, typ string) {
		d := s.bytes(dirOff, 16)
		if d == nil {
			return
		}
		n := int(binary.LittleEndian.Uint16(d[12:])) + int(binary.LittleEndian.Uint16(d[14:]))
		for i := 0; i < n && p.nResources < maxPEResources && steps < maxPEResourceSteps; i++ {
			steps++
			e := s.bytes(dirOff+16+int64(i)*8, 8)
			if e == nil {
				return
			}
			id, target := uint64(binary.LittleEndian.Uint32(e)), uint64(binary.LittleEndian.Uint32(e[4:]))
			t := typ
			if depth == 0 {
				if id&0x80000000 != 0 {
					t = p.resourceName(s, base+int64(id&0x7fffffff))
				} else if name, ok := resourceTypes[id]; ok {
					t = name
				} else {
					t = strconv.FormatUint(id, 10)
				}
			}
			if target&0x80000000 != 0 {
				if depth < 2 {
					walk(base+int64(target&0x7fffffff), depth+1, t)
				}
				continue
			}
			// A data entry: RVA, size, code page, reserved.
			de := s.bytes(base+int64(target), 16)
			if de == nil {
				continue
			}
			p.nResources++
			if _, ok := p.resources[t]; !ok && len(p.resources) >= maxResourceTypes {
				t = "other"
			}
			p.resources[t]++
			rva, rsize := uint64(binary.LittleEndian.Uint32(de)), int64(binary.LittleEndian.Uint32(de[4:]))
			if rsize >= 64<<10 && len(p.bigResources) < maxList {
				roff := p.offset(s, rva)
				if ent := a.entropy(roff, rsize); roff >= 0 && ent >= highEntropy {
					p.bigResources = append(p.bigResources, map[string]any{
						"type": t, "offset": roff, "size": rsize, "entropy": round2(ent)})
				}
			}
		}
	}
	walk(base, 0, "")
}

// resourceName reads a length-prefixed UTF-16 resource name.
func (p *peFile) resourceName(s *source, off int64) string {
	n, ok := s.u16(off)
	if !ok {
		return "?"
	}
	b := s.bytes(off+2, int64(min(n, 64))*2)
	var sb strings.Builder
	for i := 0; i+1 < len(b); i += 2 {
		c := rune(binary.LittleEndian.Uint16(b[i:]))
		if c < 0x20 || c == 0x7f {
			c = '?'
		}
		sb.WriteRune(c)
	}
	return sb.String()
}

func (p *peFile) parseTLS(s *source) {
	va, size := p.dirs[9][0], p.dirs[9][1]
	if va == 0 || size == 0 {
		return
	}
	off := p.offset(s, va)
	if off < 0 {
		return
	}
	p.tls = true
	var cbVA uint64
	var ok bool
	width := int64(4)
	if p.is64 {
		cbVA, ok = s.u64(off + 24)
		width = 8
	} else {
		cbVA, ok = s.u32(off + 12)
	}
	if !ok || cbVA == 0 || cbVA < p.imageBase {
		return
	}
	cbOff := p.offset(s, cbVA-p.imageBase)
	for i := range int64(maxTLSCallbacks) {
		if cbOff < 0 {
			return
		}
		var v uint64
		if p.is64 {
			v, ok = s.u64(cbOff + i*width)
		} else {
			v, ok = s.u32(cbOff + i*width)
		}
		if !ok || v == 0 {
			return
		}
		p.tlsCallbacks = append(p.tlsCallbacks, v)
	}
}

// parseRich decodes the Rich header between the DOS stub and the PE
// header: "Rich" and the XOR key, back to the "DanS" marker.
func (p *peFile) parseRich(s *source) {
	end := min(p.ntOffset, 0x1000)
	stub := s.bytes(0, max(end, 0))
	if stub == nil {
		return
	}
	richAt := -1
	for o := (len(stub) - 8) &^ 3; o >= 0x40; o -= 4 {
		if string(stub[o:o+4]) == "Rich" {
			richAt = o
			break
		}
	}
	if richAt < 0 {
		return
	}
	key := binary.LittleEndian.Uint32(stub[richAt+4:])
	dansAt := -1
	for o := richAt - 4; o >= 0x40; o -= 4 {
		if binary.LittleEndian.Uint32(stub[o:])^key == 0x536e6144 { // "DanS"
			dansAt = o
			break
		}
	}
	if dansAt < 0 {
		return
	}
	p.richPresent = true
	for o := dansAt + 16; o+8 <= richAt && len(p.rich) < maxRichEntries; o += 8 {
		id := binary.LittleEndian.Uint32(stub[o:]) ^ key
		count := binary.LittleEndian.Uint32(stub[o+4:]) ^ key
		p.rich = append(p.rich, map[string]any{"product": id >> 16, "build": id & 0xffff, "count": count})
	}
}

// Packer section names.
var packerSections = map[string]string{
	"UPX0": "UPX", "UPX1": "UPX", "UPX2": "UPX", ".UPX0": "UPX", ".UPX1": "UPX",
	".aspack": "ASPack", ".adata": "ASPack", ".petite": "Petite", ".MPRESS1": "MPRESS",
	".MPRESS2": "MPRESS", ".nsp0": "NsPack", ".nsp1": "NsPack", ".themida": "Themida",
	".vmp0": "VMProtect", ".vmp1": "VMProtect", ".enigma1": "Enigma", "pec1": "PECompact",
	"PEC2": "PECompact", ".packed": "packed", "FSG!": "FSG", "MEW": "MEW",
}

var machines = map[uint64]string{
	0x14c: "i386", 0x8664: "amd64", 0x1c0: "arm", 0x1c4: "armnt", 0xaa64: "arm64",
	0x200: "ia64", 0x5032: "riscv32", 0x5064: "riscv64", 0: "unknown",
}

var subsystems = map[uint64]string{
	1: "native", 2: "windows_gui", 3: "windows_cui", 5: "os2_cui", 7: "posix_cui",
	9: "windows_ce_gui", 10: "efi_application", 11: "efi_boot_service_driver",
	12: "efi_runtime_driver", 14: "xbox", 16: "windows_boot_application",
}

func (a *analysis) reportPE(p *peFile) error {
	s := a.src
	d := map[string]any{
		"machine":            nameOr(machines, p.machine),
		"pe32plus":           p.is64,
		"optional_magic":     fmt.Sprintf("0x%x", p.optMagic),
		"timestamp":          p.timestamp,
		"subsystem":          nameOr(subsystems, p.subsystem),
		"characteristics":    p.chars,
		"dll":                p.chars&0x2000 != 0,
		"dll_flags":          p.dllChars,
		"entry_point":        p.entry,
		"image_base":         p.imageBase,
		"size_of_image":      p.sizeOfImg,
		"number_of_sections": p.nSections,
		"checksum":           p.checksum,
	}
	if i := p.section(p.entry); i >= 0 {
		d["entry_section"] = p.secs[i].name
	}
	if p.timestamp != 0 {
		d["timestamp_utc"] = time.Unix(int64(p.timestamp), 0).UTC().Format(time.RFC3339)
	}
	secs := make([]map[string]any, 0, len(p.secs))
	for _, sec := range p.secs {
		m := map[string]any{"name": sec.name, "virtual_address": sec.va, "virtual_size": sec.vsize,
			"raw_offset": sec.raw, "raw_size": sec.rawSize, "characteristics": sec.chars}
		if sec.entropy >= 0 {
			m["entropy"] = round2(sec.entropy)
		}
		secs = append(secs, m)
	}
	d["sections"] = secs
	if p.nSections > maxPESections {
		d["sections_truncated"] = true
	}

	// Imports: DLL and functions, capped overall.
	var imps []map[string]any
	total, listed := 0, 0
	loadLib, getProc := false, false
	for _, imp := range p.imports {
		total += len(imp.funcs)
		for _, f := range imp.funcs {
			switch {
			case strings.HasPrefix(f, "LoadLibrary"):
				loadLib = true
			case f == "GetProcAddress":
				getProc = true
			}
		}
		if len(imps) >= maxList {
			continue
		}
		funcs, _ := capped(imp.funcs, max(0, maxListBig-listed))
		listed += len(funcs)
		imps = append(imps, map[string]any{"dll": imp.dll, "functions": funcs, "count": len(imp.funcs)})
	}
	if len(p.imports) > 0 {
		d["imports"] = imps
		d["import_dlls"] = len(p.imports)
		d["import_functions"] = total
		d["imports_truncated"] = len(imps) < len(p.imports) || listed < total
		d["imphash"] = imphash(p.imports)
	}
	if p.nExports > 0 || len(p.exports) > 0 {
		ex, _ := capped(p.exports, maxListBig)
		d["exports"] = map[string]any{"dll_name": p.exportName, "functions": p.nExports, "names": ex,
			"truncated": uint64(len(ex)) < p.nExports}
	}
	if p.nResources > 0 {
		d["resources"] = map[string]any{"count": p.nResources, "types": p.resources, "truncated": p.nResources >= maxPEResources}
	}
	if p.richPresent {
		d["rich"] = map[string]any{"present": true, "entries": p.rich}
	}
	d["tls"] = p.tls
	d["signed"] = p.dirs[4][0] != 0 && p.dirs[4][1] != 0
	d["dotnet"] = p.dirs[14][0] != 0 && p.dirs[14][1] != 0

	// The end of the image: headers, sections' raw data, the certificate
	// table (whose address is a file offset).
	end := int64(max(p.sizeOfHeaders, uint64(p.headerEnd)))
	for _, sec := range p.secs {
		// A section whose data starts past the end of the file has none.
		if sec.rawSize > 0 && int64(p.rawOffset(sec.raw)) < s.size {
			end = max(end, int64(p.rawOffset(sec.raw)+sec.rawSize))
		}
	}
	if off, n := p.dirs[4][0], p.dirs[4][1]; off != 0 && n != 0 && int64(off) < s.size && int64(off) >= end {
		end = max(end, int64(off+n))
	}
	if p.symtabPtr != 0 {
		d["coff_symbol_table"] = map[string]any{"offset": p.symtabPtr, "symbols": p.nSymbols}
	}
	if end < s.size {
		// A COFF symbol table (mingw, debug builds) is an overlay that
		// starts where the symbol table does.
		d["overlay"] = map[string]any{"offset": end, "size": s.size - end, "coff_symbols": uint64(end) == p.symtabPtr}
	}
	fit(d, "imports", "exports", "rich", "resources", "sections")
	a.finding(KindPE, core.Info, 0, 0, d)

	// Traits.
	if p.tls && len(p.tlsCallbacks) > 0 {
		cbs := make([]string, len(p.tlsCallbacks))
		for i, v := range p.tlsCallbacks {
			cbs[i] = fmt.Sprintf("0x%x", v)
		}
		a.finding(KindTLSCallbacks, core.Low, 0, 0, map[string]any{"format": "pe", "count": len(cbs), "callbacks": cbs,
			"truncated": len(cbs) >= maxTLSCallbacks})
	}
	a.peEntryPoint(p)
	a.pePacker(p, total, loadLib && getProc)
	if len(p.bigResources) > 0 {
		a.finding(KindPacker, core.Low, 0, 0, map[string]any{"format": "pe",
			"reasons": []string{"large high-entropy resources"}, "resources": p.bigResources})
	}
	return a.overlay(end)
}

func (a *analysis) peEntryPoint(p *peFile) {
	isDLL := p.chars&0x2000 != 0
	var reason string
	i := p.section(p.entry)
	switch {
	case p.entry == 0:
		if !isDLL {
			reason = "entry point is zero"
		}
	case i < 0:
		if p.entry < max(p.sizeOfHeaders, uint64(p.headerEnd)) {
			reason = "entry point in the headers"
		} else {
			reason = "entry point outside any section"
		}
	case p.secs[i].chars&scnWrite != 0:
		reason = "entry point in a writable section"
	case len(p.secs) > 1 && i == len(p.secs)-1:
		reason = "entry point in the last section"
	case p.secs[i].chars&(scnExecute|scnCode) == 0:
		reason = "entry point in a non-executable section"
	}
	if reason == "" {
		return
	}
	d := map[string]any{"format": "pe", "entry_point": p.entry, "reason": reason}
	if i >= 0 {
		d["section"] = p.secs[i].name
	}
	a.finding(KindEntryPoint, core.Medium, 0, 0, d)
}

func (a *analysis) pePacker(p *peFile, nImports int, loader bool) {
	var reasons []string
	hints := map[string]bool{}
	for _, sec := range p.secs {
		if h, ok := packerSections[sec.name]; ok {
			hints[h] = true
			reasons = append(reasons, "section "+sec.name)
		}
		if sec.chars&(scnExecute|scnCode) != 0 && sec.entropy >= highEntropy && sec.rawSize >= 512 {
			reasons = append(reasons, fmt.Sprintf("high-entropy code section %s (%.2f)", sec.name, sec.entropy))
		}
	}
	if loader && nImports <= 10 {
		reasons = append(reasons, fmt.Sprintf("%d imports including LoadLibrary and GetProcAddress", nImports))
	}
	if a.hasUPXMagic() {
		hints["UPX"] = true
		reasons = append(reasons, "UPX! magic")
	}
	if len(reasons) == 0 {
		return
	}
	names := make([]string, 0, len(hints))
	for h := range hints {
		names = append(names, h)
	}
	sort.Strings(names)
	reasons, _ = capped(reasons, maxList)
	a.finding(KindPacker, core.Medium, 0, 0, map[string]any{"format": "pe", "reasons": reasons, "hint": strings.Join(names, ",")})
}

func nameOr(m map[uint64]string, v uint64) string {
	if n, ok := m[v]; ok {
		return n
	}
	return fmt.Sprintf("0x%x", v)
}
