// Package corpus generates deterministic test corpora and matching YARA rule
// sets for benchmarks and load tests: `athena bench` streams what Generate
// writes, and Rules gives engines a rule set of realistic shape.
//
// The same Options give the same files, byte for byte, with a given Go
// release (archive members are compressed with compress/flate, whose output
// may change between releases; everything else is fixed by the seed alone).
// Nothing here is secret or dangerous: planted patterns are harmless marker
// strings and the EICAR test file, which is assembled from pieces at run time
// so that no source file holds it whole.
package corpus

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Kind is what sort of file a corpus file is.
type Kind string

// The kinds of file Generate writes.
const (
	KindText   Kind = "text"   // lines of words
	KindScript Kind = "script" // PowerShell, JavaScript, VBScript or batch-like lines
	KindBinary Kind = "binary" // random bytes
	KindPE     Kind = "pe"     // a DOS/PE header, then random bytes
	KindELF    Kind = "elf"    // an ELF64 header, then random bytes
	KindZip    Kind = "zip"    // a zip of other generated content
	KindTarGz  Kind = "tar.gz" // a gzip-compressed tar of other generated content
	KindPDF    Kind = "pdf"    // a minimal PDF whose page stream is plain text
	KindOOXML  Kind = "ooxml"  // a zip laid out like a .docx
)

// Kinds lists every kind in the order Generate cycles through them.
var Kinds = []Kind{KindText, KindScript, KindBinary, KindPE, KindELF, KindZip, KindTarGz, KindPDF, KindOOXML}

var extension = map[Kind]string{
	KindText: ".txt", KindBinary: ".bin", KindPE: ".exe", KindELF: ".elf",
	KindZip: ".zip", KindTarGz: ".tar.gz", KindPDF: ".pdf", KindOOXML: ".docx",
}

// Defaults of Options.
const (
	DefaultFiles   = 100
	DefaultMinSize = 1 << 10
	DefaultMaxSize = 64 << 20
	DefaultPlanted = 0.2
)

// Options select a corpus. The zero value is usable: every zero field takes
// its default.
type Options struct {
	// Seed selects the corpus: the same seed gives the same bytes.
	Seed int64
	// Files is the number of files; default DefaultFiles.
	Files int
	// MinSize and MaxSize bound file sizes, drawn log-uniformly between
	// them; defaults 1 KiB and 64 MiB. Flat files have exactly the drawn
	// size; archives and documents only roughly (compression).
	MinSize, MaxSize int64
	// Planted is the share of files, 0..1, that hold a planted marker;
	// default DefaultPlanted, negative for none. The first planted file
	// always holds the EICAR test file in its raw bytes.
	Planted float64
}

func (o Options) withDefaults() (Options, error) {
	if o.Files == 0 {
		o.Files = DefaultFiles
	}
	if o.MinSize == 0 {
		o.MinSize = DefaultMinSize
	}
	if o.MaxSize == 0 {
		o.MaxSize = DefaultMaxSize
	}
	if o.MaxSize < o.MinSize && o.MinSize == DefaultMinSize {
		o.MinSize = o.MaxSize
	}
	if o.Planted == 0 {
		o.Planted = DefaultPlanted
	}
	switch {
	case o.Files < 0:
		return o, fmt.Errorf("corpus: %d files", o.Files)
	case o.MinSize < 1 || o.MaxSize < o.MinSize:
		return o, fmt.Errorf("corpus: sizes %d..%d: want 1 <= min <= max", o.MinSize, o.MaxSize)
	case o.Planted > 1:
		return o, fmt.Errorf("corpus: planted share %v over 1", o.Planted)
	}
	return o, nil
}

// Marker is a planted pattern in a file.
type Marker struct {
	// Name is the marker's name in Markers (or "eicar").
	Name string `json:"name"`
	// Member is the archive member that holds it; empty when the marker is
	// in the file's own bytes.
	Member string `json:"member,omitempty"`
	// Offset is where the marker starts in the file, or in Member when
	// Member is set (members may be compressed).
	Offset int64 `json:"offset"`
}

// File is one generated file.
type File struct {
	Name    string   `json:"name"` // relative to the corpus directory
	Kind    Kind     `json:"kind"`
	Size    int64    `json:"size"`
	SHA256  string   `json:"sha256"`
	Markers []Marker `json:"markers,omitempty"`
}

