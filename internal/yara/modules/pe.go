package modules

import (
	"bytes"
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"slices"

	"athena/internal/yara/object"
)

// peModule is YARA's "pe": the headers of a Portable Executable and the
// tables they reach (sections, data directories, imports, exports, Rich
// header, debug path, resources, version information). Every field is
// undefined when the file is not a PE file, except is_pe (0) and the
// constants. Where YARA 4.2.3 has quirks (import_details numbering,
// is_dll returning the flag, entry_point -1, signed-char statistics...)
// this module reproduces them: rules must behave as under yara.
var peModule = &object.Module{
	Name: "pe",
	Type: peType(),
	Load: loadPE,
}

// Header fields that are plain integers, by YARA name.
var peIntFields = []string{
	"machine", "number_of_sections", "timestamp", "pointer_to_symbol_table",
	"number_of_symbols", "size_of_optional_header", "characteristics",
	"entry_point", "entry_point_raw", "image_base", "number_of_rva_and_sizes",
	"opthdr_magic", "size_of_code", "size_of_initialized_data",
	"size_of_uninitialized_data", "base_of_code", "base_of_data",
	"section_alignment", "file_alignment", "win32_version_value",
	"size_of_image", "size_of_headers", "checksum", "subsystem",
	"dll_characteristics", "size_of_stack_reserve", "size_of_stack_commit",
	"size_of_heap_reserve", "size_of_heap_commit", "loader_flags",
	"number_of_imports", "number_of_imported_functions", "number_of_exports",
	"export_timestamp", "number_of_resources",
}

func peType() *object.Type {
	f := map[string]*object.Type{
		"is_pe":    intType,
		"dll_name": stringType,
		"pdb_path": stringType,
		"linker_version": structType(map[string]*object.Type{
			"major": intType, "minor": intType}),
		"os_version": structType(map[string]*object.Type{
			"major": intType, "minor": intType}),
		"image_version": structType(map[string]*object.Type{
			"major": intType, "minor": intType}),
		"subsystem_version": structType(map[string]*object.Type{
			"major": intType, "minor": intType}),
		"data_directories": arrayType(structType(map[string]*object.Type{
			"virtual_address": intType, "size": intType})),
		"sections": arrayType(structType(map[string]*object.Type{
			"name": stringType, "characteristics": intType,
			"virtual_address": intType, "virtual_size": intType,
			"raw_data_offset": intType, "raw_data_size": intType,
			"pointer_to_relocations": intType, "pointer_to_line_numbers": intType,
			"number_of_relocations": intType, "number_of_line_numbers": intType,
		})),
		"resource_timestamp":      intType,
		"number_of_version_infos": intType,
		"version_info":            &object.Type{Kind: object.Dict, Elem: stringType},
		"version_info_list": arrayType(structType(map[string]*object.Type{
			"key": stringType, "value": stringType})),
		"resource_version": structType(map[string]*object.Type{
			"major": intType, "minor": intType}),
		"resources": arrayType(structType(map[string]*object.Type{
			"rva": intType, "offset": intType, "length": intType,
			"type": intType, "id": intType, "language": intType,
			"type_string": stringType, "name_string": stringType, "language_string": stringType,
		})),
		"overlay": structType(map[string]*object.Type{
			"offset": intType, "size": intType}),
		"rich_signature": structType(map[string]*object.Type{
			"offset": intType, "length": intType, "key": intType,
			"raw_data": stringType, "clear_data": stringType,
			"version": funcType(sig(intType, object.Int), sig(intType, object.Int, object.Int)),
			"toolid":  funcType(sig(intType, object.Int), sig(intType, object.Int, object.Int)),
		}),
		"number_of_delayed_imports":            intType,
		"number_of_delayed_imported_functions": intType,
		"delay_import_details": arrayType(structType(map[string]*object.Type{
			"library_name":        stringType,
			"number_of_functions": intType,
			"functions": arrayType(structType(map[string]*object.Type{
				"name": stringType, "ordinal": intType})),
		})),
		"import_details": arrayType(structType(map[string]*object.Type{
			"library_name":        stringType,
			"number_of_functions": intType,
			"functions": arrayType(structType(map[string]*object.Type{
				"name": stringType, "ordinal": intType})),
		})),
		"export_details": arrayType(structType(map[string]*object.Type{
			"offset": intType, "name": stringType,
			"forward_name": stringType, "ordinal": intType,
		})),
		"section_index": funcType(sig(intType, object.String), sig(intType, object.Int)),
		"exports": funcType(sig(intType, object.String), sig(intType, object.Int),
			sig(intType, object.Regex)),
		"exports_index": funcType(sig(intType, object.String), sig(intType, object.Int),
			sig(intType, object.Regex)),
		"imports": funcType(
			sig(intType, object.String, object.String),
			sig(intType, object.String, object.Int),
			sig(intType, object.String),
			sig(intType, object.Regex, object.Regex),
			sig(intType, object.Int, object.String, object.String),
			sig(intType, object.Int, object.String, object.Int),
			sig(intType, object.Int, object.String),
			sig(intType, object.Int, object.Regex, object.Regex),
		),
		"imphash":            funcType(sig(stringType)),
		"locale":             funcType(sig(intType, object.Int)),
		"language":           funcType(sig(intType, object.Int)),
		"is_dll":             funcType(sig(intType)),
		"is_32bit":           funcType(sig(intType)),
		"is_64bit":           funcType(sig(intType)),
		"rva_to_offset":      funcType(sig(intType, object.Int)),
		"calculate_checksum": funcType(sig(intType)),
	}
	for _, name := range peIntFields {
		f[name] = intType
	}
	for name := range peConstants {
		f[name] = intType
	}
	return structType(f)
}

