package corpus

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func small(seed int64) Options {
	return Options{Seed: seed, Files: 40, MinSize: 1 << 10, MaxSize: 256 << 10, Planted: 0.5}
}

func TestGenerateIsDeterministic(t *testing.T) {
	a, b, c := t.TempDir(), t.TempDir(), t.TempDir()
	ma, err := Generate(a, small(7))
	if err != nil {
		t.Fatal(err)
	}
	mb, err := Generate(b, small(7))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ma, mb) {
		t.Fatalf("two manifests of seed 7 differ")
	}
	for _, f := range ma.Files {
		da, _ := os.ReadFile(filepath.Join(a, f.Name))
		db, _ := os.ReadFile(filepath.Join(b, f.Name))
		if !bytes.Equal(da, db) {
			t.Errorf("%s differs between two runs of seed 7", f.Name)
		}
	}
	mc, err := Generate(c, small(8))
	if err != nil {
		t.Fatal(err)
	}
	if reflect.DeepEqual(ma.Files, mc.Files) {
		t.Errorf("seeds 7 and 8 gave the same corpus")
	}
}

func TestGenerateManifest(t *testing.T) {
	dir := t.TempDir()
	m, err := Generate(dir, small(1))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(m.Files), 40; got != want {
		t.Fatalf("%d files, want %d", got, want)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != len(m.Files) {
		t.Errorf("%d entries in the directory, want %d", len(entries), len(m.Files))
	}
	kinds := map[Kind]bool{}
	var total int64
	planted, eicars := 0, 0
	for _, f := range m.Files {
		data, err := os.ReadFile(filepath.Join(dir, f.Name))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		if got := hex.EncodeToString(sum[:]); got != f.SHA256 || int64(len(data)) != f.Size {
			t.Errorf("%s: sha256 %s size %d, manifest says %s %d", f.Name, got, len(data), f.SHA256, f.Size)
		}
		kinds[f.Kind] = true
		total += f.Size
		checkKind(t, f, data)
		for _, mk := range f.Markers {
			planted++
			text, _ := MarkerText(mk.Name)
			held := data
			if mk.Member != "" {
				held = memberData(t, f, data, mk.Member)
			}
			if mk.Offset < 0 || int(mk.Offset)+len(text) > len(held) || !bytes.Equal(held[mk.Offset:int(mk.Offset)+len(text)], text) {
				t.Errorf("%s: marker %s not at offset %d of %q", f.Name, mk.Name, mk.Offset, mk.Member)
			}
			if mk.Name == "eicar" && bytes.Contains(data, EICAR()) {
				eicars++
			}
		}
	}
	if total != m.Bytes {
		t.Errorf("manifest bytes %d, files sum to %d", m.Bytes, total)
	}
	if len(kinds) < 7 {
		t.Errorf("only kinds %v in 40 files", kinds)
	}
	if planted < 10 || planted > 30 {
		t.Errorf("%d of 40 files planted at share 0.5", planted)
	}
	if eicars == 0 {
		t.Errorf("no file holds EICAR in its raw bytes")
	}
}

func checkKind(t *testing.T, f File, data []byte) {
	t.Helper()
	var ok bool
	switch f.Kind {
	case KindPE:
		ok = bytes.HasPrefix(data, []byte("MZ")) && bytes.Equal(data[0x80:0x84], []byte("PE\x00\x00"))
	case KindELF:
		ok = bytes.HasPrefix(data, []byte("\x7fELF"))
	case KindPDF:
		ok = bytes.HasPrefix(data, []byte("%PDF-1.4")) && bytes.HasSuffix(data, []byte("%%EOF\n"))
	case KindZip, KindOOXML:
		_, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
		ok = err == nil
	case KindTarGz:
		ok = len(tarMembers(t, data)) > 0
	default:
		ok = len(data) > 0
	}
	if !ok {
		t.Errorf("%s is not a well-formed %s", f.Name, f.Kind)
	}
}

func tarMembers(t *testing.T, data []byte) map[string][]byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out[h.Name], _ = io.ReadAll(tr)
	}
}

