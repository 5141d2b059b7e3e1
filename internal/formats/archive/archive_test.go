package archive

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
	"testing"

	"athena/internal/core"
	"athena/internal/formats"
	"athena/internal/formats/formatstest"
)

// testSink collects findings and children; with recurse set it extracts
// every child whose format Detect knows, as the engine does.
type testSink struct {
	t        *testing.T
	m        *formats.Meter
	recurse  bool
	prefix   string
	findings []core.Finding
	children map[string][]byte
	order    []string
}

func newSink(t *testing.T, b formats.Budget) *testSink {
	return &testSink{t: t, m: formats.NewMeter(b), children: map[string][]byte{}}
}

func (s *testSink) Finding(f core.Finding) {
	if b, err := jsonSize(f); err != nil || b > 32<<10 {
		s.t.Errorf("finding %s: %d bytes of JSON (%v)", f.Kind, b, err)
	}
	s.findings = append(s.findings, f)
}

func (s *testSink) Child(path string, r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	full := s.prefix + path
	s.children[full] = b
	s.order = append(s.order, full)
	if f := Detect(b); s.recurse && f != "" {
		saved := s.prefix
		s.prefix = full + "!"
		defer func() { s.prefix = saved }()
		return Extract(f, bytes.NewReader(b), int64(len(b)), s.m, s)
	}
	return nil
}

func (s *testSink) find(kind string) []core.Finding {
	var out []core.Finding
	for _, f := range s.findings {
		if f.Kind == kind {
			out = append(out, f)
		}
	}
	return out
}

func (s *testSink) extract(t *testing.T, data []byte) error {
	t.Helper()
	f := Detect(data)
	if f == "" {
		t.Fatalf("Detect: no format for %d bytes %q", len(data), data[:min(len(data), 16)])
	}
	return Extract(f, bytes.NewReader(data), int64(len(data)), s.m, s)
}

type zipFile struct {
	name   string
	data   []byte
	method uint16
}

