package modules

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"athena/internal/yara/object"
)

var (
	kernel32 = impSpec{dll: "KERNEL32.dll", names: []string{"CreateFileA", "ExitProcess", "GetProcAddress"}}
	user32   = impSpec{dll: "user32.dll", names: []string{"MessageBoxW"}}
	ws2      = impSpec{dll: "WS2_32.dll", ordinals: []uint16{3, 115}}
	mixed    = impSpec{dll: "msvcrt.dll", names: []string{"printf", "malloc"}, ordinals: []uint16{42}}
	exports  = &expSpec{dll: "sample.dll", base: 1, names: []string{"DllMain", "Install", "ServiceMain"}, unnamed: 2,
		forwards: []string{"NTDLL.RtlAllocateHeap"}}
	rich = []richEntry{{0x00010000 | 30729, 12}, {0x00930000 | 30729, 5}, {0x00ff0000 | 24215, 1}, {0x01040000 | 27412, 40}}
)

// peSpecs are the PE variants the tests build.
func peSpecs() map[string]peSpec {
	full := peSpec{
		timestamp: 0x5e0be111, imports: []impSpec{kernel32, user32, ws2, mixed},
		rich: rich, richKey: 0x8ec9d1f5, pdb: `C:\build\release\sample.pdb`, resources: 3,
		overlay: []byte("overlay bytes here"), dllChars: 0x8140,
	}
	dll := full
	dll.chars = 0x2000
	dll.exports = exports
	specs := map[string]peSpec{
		"minimal32":      {},
		"minimal64":      {is64: true},
		"imports32":      {imports: []impSpec{kernel32, user32}},
		"imports64":      {is64: true, imports: []impSpec{kernel32, ws2, mixed}},
		"noILT":          {imports: []impSpec{kernel32, mixed}, noILT: true},
		"badDLLName":     {imports: []impSpec{{dll: "bad name!.dll", names: []string{"F"}}, user32}},
		"emptyDLL":       {imports: []impSpec{{dll: "empty.dll"}, user32}},
		"full32":         full,
		"dll32":          dll,
		"rich":           {rich: rich, richKey: 0x12345678},
		"richZeroKey":    {rich: rich[:1]},
		"richOne":        {rich: rich[:1], richKey: 0x1111},
		"richZero4":      {rich: rich},
		"nb10":           {pdb: "old.pdb", nb10: true},
		"resources":      {resources: 5},
		"namedResources": {resources: 3, namedRes: true},
		"versionInfo": {resources: 1, versionInfo: [][2]string{
			{"CompanyName", "Example Corp."}, {"FileDescription", "Sample"}, {"OriginalFilename", "sample.exe"},
			{"ProductVersion", "1.2.3.4"}, {"CompanyName", "Later wins"}, {"Empty", ""}}},
		"overlay":        {overlay: bytes.Repeat([]byte{0xcc}, 100)},
		"fewDirs":        {imports: []impSpec{kernel32}, exports: exports, nRva: 2},
		"delayed32":      {imports: []impSpec{user32}, delayed: []impSpec{kernel32, ws2, mixed}},
		"delayed64":      {is64: true, delayed: []impSpec{mixed, user32}},
		"delayedVA":      {delayed: []impSpec{kernel32, user32}, delayVA: true},
		"fewDirs1":       {imports: []impSpec{kernel32}, resources: 2, pdb: "a.pdb", nRva: 1},
		"manyDirs":       {imports: []impSpec{kernel32}, resources: 2, pdb: "a.pdb", nRva: 17},
		"optExtra":       {imports: []impSpec{user32}, optExtra: 16},
		"skewed":         {imports: []impSpec{kernel32}, rawSkew: 0x10, pdb: "x.pdb"},
		"align16":        {imports: []impSpec{kernel32}, fileAlign: 0x10},
		"textRawSmall":   {textRaw: 0x100},
		"entryHeader":    {entrySet: true, entry: 0x40},
		"entryOutside":   {entrySet: true, entry: 0x9000},
		"entryZero":      {entrySet: true},
		"manySections":   {extraSecs: 30},
		"lyingSections":  {nSections: 200},
		"zeroSections":   {nSections: 0xffff},
		"machineARM":     {machine: 0x1c0, subsystem: 3, chars: 0x0100},
		"lfanewNegative": {lfanewSet: true, lfanew: -4},
		"lfanewHuge":     {lfanewSet: true, lfanew: 0x7ffffff0},
		"dll64":          func() peSpec { d := dll; d.is64 = true; return d }(),
	}
	// Truncations of the full DLL at interesting places.
	whole := dll.build()
	for _, n := range []int{2, 0x3f, 0x40, 0x7f, 0xa0, 0xf0, 0x100, 0x118, 0x130, 0x1f0, 0x200, 0x2a0, 0x3ff, 0x500, 0x600, 0x700, 0x900, len(whole) - 5} {
		t := dll
		t.truncateTo = n
		specs["truncated"+strings.ToUpper(string(rune('a'+len(specs)%26)))+"_"+itoa3(n)] = t
	}
	return specs
}