func loadPE(in *object.Input) object.Fields {
	out := object.Fields{}
	for name, v := range peConstants {
		out[name] = v
	}
	p := parsePE(in.Data, in.Size)
	if p == nil {
		out["is_pe"] = int64(0)
		return out
	}
	out["is_pe"] = int64(1)
	p.headerFields(out)
	p.tableFields(out)
	p.functions(out)
	return out
}

func (p *peFile) headerFields(out object.Fields) {
	out["machine"] = p.machine
	out["number_of_sections"] = p.nSections
	out["timestamp"] = p.timestamp
	out["pointer_to_symbol_table"] = p.symtabPtr
	out["number_of_symbols"] = p.nSymbols
	out["size_of_optional_header"] = p.optSize
	out["characteristics"] = p.chars
	for _, name := range []string{
		"opthdr_magic", "size_of_code", "size_of_initialized_data",
		"size_of_uninitialized_data", "entry_point_raw", "base_of_code",
		"base_of_data", "image_base", "section_alignment", "file_alignment",
		"win32_version_value", "size_of_image", "size_of_headers", "checksum",
		"subsystem", "dll_characteristics", "size_of_stack_reserve",
		"size_of_stack_commit", "size_of_heap_reserve", "size_of_heap_commit",
		"loader_flags", "number_of_rva_and_sizes",
	} {
		if v, ok := p.opt[name]; ok {
			out[name] = v
		}
	}
	version := func(major, minor string) object.Fields {
		return object.Fields{"major": p.opt[major], "minor": p.opt[minor]}
	}
	out["linker_version"] = version("linker_major", "linker_minor")
	out["os_version"] = version("os_major", "os_minor")
	out["image_version"] = version("image_major", "image_minor")
	out["subsystem_version"] = version("subsystem_major", "subsystem_minor")
	out["entry_point"] = p.rvaToOffset(p.opt["entry_point_raw"]) // -1 when unmapped, as YARA

	// YARA lists min(n, 16) directories, n read as a signed 32-bit number.
	var dirs []object.Value
	if n := int64(int32(p.opt["number_of_rva_and_sizes"])); n > 0 {
		for _, d := range p.dirs[:min(n, numDataDirectories)] {
			dirs = append(dirs, object.Fields{"virtual_address": d[0], "size": d[1]})
		}
	}
	out["data_directories"] = dirs

	secs := make([]object.Value, len(p.secs))
	for i, s := range p.secs {
		secs[i] = object.Fields{
			"name":                    s.name,
			"characteristics":         s.chars,
			"virtual_address":         s.va,
			"virtual_size":            s.vsize,
			"raw_data_offset":         s.raw,
			"raw_data_size":           s.rawSize,
			"pointer_to_relocations":  s.relocPtr,
			"pointer_to_line_numbers": s.linePtr,
			"number_of_relocations":   s.nRelocs,
			"number_of_line_numbers":  s.nLines,
		}
	}
	out["sections"] = secs

	// The overlay starts where the last section's raw data ends (summed
	// in 32 bits, as YARA does).
	var end int64
	for _, s := range p.secs {
		end = max(end, int64(uint32(s.raw+s.rawSize)))
	}
	if end > 0 && end < p.size {
		out["overlay"] = object.Fields{"offset": end, "size": p.size - end}
	} else {
		out["overlay"] = object.Fields{"offset": int64(0), "size": int64(0)}
	}
}