func makeZip(t testing.TB, files []zipFile, comment string) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for _, f := range files {
		fw, err := w.CreateHeader(&zip.FileHeader{Name: f.name, Method: f.method})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fw.Write(f.data); err != nil {
			t.Fatal(err)
		}
	}
	if comment != "" {
		if err := w.SetComment(comment); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func makeGzip(t testing.TB, name string, data ...[]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	for _, d := range data { // one gzip member each
		w := gzip.NewWriter(&buf)
		w.Name = name
		if _, err := w.Write(d); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// bzip2Hello is `printf 'hello bzip2\n' | bzip2 -9` (Go has no bzip2 writer).
var bzip2Hello = []byte{0x42, 0x5a, 0x68, 0x39, 0x31, 0x41, 0x59, 0x26, 0x53, 0x59, 0xab, 0x6b, 0xa1, 0xf1, 0x00, 0x00, 0x02, 0xd9, 0x80, 0x00, 0x10, 0x40, 0x00, 0x10, 0x00, 0x12, 0x64, 0xc0, 0x10, 0x20, 0x00, 0x31, 0x00, 0xd3, 0x4d, 0x04, 0x00, 0x1e, 0xa3, 0xef, 0x4e, 0x51, 0xa2, 0x07, 0x8b, 0xb9, 0x22, 0x9c, 0x28, 0x48, 0x55, 0xb5, 0xd0, 0xf8, 0x80}

const testEML = "From: Alice <alice@example.com>\r\n" +
	"To: bob@example.com\r\n" +
	"Subject: =?utf-8?q?Invoice_=E2=82=AC?=\r\n" +
	"Date: Fri, 27 Nov 2026 10:00:00 +0000\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=\"XYZ\"\r\n" +
	"\r\n" +
	"preamble\r\n" +
	"--XYZ\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"Content-Transfer-Encoding: quoted-printable\r\n" +
	"\r\n" +
	"Hello =E2=82=AC soft=\r\nbreak\r\n" +
	"--XYZ\r\n" +
	"Content-Type: application/octet-stream; name=\"ignored.bin\"\r\n" +
	"Content-Disposition: attachment; filename=\"invoice.zip\"\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"aGVsbG8g\r\nYXR0YWNo\r\nbWVudA==\r\n" +
	"--XYZ--\r\n"

func TestDetect(t *testing.T) {
	tarData := formatstest.Tar(t, formatstest.Member{Name: "a.txt", Data: []byte("a")})
	badTar := bytes.Clone(tarData)
	badTar[150] ^= 1
	tests := []struct {
		name string
		head []byte
		want string
	}{
		{"zip", makeZip(t, []zipFile{{"a", []byte("a"), zip.Deflate}}, ""), "zip"},
		{"empty zip", makeZip(t, nil, ""), "zip"},
		{"tar", tarData, "tar"},
		{"tar bad checksum", badTar, ""},
		{"gzip", makeGzip(t, "", []byte("x")), "gzip"},
		{"bzip2", bzip2Hello, "bzip2"},
		{"bzip2 bad block magic", []byte("BZh91AY&SX0000"), ""},
		{"xz", formatstest.Compress(t, "xz", []byte("x")), "xz"},
		{"zstd", formatstest.Compress(t, "zstd", []byte("x")), "zstd"},
		{"zstd skippable", []byte{0x50, 0x2a, 0x4d, 0x18, 0, 0, 0, 0}, "zstd"},
		{"7z", []byte{'7', 'z', 0xbc, 0xaf, 0x27, 0x1c, 0, 4}, "7z"},
		{"rar4", []byte("Rar!\x1a\x07\x00\xcf\x90"), "rar"},
		{"rar5", []byte("Rar!\x1a\x07\x01\x00\x33"), "rar"},
		{"eml", []byte(testEML), "eml"},
		{"eml received first", []byte("Received: from x\r\n\tby y\r\nFrom: a@b\r\nTo: c@d\r\n"), "eml"},
		{"http headers", []byte("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nDate: x\r\n\r\n"), ""},
		{"yaml", []byte("to: x\nsubject: y\ndate: z\n"), ""},
		{"text", []byte("hello world"), ""},
		{"empty", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Detect(tt.head); got != tt.want {
				t.Fatalf("Detect = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestExtractFormats(t *testing.T) {
	payload := []byte(strings.Repeat("payload line\n", 100))
	tests := []struct {
		name      string
		data      []byte
		wantChild map[string]string // path -> content
		wantKind  string            // a finding kind that must be reported
	}{
		{"zip deflate+store", makeZip(t, []zipFile{{"dir/a.txt", payload, zip.Deflate}, {"b.bin", []byte("bee"), zip.Store}, {"dir/", nil, zip.Store}}, "a comment"),
			map[string]string{"dir/a.txt": string(payload), "b.bin": "bee"}, "archive"},
		{"tar", formatstest.Tar(t, formatstest.Member{Name: "x/y.txt", Data: payload}), map[string]string{"x/y.txt": string(payload)}, "archive"},
		{"gzip named", makeGzip(t, "orig.txt", payload), map[string]string{"orig.txt": string(payload)}, "archive"},
		{"gzip multi-member", makeGzip(t, "", []byte("one "), []byte("two")), map[string]string{"data": "one two"}, "archive"},
		{"bzip2", bzip2Hello, map[string]string{"data": "hello bzip2\n"}, "archive"},
		{"xz", formatstest.Compress(t, "xz", payload), map[string]string{"data": string(payload)}, "archive"},
		{"zstd", formatstest.Compress(t, "zstd", payload), map[string]string{"data": string(payload)}, "archive"},
		{"eml", []byte(testEML), map[string]string{"part-1": "Hello € softbreak", "invoice.zip": "hello attachment"}, "email"},
		{"eml single part", []byte("From: a@b\r\nTo: c@d\r\nSubject: hi\r\nContent-Transfer-Encoding: base64\r\n\r\naGk=\r\n"), map[string]string{"part-1": "hi"}, "email"},
		{"gzip truncated", makeGzip(t, "", payload)[:40], map[string]string{}, formats.KindMalformed},
		{"zip garbage", append([]byte("PK\x03\x04"), bytes.Repeat([]byte{0xff}, 100)...), map[string]string{}, formats.KindMalformed},
		{"7z garbage", append([]byte{'7', 'z', 0xbc, 0xaf, 0x27, 0x1c}, make([]byte, 64)...), map[string]string{}, formats.KindMalformed},
		{"rar garbage", append([]byte("Rar!\x1a\x07\x01\x00"), make([]byte, 64)...), map[string]string{}, formats.KindMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSink(t, formats.Budget{})
			if err := s.extract(t, tt.data); err != nil {
				t.Fatalf("Extract: %v", err)
			}
			if len(s.children) != len(tt.wantChild) {
				t.Errorf("children %q, want %d", s.order, len(tt.wantChild))
			}
			for path, want := range tt.wantChild {
				if got, ok := s.children[path]; !ok || string(got) != want {
					t.Errorf("child %q = %q (present %v), want %q; children %q", path, got, ok, want, s.order)
				}
			}
			if len(s.find(tt.wantKind)) == 0 {
				t.Errorf("no %s finding in %+v", tt.wantKind, s.findings)
			}
		})
	}
}

func TestEMLFinding(t *testing.T) {
	s := newSink(t, formats.Budget{})
	if err := s.extract(t, []byte(testEML)); err != nil {
		t.Fatal(err)
	}
	f := s.find("email")
	if len(f) != 1 {
		t.Fatalf("email findings: %+v", s.findings)
	}
	d := f[0].Detail
	if d["subject"] != "Invoice €" || d["from"] != "Alice <alice@example.com>" || d["part_count"] != 2 {
		t.Fatalf("email detail = %+v", d)
	}
}

// TestNestedRecursion simulates the engine: zip > tar.gz > file.
func TestNestedRecursion(t *testing.T) {
	const marker = "ATHENA-NESTED-MARKER-42"
	tgz := makeGzip(t, "inner.tar", formatstest.Tar(t, formatstest.Member{Name: "deep/marker.txt", Data: []byte(marker)}))
	outer := makeZip(t, []zipFile{{"readme.txt", []byte("hi"), zip.Deflate}, {"inner.tar.gz", tgz, zip.Store}}, "")
	s := newSink(t, formats.Budget{})
	s.recurse = true
	if err := s.extract(t, outer); err != nil {
		t.Fatalf("Extract: %v", err)
	}
	const want = "inner.tar.gz!inner.tar!deep/marker.txt"
	if got := s.children[want]; string(got) != marker {
		t.Fatalf("child %q = %q, want the marker; children %q", want, got, s.order)
	}
	if n := len(s.find("archive")); n != 3 {
		t.Errorf("%d archive findings, want 3 (zip, gzip, tar)", n)
	}
}

// zipEntry is one hand-written zip entry: its local header goes at
// offset off (written by the caller).
type zipEntry struct {
	name       string
	off        uint32
	crc        uint32
	csize      uint32
	usize      uint32
	method     uint16
	flags      uint16
	localExtra []byte
}

func localHeader(e zipEntry) []byte {
	var b bytes.Buffer
	le := func(v any) { _ = binary.Write(&b, binary.LittleEndian, v) }
	le(uint32(0x04034b50))
	le(uint16(20))
	le(e.flags)
	le(e.method)
	le(uint32(0))
	le(e.crc)
	le(e.csize)
	le(e.usize)
	le(uint16(len(e.name)))
	le(uint16(0))
	b.WriteString(e.name)
	return b.Bytes()
}

// appendCentral appends the central directory of entries and the end
// record to body.
func appendCentral(body []byte, entries []zipEntry) []byte {
	b := bytes.NewBuffer(body)
	le := func(v any) { _ = binary.Write(b, binary.LittleEndian, v) }
	cdStart := b.Len()
	for _, e := range entries {
		le(uint32(0x02014b50))
		le(uint16(20))
		le(uint16(20))
		le(e.flags)
		le(e.method)
		le(uint32(0))
		le(e.crc)
		le(e.csize)
		le(e.usize)
		le(uint16(len(e.name)))
		le(uint16(0))
		le(uint16(0))
		le(uint16(0))
		le(uint16(0))
		le(uint32(0))
		le(e.off)
		b.WriteString(e.name)
	}
	cdSize := b.Len() - cdStart
	le(uint32(0x06054b50))
	le(uint16(0))
	le(uint16(0))
	le(uint16(len(entries)))
	le(uint16(len(entries)))
	le(uint32(cdSize))
	le(uint32(cdStart))
	le(uint16(0))
	return b.Bytes()
}

func TestZipOverlapBomb(t *testing.T) {
	kernel := bytes.Repeat([]byte("K"), 1000)
	// Entry b's header and data lie inside entry a's data.
	b := zipEntry{name: "b", crc: crc32.ChecksumIEEE(kernel), csize: uint32(len(kernel)), usize: uint32(len(kernel))}
	bLocal := localHeader(b)
	aData := append(bytes.Clone(bLocal), kernel...)
	a := zipEntry{name: "a", crc: crc32.ChecksumIEEE(aData), csize: uint32(len(aData)), usize: uint32(len(aData))}
	aLocal := localHeader(a)
	b.off = uint32(len(aLocal))
	body := append(aLocal, aData...)

	// The same local header referenced twice.
	same := append(localHeader(b), kernel...)
	tests := []struct {
		name string
		data []byte
	}{
		{"nested headers", appendCentral(body, []zipEntry{a, b})},
		{"shared header", appendCentral(same, []zipEntry{{name: "b", crc: b.crc, csize: b.csize, usize: b.usize}, {name: "b", crc: b.crc, csize: b.csize, usize: b.usize}})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSink(t, formats.Budget{})
			err := s.extract(t, tt.data)
			if !errors.Is(err, ErrBomb) {
				t.Fatalf("Extract = %v, want ErrBomb", err)
			}
			bombs := s.find(formats.KindBomb)
			if len(bombs) != 1 || bombs[0].Severity != core.High || bombs[0].Detail["reason"] != "overlapping entries" {
				t.Fatalf("bomb findings = %+v", bombs)
			}
			if len(s.children) != 0 {
				t.Fatalf("children %q, want none", s.order)
			}
		})
	}
	// Control: the same entries laid out apart extract fine.
	s := newSink(t, formats.Budget{})
	ok := makeZip(t, []zipFile{{"a", aData, zip.Store}, {"b", kernel, zip.Store}}, "")
	if err := s.extract(t, ok); err != nil || len(s.children) != 2 {
		t.Fatalf("control: %v, children %q", err, s.order)
	}
}

func TestZipSlip(t *testing.T) {
	data := makeZip(t, []zipFile{
		{"../../etc/cron.d/evil", []byte("x"), zip.Deflate},
		{"/abs/path", []byte("y"), zip.Deflate},
		{`C:\Windows\evil.dll`, []byte("z"), zip.Deflate},
		{"ok/fine.txt", []byte("w"), zip.Deflate},
	}, "")
	s := newSink(t, formats.Budget{})
	if err := s.extract(t, data); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"etc/cron.d/evil": "parent", "abs/path": "absolute", "Windows/evil.dll": "drive"}
	paths := s.find(formats.KindPath)
	if len(paths) != len(want) {
		t.Fatalf("path findings %+v, want %d", paths, len(want))
	}
	for _, f := range paths {
		clean, _ := f.Detail["clean"].(string)
		if want[clean] != f.Detail["problem"] || f.Severity != core.Medium {
			t.Errorf("finding %+v, want problem %q", f.Detail, want[clean])
		}
		if _, ok := s.children[clean]; !ok {
			t.Errorf("no child at sanitised path %q; children %q", clean, s.order)
		}
	}
	if _, ok := s.children["ok/fine.txt"]; !ok {
		t.Errorf("clean member missing: %q", s.order)
	}
}

// zipCryptoEncrypt is the encrypting side of the PKWARE cipher.
func zipCryptoEncrypt(pw string, plain []byte) []byte {
	z := newZipCrypto(pw)
	out := make([]byte, len(plain))
	for i, p := range plain {
		out[i] = p ^ z.stream()
		z.update(p)
	}
	return out
}

func makeZipCrypto(t testing.TB, name, pw string, plain []byte, method uint16) []byte {
	t.Helper()
	var comp bytes.Buffer
	switch method {
	case zip.Deflate:
		fw, _ := flate.NewWriter(&comp, flate.BestCompression)
		fw.Write(plain)
		fw.Close()
	default:
		comp.Write(plain)
	}
	crc := crc32.ChecksumIEEE(plain)
	hdr := []byte("0123456789a\x00")
	hdr[11] = byte(crc >> 24)
	enc := zipCryptoEncrypt(pw, append(hdr, comp.Bytes()...))
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	fw, err := w.CreateRaw(&zip.FileHeader{Name: name, Method: method, Flags: 1, CRC32: crc,
		CompressedSize64: uint64(len(enc)), UncompressedSize64: uint64(len(plain))})
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(enc)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestZipEncrypted(t *testing.T) {
	secret := []byte(strings.Repeat("the sample inside the encrypted zip\n", 50))
	var aes bytes.Buffer
	w := zip.NewWriter(&aes)
	fw, _ := w.CreateRaw(&zip.FileHeader{Name: "aes.bin", Method: methodAES, Flags: 1, CompressedSize64: 32, UncompressedSize64: 10})
	fw.Write(bytes.Repeat([]byte{0xAA}, 32))
	w.Close()
	tests := []struct {
		name          string
		data          []byte
		wantDecrypted bool
		wantPassword  string
		wantMethod    string
	}{
		{"zipcrypto deflate infected", makeZipCrypto(t, "sample.exe", "infected", secret, zip.Deflate), true, "infected", "zipcrypto"},
		{"zipcrypto store malware", makeZipCrypto(t, "sample.exe", "malware", secret, zip.Store), true, "malware", "zipcrypto"},
		{"zipcrypto unknown password", makeZipCrypto(t, "sample.exe", "hunter2", secret, zip.Deflate), false, "", "zipcrypto"},
		{"aes", aes.Bytes(), false, "", "aes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSink(t, formats.Budget{})
			if err := s.extract(t, tt.data); err != nil {
				t.Fatal(err)
			}
			enc := s.find(formats.KindEncrypted)
			if len(enc) != 1 {
				t.Fatalf("encrypted findings %+v", s.findings)
			}
			d := enc[0].Detail
			if d["decrypted"] != tt.wantDecrypted || d["method"] != tt.wantMethod || (tt.wantDecrypted && d["password"] != tt.wantPassword) {
				t.Fatalf("encrypted detail %+v", d)
			}
			got, ok := s.children["sample.exe"]
			if tt.wantDecrypted != ok || (ok && !bytes.Equal(got, secret)) {
				t.Fatalf("child present %v (%d bytes), want %v", ok, len(got), tt.wantDecrypted)
			}
			if n := len(s.find(formats.KindMalformed)); n != 0 {
				t.Fatalf("malformed findings: %+v", s.findings)
			}
		})
	}
}

func TestBudgets(t *testing.T) {
	zeros := make([]byte, 10<<20)
	// A DOCX-like zip: 120 small compressible XML parts, about 100 KB.
	var docx []zipFile
	for i := range 120 {
		part := fmt.Sprintf("<w:p><w:r><w:t>paragraph %d</w:t></w:r></w:p>", i)
		docx = append(docx, zipFile{fmt.Sprintf("word/part%d.xml", i), []byte(strings.Repeat(part, 40+i%60)), zip.Deflate})
	}
	many := make([]zipFile, 5)
	for i := range many {
		many[i] = zipFile{fmt.Sprintf("f%d", i), []byte("x"), zip.Deflate}
	}
	tests := []struct {
		name       string
		data       []byte
		budget     formats.Budget
		wantBudget string // "" when extraction must succeed
		wantBomb   bool
	}{
		{"gzip of 10 MB zeros", makeGzip(t, "", zeros), formats.Budget{}, "ratio", true},
		{"zip of 10 MB zeros", makeZip(t, []zipFile{{"z", zeros, zip.Deflate}}, ""), formats.Budget{}, "ratio", true},
		{"zstd of 10 MB zeros", formatstest.Compress(t, "zstd", zeros), formats.Budget{}, "ratio", true},
		{"docx-like zip", makeZip(t, docx, ""), formats.Budget{}, "", false},
		{"members", makeZip(t, many, ""), formats.Budget{MaxMembers: 3}, "members", false},
		{"member bytes", formatstest.Tar(t, formatstest.Member{Name: "big", Data: make([]byte, 5000)}), formats.Budget{MaxMemberBytes: 4096}, "member_bytes", false},
		{"total bytes", formatstest.Tar(t, formatstest.Member{Name: "a", Data: make([]byte, 3000)}, formatstest.Member{Name: "b", Data: make([]byte, 3000)}), formats.Budget{MaxTotalBytes: 5000}, "total_bytes", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSink(t, tt.budget)
			err := s.extract(t, tt.data)
			if tt.wantBudget == "" {
				if err != nil || len(s.find(formats.KindBudget)) != 0 {
					t.Fatalf("Extract = %v, findings %+v; want no budget broken", err, s.find(formats.KindBudget))
				}
				return
			}
			var be *formats.BudgetError
			if !errors.As(err, &be) || be.Budget != tt.wantBudget {
				t.Fatalf("Extract = %v, want %s budget", err, tt.wantBudget)
			}
			fs := s.find(formats.KindBudget)
			if len(fs) != 1 || fs[0].Detail["budget"] != tt.wantBudget {
				t.Fatalf("budget findings %+v", fs)
			}
			if got := len(s.find(formats.KindBomb)) > 0; got != tt.wantBomb {
				t.Fatalf("bomb finding %v, want %v", got, tt.wantBomb)
			}
		})
	}
}

func TestXzHugeDictionary(t *testing.T) {
	data := formatstest.Compress(t, "xz", []byte("hello"))
	// Block header: size byte, flags, filter id 0x21, props size 1, dict byte.
	if data[12+2] != 0x21 || data[12+3] != 1 {
		t.Fatalf("unexpected xz block header % x", data[12:20])
	}
	data[12+4] = 38 // 1.5 GiB; the block CRC is no longer checked that far
	s := newSink(t, formats.Budget{})
	var be *formats.BudgetError
	if err := s.extract(t, data); !errors.As(err, &be) || be.Budget != "window" {
		t.Fatalf("Extract = %v, want window budget", err)
	}
}

func TestLargeFindingsStaySmall(t *testing.T) {
	var files []zipFile
	for i := range 400 {
		files = append(files, zipFile{fmt.Sprintf("../%s%d", strings.Repeat("n", 300), i), []byte("x"), zip.Store})
	}
	s := newSink(t, formats.Budget{})
	if err := s.extract(t, makeZip(t, files, strings.Repeat("c", 60000))); err != nil {
		t.Fatal(err)
	}
	if n := len(s.find(formats.KindPath)); n != maxPathFindings {
		t.Fatalf("%d path findings, want %d", n, maxPathFindings)
	}
}

func TestZipBrokenDirectory(t *testing.T) {
	payload := []byte(strings.Repeat("member data ", 200))
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for _, name := range []string{"one.txt", "../two.txt"} {
		fw, _ := w.Create(name)
		fw.Write(payload)
	}
	fw, _ := w.CreateRaw(&zip.FileHeader{Name: "three.bin", Method: zip.Store, CRC32: crc32.ChecksumIEEE([]byte("raw")),
		CompressedSize64: 3, UncompressedSize64: 3})
	fw.Write([]byte("raw"))
	w.Flush()
	localOnly := bytes.Clone(buf.Bytes()) // before the central directory
	w.Close()
	full := buf.Bytes()
	tests := []struct {
		name string
		data []byte
		want []string
	}{
		{"no central directory", localOnly, []string{"one.txt", "two.txt", "three.bin"}},
		{"truncated end record", full[:len(full)-10], []string{"one.txt", "two.txt", "three.bin"}},
		{"truncated member", localOnly[:200], nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSink(t, formats.Budget{})
			if err := s.extract(t, tt.data); err != nil {
				t.Fatal(err)
			}
			for _, name := range tt.want {
				if got, ok := s.children[name]; !ok || (name != "three.bin" && !bytes.Equal(got, payload)) {
					t.Errorf("child %q missing or wrong; children %q", name, s.order)
				}
			}
			if len(s.find(formats.KindMalformed)) == 0 {
				t.Errorf("no malformed finding")
			}
			if tt.want != nil && len(s.find(formats.KindPath)) != 1 {
				t.Errorf("path findings: %+v", s.find(formats.KindPath))
			}
		})
	}
}

func TestNestedBudgetReportedOnce(t *testing.T) {
	bomb := makeGzip(t, "zeros", make([]byte, 10<<20))
	outer := makeZip(t, []zipFile{{"inner.gz", bomb, zip.Store}}, "")
	s := newSink(t, formats.Budget{})
	s.recurse = true
	if err := s.extract(t, outer); !errors.Is(err, formats.ErrBudget) {
		t.Fatalf("Extract = %v, want a budget error", err)
	}
	if n := len(s.find(formats.KindBudget)); n != 1 {
		t.Fatalf("%d budget findings, want 1: %+v", n, s.find(formats.KindBudget))
	}
}

func TestZipOtherMethodsAndTarLinks(t *testing.T) {
	plain := []byte(strings.Repeat("zstd inside zip ", 100))
	packed := formatstest.Compress(t, "zstd", plain)
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	fw, _ := w.CreateRaw(&zip.FileHeader{Name: "z.txt", Method: methodZstd, CRC32: crc32.ChecksumIEEE(plain),
		CompressedSize64: uint64(len(packed)), UncompressedSize64: uint64(len(plain))})
	fw.Write(packed)
	w.Close()
	s := newSink(t, formats.Budget{})
	if err := s.extract(t, buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	if got := s.children["z.txt"]; !bytes.Equal(got, plain) {
		t.Fatalf("zstd member: %d bytes, findings %+v", len(got), s.findings)
	}

	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	tw.WriteHeader(&tar.Header{Name: "link", Typeflag: tar.TypeSymlink, Linkname: "../../../etc/shadow"})
	tw.WriteHeader(&tar.Header{Name: "ok-link", Typeflag: tar.TypeSymlink, Linkname: "sibling"})
	tw.Close()
	s = newSink(t, formats.Budget{})
	if err := s.extract(t, tb.Bytes()); err != nil {
		t.Fatal(err)
	}
	if p := s.find(formats.KindPath); len(p) != 1 || p[0].Detail["problem"] != "link" || len(s.children) != 0 {
		t.Fatalf("path findings %+v, children %q", p, s.order)
	}
}
