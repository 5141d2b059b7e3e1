package exe

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"athena/internal/core"
	"athena/internal/formats"
)

func TestDetect(t *testing.T) {
	java := []byte{0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 52}
	for _, tc := range []struct {
		name string
		head []byte
		want string
	}{
		{"pe", buildPE(peSpec{tls: -1}), FormatPE},
		{"mz only", []byte("MZ"), FormatPE},
		{"elf", buildELF(5, nil, nil), FormatELF},
		{"macho 64", buildMachO(0x01000007, false), FormatMachO},
		{"macho 32 swapped", []byte{0xce, 0xfa, 0xed, 0xfe, 7, 0, 0, 0}, FormatMachO},
		{"fat", buildFat([][]byte{buildMachO(0x01000007, false)}, []uint32{0x01000007}, nil), FormatMachOFat},
		{"java class", java, ""},
		{"text", []byte("hello world"), ""},
		{"empty", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Detect(tc.head); got != tc.want {
				t.Errorf("Detect = %q, want %q", got, tc.want)
			}
		})
	}
}

// detail returns the only finding of kind k, failing when there is not
// exactly one.
func detail(t *testing.T, rec *recorder, k string) map[string]any {
	t.Helper()
	fs := rec.kind(k)
	if len(fs) != 1 {
		t.Fatalf("%d findings of kind %q, want 1: %+v", len(fs), k, rec.findings)
	}
	return fs[0].Detail
}

func TestPE(t *testing.T) {
	overlay := noise(300<<10, 1)
	imports := []peImp{
		{dll: "KERNEL32.dll", names: []string{"LoadLibraryA", "GetProcAddress"}},
		{dll: "WS2_32.dll", ords: []uint16{1, 115}},
		{dll: "user32.dll", names: []string{"MessageBoxA"}, ords: []uint16{5}},
	}

	for _, tc := range []struct {
		name        string
		spec        peSpec
		wantMachine string
		wantKinds   map[string]core.Severity // trait findings expected
		wantChild   []byte
	}{
		{
			name:        "pe32 full",
			spec:        peSpec{imports: imports, exports: []string{"Alpha", "Beta"}, tls: 2, rich: true, overlay: []byte("appended data")},
			wantMachine: "i386",
			wantKinds:   map[string]core.Severity{KindTLSCallbacks: core.Low, KindOverlay: core.Info, KindPacker: core.Medium},
			wantChild:   []byte("appended data"),
		},
		{
			name:        "pe32+ full",
			spec:        peSpec{is64: true, imports: imports, exports: []string{"Alpha"}, tls: 1, rich: true, overlay: overlay},
			wantMachine: "amd64",
			wantKinds:   map[string]core.Severity{KindTLSCallbacks: core.Low, KindOverlay: core.Medium, KindPacker: core.Medium},
			wantChild:   overlay,
		},
		{
			name:        "plain",
			spec:        peSpec{imports: []peImp{{dll: "kernel32.dll", names: []string{"ExitProcess", "CreateFileW", "ReadFile", "WriteFile", "CloseHandle", "LoadLibraryW", "GetProcAddress", "Sleep", "HeapAlloc", "HeapFree", "GetLastError"}}}, tls: -1},
			wantMachine: "i386",
			wantKinds:   map[string]core.Severity{},
		},
		{
			name:        "upx names",
			spec:        peSpec{names: [2]string{"UPX0", "UPX1"}, tls: -1, textBytes: noise(0x200, 2)},
			wantMachine: "i386",
			wantKinds:   map[string]core.Severity{KindPacker: core.Medium},
		},
		{
			name:        "entry in writable section",
			spec:        peSpec{tls: -1, writable: true},
			wantMachine: "i386",
			wantKinds:   map[string]core.Severity{KindEntryPoint: core.Medium},
		},
		{
			name:        "entry outside sections",
			spec:        peSpec{tls: -1, entry: 0x9000},
			wantMachine: "i386",
			wantKinds:   map[string]core.Severity{KindEntryPoint: core.Medium},
		},
		{
			name:        "signed with overlay after the certificate",
			spec:        peSpec{tls: -1, certSize: 0x100, overlay: []byte("tail")},
			wantMachine: "i386",
			wantKinds:   map[string]core.Severity{KindOverlay: core.Info},
			wantChild:   []byte("tail"),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := buildPE(tc.spec)
			rec := analyze(t, data)
			d := detail(t, rec, KindPE)
			if got := d["machine"]; got != tc.wantMachine {
				t.Errorf("machine = %v, want %v", got, tc.wantMachine)
			}
			if got := d["pe32plus"]; got != tc.spec.is64 {
				t.Errorf("pe32plus = %v, want %v", got, tc.spec.is64)
			}
			if got, want := d["signed"], tc.spec.certSize > 0; got != want {
				t.Errorf("signed = %v, want %v", got, want)
			}
			if got, want := d["tls"], tc.spec.tls >= 0; got != want {
				t.Errorf("tls = %v, want %v", got, want)
			}
			if _, got := d["rich"]; got != tc.spec.rich {
				t.Errorf("rich present = %v, want %v", got, tc.spec.rich)
			}
			secs := d["sections"].([]map[string]any)
			if len(secs) != 2 {
				t.Fatalf("%d sections, want 2", len(secs))
			}
			for _, k := range []string{KindTLSCallbacks, KindOverlay, KindPacker, KindEntryPoint} {
				fs := rec.kind(k)
				want, ok := tc.wantKinds[k]
				if ok != (len(fs) > 0) {
					t.Errorf("%s findings: %+v, want present=%v", k, fs, ok)
					continue
				}
				if ok && fs[0].Severity != want {
					t.Errorf("%s severity = %v, want %v", k, fs[0].Severity, want)
				}
			}
			if got := rec.children["overlay"]; !bytes.Equal(got, tc.wantChild) {
				t.Errorf("overlay child: %d bytes, want %d", len(got), len(tc.wantChild))
			}
			if len(tc.wantChild) > 0 {
				sum := sha256.Sum256(tc.wantChild)
				if got := rec.kind(KindOverlay)[0].Detail["sha256"]; got != hex.EncodeToString(sum[:]) {
					t.Errorf("overlay sha256 = %v", got)
				}
			}
			if tc.spec.tls > 0 {
				if got := rec.kind(KindTLSCallbacks)[0].Detail["count"]; got != tc.spec.tls {
					t.Errorf("tls callbacks = %v, want %d", got, tc.spec.tls)
				}
			}
			checkJSON(t, rec)
		})
	}
}

