package fileproc

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"athena/internal/core"
	"athena/internal/formats"
	"athena/internal/formats/archive"
	"athena/internal/formats/formatstest"
	"athena/modules/sdk"
)

// streamFiles is sdk.Files that records children in order, with the
// number of feeds made when each ended, and counts random reads.
type streamFiles struct {
	feeds   *int
	names   []string
	data    [][]byte
	endedAt []int
	readAts int
	late    bool // a child began after the file was dropped
	dropped bool
}

func (f *streamFiles) ReadAt(p []byte, off int64) (int, error) {
	f.readAts++
	return 0, io.EOF
}

func (f *streamFiles) Child(name string, r io.Reader) error {
	f.late = f.late || f.dropped
	b, err := io.ReadAll(r)
	f.names, f.data, f.endedAt = append(f.names, name), append(f.data, b), append(f.endedAt, *f.feeds)
	return err
}

type streamRun struct {
	findings []core.Finding
	files    *streamFiles
	results  []error // what each Feed returned
}

// feedStream runs the analyzer over data in chunks of chunk bytes, as the
// SDK would: no more feeds after DONE.
func feedStream(t testing.TB, data []byte, chunk int, budget *formats.Budget) streamRun {
	t.Helper()
	var r streamRun
	feeds := 0
	r.files = &streamFiles{feeds: &feeds}
	a := New(func(f core.Finding) { r.findings = append(r.findings, f) }).(*Analyzer)
	a.UseFiles(r.files)
	if err := a.Begin(core.FileMeta{Size: -1}); err != nil {
		t.Fatal(err)
	}
	if budget != nil {
		a.budget = budget.WithDefaults()
	}
	for off := 0; off < len(data); off += chunk {
		err := a.Feed(data[off:min(off+chunk, len(data))])
		feeds++
		r.results = append(r.results, err)
		if errors.Is(err, sdk.ErrDone) {
			break
		}
	}
	if err := a.Finish(); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestTarGzMembersStreamDuringFeed(t *testing.T) {
	names := []string{"dir/a.txt", "dir/b.bin", "../c.txt", "d.bin"}
	bodies := [][]byte{[]byte("first member\n"), formatstest.Noise(100 << 10), []byte("third\n"), formatstest.Noise(100 << 10)}
	data := formatstest.TarGz(t, members(names, bodies)...)
	r := feedStream(t, data, 1024, nil)
	// STREAM on the feed that completes the 4 KiB head, then OK.
	for i, err := range r.results {
		want := error(nil)
		if i == headSize/1024-1 {
			want = sdk.ErrStream
		}
		if err != want {
			t.Fatalf("feed %d returned %v, want %v", i, err, want)
		}
	}
	if want := []string{"dir/a.txt", "dir/b.bin", "c.txt", "d.bin"}; !slices.Equal(r.files.names, want) {
		t.Fatalf("children %q, want %q", r.files.names, want)
	}
	for i, b := range r.files.data {
		if !bytes.Equal(b, bodies[i]) {
			t.Errorf("child %s: %d bytes differ from the member's %d", names[i], len(b), len(bodies[i]))
		}
	}
	if last := len(r.results); r.files.endedAt[2] >= last {
		t.Errorf("children ended after feeds %v of %d, want the first three before the last feed", r.files.endedAt, last)
	}
	if r.files.readAts != 0 {
		t.Errorf("%d random reads of a streamed file", r.files.readAts)
	}
	var summaries []string
	for _, f := range r.findings {
		if f.Kind == "archive" {
			summaries = append(summaries, f.Detail["format"].(string))
		}
		if f.Kind == formats.KindPath && f.Detail["clean"] != "c.txt" {
			t.Errorf("path finding %+v", f)
		}
	}
	if !slices.Equal(summaries, []string{"tar", "gzip"}) {
		t.Errorf("archive findings for %q, want tar then gzip", summaries)
	}
}

// streamSamples are streamed containers of every kind, for the chunking
// test and the fuzz seeds.
func streamSamples(t testing.TB) map[string][]byte {
	names := []string{"a.txt", "b/c.bin"}
	// Small, and xz with a small dictionary: each fuzz run decodes them
	// twice, and minimising an input runs it thousands of times.
	bodies := [][]byte{bytes.Repeat([]byte("text "), 300), formatstest.Noise(2 << 10)}
	var tarBuf bytes.Buffer
	tw := tar.NewWriter(&tarBuf)
	for i, n := range names {
		tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(bodies[i])), Typeflag: tar.TypeReg})
		tw.Write(bodies[i])
	}
	tw.Close()
	var gz bytes.Buffer
	for _, part := range [][]byte{[]byte("member one\n"), []byte("member two\n")} {
		gw := gzip.NewWriter(&gz)
		gw.Write(part)
		gw.Close()
	}
	var xzBuf bytes.Buffer
	xw, err := xz.WriterConfig{DictCap: 64 << 10}.NewWriter(&xzBuf)
	if err != nil {
		t.Fatal(err)
	}
	xw.Write(tarBuf.Bytes())
	xw.Close()
	var zst bytes.Buffer
	zw, err := zstd.NewWriter(&zst)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(tarBuf.Bytes())
	zw.Close()
	cut := formatstest.TarGz(t, members(names, bodies)...)
	cut = cut[:len(cut)*2/3]
	return map[string][]byte{
		"tar":        tarBuf.Bytes(),
		"tar.gz":     formatstest.TarGz(t, members(names, bodies)...),
		"multi.gz":   gz.Bytes(),
		"tar.xz":     xzBuf.Bytes(),
		"tar.zst":    zst.Bytes(),
		"cut.tar.gz": cut,
	}
}