func itoa3(n int) string {
	const digits = "0123456789abcdef"
	var b []byte
	for ; n > 0; n /= 16 {
		b = append([]byte{digits[n%16]}, b...)
	}
	return "0x" + string(b)
}

// peChecks lists what to compare on one file: every declared field and a
// set of function calls.
func peChecks(f object.Fields) []check {
	cs := fieldChecks("pe", peModule.Type, f, func(path string) bool {
		name := strings.TrimPrefix(path, "pe.")
		_, constant := peConstants[name]
		return constant
	})
	add := func(fn string, overload int, args ...object.Value) {
		cs = append(cs, call(f, "pe", fn, overload, args...))
	}
	for _, fn := range []string{"is_dll", "is_32bit", "is_64bit", "imphash", "calculate_checksum"} {
		add(fn, 0)
	}
	for _, name := range []string{".text", ".rdata", ".data", ".rsrc", ".TEXT", "", ".nope"} {
		add("section_index", 0, []byte(name))
	}
	for _, off := range []int64{0, 0x200, 0x3ff, 0x400, 0x5ff, 0x600, 0x10000} {
		add("section_index", 1, off)
	}
	for _, dll := range []string{"KERNEL32.dll", "kernel32.dll", "KERNEL32", "user32.dll", "WS2_32.dll", "msvcrt.dll", "nothere.dll", "bad name!.dll", "empty.dll"} {
		add("imports", 2, []byte(dll))
		add("imports", 6, int64(1), []byte(dll))
		add("imports", 6, int64(2), []byte(dll))
		for _, fn := range []string{"CreateFileA", "createfilea", "MessageBoxW", "printf", "ExitProcess", "ord42", "F"} {
			add("imports", 0, []byte(dll), []byte(fn))
		}
		add("imports", 4, int64(-1), []byte(dll), []byte("CreateFileA"))
		for _, ord := range []int64{3, 115, 42, 7} {
			add("imports", 1, []byte(dll), ord)
		}
		add("imports", 5, int64(1), []byte(dll), int64(3))
	}
	res := func(s string) *regexp.Regexp { return regexp.MustCompile(s) }
	for _, p := range [][2]string{{"(?i)kernel32", "^Create"}, {"32", "."}, {"dll", "A$"}, {"msvcrt", "ord"}, {"x", "y"}} {
		add("imports", 3, res(p[0]), res(p[1]))
		add("imports", 7, int64(3), res(p[0]), res(p[1]))
	}
	for _, name := range []string{"DllMain", "dllmain", "Install", "ServiceMain", "Missing", ""} {
		add("exports", 0, []byte(name))
		add("exports_index", 0, []byte(name))
	}
	for _, ord := range []int64{0, 1, 3, 5, 6, 7, 100} {
		add("exports", 1, ord)
		add("exports_index", 1, ord)
	}
	for _, re := range []string{"^Dll", "Main$", "zzz"} {
		add("exports", 2, res(re))
		add("exports_index", 2, res(re))
	}
	for _, v := range []int64{30729, 24215, 27412, 1} {
		add("rich_signature.version", 0, v)
		for _, tool := range []int64{1, 0x93, 0xff, 0x104, 2} {
			add("rich_signature.version", 1, v, tool)
			add("rich_signature.toolid", 1, tool, v)
		}
	}
	for _, tool := range []int64{1, 0x93, 0xff, 0x104, 2} {
		add("rich_signature.toolid", 0, tool)
	}
	for _, id := range []int64{0x409, 0x09, 0x407, 0x07, 0} {
		add("locale", 0, id)
		add("language", 0, id)
	}
	info, _ := f["version_info"].(map[string]object.Value)
	for _, key := range []string{"CompanyName", "FileDescription", "OriginalFilename", "ProductVersion", "Empty", "Missing"} {
		cs = append(cs, check{expr: fmt.Sprintf("pe.version_info[%q]", key), want: info[key]})
	}
	for _, rva := range []int64{0, 0x40, 0x3ff, 0x400, 0x1000, 0x1010, 0x1200, 0x2000, 0x2100, 0x4000, 0x5000, 0x9000, -1} {
		add("rva_to_offset", 0, rva)
	}
	return cs
}