func TestPEImportsExportsRich(t *testing.T) {
	for _, is64 := range []bool{false, true} {
		data := buildPE(peSpec{is64: is64, tls: -1, rich: true, exports: []string{"Alpha", "Beta"}, imports: []peImp{
			{dll: "KERNEL32.dll", names: []string{"LoadLibraryA", "GetProcAddress"}},
			{dll: "WS2_32.dll", ords: []uint16{1, 115}},
			{dll: "user32.dll", names: []string{"MessageBoxA"}, ords: []uint16{5}},
		}})
		d := detail(t, analyze(t, data), KindPE)
		imps := d["imports"].([]map[string]any)
		if got, want := imps[1]["functions"], []string{"accept", "WSAStartup"}; !reflect.DeepEqual(got, want) {
			t.Errorf("ws2_32 functions = %v, want %v", got, want)
		}
		if got, want := imps[2]["functions"], []string{"MessageBoxA", "ord5"}; !reflect.DeepEqual(got, want) {
			t.Errorf("user32 functions = %v, want %v", got, want)
		}
		ex := d["exports"].(map[string]any)
		if got, want := ex["names"], []string{"Alpha", "Beta"}; !reflect.DeepEqual(got, want) {
			t.Errorf("exports = %v, want %v", got, want)
		}
		if got := ex["dll_name"]; got != "test.dll" {
			t.Errorf("export dll name = %v", got)
		}
		rich := d["rich"].(map[string]any)["entries"].([]map[string]any)
		if len(rich) != 2 || rich[1]["product"] != uint32(0x104) || rich[1]["count"] != uint32(12) {
			t.Errorf("rich entries = %v", rich)
		}
	}
}

