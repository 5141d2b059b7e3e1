package exe

import (
	"debug/macho"
	"encoding/binary"
	"errors"
	"fmt"

	"athena/internal/core"
)

// maxFatArches caps the architectures read from a fat file.
const maxFatArches = 16

// Load commands read from their raw bytes.
const (
	lcCodeSignature  = 0x1d
	lcEncryptionInfo = 0x21
	lcEncryption64   = 0x2c
	lcLoadDylib      = 0xc
	lcLoadWeakDylib  = 0x80000018
	lcReexportDylib  = 0x8000001f
	lcLazyLoadDylib  = 0x20
	lcLoadUpward     = 0x80000023
	lcMain           = 0x80000028
	lcRpath          = 0x8000001c
	lcSegment        = 0x1
	lcSegment64      = 0x19
)

var loadCmdNames = map[uint32]string{
	0x1: "LC_SEGMENT", 0x2: "LC_SYMTAB", 0x4: "LC_THREAD", 0x5: "LC_UNIXTHREAD", 0xb: "LC_DYSYMTAB",
	0xc: "LC_LOAD_DYLIB", 0xd: "LC_ID_DYLIB", 0xe: "LC_LOAD_DYLINKER", 0xf: "LC_ID_DYLINKER",
	0x19: "LC_SEGMENT_64", 0x1b: "LC_UUID", 0x1d: "LC_CODE_SIGNATURE", 0x1e: "LC_SEGMENT_SPLIT_INFO",
	0x20: "LC_LAZY_LOAD_DYLIB", 0x21: "LC_ENCRYPTION_INFO", 0x22: "LC_DYLD_INFO", 0x24: "LC_VERSION_MIN_MACOSX",
	0x25: "LC_VERSION_MIN_IPHONEOS", 0x26: "LC_FUNCTION_STARTS", 0x29: "LC_DATA_IN_CODE", 0x2a: "LC_SOURCE_VERSION",
	0x2c: "LC_ENCRYPTION_INFO_64", 0x32: "LC_BUILD_VERSION", 0x80000018: "LC_LOAD_WEAK_DYLIB",
	0x8000001c: "LC_RPATH", 0x8000001f: "LC_REEXPORT_DYLIB", 0x80000022: "LC_DYLD_INFO_ONLY",
	0x80000023: "LC_LOAD_UPWARD_DYLIB", 0x80000028: "LC_MAIN", 0x80000033: "LC_DYLD_EXPORTS_TRIE",
	0x80000034: "LC_DYLD_CHAINED_FIXUPS",
}

func (a *analysis) macho() error {
	s := a.src
	if a.format == FormatMachO {
		end, ok := a.machoImage(0, s.size, nil)
		if ok && end < s.size {
			return a.overlay(end)
		}
		return nil
	}
	// A fat file: a big-endian header, then fat_arch (20 bytes) or
	// fat_arch_64 (32 bytes) entries.
	h := s.bytes(0, 8)
	if h == nil {
		a.malformed(errors.New("truncated fat header"))
		return nil
	}
	is64 := binary.BigEndian.Uint32(h) == 0xcafebabf
	n := binary.BigEndian.Uint32(h[4:])
	entry := int64(20)
	if is64 {
		entry = 32
	}
	end := 8 + int64(n)*entry
	var arches []map[string]any
	for i := range int64(min(n, maxFatArches)) {
		b := s.bytes(8+i*entry, entry)
		if b == nil {
			a.malformed(errors.New("truncated fat arch table"))
			break
		}
		cpu, sub := binary.BigEndian.Uint32(b), binary.BigEndian.Uint32(b[4:])
		var off, size uint64
		if is64 {
			off, size = binary.BigEndian.Uint64(b[8:]), binary.BigEndian.Uint64(b[16:])
		} else {
			off, size = uint64(binary.BigEndian.Uint32(b[8:])), uint64(binary.BigEndian.Uint32(b[12:]))
		}
		arches = append(arches, map[string]any{"cpu": macho.Cpu(cpu).String(), "subcpu": sub, "offset": off, "size": size})
		if off >= uint64(s.size) {
			a.malformed(fmt.Errorf("fat arch %d at %d past the end of the file", i, off))
			continue
		}
		end = max(end, int64(min(sat(off, size), uint64(s.size))))
		size = min(size, uint64(s.size)-off)
		a.machoImage(int64(off), int64(size), map[string]any{"fat_offset": off, "fat_index": i})
	}
	a.finding(KindMachO, core.Info, 0, 0, map[string]any{"fat": true, "fat64": is64, "number_of_arches": n,
		"arches": arches, "arches_truncated": n > maxFatArches})
	if end < s.size {
		return a.overlay(end)
	}
	return nil
}