// Manifest describes a generated corpus.
type Manifest struct {
	Seed  int64  `json:"seed"`
	Bytes int64  `json:"bytes"` // the sum of the files' sizes
	Files []File `json:"files"`
}

// EICAR returns the 68-byte EICAR anti-virus test file, built from pieces.
func EICAR() []byte {
	return []byte(strings.Join([]string{`X5O!P%@AP[4\PZX54(P^)7CC)7}$`, "EICAR-STANDARD-", "ANTIVIRUS-TEST-FILE!$H+H*"}, ""))
}

// markers are the harmless strings Generate plants and Rules looks for. The
// last two also match Athena's built-in rules (suspicious script idioms).
var markers = []struct{ name, text string }{
	{"alpha", "ATHENA-BENCH-MARKER-ALPHA-7F3E"},
	{"bravo", "athena_canary_bravo_19c2"},
	{"charlie", "Athena.Bench.Charlie.Token.42"},
	{"delta", "DELTA-PLANTED-PATTERN-0xA11CE"},
	{"echo", "echo-marker-athena-bench-5150"},
	{"encoded_command", "powershell -NoProfile -EncodedCommand QQBUAEgARQBOAEEA"},
	{"wscript_shell", `CreateObject("WScript.Shell")`},
}

// MarkerNames returns the names of the planted patterns: "eicar", then the
// marker strings' names.
func MarkerNames() []string {
	names := []string{"eicar"}
	for _, m := range markers {
		names = append(names, m.name)
	}
	return names
}

// MarkerText returns the bytes of the named marker, and false for an unknown
// name.
func MarkerText(name string) ([]byte, bool) {
	if name == "eicar" {
		return EICAR(), true
	}
	for _, m := range markers {
		if m.name == name {
			return []byte(m.text), true
		}
	}
	return nil, false
}

// Generate writes a corpus into dir (created if missing) and returns its
// manifest. Files are named NNNNN-KIND.EXT after their index. It writes
// nothing else into dir.
func Generate(dir string, o Options) (Manifest, error) {
	o, err := o.withDefaults()
	if err != nil {
		return Manifest{}, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Manifest{}, err
	}
	man := Manifest{Seed: o.Seed}
	// Which files are planted, and with what, is drawn from one stream so
	// that it does not depend on file contents.
	plan := rand.New(rand.NewPCG(uint64(o.Seed), 0x5eed))
	planted := 0
	for i := range o.Files {
		g := newGen(o.Seed, i)
		kind := Kinds[g.r.IntN(len(Kinds))]
		size := logUniform(g.r, o.MinSize, o.MaxSize)
		marker := ""
		if o.Planted > 0 && plan.Float64() < o.Planted {
			names := MarkerNames()
			marker = names[planted%len(names)]
			if planted == 0 && (kind == KindTarGz || kind == KindOOXML) {
				kind = KindText // the first EICAR is in raw bytes
			}
			planted++
		}
		data, marks := g.file(kind, size, marker)
		sum := sha256.Sum256(data)
		f := File{
			Name:    fmt.Sprintf("%05d-%s%s", i, strings.ReplaceAll(string(kind), ".", ""), ext(kind, g)),
			Kind:    kind,
			Size:    int64(len(data)),
			SHA256:  hex.EncodeToString(sum[:]),
			Markers: marks,
		}
		if err := os.WriteFile(filepath.Join(dir, f.Name), data, 0o644); err != nil {
			return Manifest{}, err
		}
		man.Files = append(man.Files, f)
		man.Bytes += f.Size
	}
	return man, nil
}

func ext(k Kind, g *gen) string {
	if k == KindScript {
		return g.scriptExt
	}
	return extension[k]
}

func logUniform(r *rand.Rand, lo, hi int64) int64 {
	if lo == hi {
		return lo
	}
	v := math.Exp(math.Log(float64(lo)) + r.Float64()*(math.Log(float64(hi))-math.Log(float64(lo))))
	return min(max(int64(v), lo), hi)
}

// gen generates one file. Its two random sources are derived from the seed
// and the file's index only.
type gen struct {
	r         *rand.Rand    // decisions
	bytes     *rand.ChaCha8 // bulk random bytes
	scriptExt string        // set by script
	epoch     time.Time     // archive member times
	scratch   *bytes.Buffer // reused by text generators
}

