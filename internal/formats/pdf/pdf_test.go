package pdf

import (
	"bytes"
	"compress/lzw"
	"compress/zlib"
	"encoding/ascii85"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"testing"

	"athena/internal/core"
	"athena/internal/formats"
)

// buildPDF writes a PDF from object bodies (object i+1 is objs[i]) with a
// correct xref table.
func buildPDF(objs ...string) []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
	offs := make([]int, len(objs))
	for i, o := range objs {
		offs[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	x := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, o := range offs {
		fmt.Fprintf(&b, "%010d 00000 n \n", o)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, x)
	return b.Bytes()
}

// streamObj is a stream object body with the given dictionary entries.
func streamObj(dict string, data []byte) string {
	return fmt.Sprintf("<< %s /Length %d >>\nstream\n%s\nendstream", dict, len(data), data)
}

func zlibBytes(s string) []byte {
	var b bytes.Buffer
	w := zlib.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.Bytes()
}

type recorder struct {
	findings []core.Finding
	children map[string][]byte
}

func (r *recorder) Finding(f core.Finding) { r.findings = append(r.findings, f) }
func (r *recorder) Child(path string, rd io.Reader) error {
	if r.children == nil {
		r.children = map[string][]byte{}
	}
	b, err := io.ReadAll(rd)
	r.children[path] = b
	return err
}
func (r *recorder) find(kind string) (core.Finding, bool) {
	for _, f := range r.findings {
		if f.Kind == kind {
			return f, true
		}
	}
	return core.Finding{}, false
}
func (r *recorder) names() string {
	var n []string
	for k := range r.children {
		n = append(n, k)
	}
	sort.Strings(n)
	return strings.Join(n, ",")
}

func run(t *testing.T, b []byte) *recorder {
	t.Helper()
	var r recorder
	if err := Extract(bytes.NewReader(b), int64(len(b)), formats.NewMeter(formats.Budget{}), &r); err != nil {
		t.Fatal(err)
	}
	for _, f := range r.findings {
		if js, _ := json.Marshal(f); len(js) > 32<<10 {
			t.Errorf("finding %s is %d bytes", f.Kind, len(js))
		}
		if strings.Contains(fmt.Sprint(f.Detail), "panic") {
			t.Errorf("parser panicked: %v", f.Detail)
		}
	}
	return &r
}

const jsCode = `app.alert("hello"); var s = unescape("%u9090");`

func TestExtract(t *testing.T) {
	catalog := "<< /Type /Catalog /Pages 2 0 R /OpenAction 3 0 R >>"
	pages := "<< /Type /Pages /Kids [4 0 R] /Count 1 >>"
	page := "<< /Type /Page /Parent 2 0 R >>"
	tests := []struct {
		name     string
		pdf      []byte
		children map[string]string
		kinds    map[string]core.Severity // kind -> severity wanted
		counts   map[string]int
	}{
		{
			name:     "openaction js string",
			pdf:      buildPDF(catalog, pages, `<< /Type /Action /S /JavaScript /JS (app.alert\("hello"\); var s = unescape\("%u9090"\);) >>`, page),
			children: map[string]string{"js/obj-3.js": jsCode},
			kinds:    map[string]core.Severity{KindJavaScript: core.High, KindAutoAction: core.Low, KindPDF: core.Info},
			counts:   map[string]int{"/JS": 1, "/JavaScript": 1, "/OpenAction": 1, "/Page": 1, "obj": 4, "endobj": 4},
		},
		{
			name:     "openaction js flate stream",
			pdf:      buildPDF(catalog, pages, "<< /S /JavaScript /JS 5 0 R >>", page, streamObj("/Filter /FlateDecode", zlibBytes(jsCode))),
			children: map[string]string{"js/obj-5.js": jsCode},
			kinds:    map[string]core.Severity{KindJavaScript: core.High},
			counts:   map[string]int{"stream": 1, "endstream": 1},
		},
		{
			name:     "js chained filters no auto action",
			pdf:      buildPDF("<< /Type /Catalog /Names << /JavaScript << /Names [(a) 2 0 R] >> >> >>", "<< /S /JavaScript /JS 3 0 R >>", streamObj("/Filter [/ASCIIHexDecode /FlateDecode]", []byte(hex.EncodeToString(zlibBytes(jsCode))+">"))),
			children: map[string]string{"js/obj-3.js": jsCode},
			kinds:    map[string]core.Severity{KindJavaScript: core.Medium},
		},
		{
			name:     "obfuscated name",
			pdf:      buildPDF("<< /Type /Catalog /OpenAction << /S /J#61vaScript /J#53 (app.alert\\(1\\)) >> >>"),
			children: map[string]string{"js/obj-1.js": "app.alert(1)"},
			kinds:    map[string]core.Severity{KindJavaScript: core.High, KindObfuscation: core.Medium},
			counts:   map[string]int{"/JavaScript": 1, "/JS": 1},
		},
		{
			name: "embedded file",
			pdf: buildPDF("<< /Type /Catalog /Names << /EmbeddedFiles << /Names [(a) 2 0 R] >> >> >>",
				"<< /Type /Filespec /F (old.txt) /UF <FEFF0069006E0076006F006900630065002E006500780065> /EF << /F 3 0 R >> >>",
				streamObj("/Type /EmbeddedFile /Filter /FlateDecode", zlibBytes("MZ pretend"))),
			children: map[string]string{"invoice.exe": "MZ pretend"},
			kinds:    map[string]core.Severity{KindEmbedded: core.High},
			counts:   map[string]int{"/EmbeddedFile": 1},
		},
		{
			name:   "launch and uri",
			pdf:    buildPDF("<< /Type /Catalog /OpenAction << /S /Launch /Win << /F (cmd.exe) /P (/c calc) >> >> >>", "<< /S /URI /URI (http://example.com/x) >>"),
			kinds:  map[string]core.Severity{KindLaunch: core.High, KindURI: core.Info},
			counts: map[string]int{"/Launch": 1, "/URI": 2}, // /S /URI and the /URI key
		},
		{
			name:   "xfa and jbig2",
			pdf:    buildPDF("<< /Type /Catalog /AcroForm << /XFA 2 0 R >> >>", streamObj("/Filter /JBIG2Decode", []byte("xx"))),
			kinds:  map[string]core.Severity{KindSuspicious: core.Low},
			counts: map[string]int{"/XFA": 1, "/JBIG2Decode": 1, "/AcroForm": 1},
		},
		{
			name: "object stream",
			pdf: func() []byte {
				inner := "<< /S /JavaScript /JS (objstm\\(\\)) >> << /Type /Catalog /OpenAction 2 0 R >>"
				hdr := fmt.Sprintf("2 0 1 %d ", strings.Index(inner, "<< /Type"))
				body := hdr + inner
				return buildPDF(streamObj(fmt.Sprintf("/Type /ObjStm /N 2 /First %d /Filter /FlateDecode", len(hdr)), zlibBytes(body)))
			}(),
			children: map[string]string{"js/obj-2.js": "objstm()"},
			kinds:    map[string]core.Severity{KindJavaScript: core.High},
			counts:   map[string]int{"/ObjStm": 1, "/OpenAction": 1},
		},
		{
			name:  "truncated",
			pdf:   buildPDF(catalog, pages, "<< /S /JavaScript /JS (x=1) >>")[:150],
			kinds: map[string]core.Severity{KindPDF: core.Info},
		},
		{
			name:  "garbage",
			pdf:   bytes.Repeat([]byte("\x00\xffobj<<(["), 500),
			kinds: map[string]core.Severity{formats.KindMalformed: core.Low},
		},
		{
			name:  "empty",
			pdf:   nil,
			kinds: map[string]core.Severity{formats.KindMalformed: core.Low},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, tt.pdf)
			for name, want := range tt.children {
				if got := string(r.children[name]); got != want {
					t.Errorf("child %s = %q, want %q (children %s)", name, got, want, r.names())
				}
			}
			for kind, sev := range tt.kinds {
				f, ok := r.find(kind)
				if !ok || f.Severity != sev {
					t.Errorf("finding %s = %+v (found %v), want severity %v", kind, f, ok, sev)
				}
			}
			meta, _ := r.find(KindPDF)
			kw, _ := meta.Detail["keywords"].(map[string]int)
			for k, want := range tt.counts {
				if kw[k] != want {
					t.Errorf("count %s = %d, want %d (%v)", k, kw[k], want, kw)
				}
			}
		})
	}
}