func (p *peFile) tableFields(out object.Fields) {
	// YARA 4.2.3 numbers the functions of import_details across all DLLs:
	// DLL k's functions sit at the indexes after those of DLLs 0..k-1, the
	// earlier indexes are undefined, and its number_of_functions is the
	// running total. DLLs importing nothing get no entry. As the padding
	// grows quadratically with the number of DLLs, DLLs past a budget of
	// array slots are left out of import_details (not out of imports()).
	const maxSlots = 1 << 18
	var nFuncs, nThunks, slots int64
	var details []object.Value
	for _, imp := range p.imports {
		nThunks += imp.thunks
		if len(imp.funcs) == 0 {
			continue
		}
		if slots += nFuncs + int64(len(imp.funcs)); slots > maxSlots {
			nFuncs += int64(len(imp.funcs))
			continue
		}
		funcs := make([]object.Value, nFuncs, nFuncs+int64(len(imp.funcs)))
		for _, fn := range imp.funcs {
			f := object.Fields{"name": fn.name}
			if fn.byOrdinal {
				f["ordinal"] = fn.ordinal
			}
			funcs = append(funcs, f)
		}
		nFuncs += int64(len(imp.funcs))
		details = append(details, object.Fields{
			"library_name":        imp.dll,
			"number_of_functions": nFuncs,
			"functions":           funcs,
		})
	}
	// YARA 4.2.3 counts delay-load imports but lists none in
	// delay_import_details.
	var nDelayed int64
	for _, imp := range p.delayed {
		nDelayed += imp.thunks
	}
	out["number_of_delayed_imports"] = int64(len(p.delayed))
	out["number_of_delayed_imported_functions"] = nDelayed
	out["number_of_imports"] = int64(len(p.imports))
	out["number_of_imported_functions"] = nThunks
	out["import_details"] = details

	if e := p.exports; e != nil {
		out["number_of_exports"] = int64(len(e.funcs))
		out["export_timestamp"] = e.timestamp
		if e.name != nil {
			out["dll_name"] = e.name
		}
		details := make([]object.Value, len(e.funcs))
		for i, ex := range e.funcs {
			d := object.Fields{"ordinal": ex.ordinal}
			if ex.name != nil {
				d["name"] = ex.name
			}
			if ex.forward != nil {
				d["forward_name"] = ex.forward
			} else {
				d["offset"] = ex.offset
			}
			details[i] = d
		}
		out["export_details"] = details
	} else {
		out["number_of_exports"] = int64(0)
	}

	if r := p.rich; r != nil {
		out["rich_signature"] = object.Fields{
			"offset":     r.offset,
			"length":     r.length,
			"key":        r.key,
			"raw_data":   r.raw,
			"clear_data": r.clear,
			"version": object.Funcs{
				func(a []object.Value) object.Value {
					v, ok := intArg(a[0])
					if !ok {
						return nil
					}
					return r.count(&v, nil)
				},
				func(a []object.Value) object.Value {
					v, ok1 := intArg(a[0])
					t, ok2 := intArg(a[1])
					if !ok1 || !ok2 {
						return nil
					}
					return r.count(&v, &t)
				},
			},
			"toolid": object.Funcs{
				func(a []object.Value) object.Value {
					t, ok := intArg(a[0])
					if !ok {
						return nil
					}
					return r.count(nil, &t)
				},
				func(a []object.Value) object.Value {
					t, ok1 := intArg(a[0])
					v, ok2 := intArg(a[1])
					if !ok1 || !ok2 {
						return nil
					}
					return r.count(&v, &t)
				},
			},
		}
	}
	if p.pdbPath != nil {
		out["pdb_path"] = p.pdbPath
	}
	out["number_of_resources"] = int64(0)
	if r := p.res; r != nil {
		out["number_of_resources"] = int64(len(r.list))
		out["resource_timestamp"] = r.timestamp
		out["resource_version"] = object.Fields{"major": r.major, "minor": r.minor}
		list := make([]object.Value, len(r.list))
		for i, res := range r.list {
			f := object.Fields{"rva": res.rva, "length": res.length}
			if off := p.rvaToOffset(res.rva); off >= 0 {
				f["offset"] = off
			}
			for level, key := range []string{"type", "id", "language"} {
				if n := res.path[level]; n.name != nil {
					f[[]string{"type_string", "name_string", "language_string"}[level]] = n.name
				} else {
					f[key] = n.id
				}
			}
			list[i] = f
		}
		out["resources"] = list
	}
	// Later pairs with the same key win in version_info, as in YARA.
	info := map[string]object.Value{}
	var infoList []object.Value
	for _, kv := range p.version {
		info[string(kv.key)] = kv.value
		infoList = append(infoList, object.Fields{"key": kv.key, "value": kv.value})
	}
	out["version_info"] = info
	out["version_info_list"] = infoList
	out["number_of_version_infos"] = int64(len(p.version))
}