func TestPEResources(t *testing.T) {
	small, big := bytes.Repeat([]byte("a"), 100), noise(80<<10, 3)
	for _, tc := range []struct {
		name    string
		rcdata  [][]byte
		wantBig bool
	}{
		{"small", [][]byte{small, small}, false},
		{"big low entropy", [][]byte{bytes.Repeat([]byte("ab"), 40<<10)}, false},
		{"big high entropy", [][]byte{small, big}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := analyze(t, buildPE(peSpec{tls: -1, rcdata: tc.rcdata}))
			res := detail(t, rec, KindPE)["resources"].(map[string]any)
			if got, want := res["count"], len(tc.rcdata); got != want {
				t.Errorf("count = %v, want %v", got, want)
			}
			if got, want := res["types"], map[string]int{"RT_RCDATA": len(tc.rcdata)}; !reflect.DeepEqual(got, want) {
				t.Errorf("types = %v, want %v", got, want)
			}
			if got := len(rec.kind(KindPacker)) > 0; got != tc.wantBig {
				t.Errorf("large high-entropy resource flagged = %v, want %v", got, tc.wantBig)
			}
		})
	}
}

func TestImphash(t *testing.T) {
	imports := []peImp{
		{dll: "KERNEL32.dll", names: []string{"LoadLibraryA", "GetProcAddress"}},
		{dll: "WS2_32.dll", ords: []uint16{1, 115}},
		{dll: "user32.dll", names: []string{"MessageBoxA"}, ords: []uint16{5}},
	}
	// md5 of "kernel32.loadlibrarya,kernel32.getprocaddress,ws2_32.accept,
	// ws2_32.wsastartup,user32.messageboxa,user32.ord5", computed with
	// md5sum(1).
	const want = "3c3d686876d7c1f93a8a2cf16a0b3d77"
	data := buildPE(peSpec{tls: -1, imports: imports})
	if got := detail(t, analyze(t, data), KindPE)["imphash"]; got != want {
		t.Errorf("imphash = %v, want %v", got, want)
	}
}

// TestPEHugeTables checks that long import and export lists are capped
// and the finding stays under 32 KiB.
func TestPEHugeTables(t *testing.T) {
	var imps []peImp
	var exports []string
	for i := range 40 {
		imp := peImp{dll: fmt.Sprintf("lib%02d.dll", i)}
		for j := range 20 {
			imp.names = append(imp.names, fmt.Sprintf("%s_%02d_%02d", strings.Repeat("F", 200), i, j))
		}
		imps = append(imps, imp)
		exports = append(exports, fmt.Sprintf("%s%d", strings.Repeat("E", 200), i))
	}
	rec := analyze(t, buildPE(peSpec{tls: -1, imports: imps, exports: exports}))
	d := detail(t, rec, KindPE)
	if d["import_functions"] != 800 || d["import_dlls"] != 40 {
		t.Errorf("import counts = %v, %v; want 800, 40", d["import_functions"], d["import_dlls"])
	}
	if d["imports_truncated"] != true || d["trimmed"] == nil {
		t.Errorf("imports_truncated = %v, trimmed = %v", d["imports_truncated"], d["trimmed"])
	}
	checkJSON(t, rec)
}

func TestELF(t *testing.T) {
	for _, tc := range []struct {
		name      string
		flags     uint32
		extra     []byte
		overlay   []byte
		wantRWX   bool
		wantUPX   bool
		wantChild bool
	}{
		{name: "rx", flags: 5},
		{name: "rwx", flags: 7, wantRWX: true},
		{name: "upx", flags: 5, extra: []byte("\x00UPX!\x0d\x0a"), wantUPX: true},
		{name: "overlay", flags: 5, overlay: []byte("extra bytes"), wantChild: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := analyze(t, buildELF(tc.flags, tc.extra, tc.overlay))
			d := detail(t, rec, KindELF)
			if d["machine"] != "EM_X86_64" || d["class"] != "ELFCLASS64" || d["type"] != "ET_EXEC" {
				t.Errorf("header = %v %v %v", d["machine"], d["class"], d["type"])
			}
			if got := len(rec.kind(KindRWX)) > 0; got != tc.wantRWX {
				t.Errorf("rwx finding = %v, want %v", got, tc.wantRWX)
			}
			if got := len(rec.kind(KindPacker)) > 0; got != tc.wantUPX {
				t.Errorf("packer finding = %v, want %v", got, tc.wantUPX)
			}
			if got := rec.children["overlay"]; !bytes.Equal(got, tc.overlay) {
				t.Errorf("overlay = %q, want %q", got, tc.overlay)
			}
			if d["stripped"] != true {
				t.Errorf("stripped = %v", d["stripped"])
			}
			checkJSON(t, rec)
		})
	}
}