func TestPEAgainstYara(t *testing.T) {
	var samples []sample
	for name, spec := range peSpecs() {
		data := spec.build()
		samples = append(samples, sample{name: name, data: data, checks: peChecks(load(t, "pe", data))})
	}
	for _, m := range mutatedSamples() {
		m.checks = peChecks(load(t, "pe", m.data))
		samples = append(samples, m)
	}
	for name, data := range map[string][]byte{
		"empty":  {},
		"mz":     []byte("MZ"),
		"random": randomBytes(3, 4096),
		"text":   []byte("just some text, not a PE file at all"),
	} {
		samples = append(samples, sample{name: name, data: data, checks: peChecks(load(t, "pe", data))})
	}
	verify(t, []string{"pe"}, samples)
}

// mutatedSamples are well-formed PE files with a few bytes of their
// headers and tables overwritten: malformed in the ways malware is.
func mutatedSamples() []sample {
	specs := peSpecs()
	bases := map[string][]byte{}
	for _, name := range []string{"dll32", "dll64", "imports64", "resources", "align16", "textRawSmall", "manySections", "versionInfo", "namedResources"} {
		bases[name] = specs[name].build()
	}
	var out []sample
	for name, base := range bases {
		for seed := uint64(0); seed < mutations(); seed++ {
			r := rand.New(rand.NewPCG(seed, 7))
			data := bytes.Clone(base)
			for range 1 + seed%6 {
				// Mostly headers and tables, sometimes anywhere.
				limit := min(len(data), 0x800)
				if r.IntN(4) == 0 {
					limit = len(data)
				}
				off := r.IntN(limit)
				switch r.IntN(4) {
				case 0:
					data[off] = byte(r.IntN(256))
				case 1:
					data[off] = 0
				case 2:
					data[off] = 0xff
				default:
					// An interesting 32-bit value in an aligned field.
					off &^= 3
					if off+4 <= len(data) {
						vals := []uint32{0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 0x1000, 0x200, uint32(len(data)), 0x2000 + uint32(r.IntN(0x400))}
						binary.LittleEndian.PutUint32(data[off:], vals[r.IntN(len(vals))])
					}
				}
			}
			out = append(out, sample{name: fmt.Sprintf("mutated-%s-%d", name, seed), data: data})
		}
	}
	return out
}

// mutations is how many mutated files to check per base file: 12, or
// $PE_MUTATIONS for a longer search.
func mutations() uint64 {
	if n, err := strconv.ParseUint(os.Getenv("PE_MUTATIONS"), 10, 64); err == nil {
		return n
	}
	return 12
}
