package exe

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"io"

	"athena/internal/core"
)

// maxDynBytes caps the size of the dynamic tables read for symbols and
// needed libraries.
const maxDynBytes = 16 << 20

func (a *analysis) elf() error {
	s := a.src
	f, err := elf.NewFile(io.NewSectionReader(s.r, 0, s.size))
	if err != nil {
		// debug/elf refuses what it cannot fully read (a truncated
		// section table, say): report the header as far as it goes.
		a.malformed(fmt.Errorf("elf: %w", err))
		a.elfHeaderOnly()
		return nil
	}
	d := map[string]any{
		"class":   f.Class.String(),
		"data":    f.Data.String(),
		"osabi":   f.OSABI.String(),
		"machine": f.Machine.String(),
		"type":    f.Type.String(),
		"entry":   f.Entry,
	}
	// The end of the image: headers, tables, section and segment data.
	var ehsize, phoff, shoff, phentsize, phnum, shentsize, shnum uint64
	if h := s.bytes(0, 64); h != nil {
		var bo binary.ByteOrder = binary.LittleEndian
		if f.Data == elf.ELFDATA2MSB {
			bo = binary.BigEndian
		}
		if f.Class == elf.ELFCLASS64 {
			phoff, shoff = bo.Uint64(h[32:]), bo.Uint64(h[40:])
			ehsize, phentsize, phnum = uint64(bo.Uint16(h[52:])), uint64(bo.Uint16(h[54:])), uint64(bo.Uint16(h[56:]))
			shentsize, shnum = uint64(bo.Uint16(h[58:])), uint64(bo.Uint16(h[60:]))
		} else {
			phoff, shoff = uint64(bo.Uint32(h[28:])), uint64(bo.Uint32(h[32:]))
			ehsize, phentsize, phnum = uint64(bo.Uint16(h[40:])), uint64(bo.Uint16(h[42:])), uint64(bo.Uint16(h[44:]))
			shentsize, shnum = uint64(bo.Uint16(h[46:])), uint64(bo.Uint16(h[48:]))
		}
	}
	end := ehsize
	if phnum > 0 {
		end = max(end, sat(phoff, phnum*phentsize))
	}
	if shnum > 0 {
		end = max(end, sat(shoff, shnum*shentsize))
	}

	stripped := true
	secs := make([]map[string]any, 0, min(len(f.Sections), maxList))
	for _, sec := range f.Sections {
		if sec.Type == elf.SHT_SYMTAB {
			stripped = false
		}
		if sec.Type != elf.SHT_NOBITS && sec.Type != elf.SHT_NULL {
			end = max(end, sat(sec.Offset, sec.FileSize))
		}
		if len(secs) >= maxList {
			continue
		}
		m := map[string]any{"name": truncate(sec.Name, maxNameBytes), "type": sec.Type.String(),
			"flags": sec.Flags.String(), "addr": sec.Addr, "offset": sec.Offset, "size": sec.Size}
		if sec.Type != elf.SHT_NOBITS && sec.Type != elf.SHT_NULL {
			if e := a.entropy(int64(sec.Offset), int64(sec.FileSize)); e >= 0 {
				m["entropy"] = round2(e)
			}
		}
		secs = append(secs, m)
	}
	d["sections"] = secs
	d["number_of_sections"] = len(f.Sections)
	d["stripped"] = stripped

	var rwx []map[string]any
	segs := make([]map[string]any, 0, min(len(f.Progs), maxList))
	for _, prog := range f.Progs {
		end = max(end, sat(prog.Off, prog.Filesz))
		if prog.Type == elf.PT_INTERP {
			if b := s.bytes(int64(prog.Off), int64(min(prog.Filesz, maxNameBytes))); b != nil {
				d["interpreter"] = printable(bytes.TrimRight(b, "\x00"), maxNameBytes)
			}
		}
		w, x := prog.Flags&elf.PF_W != 0, prog.Flags&elf.PF_X != 0
		if w && x && (prog.Type == elf.PT_LOAD || prog.Type == elf.PT_GNU_STACK) && len(rwx) < maxList {
			rwx = append(rwx, map[string]any{"type": prog.Type.String(), "flags": prog.Flags.String(),
				"vaddr": prog.Vaddr, "offset": prog.Off, "memsz": prog.Memsz})
		}
		if len(segs) >= maxList {
			continue
		}
		m := map[string]any{"type": prog.Type.String(), "flags": prog.Flags.String(), "vaddr": prog.Vaddr,
			"offset": prog.Off, "filesz": prog.Filesz, "memsz": prog.Memsz}
		if prog.Type == elf.PT_LOAD {
			if e := a.entropy(int64(prog.Off), int64(prog.Filesz)); e >= 0 {
				m["entropy"] = round2(e)
			}
		}
		segs = append(segs, m)
	}
	d["segments"] = segs
	d["number_of_segments"] = len(f.Progs)

	// Compressed or huge dynamic tables would make debug/elf inflate or
	// allocate without bound: they are left unread.
	dynOK := true
	for _, sec := range f.Sections {
		switch sec.Type {
		case elf.SHT_DYNSYM, elf.SHT_DYNAMIC, elf.SHT_STRTAB:
			if sec.Flags&elf.SHF_COMPRESSED != 0 || sec.Size > maxDynBytes || sec.Size > uint64(s.size) {
				dynOK = false
			}
		}
	}
	d["dynamic_tables_read"] = dynOK
	if dynOK {
		if libs, err := f.ImportedLibraries(); err == nil && len(libs) > 0 {
			l, cut := capped(libs, maxList)
			d["needed"] = l
			d["needed_truncated"] = cut
		}
		if syms, err := f.DynamicSymbols(); err == nil && len(syms) > 0 {
			names := make([]string, 0, min(len(syms), maxListBig))
			for _, sym := range syms {
				if len(names) >= maxListBig {
					break
				}
				if sym.Name != "" {
					names = append(names, truncate(sym.Name, maxNameBytes))
				}
			}
			d["dynamic_symbols"] = names
			d["number_of_dynamic_symbols"] = len(syms)
			d["dynamic_symbols_truncated"] = len(syms) > len(names)
		}
	}
	upx := a.hasUPXMagic()
	d["upx"] = upx
	fit(d, "dynamic_symbols", "sections", "segments", "needed")
	a.finding(KindELF, core.Info, 0, 0, d)

	a.elfTraits(rwx, upx)
	if end < uint64(s.size) {
		return a.overlay(int64(end))
	}
	return nil
}