// The same bytes give the same findings and children in any chunking.
func TestStreamDoesNotDependOnChunking(t *testing.T) {
	for name, data := range streamSamples(t) {
		t.Run(name, func(t *testing.T) {
			want := feedStream(t, data, len(data), nil)
			if len(want.files.names) == 0 {
				t.Fatalf("no children from %s", name)
			}
			for _, chunk := range []int{1, 7, 1000, 4096, 65536} {
				got := feedStream(t, data, chunk, nil)
				if g, w := describe(got), describe(want); g != w {
					t.Errorf("chunks of %d:\n%s\nwhole:\n%s", chunk, g, w)
				}
			}
		})
	}
}

func describe(r streamRun) string {
	var b bytes.Buffer
	for _, f := range r.findings {
		j, _ := json.Marshal(f)
		fmt.Fprintf(&b, "%s\n", j)
	}
	for i, n := range r.files.names {
		fmt.Fprintf(&b, "child %s %d\n", n, len(r.files.data[i]))
	}
	return b.String()
}

// A file the host drops mid-stream (Begin again without Finish) is
// stopped without a word: nothing of it reaches the next file.
func TestAbandonedStreamReportsNothing(t *testing.T) {
	var found []core.Finding
	feeds := 0
	fs := &streamFiles{feeds: &feeds}
	a := New(func(f core.Finding) { found = append(found, f) }).(*Analyzer)
	a.UseFiles(fs)
	a.Begin(core.FileMeta{})
	data := formatstest.TarGz(t, formatstest.Member{Name: "big.bin", Data: formatstest.Noise(200 << 10)})
	if err := a.Feed(data[:100<<10]); err != sdk.ErrStream {
		t.Fatalf("Feed = %v, want ErrStream", err)
	}
	fs.dropped = true
	a.Begin(core.FileMeta{})
	if len(found) != 0 || fs.late {
		t.Errorf("the dropped file reported %d findings, began a child after = %v", len(found), fs.late)
	}
	a.Feed([]byte("plain text, next file"))
	if err := a.Finish(); err != nil || len(found) != 0 {
		t.Errorf("next file: Finish %v, findings %+v", err, found)
	}
}

// FuzzStream feeds hostile bytes, as one of the streamed formats, in
// fuzzed chunks: no panic escapes, every budget holds, and the findings
// do not depend on the chunking.
func FuzzStream(f *testing.F) {
	for _, data := range streamSamples(f) {
		f.Add(data, uint16(1000))
	}
	f.Add(append([]byte{0x1f, 0x8b}, bytes.Repeat([]byte{0}, 600)...), uint16(3))
	budget := formats.Budget{MaxMembers: 20, MaxMemberBytes: 64 << 10, MaxTotalBytes: 256 << 10, RatioMinBytes: 32 << 10}
	f.Fuzz(func(t *testing.T, data []byte, chunk uint16) {
		got := feedStream(t, data, max(int(chunk), 1), &budget)
		var total int64
		for _, b := range got.files.data {
			total += int64(len(b))
			if int64(len(b)) > budget.MaxMemberBytes {
				t.Fatalf("a child of %d bytes", len(b))
			}
		}
		if total > budget.MaxTotalBytes || len(got.files.names) > budget.MaxMembers {
			t.Fatalf("%d children, %d bytes: past the budget", len(got.files.names), total)
		}
		if whole := feedStream(t, data, max(len(data), 1), &budget); describe(whole) != describe(got) {
			t.Fatalf("chunks of %d:\n%s\nwhole:\n%s", chunk, describe(got), describe(whole))
		}
	})
}

// The cost of the parser goroutine: the same tar.gz through Feed in 64 KiB
// chunks (a goroutine switch per chunk) and through ExtractStream over the
// whole file in one call (none), on the host.
func benchTarGz() []byte {
	var names []string
	var bodies [][]byte
	for i := range 64 {
		names, bodies = append(names, fmt.Sprintf("m%02d.bin", i)), append(bodies, formatstest.Noise(256<<10))
	}
	return formatstest.TarGz(nil, members(names, bodies)...)
}

type discard struct{}

func (discard) Finding(core.Finding) {}
func (discard) Child(_ string, r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	return err
}

func (discard) ReadAt([]byte, int64) (int, error) { return 0, io.EOF }

func BenchmarkStreamFeed(b *testing.B) {
	data := benchTarGz()
	a := New(func(core.Finding) {}).(*Analyzer)
	a.UseFiles(discard{})
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		a.Begin(core.FileMeta{Size: -1})
		for off := 0; off < len(data); off += 64 << 10 {
			a.Feed(data[off:min(off+64<<10, len(data))])
		}
		a.Finish()
	}
}

func BenchmarkStreamOneCall(b *testing.B) {
	data := benchTarGz()
	b.SetBytes(int64(len(data)))
	size := func() int64 { return int64(len(data)) }
	for b.Loop() {
		archive.ExtractStream("gzip", bytes.NewReader(data), size, formats.NewMeter(formats.Budget{}), discard{})
	}
}

// members pairs names and bodies.
func members(names []string, bodies [][]byte) []formatstest.Member {
	out := make([]formatstest.Member, len(names))
	for i := range names {
		out[i] = formatstest.Member{Name: names[i], Data: bodies[i]}
	}
	return out
}