func TestELFTruncated(t *testing.T) {
	data := buildELF(7, []byte("UPX!"), nil)
	// A section table past the end of the file.
	le.PutUint64(data[40:], 1<<20)
	le.PutUint16(data[60:], 4)
	rec := analyze(t, data)
	if len(rec.kind("malformed")) != 1 {
		t.Errorf("findings %+v, want one malformed", rec.findings)
	}
	d := detail(t, rec, KindELF)
	if d["partial"] != true || d["machine"] != "EM_X86_64" || d["entry"] != uint64(0x400000+64+2*56) {
		t.Errorf("partial header = %v", d)
	}
	if segs := d["segments"].([]map[string]any); len(segs) != 2 || segs[0]["type"] != "PT_LOAD" {
		t.Errorf("segments = %v", segs)
	}
	if len(rec.kind(KindRWX)) != 1 || len(rec.kind(KindPacker)) != 1 {
		t.Errorf("want one rwx and one packer finding: %+v", rec.findings)
	}
}

func TestMachO(t *testing.T) {
	thin := buildMachO(0x01000007, true)
	t.Run("thin", func(t *testing.T) {
		rec := analyze(t, append(append([]byte{}, thin...), "tail"...))
		d := detail(t, rec, KindMachO)
		if d["cpu"] != "CpuAmd64" || d["signed"] != true || d["type"] != "Exec" {
			t.Errorf("cpu %v signed %v type %v", d["cpu"], d["signed"], d["type"])
		}
		if got, want := d["dylibs"], []string{"/usr/lib/libSystem.B.dylib"}; !reflect.DeepEqual(got, want) {
			t.Errorf("dylibs = %v, want %v", got, want)
		}
		if secs := d["sections"].([]map[string]any); len(secs) != 1 || secs[0]["name"] != "__text" {
			t.Errorf("sections = %v", secs)
		}
		if got := string(rec.children["overlay"]); got != "tail" {
			t.Errorf("overlay = %q", got)
		}
		checkJSON(t, rec)
	})
	t.Run("fat", func(t *testing.T) {
		arm := buildMachO(0x0100000c, false)
		data := buildFat([][]byte{thin, arm}, []uint32{0x01000007, 0x0100000c}, []byte("fat tail"))
		rec := analyze(t, data)
		fs := rec.kind(KindMachO)
		if len(fs) != 3 {
			t.Fatalf("%d macho findings, want 3 (two arches and the fat header)", len(fs))
		}
		if fs[0].Detail["cpu"] != "CpuAmd64" || fs[1].Detail["cpu"] != "CpuArm64" || fs[2].Detail["fat"] != true {
			t.Errorf("findings = %v / %v / %v", fs[0].Detail["cpu"], fs[1].Detail["cpu"], fs[2].Detail)
		}
		if fs[1].Detail["signed"] != false {
			t.Errorf("arm64 signed = %v", fs[1].Detail["signed"])
		}
		if got := string(rec.children["overlay"]); got != "fat tail" {
			t.Errorf("overlay = %q", got)
		}
		checkJSON(t, rec)
	})
}