// elfHeaderOnly reports what the ELF header and program headers say when
// debug/elf cannot open the file (malware often corrupts the section
// table, which the loader ignores). No overlay is reported: without the
// section table the end of the image is unknown.
func (a *analysis) elfHeaderOnly() {
	s := a.src
	h := s.bytes(0, min(s.size, 64))
	if len(h) < 20 {
		return
	}
	var bo binary.ByteOrder = binary.LittleEndian
	if elf.Data(h[5]) == elf.ELFDATA2MSB {
		bo = binary.BigEndian
	}
	d := map[string]any{
		"class":   elf.Class(h[4]).String(),
		"data":    elf.Data(h[5]).String(),
		"osabi":   elf.OSABI(h[7]).String(),
		"type":    elf.Type(bo.Uint16(h[16:])).String(),
		"machine": elf.Machine(bo.Uint16(h[18:])).String(),
		"partial": true,
	}
	// Program headers: offset, count and entry size by class.
	var phoff, phentsize, phnum uint64
	is64 := elf.Class(h[4]) == elf.ELFCLASS64
	switch {
	case is64 && len(h) >= 64:
		d["entry"] = bo.Uint64(h[24:])
		phoff, phentsize, phnum = bo.Uint64(h[32:]), uint64(bo.Uint16(h[54:])), uint64(bo.Uint16(h[56:]))
	case !is64 && len(h) >= 52:
		d["entry"] = uint64(bo.Uint32(h[24:]))
		phoff, phentsize, phnum = uint64(bo.Uint32(h[28:])), uint64(bo.Uint16(h[42:])), uint64(bo.Uint16(h[44:]))
	}
	var segs, rwx []map[string]any
	for i := range min(phnum, maxList) {
		if phoff > uint64(s.size) || (is64 && phentsize < 56) || (!is64 && phentsize < 32) {
			break
		}
		ph := s.bytes(int64(phoff+i*phentsize), int64(min(phentsize, 56)))
		if ph == nil {
			break
		}
		var typ elf.ProgType
		var flags elf.ProgFlag
		var off, vaddr, filesz, memsz uint64
		if is64 {
			typ, flags = elf.ProgType(bo.Uint32(ph)), elf.ProgFlag(bo.Uint32(ph[4:]))
			off, vaddr, filesz, memsz = bo.Uint64(ph[8:]), bo.Uint64(ph[16:]), bo.Uint64(ph[32:]), bo.Uint64(ph[40:])
		} else {
			typ, flags = elf.ProgType(bo.Uint32(ph)), elf.ProgFlag(bo.Uint32(ph[24:]))
			off, vaddr = uint64(bo.Uint32(ph[4:])), uint64(bo.Uint32(ph[8:]))
			filesz, memsz = uint64(bo.Uint32(ph[16:])), uint64(bo.Uint32(ph[20:]))
		}
		m := map[string]any{"type": typ.String(), "flags": flags.String(), "vaddr": vaddr,
			"offset": off, "filesz": filesz, "memsz": memsz}
		if typ == elf.PT_LOAD {
			if e := a.entropy(int64(min(off, uint64(s.size))), int64(min(filesz, uint64(s.size)))); e >= 0 {
				m["entropy"] = round2(e)
			}
		}
		if typ == elf.PT_INTERP {
			if b := s.bytes(int64(min(off, uint64(s.size))), int64(min(filesz, maxNameBytes))); b != nil {
				d["interpreter"] = printable(bytes.TrimRight(b, "\x00"), maxNameBytes)
			}
		}
		if flags&elf.PF_W != 0 && flags&elf.PF_X != 0 && (typ == elf.PT_LOAD || typ == elf.PT_GNU_STACK) {
			rwx = append(rwx, map[string]any{"type": typ.String(), "flags": flags.String(), "vaddr": vaddr, "offset": off, "memsz": memsz})
		}
		segs = append(segs, m)
	}
	d["segments"] = segs
	d["number_of_segments"] = phnum
	upx := a.hasUPXMagic()
	d["upx"] = upx
	fit(d, "segments")
	a.finding(KindELF, core.Info, 0, 0, d)
	a.elfTraits(rwx, upx)
}

// elfTraits reports RWX segments and a UPX marker.
func (a *analysis) elfTraits(rwx []map[string]any, upx bool) {
	if len(rwx) > 0 {
		a.finding(KindRWX, core.Medium, 0, 0, map[string]any{"format": "elf", "segments": rwx})
	}
	if upx {
		a.finding(KindPacker, core.Medium, 0, 0, map[string]any{"format": "elf", "reasons": []string{"UPX! magic"}, "hint": "UPX"})
	}
}

// hasUPXMagic looks for UPX's "UPX!" marker in the first and last 4 KiB,
// where UPX writes its headers.
func (a *analysis) hasUPXMagic() bool {
	s := a.src
	head := s.bytes(0, min(s.size, 4096))
	tailOff := max(0, s.size-4096)
	tail := s.bytes(tailOff, s.size-tailOff)
	return bytes.Contains(head, []byte("UPX!")) || bytes.Contains(tail, []byte("UPX!"))
}

// sat is off+n, or the largest uint64 when that overflows.
func sat(off, n uint64) uint64 {
	if off+n < off {
		return ^uint64(0)
	}
	return off + n
}