func memberData(t *testing.T, f File, data []byte, name string) []byte {
	t.Helper()
	if f.Kind == KindTarGz {
		return tarMembers(t, data)[name]
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	rc, err := zr.Open(name)
	if err != nil {
		t.Fatalf("%s: member %s: %v", f.Name, name, err)
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	return b
}

func TestGenerateSizes(t *testing.T) {
	m, err := Generate(t.TempDir(), Options{Seed: 3, Files: 30, MinSize: 1 << 10, MaxSize: 1 << 20, Planted: -1})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range m.Files {
		if len(f.Markers) > 0 {
			t.Errorf("%s planted with Planted < 0", f.Name)
		}
		switch f.Kind {
		case KindText, KindScript, KindBinary, KindPE, KindELF:
			if f.Size < 1<<10 || f.Size > 1<<20 {
				t.Errorf("%s: %d bytes, want 1 KiB..1 MiB", f.Name, f.Size)
			}
		}
	}
	if _, err := Generate(t.TempDir(), Options{MinSize: 10, MaxSize: 5}); err == nil {
		t.Errorf("min > max: no error")
	}
}

// TestRulesCompileWithYara checks the rule set with the reference yara, and
// that its marker rules find the planted markers and only there.
func TestRulesCompileWithYara(t *testing.T) {
	yara, err := exec.LookPath("yara")
	if err != nil {
		t.Fatal("yara is a test dependency (make deps installs it)")
	}
	dir := t.TempDir()
	rules := filepath.Join(dir, "bench.yar")
	if err := os.WriteFile(rules, Rules(300, 5), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(yara, "-w", rules, "/dev/null").CombinedOutput(); err != nil {
		t.Fatalf("yara -w rules /dev/null: %v\n%s", err, out)
	}
	if !bytes.Equal(Rules(300, 5), Rules(300, 5)) || bytes.Equal(Rules(300, 5), Rules(300, 6)) {
		t.Errorf("Rules is not a function of its seed")
	}
	text := string(Rules(300, 5))
	for _, want := range []string{" nocase", " wide", "??", "[0-", "/bench_", " of them", "#a > ", "filesize"} {
		if !strings.Contains(text, want) {
			t.Errorf("rules lack %q", want)
		}
	}

	corpusDir := filepath.Join(dir, "corpus")
	m, err := Generate(corpusDir, small(2))
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(yara, "-w", rules, corpusDir).CombinedOutput()
	if err != nil {
		t.Fatalf("yara over the corpus: %v\n%s", err, out)
	}
	matched := map[string]bool{} // "file marker"
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		rule, path, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		if !strings.HasPrefix(rule, "bench_marker_") {
			t.Errorf("yara: %s matched %s: a rule for strings never planted", rule, path)
			continue
		}
		name := strings.TrimPrefix(rule, "bench_marker_")
		name = name[:strings.LastIndexByte(name, '_')]
		matched[filepath.Base(path)+" "+name] = true
	}
	for _, f := range m.Files {
		data, _ := os.ReadFile(filepath.Join(corpusDir, f.Name))
		for _, mk := range f.Markers {
			text, _ := MarkerText(mk.Name)
			if bytes.Contains(data, text) && !matched[f.Name+" "+mk.Name] {
				t.Errorf("%s holds marker %s, no rule matched it", f.Name, mk.Name)
			}
		}
	}
	if len(matched) == 0 {
		t.Errorf("no marker rule matched:\n%s", out)
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		bad  bool
	}{
		{"1024", 1024, false},
		{"64MiB", 64 << 20, false},
		{"64M", 64 << 20, false},
		{"1 KiB", 1024, false},
		{"2kb", 2000, false},
		{"1G", 1 << 30, false},
		{"", 0, true},
		{"MiB", 0, true},
		{"12XB", 0, true},
		{"99999999999999999999", 0, true},
		{"99999999999G", 0, true},
	}
	for _, tc := range tests {
		got, err := ParseSize(tc.in)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d, error %v", tc.in, got, err, tc.want, tc.bad)
		}
	}
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"1", "64MiB", "1 kb", "9223372036854775807", "8G"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSize(s)
		if err == nil && n < 0 {
			t.Errorf("ParseSize(%q) = %d", s, n)
		}
	})
}