// maxLoadCommands caps the load commands walked in one image.
const maxLoadCommands = 4096

// machoImage reports the thin Mach-O at [base, base+size) and returns the
// end of its image as a file offset; ok is false when it is not a
// Mach-O. The load commands are walked by hand (debug/macho refuses files
// with inconsistent symbol tables, which the loader runs).
func (a *analysis) machoImage(base, size int64, extra map[string]any) (end int64, ok bool) {
	s := a.src
	h := s.bytes(base, min(size, 32))
	if len(h) < 28 {
		a.malformed(fmt.Errorf("macho at %d: truncated header", base))
		return 0, false
	}
	var bo binary.ByteOrder = binary.LittleEndian
	magic := bo.Uint32(h)
	if magic != macho.Magic32 && magic != macho.Magic64 {
		bo = binary.BigEndian
		magic = bo.Uint32(h)
	}
	if magic != macho.Magic32 && magic != macho.Magic64 {
		a.malformed(fmt.Errorf("macho at %d: bad magic 0x%x", base, magic))
		return 0, false
	}
	is64 := magic == macho.Magic64
	hdr := int64(28)
	if is64 {
		hdr = 32
	}
	ncmds, sizeofcmds := bo.Uint32(h[16:]), bo.Uint32(h[20:])
	d := map[string]any{
		"cpu":        macho.Cpu(bo.Uint32(h[4:])).String(),
		"subcpu":     bo.Uint32(h[8:]) &^ 0xff000000,
		"type":       macho.Type(bo.Uint32(h[12:])).String(),
		"flags":      bo.Uint32(h[24:]),
		"magic":      fmt.Sprintf("0x%x", magic),
		"big_endian": bo == binary.BigEndian,
		"sizeofcmds": sizeofcmds,
		"ncmds":      ncmds,
	}
	for k, v := range extra {
		d[k] = v
	}
	// in reads n bytes at off inside the image.
	in := func(off, n uint64) []byte {
		if off > uint64(size) || n > uint64(size)-off {
			return nil
		}
		return s.bytes(base+int64(off), int64(n))
	}
	entropy := func(off, n uint64) float64 {
		if off >= uint64(size) {
			return -1
		}
		return a.entropy(base+int64(off), int64(min(n, uint64(size)-off)))
	}
	imageEnd := uint64(hdr) + uint64(sizeofcmds)
	cmds := map[string]int{}
	var dylibs, rpaths []string
	var segs, secs, rwx []map[string]any
	nSecs := 0
	signed, encrypted := false, false
	off := uint64(hdr)
	for i := uint32(0); i < min(ncmds, maxLoadCommands); i++ {
		ch := in(off, 8)
		if ch == nil {
			a.malformed(fmt.Errorf("macho at %d: load command %d past the end", base, i))
			break
		}
		cmd, cmdsize := bo.Uint32(ch), uint64(bo.Uint32(ch[4:]))
		if cmdsize < 8 || cmdsize > maxRead {
			a.malformed(fmt.Errorf("macho at %d: load command %d has size %d", base, i, cmdsize))
			break
		}
		raw := in(off, cmdsize)
		if raw == nil {
			a.malformed(fmt.Errorf("macho at %d: load command %d truncated", base, i))
			break
		}
		off += cmdsize
		name, known := loadCmdNames[cmd]
		if !known {
			name = fmt.Sprintf("0x%x", cmd)
		}
		if len(cmds) < maxList || cmds[name] > 0 {
			cmds[name]++
		}
		switch cmd {
		case lcCodeSignature:
			if len(raw) >= 16 {
				signed = true
				imageEnd = max(imageEnd, sat(uint64(bo.Uint32(raw[8:])), uint64(bo.Uint32(raw[12:]))))
			}
		case lcEncryptionInfo, lcEncryption64:
			if len(raw) >= 20 && bo.Uint32(raw[16:]) != 0 {
				encrypted = true
			}
		case lcLoadDylib, lcLoadWeakDylib, lcReexportDylib, lcLazyLoadDylib, lcLoadUpward, lcRpath:
			if len(raw) >= 12 {
				if o := bo.Uint32(raw[8:]); o < uint32(len(raw)) {
					n := printable(cstr(raw[o:]), maxNameBytes)
					if cmd == lcRpath {
						if len(rpaths) < maxList {
							rpaths = append(rpaths, n)
						}
					} else if len(dylibs) < maxList {
						dylibs = append(dylibs, n)
					}
				}
			}
		case lcMain:
			if len(raw) >= 16 {
				d["entry_offset"] = bo.Uint64(raw[8:])
			}
		case lcSegment, lcSegment64:
			seg := parseSegment(raw, bo, cmd == lcSegment64)
			if seg == nil {
				continue
			}
			imageEnd = max(imageEnd, sat(seg.offset, seg.filesz))
			if seg.initprot&7 == 7 && len(rwx) < maxList {
				rwx = append(rwx, map[string]any{"segment": seg.name, "maxprot": seg.maxprot, "initprot": seg.initprot})
			}
			if len(segs) < maxList {
				m := map[string]any{"name": seg.name, "addr": seg.addr, "memsz": seg.memsz, "offset": seg.offset,
					"filesz": seg.filesz, "maxprot": seg.maxprot, "initprot": seg.initprot, "nsect": seg.nsect}
				if e := entropy(seg.offset, seg.filesz); e >= 0 {
					m["entropy"] = round2(e)
				}
				segs = append(segs, m)
			}
			nSecs += len(seg.sections)
			for _, sec := range seg.sections {
				if len(secs) >= maxList {
					break
				}
				m := map[string]any{"name": sec.name, "segment": sec.seg, "addr": sec.addr, "size": sec.size,
					"offset": sec.offset, "flags": sec.flags}
				switch sec.flags & 0xff {
				case 0x1, 0xc, 0x12: // zerofill: no bytes in the file
				default:
					if e := entropy(sec.offset, sec.size); e >= 0 {
						m["entropy"] = round2(e)
					}
				}
				secs = append(secs, m)
			}
		}
	}
	d["load_commands"] = map[string]any{"by_type": cmds}
	d["segments"] = segs
	d["sections"] = secs
	d["number_of_sections"] = nSecs
	d["dylibs"] = dylibs
	if len(rpaths) > 0 {
		d["rpaths"] = rpaths
	}
	d["signed"] = signed
	d["encrypted"] = encrypted
	fit(d, "sections", "segments", "dylibs", "rpaths")
	a.finding(KindMachO, core.Info, base, size, d)
	if len(rwx) > 0 {
		a.finding(KindRWX, core.Medium, base, size, map[string]any{"format": "macho", "segments": rwx})
	}
	return base + int64(min(imageEnd, uint64(size))), true
}