// TestGoTestdata runs the real binaries shipped with Go's debug packages.
func TestGoTestdata(t *testing.T) {
	root := filepath.Join(runtime.GOROOT(), "src", "debug")
	var files []string
	for _, dir := range []string{"pe", "elf", "macho"} {
		f, _ := filepath.Glob(filepath.Join(root, dir, "testdata", "*"))
		files = append(files, f...)
	}
	if len(files) == 0 {
		t.Fatal("no testdata under $GOROOT/src/debug: the Go installation is incomplete")
	}
	seen := map[string]int{}
	for _, path := range files {
		name := filepath.Base(path)
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case strings.HasSuffix(name, ".base64"):
			if data, err = base64.StdEncoding.DecodeString(string(data)); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		case strings.HasSuffix(name, ".gz"):
			zr, err := gzip.NewReader(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			if data, err = io.ReadAll(zr); err != nil {
				t.Fatal(err)
			}
		}
		var want string
		dir := filepath.Base(filepath.Dir(filepath.Dir(path)))
		switch {
		case strings.HasSuffix(name, ".c"):
		case dir == "pe":
			if strings.Contains(name, "exec") || strings.HasPrefix(name, "vmlinuz") {
				want = FormatPE
			}
		case dir == "elf":
			want = FormatELF
		case dir == "macho":
			want = FormatMachO
			if strings.HasPrefix(name, "fat-") {
				want = FormatMachOFat
			}
		}
		t.Run(dir+"/"+name, func(t *testing.T) {
			if got := Detect(data); got != want {
				t.Fatalf("Detect = %q, want %q", got, want)
			}
			if want == "" {
				return
			}
			rec := analyze(t, data)
			kind := map[string]string{FormatPE: KindPE, FormatELF: KindELF, FormatMachO: KindMachO, FormatMachOFat: KindMachO}[want]
			if len(rec.kind(kind)) == 0 {
				t.Errorf("no %s finding: %+v", kind, rec.findings)
			}
			for _, f := range rec.kind("malformed") {
				t.Errorf("malformed: %v", f.Detail)
			}
			seen[want]++
			checkJSON(t, rec)
			if name == "gcc-amd64-linux-exec" {
				d := rec.kind(KindELF)[0].Detail
				if d["interpreter"] != "/lib64/ld-linux-x86-64.so.2" || !reflect.DeepEqual(d["needed"], []string{"libc.so.6"}) || d["stripped"] != false {
					t.Errorf("interpreter %v needed %v stripped %v", d["interpreter"], d["needed"], d["stripped"])
				}
			}
			if name == "gcc-amd64-mingw-exec" {
				d := rec.kind(KindPE)[0].Detail
				if d["machine"] != "amd64" || d["import_dlls"] == nil {
					t.Errorf("machine %v imports %v", d["machine"], d["import_dlls"])
				}
			}
		})
	}
	t.Logf("analysed: %v", seen)
}

// checkJSON fails when a finding does not marshal or exceeds 32 KiB.
func checkJSON(t *testing.T, rec *recorder) {
	t.Helper()
	for _, f := range rec.findings {
		b, err := json.Marshal(f)
		if err != nil {
			t.Errorf("%s finding: %v", f.Kind, err)
		}
		if len(b) > 32<<10 {
			t.Errorf("%s finding is %d bytes", f.Kind, len(b))
		}
	}
}

func TestOverlayBudget(t *testing.T) {
	data := buildPE(peSpec{tls: -1, overlay: bytes.Repeat([]byte("z"), 5000)})
	for _, tc := range []struct {
		name       string
		budget     formats.Budget
		wantBudget string
		wantChild  int
	}{
		{"fits", formats.Budget{}, "", 5000},
		{"no member left", formats.Budget{MaxMembers: 1}, "members", 0},
		{"too big", formats.Budget{MaxMemberBytes: 1000}, "member_bytes", -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := formats.NewMeter(tc.budget)
			if tc.wantBudget == "members" {
				if err := m.Member(); err != nil {
					t.Fatal(err)
				}
			}
			rec := &recorder{}
			if err := Analyze(FormatPE, bytes.NewReader(data), int64(len(data)), m, rec); err != nil {
				t.Fatal(err)
			}
			fs := rec.kind(formats.KindBudget)
			if tc.wantBudget == "" {
				if len(fs) != 0 {
					t.Errorf("budget findings %+v, want none", fs)
				}
			} else if len(fs) != 1 || fs[0].Detail["budget"] != tc.wantBudget {
				t.Errorf("budget findings %+v, want one for %q", fs, tc.wantBudget)
			}
			if got, ok := rec.children["overlay"]; tc.wantChild >= 0 && len(got) != tc.wantChild || tc.wantChild == 0 && ok {
				t.Errorf("overlay child %d bytes (present %v), want %d", len(got), ok, tc.wantChild)
			}
		})
	}
}

func TestUnknownFormat(t *testing.T) {
	m := formats.NewMeter(formats.Budget{})
	if err := Analyze("zip", bytes.NewReader(nil), 0, m, &recorder{}); err == nil {
		t.Error("Analyze(zip) = nil, want an error")
	}
}