func (p *peFile) functions(out object.Fields) {
	out["is_dll"] = object.Funcs{func([]object.Value) object.Value {
		return p.chars & 0x2000 // YARA returns the flag, not 0 or 1
	}}
	out["is_32bit"] = object.Funcs{func([]object.Value) object.Value {
		return boolValue(!p.is64) // any magic but 0x20b, as YARA
	}}
	out["is_64bit"] = object.Funcs{func([]object.Value) object.Value {
		return boolValue(p.opt["opthdr_magic"] == optMagic64)
	}}
	out["imphash"] = object.Funcs{func([]object.Value) object.Value { return p.imphash() }}
	out["calculate_checksum"] = object.Funcs{func([]object.Value) object.Value { return p.calculateChecksum() }}
	out["rva_to_offset"] = object.Funcs{func(a []object.Value) object.Value {
		rva, ok := intArg(a[0])
		if !ok {
			return nil
		}
		if off := p.rvaToOffset(rva); off >= 0 {
			return off
		}
		return nil
	}}
	out["section_index"] = object.Funcs{
		func(a []object.Value) object.Value {
			name, ok := bytesArg(a[0])
			if !ok {
				return nil
			}
			// YARA compares C strings: both end at their first NUL.
			for i, s := range p.secs {
				if bytes.Equal(cPrefix(s.name), cPrefix(name)) {
					return int64(i)
				}
			}
			return nil
		},
		func(a []object.Value) object.Value {
			off, ok := intArg(a[0])
			if !ok {
				return nil
			}
			for i, s := range p.secs {
				if off >= s.raw && off < s.raw+s.rawSize {
					return int64(i)
				}
			}
			return nil
		},
	}
	// locale(id) looks for a resource in that language (full LCID),
	// language(id) for one in that primary language (low byte).
	resourceIn := func(match func(lang int64) bool) func([]object.Value) object.Value {
		return func(a []object.Value) object.Value {
			if p.res == nil {
				return int64(0)
			}
			for _, r := range p.res.list {
				if l := r.path[2]; l.name == nil && match(l.id) {
					return int64(1)
				}
			}
			return int64(0)
		}
	}
	out["locale"] = object.Funcs{func(a []object.Value) object.Value {
		id, ok := intArg(a[0])
		if !ok {
			return nil
		}
		return resourceIn(func(lang int64) bool { return lang&0xffff == id })(a)
	}}
	out["language"] = object.Funcs{func(a []object.Value) object.Value {
		id, ok := intArg(a[0])
		if !ok {
			return nil
		}
		return resourceIn(func(lang int64) bool { return lang&0xff == id })(a)
	}}
	p.exportFunctions(out)
	p.importFunctions(out)
}