func newGen(seed int64, i int) *gen {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], uint64(seed))
	binary.LittleEndian.PutUint64(key[8:], uint64(i))
	copy(key[16:], "athena-corpus-v1")
	key = sha256.Sum256(key[:])
	return &gen{
		r:       rand.New(rand.NewPCG(binary.LittleEndian.Uint64(key[:]), binary.LittleEndian.Uint64(key[8:]))),
		bytes:   rand.NewChaCha8(key),
		epoch:   time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		scratch: new(bytes.Buffer),
	}
}

// file returns a file of about size bytes of the kind, with marker (a
// MarkerNames name, or empty) planted.
func (g *gen) file(kind Kind, size int64, marker string) ([]byte, []Marker) {
	switch kind {
	case KindZip:
		return g.zipArchive(size, marker)
	case KindTarGz:
		return g.tarGz(size, marker)
	case KindOOXML:
		return g.ooxml(size, marker)
	case KindPDF:
		return g.pdf(size, marker)
	}
	data := g.flat(kind, size)
	return g.plant(data, marker, "")
}

// flat makes a file of a kind that is not a container.
func (g *gen) flat(kind Kind, size int64) []byte {
	switch kind {
	case KindText:
		return g.text(size, words)
	case KindScript:
		return g.script(size)
	case KindPE:
		return g.executable(peHeader(), size)
	case KindELF:
		return g.executable(elfHeader(), size)
	default:
		return g.random(size)
	}
}

// plant overwrites data at a random offset with the marker.
func (g *gen) plant(data []byte, marker, member string) ([]byte, []Marker) {
	if marker == "" {
		return data, nil
	}
	text, _ := MarkerText(marker)
	if len(data) < len(text) {
		data = append(data, make([]byte, len(text)-len(data))...)
	}
	// Past any header, when the file is large enough.
	hi := int64(len(data) - len(text))
	lo := min(hi/2, 256)
	off := lo + g.r.Int64N(hi-lo+1)
	copy(data[off:], text)
	return data, []Marker{{Name: marker, Member: member, Offset: off}}
}

func (g *gen) random(size int64) []byte {
	b := make([]byte, size)
	g.bytes.Read(b)
	return b
}

func (g *gen) executable(header []byte, size int64) []byte {
	b := g.random(max(size, int64(len(header))))
	copy(b, header)
	return b
}

// peHeader is a DOS stub pointing at a PE signature and a COFF header of an
// x86-64 executable.
func peHeader() []byte {
	h := make([]byte, 0x98)
	copy(h, "MZ")
	binary.LittleEndian.PutUint32(h[0x3c:], 0x80)
	copy(h[0x40:], "This program cannot be run in DOS mode.\r\r\n$")
	copy(h[0x80:], "PE\x00\x00")
	binary.LittleEndian.PutUint16(h[0x84:], 0x8664) // machine
	binary.LittleEndian.PutUint16(h[0x86:], 3)      // sections
	binary.LittleEndian.PutUint32(h[0x88:], 0x65a1b2c3)
	binary.LittleEndian.PutUint16(h[0x94:], 0xf0)   // optional header size
	binary.LittleEndian.PutUint16(h[0x96:], 0x0022) // executable, large address aware
	return h
}

// elfHeader is the 64-byte header of a little-endian x86-64 ELF executable.
func elfHeader() []byte {
	h := make([]byte, 64)
	copy(h, "\x7fELF\x02\x01\x01")
	binary.LittleEndian.PutUint16(h[16:], 2)    // ET_EXEC
	binary.LittleEndian.PutUint16(h[18:], 0x3e) // x86-64
	binary.LittleEndian.PutUint32(h[20:], 1)
	binary.LittleEndian.PutUint64(h[24:], 0x401000)
	binary.LittleEndian.PutUint64(h[32:], 64)
	binary.LittleEndian.PutUint16(h[52:], 64)
	binary.LittleEndian.PutUint16(h[54:], 56)
	return h
}

var words = strings.Fields(`the of and to in is that for it as was with be by on not he this are or
his from at which but have an they you were her she there been one all we their has would when if
so no will more can some what into them only time could new about other then like over than such
report invoice budget meeting quarterly analysis stream gateway engine verdict module pattern file
archive network storage latency throughput request response server client cache lookup window`)

