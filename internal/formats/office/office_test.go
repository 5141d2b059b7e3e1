package office

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"athena/internal/core"
	"athena/internal/formats"
)

const autoOpenShell = `Attribute VB_Name = "Module1"
Sub AutoOpen()
    ' launch the payload
    Dim x
    x = Shell("cmd.exe /c calc.exe", vbHide)
End Sub
`

const harmlessMacro = `Attribute VB_Name = "Helpers"
Function Add(a, b)
    Add = a + b
End Function
`

// bigModule is over 4096 bytes so it lives in regular sectors and spans
// several compressed chunks.
var bigModule = func() string {
	var b strings.Builder
	b.WriteString("Attribute VB_Name = \"Big\"\nSub Workbook_Open()\n")
	for i := 0; i < 400; i++ {
		fmt.Fprintf(&b, "    s = s & Chr(%d) ' line %d\n", 65+i%26, i)
	}
	b.WriteString("    Set o = CreateObject(\"WScript.Shell\")\n    o.Run s\nEnd Sub\n")
	return b.String()
}()

func TestDetect(t *testing.T) {
	docx := buildZip(t, [2]string{"[Content_Types].xml", "<Types/>"})
	plainZip := buildZip(t, [2]string{"readme.txt", "hi"})
	tests := []struct {
		name string
		head []byte
		want string
	}{
		{"ole", buildCFB(stream("WordDocument", []byte("x"))), "ole"},
		{"docx", docx, "ooxml"},
		{"plain zip", plainZip, ""},
		{"empty", nil, ""},
		{"text", []byte("hello"), ""},
	}
	for _, tt := range tests {
		if got := Detect(tt.head); got != tt.want {
			t.Errorf("%s: Detect = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestOVBARoundTrip(t *testing.T) {
	for _, src := range []string{"", "a", "abcabcabcabcabc", autoOpenShell, bigModule, strings.Repeat("x", 10000)} {
		c := compressOVBA([]byte(src))
		got, err := decompressOVBA(c, 1<<20)
		if err != nil {
			t.Fatalf("decompress(%d bytes): %v", len(src), err)
		}
		if string(got) != src {
			t.Fatalf("round trip of %d bytes: got %d bytes, differs", len(src), len(got))
		}
	}
}

// TestOVBASpecExample decodes the example of MS-OVBA 3.2.2 (a compressed
// container with one copy token).
func TestOVBASpecExample(t *testing.T) {
	in := []byte{0x01, 0x2F, 0xB0, 0x00, 0x23, 0x61, 0x61, 0x61, 0x62, 0x63, 0x64, 0x65, 0x82, 0x66, 0x00, 0x70,
		0x61, 0x67, 0x68, 0x69, 0x6A, 0x01, 0x38, 0x08, 0x61, 0x6B, 0x6C, 0x00, 0x30, 0x6D, 0x6E, 0x6F, 0x70,
		0x06, 0x71, 0x02, 0x70, 0x04, 0x10, 0x72, 0x73, 0x74, 0x75, 0x76, 0x10, 0x77, 0x78, 0x79, 0x7A, 0x00, 0x3C}
	want := "#aaabcdefaaaaghijaaaaaklaaamnopqaaaaaaaaaaaarstuvwxyzaaa"
	got, err := decompressOVBA(in, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestDecompressLimitAndGarbage(t *testing.T) {
	c := compressOVBA([]byte(strings.Repeat("y", 50000)))
	got, _ := decompressOVBA(c, 1000)
	if len(got) != 1000 {
		t.Errorf("limit: got %d bytes, want 1000", len(got))
	}
	for _, in := range [][]byte{nil, {0}, {1}, {1, 0xFF}, {1, 0xFF, 0xBF, 0xFF, 0xFF, 0xFF}} {
		if _, err := decompressOVBA(in, 1<<20); err == nil && len(in) > 1 && in[1] == 0xFF && len(in) > 3 {
			t.Errorf("decompress(% x): want an error", in)
		}
	}
}

func TestExtractOLEVBA(t *testing.T) {
	doc := buildCFB(
		stream("WordDocument", bytes.Repeat([]byte{0xEC, 0xA5}, 300)),
		storage("Macros", vbaStorage([]vbaSource{
			{name: "Module1", code: autoOpenShell},
			{name: "ThisDocument", code: harmlessMacro, class: true},
		}), stream("PROJECT", []byte("Module=Module1\r\n"))),
	)
	var r recorder
	if err := ExtractOLE(bytes.NewReader(doc), int64(len(doc)), newMeter(), &r); err != nil {
		t.Fatal(err)
	}
	if got := string(r.children["vba/Module1.bas"]); got != autoOpenShell {
		t.Errorf("Module1 source = %q, want %q", got, autoOpenShell)
	}
	if got := string(r.children["vba/ThisDocument.bas"]); got != harmlessMacro {
		t.Errorf("ThisDocument source = %q", got)
	}
	ole, ok := r.find(KindOLE, "")
	if !ok || ole.Detail["app"] != "word" {
		t.Errorf("ole finding = %+v, want app word", ole)
	}
	v, ok := r.find(KindVBA, "")
	if !ok {
		t.Fatalf("no vba finding; findings %v", r.kinds())
	}
	js, _ := json.Marshal(v.Detail)
	for _, want := range []string{`"Module1"`, `"ThisDocument"`, `"VBAProject"`, `"class"`} {
		if !strings.Contains(string(js), want) {
			t.Errorf("vba detail %s lacks %s", js, want)
		}
	}
	ae, ok := r.find(KindAutoExec, "")
	if !ok || ae.Severity != core.High {
		t.Errorf("autoexec finding = %+v, want high", ae)
	}
	if trig, _ := ae.Detail["triggers"].(map[string]any); trig["AutoOpen"] == nil {
		t.Errorf("autoexec triggers = %v, want AutoOpen", ae.Detail["triggers"])
	}
	s, ok := r.find(KindSuspicious, "vba_keywords")
	if !ok {
		t.Fatal("no suspicious keyword finding")
	}
	kw := s.Detail["keywords"].(map[string]any)
	for _, want := range []string{"Shell", "cmd.exe"} {
		if kw[want] == nil {
			t.Errorf("keywords %v lack %s", kw, want)
		}
	}
	if kw["Kill"] != nil {
		t.Errorf("keywords %v: comment words must not count", kw)
	}
	for _, f := range r.findings {
		if b, _ := json.Marshal(f); len(b) > 32<<10 {
			t.Errorf("finding %s is %d bytes", f.Kind, len(b))
		}
	}
}

func TestExtractOLEHarmlessAndBig(t *testing.T) {
	tests := []struct {
		name     string
		mods     []vbaSource
		autoExec core.Severity // -1: none
		chr      bool
	}{
		{"harmless", []vbaSource{{name: "Helpers", code: harmlessMacro}}, -1, false},
		{"big workbook", []vbaSource{{name: "Big", code: bigModule}}, core.High, true},
		{"autoexec only", []vbaSource{{name: "M", code: "Sub Document_Open()\nMsgBox 1\nEnd Sub\n"}}, core.Medium, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bin := vbaProjectBin(tt.mods)
			var r recorder
			if err := ExtractOLE(bytes.NewReader(bin), int64(len(bin)), newMeter(), &r); err != nil {
				t.Fatal(err)
			}
			for _, m := range tt.mods {
				if got := string(r.children["vba/"+m.name+".bas"]); got != m.code {
					t.Errorf("module %s: got %d bytes, want %d", m.name, len(got), len(m.code))
				}
			}
			ae, ok := r.find(KindAutoExec, "")
			switch {
			case tt.autoExec < 0 && ok:
				t.Errorf("unexpected autoexec finding %+v", ae)
			case tt.autoExec >= 0 && (!ok || ae.Severity != tt.autoExec):
				t.Errorf("autoexec = %+v (found %v), want severity %v", ae, ok, tt.autoExec)
			}
			_, chr := r.find(KindSuspicious, "vba_chr_obfuscation")
			if chr != tt.chr {
				t.Errorf("chr obfuscation finding = %v, want %v", chr, tt.chr)
			}
		})
	}
}

func TestExtractOLENative(t *testing.T) {
	payload := []byte("MZ\x90\x00 pretend executable")
	var n []byte
	n = append(n, 0, 0, 0, 0, 2, 0)
	n = append(n, "invoice.exe\x00"...)
	n = append(n, "C:\\Users\\x\\invoice.exe\x00"...)
	n = append(n, 0, 0, 3, 0, 0, 0, 0, 0)
	n = append(n, "C:\\Temp\\invoice.exe\x00"...)
	n = binary.LittleEndian.AppendUint32(n, uint32(len(payload)))
	n = append(n, payload...)
	binary.LittleEndian.PutUint32(n, uint32(len(n)-4))
	doc := buildCFB(
		stream("WordDocument", []byte("w")),
		storage("ObjectPool", storage("_1234", stream("\x01Ole10Native", n), stream("\x01CompObj", []byte("c")))),
	)
	var r recorder
	if err := ExtractOLE(bytes.NewReader(doc), int64(len(doc)), newMeter(), &r); err != nil {
		t.Fatal(err)
	}
	if got := r.children["ole10native/invoice.exe"]; !bytes.Equal(got, payload) {
		t.Errorf("payload = %q, want %q (children %s)", got, payload, r.childNames())
	}
	if f, ok := r.find(KindOLENative, "ole_embedded_executable"); !ok || f.Severity != core.High {
		t.Errorf("embedded executable finding = %+v, want high", f)
	}
}

func TestExtractOLEMalformed(t *testing.T) {
	good := vbaProjectBin([]vbaSource{{name: "Module1", code: autoOpenShell}})
	tests := map[string][]byte{
		"empty":     nil,
		"garbage":   bytes.Repeat([]byte("garbage!"), 200),
		"header":    good[:512],
		"truncated": good[:len(good)/2],
		"fat loop": func() []byte {
			b := append([]byte(nil), good...)
			// Point every FAT entry at sector 1: chains loop.
			for i := 0; i < 128; i++ {
				binary.LittleEndian.PutUint32(b[512+4*i:], 1)
			}
			return b
		}(),
		"dir loop": func() []byte {
			b := append([]byte(nil), good...)
			dir := 512 * (1 + int(binary.LittleEndian.Uint32(b[0x30:])))
			binary.LittleEndian.PutUint32(b[dir+0x4C:], 0) // root's child is the root
			return b
		}(),
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			var r recorder
			if err := ExtractOLE(bytes.NewReader(in), int64(len(in)), newMeter(), &r); err != nil {
				t.Fatal(err)
			}
			if _, ok := r.find("malformed", ""); !ok && name != "dir loop" && name != "truncated" {
				t.Errorf("findings %v, want malformed", r.kinds())
			}
			for _, f := range r.findings {
				if strings.Contains(fmt.Sprint(f.Detail), "panic") {
					t.Errorf("parser panicked: %v", f.Detail)
				}
			}
		})
	}
}

const contentTypesDocm = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/><Override PartName="/word/document.xml" ContentType="application/vnd.ms-word.document.macroEnabled.main+xml"/></Types>`

const contentTypesXlsm = `<?xml version="1.0" encoding="UTF-8"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Override PartName="/xl/workbook.xml" ContentType="application/vnd.ms-excel.sheet.macroEnabled.main+xml"/></Types>`

const contentTypesDocx = `<?xml version="1.0" encoding="UTF-8"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>`

const settingsRels = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/attachedTemplate" Target="http://203.0.113.9/template.dotm" TargetMode="External"/></Relationships>`

const docRelsHyperlink = `<?xml version="1.0"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId5" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/hyperlink" Target="https://example.com/" TargetMode="External"/><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/></Relationships>`

const ddeDocument = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p>
<w:r><w:fldChar w:fldCharType="begin"/></w:r>
<w:r><w:instrText xml:space="preserve"> DDE</w:instrText></w:r><w:r><w:instrText>AUTO c:\\windows\\system32\\cmd.exe "/k calc.exe"</w:instrText></w:r>
<w:r><w:fldChar w:fldCharType="separate"/></w:r><w:r><w:t>x</w:t></w:r>
<w:r><w:fldChar w:fldCharType="end"/></w:r>
<w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText> PAGE </w:instrText></w:r><w:r><w:fldChar w:fldCharType="end"/></w:r>
</w:p></w:body></w:document>`

const plainDocument = `<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>DDEAUTO is just text here</w:t></w:r></w:p></w:body></w:document>`

func TestExtractOOXML(t *testing.T) {
	vba := string(vbaProjectBin([]vbaSource{{name: "Module1", code: autoOpenShell}}))
	tests := []struct {
		name     string
		files    [][2]string
		app      string
		macros   bool
		children string
		external core.Severity // -1: none
		dde      bool
	}{
		{"docm", [][2]string{{"[Content_Types].xml", contentTypesDocm}, {"word/document.xml", plainDocument}, {"word/vbaProject.bin", vba}},
			"word", true, "word/vbaProject.bin", -1, false},
		{"xlsm", [][2]string{{"[Content_Types].xml", contentTypesXlsm}, {"xl/workbook.xml", "<workbook/>"}, {"xl/vbaProject.bin", vba}, {"xl/embeddings/oleObject1.bin", "embedded"}},
			"excel", true, "xl/embeddings/oleObject1.bin,xl/vbaProject.bin", -1, false},
		{"remote template", [][2]string{{"[Content_Types].xml", contentTypesDocx}, {"word/document.xml", plainDocument}, {"word/_rels/settings.xml.rels", settingsRels}, {"word/_rels/document.xml.rels", docRelsHyperlink}},
			"word", false, "", core.High, false},
		{"hyperlink only", [][2]string{{"[Content_Types].xml", contentTypesDocx}, {"word/_rels/document.xml.rels", docRelsHyperlink}},
			"word", false, "", core.Info, false},
		{"ddeauto", [][2]string{{"[Content_Types].xml", contentTypesDocx}, {"word/document.xml", ddeDocument}},
			"word", false, "", -1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			z := buildZip(t, tt.files...)
			if Detect(z) != "ooxml" {
				t.Errorf("Detect = %q, want ooxml", Detect(z))
			}
			var r recorder
			if err := ExtractOOXML(bytes.NewReader(z), int64(len(z)), newMeter(), &r); err != nil {
				t.Fatal(err)
			}
			meta, ok := r.find(KindOOXML, "")
			if !ok {
				t.Fatalf("no ooxml finding: %v", r.kinds())
			}
			if meta.Detail["app"] != tt.app || meta.Detail["macros"] != tt.macros {
				t.Errorf("ooxml detail = %v, want app %s macros %v", meta.Detail, tt.app, tt.macros)
			}
			if got := r.childNames(); got != tt.children {
				t.Errorf("children = %q, want %q", got, tt.children)
			}
			if tt.macros && r.children[tt.children[strings.LastIndex(tt.children, ",")+1:]] == nil {
				t.Errorf("vbaProject.bin not emitted")
			}
			ext, ok := r.find(KindExternal, "")
			switch {
			case tt.external < 0 && ok:
				t.Errorf("unexpected external finding %+v", ext)
			case tt.external >= 0 && (!ok || ext.Severity != tt.external):
				t.Errorf("external = %+v (found %v), want %v", ext, ok, tt.external)
			}
			d, ok := r.find(KindDDE, "")
			if ok != tt.dde {
				t.Errorf("dde finding = %v, want %v (%+v)", ok, tt.dde, d)
			}
			if ok && (d.Severity != core.High || !strings.Contains(fmt.Sprint(d.Detail), "DDEAUTO")) {
				t.Errorf("dde finding = %+v", d)
			}
		})
	}
}

// TestDOCMMacrosThroughRecursion extracts a DOCM, then the vbaProject.bin
// child, as the engine would.
func TestDOCMMacrosThroughRecursion(t *testing.T) {
	vba := vbaProjectBin([]vbaSource{{name: "Module1", code: autoOpenShell}})
	z := buildZip(t, [2]string{"[Content_Types].xml", contentTypesDocm}, [2]string{"word/vbaProject.bin", string(vba)})
	var r recorder
	if err := ExtractOOXML(bytes.NewReader(z), int64(len(z)), newMeter(), &r); err != nil {
		t.Fatal(err)
	}
	bin := r.children["word/vbaProject.bin"]
	if Detect(bin) != "ole" {
		t.Fatalf("child is not OLE")
	}
	var r2 recorder
	if err := ExtractOLE(bytes.NewReader(bin), int64(len(bin)), newMeter(), &r2); err != nil {
		t.Fatal(err)
	}
	if string(r2.children["vba/Module1.bas"]) != autoOpenShell {
		t.Errorf("module source not recovered: children %s", r2.childNames())
	}
	if f, ok := r2.find(KindAutoExec, ""); !ok || f.Severity != core.High {
		t.Errorf("autoexec = %+v", f)
	}
}

func TestExtractOOXMLMalformed(t *testing.T) {
	for name, in := range map[string][]byte{"empty": nil, "garbage": []byte("PK\x03\x04 not really a zip")} {
		var r recorder
		if err := ExtractOOXML(bytes.NewReader(in), int64(len(in)), newMeter(), &r); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, ok := r.find("malformed", ""); !ok {
			t.Errorf("%s: findings %v, want malformed", name, r.kinds())
		}
	}
}

// TestSharedSectors points many directory entries at one large stream: the
// read budget must stop the work multiplying.
func TestSharedSectors(t *testing.T) {
	big := append([]byte("MZ"), make([]byte, 1<<20)...)
	kids := []*cfbNode{stream("Big", big)}
	for i := 0; i < 100; i++ {
		kids = append(kids, stream(fmt.Sprintf("S%d", i), nil))
	}
	doc := buildCFB(kids...)
	le := binary.LittleEndian
	dir := 512 * (1 + int(le.Uint32(doc[0x30:])))
	start := le.Uint32(doc[dir+128+0x74:])
	for i := 2; i < 102; i++ {
		e := doc[dir+128*i:]
		le.PutUint32(e[0x74:], start)
		le.PutUint64(e[0x78:], uint64(len(big)))
	}
	var r recorder
	if err := ExtractOLE(bytes.NewReader(doc), int64(len(doc)), newMeter(), &r); err != nil {
		t.Fatal(err)
	}
	if n := len(r.children); n < 2 || n > 30 {
		t.Errorf("%d children, want a few before the read budget ran out", n)
	}
	if f, ok := r.find("budget_exceeded", ""); !ok || f.Detail["budget"] != "ole_reads" {
		t.Errorf("findings %v, want budget_exceeded ole_reads", r.kinds())
	}
}

// TestUnlistedModule hides a module from the dir stream: its source is
// still found by its compressed "Attribute" header.
func TestUnlistedModule(t *testing.T) {
	vba := vbaStorage([]vbaSource{{name: "Listed", code: harmlessMacro}})
	vba.children = append(vba.children, stream("Hidden", append([]byte("p-code.."), compressOVBA([]byte(autoOpenShell))...)))
	doc := buildCFB(vba)
	var r recorder
	if err := ExtractOLE(bytes.NewReader(doc), int64(len(doc)), newMeter(), &r); err != nil {
		t.Fatal(err)
	}
	if got := string(r.children["vba/Hidden.bas"]); got != autoOpenShell {
		t.Errorf("hidden module = %q (children %s)", got, r.childNames())
	}
	if f, ok := r.find(KindAutoExec, ""); !ok || f.Severity != core.High {
		t.Errorf("autoexec = %+v", f)
	}
}

func TestMemberBudget(t *testing.T) {
	bin := vbaProjectBin([]vbaSource{{name: "A", code: harmlessMacro}, {name: "B", code: harmlessMacro}, {name: "C", code: autoOpenShell}})
	var r recorder
	m := formats.NewMeter(formats.Budget{MaxMembers: 1})
	if err := ExtractOLE(bytes.NewReader(bin), int64(len(bin)), m, &r); err != nil {
		t.Fatal(err)
	}
	if len(r.children) != 1 {
		t.Errorf("%d children, want 1", len(r.children))
	}
	if _, ok := r.find(formats.KindBudget, ""); !ok {
		t.Errorf("findings %v, want budget_exceeded", r.kinds())
	}
	// The macros are still analysed.
	if _, ok := r.find(KindAutoExec, ""); !ok {
		t.Errorf("findings %v, want vba_autoexec", r.kinds())
	}
}

// refusing is a sink whose Child always fails, as a host over budget does.
type refusing struct{ recorder }

func (r *refusing) Child(string, io.Reader) error {
	return &formats.BudgetError{Budget: "total_bytes", Limit: 1}
}

// TestRefusedChildKeepsFindings: a refused child stops the children but
// not the analysis, and the error comes back.
func TestRefusedChildKeepsFindings(t *testing.T) {
	bin := vbaProjectBin([]vbaSource{{name: "Module1", code: autoOpenShell}})
	var r refusing
	err := ExtractOLE(bytes.NewReader(bin), int64(len(bin)), newMeter(), &r)
	if !errors.Is(err, formats.ErrBudget) {
		t.Errorf("err = %v, want a budget error", err)
	}
	for _, k := range []string{KindAutoExec, formats.KindBudget} {
		if _, ok := r.find(k, ""); !ok {
			t.Errorf("findings %v, want %s", r.kinds(), k)
		}
	}
}

func TestEncryptedPackage(t *testing.T) {
	doc := buildCFB(stream("EncryptionInfo", []byte{4, 0, 4, 0}), stream("EncryptedPackage", bytes.Repeat([]byte{0x5A}, 5000)))
	var r recorder
	if err := ExtractOLE(bytes.NewReader(doc), int64(len(doc)), newMeter(), &r); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.find(formats.KindEncrypted, ""); !ok {
		t.Errorf("findings %v, want encrypted", r.kinds())
	}
	if f, _ := r.find(KindOLE, ""); f.Detail["app"] != "encrypted_ooxml" {
		t.Errorf("app = %v", f.Detail["app"])
	}
}

func TestXLMMacroSheet(t *testing.T) {
	rec := func(typ uint16, data []byte) []byte {
		b := binary.LittleEndian.AppendUint16(nil, typ)
		b = binary.LittleEndian.AppendUint16(b, uint16(len(data)))
		return append(b, data...)
	}
	sheet := func(state, dt byte, name string) []byte {
		d := []byte{0, 0, 0, 0, state, dt, byte(len(name)), 0}
		return rec(0x0085, append(d, name...))
	}
	tests := []struct {
		name string
		wb   []byte
		want core.Severity // -1: no finding
	}{
		{"worksheet only", append(rec(0x0809, make([]byte, 16)), sheet(0, 0, "Sheet1")...), -1},
		{"visible macro sheet", append(sheet(0, 0, "Sheet1"), sheet(0, 1, "Macro1")...), core.Medium},
		{"very hidden macro sheet", append(sheet(0, 0, "Sheet1"), sheet(2, 1, "x")...), core.High},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := buildCFB(stream("Workbook", append(tt.wb, make([]byte, 4096)...)))
			var r recorder
			if err := ExtractOLE(bytes.NewReader(doc), int64(len(doc)), newMeter(), &r); err != nil {
				t.Fatal(err)
			}
			f, ok := r.find(KindXLM, "")
			switch {
			case tt.want < 0 && ok:
				t.Errorf("unexpected %+v", f)
			case tt.want >= 0 && (!ok || f.Severity != tt.want):
				t.Errorf("finding %+v (found %v), want %v", f, ok, tt.want)
			}
		})
	}
}

// TestFindDDE covers the three elements that carry DDE, and the parts the
// name pre-check skips.
func TestFindDDE(t *testing.T) {
	const w = `<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p>%s</w:p></w:body></w:document>`
	tests := []struct {
		name string
		body string
		want int
	}{
		{"instrText split over runs", `<w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText>D</w:instrText></w:r><w:r><w:instrText>DEAUTO c:\x</w:instrText></w:r><w:r><w:fldChar w:fldCharType="end"/></w:r>`, 1},
		{"instrText escaped", `<w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText>&#68;DE c:\x</w:instrText></w:r><w:r><w:fldChar w:fldCharType="end"/></w:r>`, 1},
		{"fldSimple", `<w:fldSimple w:instr=" DDEAUTO c:\\x y"><w:r><w:t>z</w:t></w:r></w:fldSimple>`, 1},
		{"ddeLink", `<ddeLink xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" ddeService="cmd" ddeTopic="/c calc"/>`, 1},
		{"other field", `<w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText> PAGE </w:instrText></w:r><w:r><w:fldChar w:fldCharType="end"/></w:r>`, 0},
		{"no field elements", `<w:r><w:t>DDEAUTO c:\x is just text; instr fld dde</w:t></w:r>`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := findDDE(fmt.Sprintf(w, tt.body)); len(got) != tt.want {
				t.Errorf("findDDE = %v, want %d fields", got, tt.want)
			}
		})
	}
}