func (p *peFile) exportFunctions(out object.Fields) {
	// find returns the index of the first export matching, or -1.
	find := func(match func(ex *peExport) bool) int64 {
		if p.exports == nil {
			return -1
		}
		for i := range p.exports.funcs {
			if match(&p.exports.funcs[i]) {
				return int64(i)
			}
		}
		return -1
	}
	byName := func(a []object.Value) int64 {
		name, ok := bytesArg(a[0])
		if !ok {
			return -1
		}
		return find(func(ex *peExport) bool { return ex.name != nil && asciiEqualFold(ex.name, name) })
	}
	byOrdinal := func(a []object.Value) int64 {
		ord, ok := intArg(a[0])
		if !ok {
			return -1
		}
		return find(func(ex *peExport) bool { return ex.ordinal == ord })
	}
	byRegex := func(a []object.Value) int64 {
		re, ok := a[0].(object.Matcher)
		if !ok {
			return -1
		}
		return find(func(ex *peExport) bool { return ex.name != nil && re.Match(ex.name) })
	}
	asBool := func(f func([]object.Value) int64) func([]object.Value) object.Value {
		return func(a []object.Value) object.Value {
			if p.exports == nil {
				return int64(0)
			}
			return boolValue(f(a) >= 0)
		}
	}
	asIndex := func(f func([]object.Value) int64) func([]object.Value) object.Value {
		return func(a []object.Value) object.Value {
			if i := f(a); i >= 0 {
				return i
			}
			return nil
		}
	}
	out["exports"] = object.Funcs{asBool(byName), asBool(byOrdinal), asBool(byRegex)}
	out["exports_index"] = object.Funcs{asIndex(byName), asIndex(byOrdinal), asIndex(byRegex)}
}

// The flags of imports(flags, ...): pe.IMPORT_STANDARD, pe.IMPORT_DELAYED.
const (
	importStandard = 1
	importDelayed  = 2
)

func (p *peFile) importFunctions(out object.Fields) {
	// count counts the imported functions whose DLL and function match,
	// among the standard and/or the delay-load imports.
	count := func(flags int64, dll func([]byte) bool, fn func(*peImportFunc) bool) int64 {
		var n int64
		var lists [][]peImport
		if flags&importStandard != 0 {
			lists = append(lists, p.imports)
		}
		if flags&importDelayed != 0 {
			lists = append(lists, p.delayed)
		}
		for _, imp := range slices.Concat(lists...) {
			if !dll(imp.dll) {
				continue
			}
			for j := range imp.funcs {
				if fn(&imp.funcs[j]) {
					n++
				}
			}
		}
		return n
	}
	dllIs := func(v object.Value) (func([]byte) bool, bool) {
		name, ok := bytesArg(v)
		return func(b []byte) bool { return asciiEqualFold(b, name) }, ok
	}
	nameIs := func(v object.Value) (func(*peImportFunc) bool, bool) {
		name, ok := bytesArg(v)
		return func(f *peImportFunc) bool { return asciiEqualFold(f.name, name) }, ok
	}
	ordinalIs := func(v object.Value) (func(*peImportFunc) bool, bool) {
		ord, ok := intArg(v)
		return func(f *peImportFunc) bool { return f.byOrdinal && f.ordinal == ord }, ok
	}
	any := func(*peImportFunc) bool { return true }
	reDLL := func(v object.Value) (func([]byte) bool, bool) {
		re, ok := v.(object.Matcher)
		return func(b []byte) bool { return re.Match(b) }, ok
	}
	reName := func(v object.Value) (func(*peImportFunc) bool, bool) {
		re, ok := v.(object.Matcher)
		return func(f *peImportFunc) bool { return re.Match(f.name) }, ok
	}
	// Each overload takes the import kinds to search first; those without
	// a flags argument search the standard imports.
	dllFn := func(flags int64, a []object.Value) object.Value {
		d, ok1 := dllIs(a[0])
		f, ok2 := nameIs(a[1])
		if !ok1 || !ok2 {
			return nil
		}
		return boolValue(count(flags, d, f) > 0)
	}
	dllOrd := func(flags int64, a []object.Value) object.Value {
		d, ok1 := dllIs(a[0])
		f, ok2 := ordinalIs(a[1])
		if !ok1 || !ok2 {
			return nil
		}
		return boolValue(count(flags, d, f) > 0)
	}
	dllOnly := func(flags int64, a []object.Value) object.Value {
		d, ok := dllIs(a[0])
		if !ok {
			return nil
		}
		return count(flags, d, any)
	}
	regexes := func(flags int64, a []object.Value) object.Value {
		d, ok1 := reDLL(a[0])
		f, ok2 := reName(a[1])
		if !ok1 || !ok2 {
			return nil
		}
		return count(flags, d, f)
	}
	standard := func(f func(int64, []object.Value) object.Value) func([]object.Value) object.Value {
		return func(a []object.Value) object.Value { return f(importStandard, a) }
	}
	withFlags := func(f func(int64, []object.Value) object.Value) func([]object.Value) object.Value {
		return func(a []object.Value) object.Value {
			flags, ok := intArg(a[0])
			if !ok {
				return nil
			}
			return f(flags, a[1:])
		}
	}
	out["imports"] = object.Funcs{
		standard(dllFn), standard(dllOrd), standard(dllOnly), standard(regexes),
		withFlags(dllFn), withFlags(dllOrd), withFlags(dllOnly), withFlags(regexes),
	}
}