func TestDetect(t *testing.T) {
	tests := []struct {
		head []byte
		want bool
	}{
		{[]byte("%PDF-1.4\n"), true},
		{append(bytes.Repeat([]byte(" "), 1000), "%PDF-1.7"...), true},
		{append(bytes.Repeat([]byte(" "), 1100), "%PDF-1.7"...), false},
		{[]byte("PK\x03\x04"), false},
		{nil, false},
	}
	for i, tt := range tests {
		if got := Detect(tt.head); got != tt.want {
			t.Errorf("case %d: Detect = %v, want %v", i, got, tt.want)
		}
	}
}

func TestFilters(t *testing.T) {
	const text = "Hello, hello, hello PDF filters! TOBEORNOTTOBEORTOBEORNOT#"
	var lz bytes.Buffer
	w := lzw.NewWriter(&lz, lzw.MSB, 8)
	w.Write([]byte(text))
	w.Close()
	var a85 bytes.Buffer
	e := ascii85.NewEncoder(&a85)
	e.Write([]byte(text))
	e.Close()
	tests := []struct {
		name   string
		filter string
		in     []byte
		parms  pdfDict
	}{
		{"flate", "FlateDecode", zlibBytes(text), nil},
		{"hex", "ASCIIHexDecode", []byte(hex.EncodeToString([]byte(text)) + ">"), nil},
		{"a85", "ASCII85Decode", append(a85.Bytes(), "~>"...), nil},
		{"lzw", "LZWDecode", lz.Bytes(), pdfDict{"EarlyChange": int64(0)}},
		{"runlength", "RunLengthDecode", append(append([]byte{byte(len(text) - 1)}, text...), 128), nil},
	}
	for _, tt := range tests {
		got, err := decode(tt.filter, tt.in, tt.parms, 1<<20)
		if err != nil || string(got) != text {
			t.Errorf("%s: got %q, %v; want %q", tt.name, got, err, text)
		}
	}
	// The PDF reference's LZW example: 45 45 45 45 45 65 45 45 45 66.
	got, err := lzwDecode([]byte{0x80, 0x0B, 0x60, 0x50, 0x22, 0x0C, 0x0C, 0x85, 0x01}, true, 100)
	if err != nil || !bytes.Equal(got, []byte{45, 45, 45, 45, 45, 65, 45, 45, 45, 66}) {
		t.Errorf("lzw example: got % x, %v", got, err)
	}
	// Runs and limits.
	if got, _ := runLengthDecode([]byte{0xFE, 'a', 128}, 100); string(got) != "aaa" {
		t.Errorf("run: got %q", got)
	}
	if got, err := decode("FlateDecode", zlibBytes(strings.Repeat("z", 10000)), nil, 100); len(got) != 100 || err == nil {
		t.Errorf("flate limit: got %d bytes, %v", len(got), err)
	}
	if _, err := decode("DCTDecode", []byte("x"), nil, 100); err == nil {
		t.Error("DCTDecode: want unsupported")
	}
}

