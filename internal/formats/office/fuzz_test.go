package office

import (
	"bytes"
	"testing"
)

func FuzzCFB(f *testing.F) {
	f.Add(vbaProjectBin([]vbaSource{{name: "Module1", code: autoOpenShell}}))
	f.Add(buildCFB(stream("WordDocument", bytes.Repeat([]byte("w"), 5000)), storage("ObjectPool", stream("\x01Ole10Native", []byte{8, 0, 0, 0, 2, 0, 'a', 0}))))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var r recorder
		if err := ExtractOLE(bytes.NewReader(b), int64(len(b)), newMeter(), &r); err != nil {
			t.Fatal(err)
		}
		for _, fd := range r.findings {
			if fd.Kind == "malformed" && bytes.Contains([]byte(fd.Detail["error"].(string)), []byte("panic")) {
				t.Fatalf("panic: %v", fd.Detail)
			}
		}
	})
}

func FuzzOVBA(f *testing.F) {
	f.Add(compressOVBA([]byte(autoOpenShell)))
	f.Add(compressOVBA([]byte(bigModule)))
	f.Add([]byte{1, 0xFF, 0xBF})
	f.Fuzz(func(t *testing.T, b []byte) {
		out, _ := decompressOVBA(b, 1<<16)
		if len(out) > 1<<16 {
			t.Fatalf("decoded %d bytes past the limit", len(out))
		}
	})
}

func FuzzDir(f *testing.F) {
	f.Add(buildDir([]vbaSource{{name: "Module1"}, {name: "ThisDocument", class: true}}, 10))
	f.Add([]byte{0x09, 0, 4, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, _ := parseDir(b)
		if len(p.Modules) > maxModules {
			t.Fatalf("%d modules", len(p.Modules))
		}
	})
}

func FuzzOOXML(f *testing.F) {
	f.Add(buildZip(f, [2]string{"[Content_Types].xml", contentTypesDocx}, [2]string{"word/document.xml", ddeDocument}, [2]string{"word/_rels/settings.xml.rels", settingsRels}))
	f.Fuzz(func(t *testing.T, b []byte) {
		var r recorder
		if err := ExtractOOXML(bytes.NewReader(b), int64(len(b)), newMeter(), &r); err != nil {
			t.Fatal(err)
		}
	})
}