// imphash is the MD5 of the imports listed as "dll.function", lowercase,
// comma-separated, the DLL's .dll, .ocx or .sys extension removed.
func (p *peFile) imphash() object.Value {
	var list []byte
	for _, imp := range p.imports {
		// The extension goes when it starts with .dll, .ocx or .sys, as
		// YARA compares only that many bytes ("x.dllf" becomes "x").
		dll := asciiLower(imp.dll)
		if dot := bytes.LastIndexByte(dll, '.'); dot >= 0 {
			ext := dll[dot:]
			for _, e := range []string{".dll", ".ocx", ".sys"} {
				if bytes.HasPrefix(ext, []byte(e)) {
					dll = dll[:dot]
					break
				}
			}
		}
		for _, fn := range imp.funcs {
			name := fn.name
			if len(list) > 0 {
				list = append(list, ',')
			}
			list = append(list, dll...)
			list = append(list, '.')
			list = append(list, asciiLower(name)...)
		}
	}
	sum := md5.Sum(list)
	return []byte(hex.EncodeToString(sum[:]))
}

// calculateChecksum is the PE image checksum: 16-bit one's-complement-ish
// sum of the file with the CheckSum field skipped, plus the file length.
func (p *peFile) calculateChecksum() object.Value {
	if int64(len(p.data)) < p.size {
		return nil
	}
	skip := p.ntOffset + 4 + fileHeaderSize + 64
	var sum uint64
	for i := int64(0); i < int64(len(p.data)); i += 4 {
		if i == skip {
			continue
		}
		var w uint32
		if i+4 <= int64(len(p.data)) {
			w = binary.LittleEndian.Uint32(p.data[i:])
		} else {
			var tail [4]byte
			copy(tail[:], p.data[i:])
			w = binary.LittleEndian.Uint32(tail[:])
		}
		sum += uint64(w)
		if sum > 0xffffffff {
			sum = (sum & 0xffffffff) + sum>>32
		}
	}
	sum = (sum & 0xffff) + sum>>16
	sum += sum >> 16
	sum &= 0xffff
	return int64(sum) + int64(len(p.data))
}

// asciiLower and asciiEqualFold fold case as C's tolower and strcasecmp
// do: ASCII letters only, every other byte as is.
func asciiLower(b []byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		out[i] = c
	}
	return out
}

func asciiEqualFold(a, b []byte) bool {
	return len(a) == len(b) && bytes.Equal(asciiLower(a), asciiLower(b))
}

// cPrefix is b up to its first NUL.
func cPrefix(b []byte) []byte {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return b[:i]
	}
	return b
}