// text returns size bytes of lines made of the vocabulary.
func (g *gen) text(size int64, vocab []string) []byte {
	b := g.scratch
	b.Reset()
	b.Grow(int(size) + 64)
	for int64(b.Len()) < size {
		n := 4 + g.r.IntN(12)
		for j := range n {
			if j > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(vocab[g.r.IntN(len(vocab))])
		}
		b.WriteString(".\n")
	}
	out := bytes.Clone(b.Bytes()[:size])
	if size > 0 {
		out[size-1] = '\n'
	}
	return out
}

var scriptLines = []struct {
	ext   string
	lines []string
}{
	{".ps1", []string{
		`$items = Get-ChildItem -Path $env:TEMP -Filter '*.log'`,
		`foreach ($i in $items) { Write-Host "checking $($i.Name)" }`,
		`$total = ($items | Measure-Object -Property Length -Sum).Sum`,
		`if ($total -gt 1048576) { Write-Output "large logs: $total" }`,
		`Set-Variable -Name counter -Value ($counter + 1)`,
	}},
	{".js", []string{
		`var fso = { name: "report", size: 1024 };`,
		`function sum(a, b) { return a + b; }`,
		`for (var i = 0; i < 10; i++) { fso.size = sum(fso.size, i); }`,
		`var parts = "alpha,beta,gamma".split(",");`,
		`if (parts.length > 2) { fso.name = parts.join("-"); }`,
	}},
	{".vbs", []string{
		`Dim total, i`,
		`total = 0`,
		`For i = 1 To 10: total = total + i: Next`,
		`If total > 50 Then WScript.Echo "total is " & total`,
		`Set dict = CreateObject("Scripting.Dictionary")`,
	}},
	{".bat", []string{
		`@echo off`,
		`set LOGDIR=%TEMP%\logs`,
		`if not exist "%LOGDIR%" mkdir "%LOGDIR%"`,
		`for %%f in (*.txt) do echo %%f >> "%LOGDIR%\list.txt"`,
		`echo done`,
	}},
}

func (g *gen) script(size int64) []byte {
	s := scriptLines[g.r.IntN(len(scriptLines))]
	g.scriptExt = s.ext
	b := g.scratch
	b.Reset()
	for int64(b.Len()) < size {
		b.WriteString(s.lines[g.r.IntN(len(s.lines))])
		b.WriteString("\r\n")
	}
	return bytes.Clone(b.Bytes()[:size])
}

// members returns archive members (name, data) of about size bytes in all,
// with the marker planted in one of them.
func (g *gen) members(size int64, marker string) ([]member, []Marker) {
	n := 1 + g.r.IntN(5)
	per := max(size/int64(n), 16)
	inner := []Kind{KindText, KindScript, KindBinary, KindPE, KindELF}
	var ms []member
	var marks []Marker
	target := g.r.IntN(n)
	for j := range n {
		k := inner[g.r.IntN(len(inner))]
		data := g.flat(k, per)
		name := fmt.Sprintf("dir%d/member-%d-%s%s", j%2, j, k, ext(k, g))
		if j == target {
			var m []Marker
			data, m = g.plant(data, marker, name)
			marks = append(marks, m...)
		}
		ms = append(ms, member{name, data})
	}
	return ms, marks
}

type member struct {
	name string
	data []byte
}

// zipArchive stores the planted member uncompressed, so that its marker is
// in the archive's raw bytes too, and deflates the others.
func (g *gen) zipArchive(size int64, marker string) ([]byte, []Marker) {
	ms, marks := g.members(size, marker)
	var buf bytes.Buffer
	zw := newZipWriter(&buf)
	for _, m := range ms {
		method := zip.Deflate
		if len(marks) > 0 && marks[0].Member == m.name || g.r.IntN(3) == 0 {
			method = zip.Store
		}
		if err := writeZip(zw, m.name, method, g.epoch, m.data); err != nil {
			panic(err) // writing to memory does not fail
		}
	}
	if err := zw.Close(); err != nil {
		panic(err)
	}
	return buf.Bytes(), marks
}

// newZipWriter returns a zip writer that deflates at flate.BestSpeed: the
// corpus is for load, not for size.
func newZipWriter(w io.Writer) *zip.Writer {
	zw := zip.NewWriter(w)
	zw.RegisterCompressor(zip.Deflate, func(out io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(out, flate.BestSpeed)
	})
	return zw
}