func TestPNGPredictor(t *testing.T) {
	// Two rows of 3 bytes, filter Up on the second.
	raw := []byte{0, 1, 2, 3, 2, 1, 1, 1}
	got, err := decode("FlateDecode", zlibBytes(string(raw)), pdfDict{"Predictor": int64(12), "Columns": int64(3)}, 100)
	if err != nil || !bytes.Equal(got, []byte{1, 2, 3, 2, 3, 4}) {
		t.Errorf("got %v, %v", got, err)
	}
}

type refusing struct{ recorder }

func (r *refusing) Child(string, io.Reader) error {
	return &formats.BudgetError{Budget: "total_bytes", Limit: 1}
}

func TestRefusedChildKeepsFindings(t *testing.T) {
	b := buildPDF("<< /Type /Catalog /OpenAction << /S /JavaScript /JS (a\\(\\)) >> >>")
	var r refusing
	err := Extract(bytes.NewReader(b), int64(len(b)), formats.NewMeter(formats.Budget{}), &r)
	if !errors.Is(err, formats.ErrBudget) {
		t.Errorf("err = %v, want a budget error", err)
	}
	for _, k := range []string{KindJavaScript, formats.KindBudget, KindPDF} {
		if _, ok := r.find(k); !ok {
			t.Errorf("no %s finding", k)
		}
	}
}
