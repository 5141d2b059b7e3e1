package pdf

import (
	"bytes"
	"encoding/hex"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"

	"athena/internal/formats"
)

func FuzzScanObjects(f *testing.F) {
	f.Add(buildPDF("<< /Type /Catalog /OpenAction << /S /J#61vaScript /JS (x) >> >>", streamObj("/Filter /FlateDecode", zlibBytes("abc"))))
	f.Add([]byte("1 0 obj << /A [1 2 R (a\\)b) <41> /N#41 >> stream\nxx\nendstream endobj"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var obf int
		objs := scanObjects(b, &obf)
		for _, o := range objs {
			if d, ok := o.value.(pdfDict); ok {
				parseObjStm(o.stream, d, 0, &obf)
			}
		}
	})
}

func FuzzExtract(f *testing.F) {
	f.Add(buildPDF("<< /Type /Catalog /OpenAction 2 0 R >>", "<< /S /JavaScript /JS 3 0 R >>", streamObj("/Filter [/ASCIIHexDecode /FlateDecode]", []byte(hex.EncodeToString(zlibBytes("app.alert(1)"))))))
	f.Fuzz(func(t *testing.T, b []byte) {
		var r recorder
		if err := Extract(bytes.NewReader(b), int64(len(b)), formats.NewMeter(formats.Budget{}), &r); err != nil {
			t.Fatal(err)
		}
	})
}

func fuzzFilter(f *testing.F, name string, seeds ...[]byte) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		out, _ := decode(name, b, pdfDict{"Predictor": int64(12), "Columns": int64(4)}, 1<<16)
		if len(out) > 1<<16+4 {
			t.Fatalf("%s decoded %d bytes past the limit", name, len(out))
		}
	})
}

func FuzzFlate(f *testing.F)    { fuzzFilter(f, "FlateDecode", zlibBytes("hello hello hello")) }
func FuzzASCIIHex(f *testing.F) { fuzzFilter(f, "ASCIIHexDecode", []byte("41 42 4>")) }
func FuzzASCII85(f *testing.F) {
	fuzzFilter(f, "ASCII85Decode", []byte("<~87cURD]i,\"Ebo80~>"), []byte("zz!!"))
}
func FuzzLZW(f *testing.F) {
	fuzzFilter(f, "LZWDecode", []byte{0x80, 0x0B, 0x60, 0x50, 0x22, 0x0C, 0x0C, 0x85, 0x01})
}
func FuzzRunLength(f *testing.F) {
	fuzzFilter(f, "RunLengthDecode", []byte{2, 'a', 'b', 'c', 0xFE, 'z', 128})
}

// objRe is the regexp objHeaders replaces; the fuzz target holds them to
// the same answers.
var objRe = regexp.MustCompile(`(\d{1,10})[\x00\t\n\f\r ]+(\d{1,5})[\x00\t\n\f\r ]+obj\b`)

func FuzzObjHeaders(f *testing.F) {
	for _, s := range []string{
		"1 0 obj", "12345678901 0 obj", "1 123456 obj", "1 12345 obj", "1 0 objx", "1 0 obj_", "1 0 obj.",
		"a1 0 obj", "1\x000\x00obj", "10obj", "1 0obj", "1  0  obj 2 0 obj3 0 obj 4 0 obj", "obj", " 0 obj",
		"1 0 objobj 1 0 obj", "9 9 obj\n<<>>\nendobj 7 7 obj", "1 2 3 obj", "x 2 obj",
	} {
		f.Add([]byte(s))
	}
	f.Add(buildPDF("<< /Type /Catalog >>", "<< /A 1 >>"))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, want := objHeaders(b, 1000), objRe.FindAllSubmatchIndex(b, 1000)
		if len(got) != len(want) {
			t.Fatalf("objHeaders(%q) = %v, want %v", b, got, want)
		}
		for i := range got {
			if !slices.Equal(got[i], want[i]) {
				t.Fatalf("objHeaders(%q) = %v, want %v", b, got, want)
			}
		}
	})
}

// keywordsByHand is countKeywords written the obvious way (it was the
// implementation): the fuzz target holds the faster one to its answers.
func keywordsByHand(b []byte) (counts, obf map[string]int) {
	counts, obf = map[string]int{}, map[string]int{}
	want := map[string]bool{}
	for _, k := range keywords {
		want[k] = true
	}
	for i := 0; i < len(b); {
		c := b[i]
		if isSpace(c) || (isDelim(c) && c != '/') {
			i++
			continue
		}
		start := i
		if c == '/' {
			i++
		}
		for i < len(b) && !isSpace(b[i]) && !isDelim(b[i]) {
			i++
		}
		tok := b[start:i]
		if len(tok) > 64 {
			continue
		}
		if tok[0] == '/' {
			n, esc := decodeName(tok[1:])
			if k := "/" + n; want[k] {
				counts[k]++
				if esc {
					obf[k]++
				}
			}
			continue
		}
		if want[string(tok)] {
			counts[string(tok)]++
		}
	}
	return counts, obf
}

func FuzzCountKeywords(f *testing.F) {
	for _, s := range []string{
		"1 0 obj << /JS (x) /J#53 /J#5 /#4aavaScript >> stream\nxx endstream endobj",
		"/OpenAction/AA/Launch//URI /Page /Pages trailer startxref xref",
		"/" + strings.Repeat("A", 70) + " /JS", "obj%comment\nendobj", "/", "//", "/#", "/J#5S",
	} {
		f.Add([]byte(s))
	}
	f.Add(buildPDF("<< /Type /Catalog /OpenAction 2 0 R >>", "<< /S /JavaScript /JS (app.alert(1)) >>"))
	f.Fuzz(func(t *testing.T, b []byte) {
		counts, obf := map[string]int{}, map[string]int{}
		countKeywords(b, counts, obf)
		wc, wo := keywordsByHand(b)
		if !maps.Equal(counts, wc) || !maps.Equal(obf, wo) {
			t.Fatalf("countKeywords(%q) = %v %v, want %v %v", b, counts, obf, wc, wo)
		}
	})
}
