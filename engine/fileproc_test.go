package engine

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"athena/internal/core"
	"athena/internal/formats"
	"athena/internal/formats/formatstest"
	"athena/internal/testkit"
)

// The file processor through the whole pipeline, with the real modules.

func zipOf(t testing.TB, members map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range members {
			if !yield(k) {
				return
			}
		}
	}) {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(members[name])
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func analyseAll(t *testing.T, cfg Config, name string, data []byte) []core.Event {
	t.Helper()
	e := newEngine(t, cfg)
	var events []core.Event
	v, err := e.Analyze(t.Context(), core.FileMeta{Name: name, Size: int64(len(data))}, bytes.NewReader(data), 64<<10,
		func(ev core.Event) { events = append(events, ev) })
	if err != nil {
		t.Fatal(err)
	}
	_ = v
	return events
}

func TestPatternInTheDeepestMemberIsFoundWithItsPath(t *testing.T) {
	eicar := testkit.EICAR()
	sevenZ := formatstest.SevenZip("payload/eicar.com", eicar, nil, len(eicar))
	deep := zipOf(t, map[string][]byte{"inner.7z": sevenZ, "notes.txt": []byte("fine\n")})
	mid := formatstest.TarGz(t, formatstest.Member{Name: "inner.zip", Data: deep})
	top := zipOf(t, map[string][]byte{"bundle/inner.tar.gz": mid})
	events := analyseAll(t, Config{ModuleDirs: []string{builtinDir}}, "top.zip", top)
	want := "top.zip > bundle/inner.tar.gz > inner.zip > inner.7z > payload/eicar.com"
	var found []string
	for _, f := range findingsOf(events, "pattern") {
		if f.Rule == "eicar_test_file" {
			found = append(found, f.Path)
		}
	}
	if !slices.Contains(found, want) {
		t.Fatalf("eicar found in %q, want %q among them", found, want)
	}
	if v := verdictOf(t, events); v.Label != core.LabelMalicious || v.Partial {
		t.Errorf("verdict %+v, want malicious and complete", v)
	}
}

// overlappingZip is the non-recursive zip bomb: two central directory
// entries share one local file's data.
func overlappingZip() []byte {
	data := bytes.Repeat([]byte("A"), 1000)
	crc := crc32.ChecksumIEEE(data)
	var b bytes.Buffer
	le := func(v any) { binary.Write(&b, binary.LittleEndian, v) }
	le(uint32(0x04034b50))
	le([]uint16{20, 0, 0, 0, 0})
	le([]uint32{crc, uint32(len(data)), uint32(len(data))})
	le([]uint16{1, 0})
	b.WriteString("a")
	b.Write(data)
	cd := b.Len()
	for _, name := range []string{"a", "b"} {
		le(uint32(0x02014b50))
		le([]uint16{20, 20, 0, 0, 0, 0})
		le([]uint32{crc, uint32(len(data)), uint32(len(data))})
		le([]uint16{1, 0, 0, 0, 0})
		le([]uint32{0, 0}) // external attributes, local header at 0
		b.WriteString(name)
	}
	size := b.Len() - cd
	le(uint32(0x06054b50))
	le([]uint16{0, 0, 2, 2})
	le([]uint32{uint32(size), uint32(cd)})
	le(uint16(0))
	return b.Bytes()
}

func TestBombsAreStoppedByTheirBudgets(t *testing.T) {
	t.Run("overlapping entries", func(t *testing.T) {
		events := analyseAll(t, Config{ModuleDirs: []string{builtinDir}}, "bomb.zip", overlappingZip())
		if f := findingsOf(events, "archive_bomb"); len(f) != 1 || f[0].Severity < core.High {
			t.Errorf("archive_bomb findings %+v, want one, high", f)
		}
	})
	t.Run("10-level recursive zip", func(t *testing.T) {
		data := []byte("the innermost file\n")
		for i := range 10 {
			data = zipOf(t, map[string][]byte{fmt.Sprintf("level-%d.zip", 9-i): data})
		}
		events := analyseAll(t, Config{ModuleDirs: []string{builtinDir}}, "nest.zip", data)
		budget := findingsOf(events, core.KindBudgetExceeded)
		if len(budget) != 1 || budget[0].Detail["budget"] != "depth" || budget[0].Detail["limit"] != 8 {
			t.Fatalf("budget findings %+v, want one depth finding at the default limit 8", budget)
		}
		// The child at depth 8 may not extract its own (depth 9).
		if !strings.HasSuffix(budget[0].Path, "level-7.zip") || strings.Count(budget[0].Path, " > ") != 8 || budget[0].Detail["member"] != "level-8.zip" {
			t.Errorf("depth finding %+v, want it in the child at depth 8, about level-8.zip", budget[0])
		}
		if v := verdictOf(t, events); !v.Partial {
			t.Errorf("verdict %+v, want partial", v)
		}
	})
}

// peakMemory is the largest linear memory among a module's idle instances.
func peakMemory(e *Engine, name string) uint64 {
	md := e.modules[slices.IndexFunc(e.modules, func(m *module) bool { return m.man.Name == name })]
	md.mu.Lock()
	defer md.mu.Unlock()
	var peak uint64
	for _, in := range md.idle {
		peak = max(peak, in.w.memoryBytes())
	}
	return peak
}

// benchFileproc analyses data with the file processor alone (children go
// through it too) and reports MB/s of the top file, the instance's memory
// afterwards and the most bytes the upload's spool held.
func benchFileproc(b *testing.B, name string, data []byte) {
	e := newEngine(b, Config{ModuleDirs: []string{builtinDir}, Only: []string{"fileproc"}, Concurrency: 1})
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for range b.N {
		if _, err := e.Analyze(b.Context(), core.FileMeta{Name: name}, bytes.NewReader(data), 64<<10, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(peakMemory(e, "fileproc"))/(1<<20), "instance-MiB")
	b.ReportMetric(float64(e.m.fileSpools.peak.Load())/(1<<20), "peak-spool-MiB")
}

func BenchmarkFileprocZip(b *testing.B) {
	members := map[string][]byte{}
	for i := range 64 {
		m := formatstest.Noise(256 << 10)
		copy(m, fmt.Sprintf("member %d text, then noise\n", i))
		members[fmt.Sprintf("dir/m%02d.bin", i)] = m
	}
	benchFileproc(b, "many.zip", zipOf(b, members))
}

func BenchmarkFileprocRecursiveZip(b *testing.B) {
	data := formatstest.Noise(1 << 20)
	for i := range 10 {
		data = zipOf(b, map[string][]byte{fmt.Sprintf("level-%d.zip", 9-i): data, "pad.bin": formatstest.Noise(1 << 20)})
	}
	benchFileproc(b, "nest.zip", data)
}

func BenchmarkFileprocPE(b *testing.B) {
	// A PE header (MZ, PE\0\0, COFF, optional header, two sections) over
	// 16 MiB of noise: the module reads the headers, measures section
	// entropy and hashes the overlay.
	data := formatstest.Noise(16 << 20)
	copy(data, "MZ")
	binary.LittleEndian.PutUint32(data[0x3c:], 0x80)
	copy(data[0x80:], "PE\x00\x00")
	binary.LittleEndian.PutUint16(data[0x84:], 0x14c) // i386
	binary.LittleEndian.PutUint16(data[0x86:], 2)     // sections
	binary.LittleEndian.PutUint16(data[0x94:], 0xe0)  // optional header size
	binary.LittleEndian.PutUint16(data[0x96:], 0x102)
	opt := data[0x98:]
	binary.LittleEndian.PutUint16(opt, 0x10b)
	binary.LittleEndian.PutUint32(opt[16:], 0x1000) // entry point
	binary.LittleEndian.PutUint32(opt[32:], 0x1000) // section alignment
	binary.LittleEndian.PutUint32(opt[36:], 0x200)  // file alignment
	binary.LittleEndian.PutUint32(opt[56:], 0x3000) // image size
	binary.LittleEndian.PutUint32(opt[60:], 0x200)  // headers size
	binary.LittleEndian.PutUint32(opt[92:], 16)
	sec := data[0x98+0xe0:]
	for i, name := range []string{".text", ".data"} {
		s := sec[i*40:]
		copy(s, name)
		binary.LittleEndian.PutUint32(s[8:], 4<<20)            // virtual size
		binary.LittleEndian.PutUint32(s[12:], uint32(i+1)<<12) // virtual address
		binary.LittleEndian.PutUint32(s[16:], 4<<20)           // raw size
		binary.LittleEndian.PutUint32(s[20:], 0x200+uint32(i)*(4<<20))
		binary.LittleEndian.PutUint32(s[36:], 0x60000020)
	}
	benchFileproc(b, "big.exe", data)
}

// The file is spooled for the file processor only while it may read it: a
// head it does not parse makes it say DONE, and the spool goes at once.
func TestSpoolOnlyWhileAFileAccessModuleReads(t *testing.T) {
	e := newEngine(t, Config{ModuleDirs: []string{builtinDir}})
	for _, tc := range []struct {
		name  string
		data  []byte
		spool bool
	}{
		{"plain.txt", bytes.Repeat([]byte("just some text\n"), 10_000), false},
		{"many.zip", zipOf(t, map[string][]byte{"a.bin": formatstest.Noise(150_000)}), true},
	} {
		j, err := e.NewJob(t.Context(), core.FileMeta{Name: tc.name}, nil)
		if err != nil {
			t.Fatal(err)
		}
		j.Feed(tc.data[:64<<10])
		if got := j.spool != nil; got != tc.spool {
			t.Errorf("%s: spooled after the first chunk = %v, want %v", tc.name, got, tc.spool)
		}
		j.Feed(tc.data[64<<10:])
		if _, err := j.Finish(); err != nil {
			t.Fatal(err)
		}
	}
}

// passwordSetting is an archive_passwords setting of the given list file.
func passwordSetting(t *testing.T, list string) Setting {
	t.Helper()
	pws, err := formats.ParsePasswords([]byte(list))
	if err != nil {
		t.Fatal(err)
	}
	return Setting{Kind: formats.PasswordsKind, Version: formats.PasswordsVersion(pws), Data: []byte(list)}
}

// eicarInside reports whether the job found EICAR in the zip's member, and
// checks that the encrypted finding agrees.
func eicarInside(t *testing.T, events []core.Event) bool {
	t.Helper()
	found := false
	for _, f := range findingsOf(events, "pattern") {
		found = found || f.Rule == "eicar_test_file" && f.Path == "enc.zip > eicar.com"
	}
	enc := findingsOf(events, formats.KindEncrypted)
	if len(enc) != 1 || enc[0].Detail["decrypted"] != found {
		t.Fatalf("encrypted findings %+v, EICAR found in the member: %v", enc, found)
	}
	return found
}

// The file processor takes the operator's password list as a setting: it
// runs with the defaults until one is configured; a new list applies to
// new jobs and the verdict-cache fingerprint, a job in flight finishes on
// the old one, and a bad list is refused with the old one kept.
func TestFileprocPasswordSetting(t *testing.T) {
	data := formatstest.ZipCrypto(t, "op-only", "eicar.com", testkit.EICAR())
	e := newEngine(t, Config{ModuleDirs: []string{builtinDir}})
	if eicarInside(t, run(t, e, "enc.zip", data, 4096)) {
		t.Fatal("decrypted with the default passwords")
	}
	fp0 := e.Pipeline().Fingerprint()

	var inFlight []core.Event
	j, err := e.NewJob(t.Context(), core.FileMeta{Name: "enc.zip", Size: int64(len(data))}, func(ev core.Event) { inFlight = append(inFlight, ev) })
	if err != nil {
		t.Fatal(err)
	}
	j.Feed(data[:100]) // the file processor has begun, on the defaults
	list := passwordSetting(t, "# ours\ninfected\nop-only\n")
	if err := e.Configure(t.Context(), list); err != nil {
		t.Fatal(err)
	}
	j.Feed(data[100:])
	if _, err := j.Finish(); err != nil {
		t.Fatal(err)
	}
	if eicarInside(t, inFlight) {
		t.Error("the job in flight used the list configured after it started")
	}
	if !eicarInside(t, run(t, e, "enc.zip", data, 4096)) {
		t.Error("a new job did not use the configured list")
	}
	fp1 := e.Pipeline().Fingerprint()
	if fp1 == fp0 || e.Pipeline().Config["setting."+formats.PasswordsKind] != list.Version {
		t.Errorf("pipeline %+v does not name the list %s", e.Pipeline(), list.Version)
	}

	// A list the module refuses (the engine asks the module itself).
	bad := Setting{Kind: formats.PasswordsKind, Version: "pw-bad", Data: []byte("fine\n\\\n")}
	if err := e.Configure(t.Context(), bad); err == nil || !strings.Contains(err.Error(), "rejected") {
		t.Fatalf("Configure of a bad list: %v", err)
	}
	if got := e.Settings()[formats.PasswordsKind]; got != list.Version {
		t.Errorf("current list %s after a rejected one, want %s", got, list.Version)
	}
	if !eicarInside(t, run(t, e, "enc.zip", data, 4096)) {
		t.Error("after the rejected list, the good one no longer applies")
	}
}

// BenchmarkFileprocSevenZipPasswords measures, in the sandbox, what a
// password list costs on a 7z whose headers 7-Zip encrypted: every wrong
// password is one key derivation (2^19 SHA-256 rounds). The list holds 16
// wrong passwords, more than the library's 10-key cache, tried in the same
// order every time, so the cache never answers.
//
//	go test -run '^$' -bench FileprocSevenZipPasswords -benchtime 2x ./engine/
func BenchmarkFileprocSevenZipPasswords(b *testing.B) {
	data := formatstest.SevenZipAES(b, "right", "s.txt", []byte("secret\n"))
	const n = 16
	var list strings.Builder
	for i := range n {
		fmt.Fprintf(&list, "wrong-%d\n", i)
	}
	pws, err := formats.ParsePasswords([]byte(list.String()))
	if err != nil {
		b.Fatal(err)
	}
	e := newEngine(b, Config{ModuleDirs: []string{builtinDir}, Only: []string{"fileproc"}, Concurrency: 1,
		Settings: []Setting{{Kind: formats.PasswordsKind, Version: formats.PasswordsVersion(pws), Data: []byte(list.String())}}})
	// One run outside the timer: compile and instantiate.
	if _, err := e.Analyze(b.Context(), core.FileMeta{Name: "x.7z"}, bytes.NewReader(data), 64<<10, nil); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if _, err := e.Analyze(b.Context(), core.FileMeta{Name: "x.7z"}, bytes.NewReader(data), 64<<10, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(time.Since(start).Milliseconds())/float64(b.N*n), "ms/password")
}

// An AES-256 7z made by 7-Zip, headers encrypted, opened in the sandbox
// with a password from the operator's list; not without it.
func TestFileprocSevenZipPasswordFromTheList(t *testing.T) {
	data := formatstest.SevenZipAES(t, "seven pass", "eicar.com", testkit.EICAR())
	found := func(e *Engine) bool {
		for _, f := range findingsOf(run(t, e, "x.7z", data, 4096), "pattern") {
			if f.Rule == "eicar_test_file" && f.Path == "x.7z > eicar.com" {
				return true
			}
		}
		return false
	}
	if found(newEngine(t, Config{ModuleDirs: []string{builtinDir}})) {
		t.Fatal("opened with the default passwords")
	}
	e := newEngine(t, Config{ModuleDirs: []string{builtinDir},
		Settings: []Setting{builtinRules(t), passwordSetting(t, "infected\nseven pass\n")}})
	if !found(e) {
		t.Fatal("not opened with the password in the list")
	}
}

// instantiations is how many instances of module the engine created, from
// its metrics (the pre-warmed ones included).
func instantiations(t *testing.T, reg *prometheus.Registry, module string) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "athena_engine_instantiate_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "module" && l.GetValue() == module {
					return m.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	return 0
}

// A parent's instances go back to the pool before its children run: a
// chain of nested archives is analysed with the pre-warmed instances, not
// one more per level.
func TestChildrenReuseTheParentsInstances(t *testing.T) {
	file := []byte("plain text at the bottom\n")
	name := "note.txt"
	for i := range 4 {
		file = zipOf(t, map[string][]byte{name: file})
		name = fmt.Sprintf("level%d.zip", i)
	}
	reg := prometheus.NewRegistry()
	e := newEngine(t, Config{ModuleDirs: []string{builtinDir}, Concurrency: 1, Registerer: reg})
	before := instantiations(t, reg, "patterns")
	if before == 0 {
		t.Fatal("no pre-warmed patterns instance counted")
	}
	var events []core.Event
	if _, err := e.Analyze(t.Context(), core.FileMeta{Name: "top.zip", Size: int64(len(file))}, bytes.NewReader(file), 64<<10,
		func(ev core.Event) { events = append(events, ev) }); err != nil {
		t.Fatal(err)
	}
	if got := len(childPaths(events)); got != 4 {
		t.Fatalf("%d children, want 4 (three zips and the text): %v", got, childPaths(events))
	}
	if after := instantiations(t, reg, "patterns"); after != before {
		t.Errorf("patterns instantiated %d times for 5 nested files, want 0 beyond the %d pre-warmed", after-before, before)
	}
}