type machoSegment struct {
	name                        string
	addr, memsz, offset, filesz uint64
	maxprot, initprot, nsect    uint32
	sections                    []machoSection
}

type machoSection struct {
	name, seg          string
	addr, size, offset uint64
	flags              uint32
}

// parseSegment reads an LC_SEGMENT or LC_SEGMENT_64 command and the
// sections that fit in it, or returns nil when it is too short.
func parseSegment(raw []byte, bo binary.ByteOrder, is64 bool) *machoSegment {
	name := func(b []byte) string { return printable(cstr(b[:16]), 16) }
	if is64 {
		if len(raw) < 72 {
			return nil
		}
		seg := &machoSegment{name: name(raw[8:]), addr: bo.Uint64(raw[24:]), memsz: bo.Uint64(raw[32:]),
			offset: bo.Uint64(raw[40:]), filesz: bo.Uint64(raw[48:]), maxprot: bo.Uint32(raw[56:]),
			initprot: bo.Uint32(raw[60:]), nsect: bo.Uint32(raw[64:])}
		for i, o := uint32(0), 72; i < seg.nsect && o+80 <= len(raw); i, o = i+1, o+80 {
			b := raw[o:]
			seg.sections = append(seg.sections, machoSection{name: name(b), seg: name(b[16:]), addr: bo.Uint64(b[32:]),
				size: bo.Uint64(b[40:]), offset: uint64(bo.Uint32(b[48:])), flags: bo.Uint32(b[64:])})
		}
		return seg
	}
	if len(raw) < 56 {
		return nil
	}
	seg := &machoSegment{name: name(raw[8:]), addr: uint64(bo.Uint32(raw[24:])), memsz: uint64(bo.Uint32(raw[28:])),
		offset: uint64(bo.Uint32(raw[32:])), filesz: uint64(bo.Uint32(raw[36:])), maxprot: bo.Uint32(raw[40:]),
		initprot: bo.Uint32(raw[44:]), nsect: bo.Uint32(raw[48:])}
	for i, o := uint32(0), 56; i < seg.nsect && o+68 <= len(raw); i, o = i+1, o+68 {
		b := raw[o:]
		seg.sections = append(seg.sections, machoSection{name: name(b), seg: name(b[16:]), addr: uint64(bo.Uint32(b[32:])),
			size: uint64(bo.Uint32(b[36:])), offset: uint64(bo.Uint32(b[40:])), flags: bo.Uint32(b[56:])})
	}
	return seg
}

// cstr returns b up to its first NUL.
func cstr(b []byte) []byte {
	for i, c := range b {
		if c == 0 {
			return b[:i]
		}
	}
	return b
}