func writeZip(zw *zip.Writer, name string, method uint16, mod time.Time, data []byte) error {
	w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: method, Modified: mod})
	if err != nil {
		return err
	}
	_, err = w.Write(data)
	return err
}

func (g *gen) tarGz(size int64, marker string) ([]byte, []Marker) {
	ms, marks := g.members(size, marker)
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	zw.ModTime = g.epoch
	tw := tar.NewWriter(zw)
	for _, m := range ms {
		hdr := &tar.Header{Name: m.name, Mode: 0o644, Size: int64(len(m.data)), ModTime: g.epoch, Format: tar.FormatUSTAR}
		if err := tw.WriteHeader(hdr); err != nil {
			panic(err)
		}
		tw.Write(m.data)
	}
	if err := errors.Join(tw.Close(), zw.Close()); err != nil {
		panic(err)
	}
	return buf.Bytes(), marks
}

// pdf writes a one-page PDF whose content stream is uncompressed text, so
// that a planted marker is in the file's raw bytes.
func (g *gen) pdf(size int64, marker string) ([]byte, []Marker) {
	body := g.text(max(size-600, 64), words)
	var stream bytes.Buffer
	stream.WriteString("BT /F1 10 Tf 40 800 Td 12 TL\n")
	for _, line := range bytes.Split(bytes.TrimRight(body, "\n"), []byte("\n")) {
		stream.WriteString("(")
		stream.Write(bytes.Map(func(r rune) rune {
			if r == '(' || r == ')' || r == '\\' {
				return ' '
			}
			return r
		}, line))
		stream.WriteString(") '\n")
	}
	stream.WriteString("ET\n")
	content := stream.Bytes()
	var marks []Marker
	var b bytes.Buffer
	var offsets []int
	obj := func(s string) {
		offsets = append(offsets, b.Len())
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", len(offsets), s)
	}
	b.WriteString("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
	obj("<< /Type /Catalog /Pages 2 0 R >>")
	obj("<< /Type /Pages /Kids [3 0 R] /Count 1 >>")
	obj("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>")
	offsets = append(offsets, b.Len())
	fmt.Fprintf(&b, "4 0 obj\n<< /Length %d >>\nstream\n", len(content))
	start := b.Len()
	b.Write(content)
	b.WriteString("\nendstream\nendobj\n")
	obj("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(offsets)+1)
	for _, o := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", o)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(offsets)+1, xref)
	out := b.Bytes()
	if marker != "" {
		// Inside the content stream, past its first line.
		text, _ := MarkerText(marker)
		span := int64(len(content) - len(text) - 40)
		off := int64(start + 30)
		if span > 0 {
			off += g.r.Int64N(span)
		}
		copy(out[off:], text)
		marks = []Marker{{Name: marker, Offset: off}}
	}
	return out, marks
}

// ooxml writes a zip laid out like a Word document, its text deflated.
func (g *gen) ooxml(size int64, marker string) ([]byte, []Marker) {
	const ct = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>`
	const rels = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>`
	// Text deflates about 3:1; aim the document at the wanted size.
	body := g.text(max(size*3, 256), words)
	var doc bytes.Buffer
	doc.WriteString(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n" +
		`<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>`)
	for _, line := range bytes.Split(bytes.TrimRight(body, "\n"), []byte("\n")) {
		doc.WriteString("<w:p><w:r><w:t>")
		doc.Write(line)
		doc.WriteString("</w:t></w:r></w:p>")
	}
	doc.WriteString("</w:body></w:document>\n")
	data := doc.Bytes()
	var marks []Marker
	if marker != "" {
		data, marks = g.plant(data, marker, "word/document.xml")
	}
	var buf bytes.Buffer
	zw := newZipWriter(&buf)
	for _, m := range []member{{"[Content_Types].xml", []byte(ct)}, {"_rels/.rels", []byte(rels)}, {"word/document.xml", data}} {
		if err := writeZip(zw, m.name, zip.Deflate, g.epoch, m.data); err != nil {
			panic(err)
		}
	}
	if err := zw.Close(); err != nil {
		panic(err)
	}
	return buf.Bytes(), marks
}
