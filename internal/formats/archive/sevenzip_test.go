package archive

import (
	"bytes"
	"testing"

	"github.com/ulikunitz/xz/lzma"

	"athena/internal/formats"
	"athena/internal/formats/formatstest"
)

func TestSevenZip(t *testing.T) {
	lzma2Data := func(plain string) []byte {
		var buf bytes.Buffer
		w, err := lzma.Writer2Config{DictCap: 1 << 20}.NewWriter2(&buf)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(plain))
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	const text = "hello hello hello from a hand-made LZMA2 7z"
	tests := []struct {
		name, member, want string
		packed, coder      []byte
		wantPath           bool
	}{
		{"stored", "dir/hello.txt", "hello from a hand-made 7z", nil, nil, false},
		{"slip", "../../evil.txt", "evil", nil, nil, true},
		{"lzma2", "l.txt", text, lzma2Data(text), []byte{0x21, 0x21, 0x01, 16}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSink(t, formats.Budget{})
			packed := tt.packed
			if packed == nil {
				packed = []byte(tt.want)
			}
			if err := s.extract(t, formatstest.SevenZip(tt.member, packed, tt.coder, len(tt.want))); err != nil {
				t.Fatal(err)
			}
			clean, _ := formats.SanitizePath(tt.member)
			if got := string(s.children[clean]); got != tt.want {
				t.Fatalf("child %q = %q, want %q; findings %+v", clean, got, tt.want, s.findings)
			}
			if got := len(s.find(formats.KindPath)) > 0; got != tt.wantPath {
				t.Fatalf("path finding %v, want %v", got, tt.wantPath)
			}
			if len(s.find("archive")) != 1 {
				t.Fatalf("no archive finding: %+v", s.findings)
			}
		})
	}
}

func TestSevenZipHugeDictionary(t *testing.T) {
	tests := []struct {
		name  string
		coder []byte
	}{
		{"lzma2 4 GiB", []byte{0x21, 0x21, 0x01, 40}},
		{"lzma 1 GiB", []byte{0x23, 0x03, 0x01, 0x01, 0x05, 0x5d, 0x00, 0x00, 0x00, 0x40}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSink(t, formats.Budget{})
			if err := s.extract(t, formatstest.SevenZip("x", []byte("not really compressed"), tt.coder, 21)); err != nil {
				t.Fatal(err)
			}
			fs := s.find(formats.KindBudget)
			if len(fs) != 1 || fs[0].Detail["budget"] != "window" || len(s.children) != 0 {
				t.Fatalf("budget findings %+v, children %q; all %+v", fs, s.order, s.findings)
			}
		})
	}
}
