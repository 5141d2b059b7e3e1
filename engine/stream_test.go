package engine

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"slices"
	"testing"

	"athena/internal/core"
	"athena/internal/formats/formatstest"
	"athena/internal/testkit"
)

// Streamed containers: the file processor extracts a tar.gz as it arrives,
// the engine analyses each member between the parent's feeds, and no spool
// holds the upload.

// fedEvent is an event and how many chunks the parent had been fed when
// it came.
type fedEvent struct {
	core.Event
	fed int
}

// feedChunks runs a job chunk by chunk, recording for every event how many
// chunks had been fed; it returns them and the job, not finished.
func feedChunks(t *testing.T, e *Engine, name string, data []byte, chunk int, finish bool) ([]fedEvent, *Job, int) {
	t.Helper()
	var events []fedEvent
	fed := 0
	j, err := e.NewJob(t.Context(), core.FileMeta{Name: name, Size: int64(len(data))}, func(ev core.Event) {
		events = append(events, fedEvent{ev, fed})
	})
	if err != nil {
		t.Fatal(err)
	}
	chunks := 0
	for off := 0; off < len(data); off += chunk {
		if err := j.Feed(data[off:min(off+chunk, len(data))]); err != nil {
			t.Fatal(err)
		}
		fed++
		chunks++
	}
	if finish {
		if _, err := j.Finish(); err != nil {
			t.Fatal(err)
		}
	}
	return events, j, chunks
}

func TestTarGzMembersAreAnalysedWhileTheUploadGoesOn(t *testing.T) {
	e := newEngine(t, Config{ModuleDirs: []string{builtinDir}, Settings: []Setting{builtinRules(t)}})
	data := formatstest.TarGz(t,
		formatstest.Member{Name: "dir/eicar.com", Data: testkit.EICAR()},
		formatstest.Member{Name: "dir/a.bin", Data: formatstest.Noise(300 << 10)},
		formatstest.Member{Name: "dir/b.bin", Data: formatstest.Noise(300 << 10)},
	)
	events, _, chunks := feedChunks(t, e, "a.tar.gz", data, 64<<10, true)
	if chunks < 4 {
		t.Fatalf("the file has %d chunks; the test needs several", chunks)
	}
	var eicar, child *fedEvent
	for i, ev := range events {
		switch {
		case ev.Type == core.EventFinding && ev.Finding.Rule == "eicar_test_file" && eicar == nil:
			eicar = &events[i]
		case ev.Type == core.EventChild && ev.Child.Path == "a.tar.gz > dir/eicar.com":
			child = &events[i]
		}
	}
	if eicar == nil || eicar.Finding.Path != "a.tar.gz > dir/eicar.com" {
		t.Fatalf("eicar finding %+v, want one in a.tar.gz > dir/eicar.com", eicar)
	}
	if child == nil || child.Child.Label != core.LabelMalicious {
		t.Fatalf("child event %+v, want a.tar.gz > dir/eicar.com, malicious", child)
	}
	// Both came while the parent was being fed, before its last chunk.
	if eicar.fed >= chunks || child.fed >= chunks {
		t.Errorf("eicar finding after chunk %d, child event after chunk %d; want both before the last (%d)", eicar.fed, child.fed, chunks)
	}
	if got, want := childPaths(unfed(events)), []string{"a.tar.gz > dir/eicar.com malicious", "a.tar.gz > dir/a.bin clean", "a.tar.gz > dir/b.bin clean"}; !slices.Equal(got, want) {
		t.Errorf("children %q, want %q", got, want)
	}
	for i, ev := range events {
		if ev.Seq != int64(i+1) {
			t.Fatalf("event %d has seq %d", i, ev.Seq)
		}
	}
	if v := verdictOf(t, unfed(events)); v.Label != core.LabelMalicious || v.Partial || v.Size != int64(len(data)) {
		t.Errorf("verdict %+v, want malicious, complete, %d bytes", v, len(data))
	}
}

func unfed(evs []fedEvent) []core.Event {
	out := make([]core.Event, len(evs))
	for i, ev := range evs {
		out[i] = ev.Event
	}
	return out
}

// A streamed container needs no spool of the upload: the file processor
// says STREAM on the chunk that names the format, before the engine would
// spool it. A zip still gets one.
func TestStreamedUploadHoldsNoSpool(t *testing.T) {
	// Members of 4 KiB or more, so their own jobs say DONE on their first
	// chunk and spool nothing either.
	members := []formatstest.Member{{Name: "x.bin", Data: formatstest.Noise(400 << 10)}, {Name: "y.bin", Data: formatstest.Noise(5000)}}
	for _, tc := range []struct {
		name  string
		data  []byte
		spool bool
	}{
		{"a.tar.gz", formatstest.TarGz(t, members...), false},
		{"a.tar", formatstest.Tar(t, members...), false},
		{"a.tar.xz", formatstest.Compress(t, "xz", formatstest.Tar(t, members...)), false},
		{"a.tar.zst", formatstest.Compress(t, "zstd", formatstest.Tar(t, members...)), false},
		{"a.zip", zipOf(t, map[string][]byte{"x.bin": members[0].Data, "y.bin": members[1].Data}), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t, Config{ModuleDirs: []string{builtinDir}})
			var events []core.Event
			j, err := e.NewJob(t.Context(), core.FileMeta{Name: tc.name}, func(ev core.Event) { events = append(events, ev) })
			if err != nil {
				t.Fatal(err)
			}
			for off := 0; off < len(tc.data); off += 64 << 10 {
				j.Feed(tc.data[off:min(off+64<<10, len(tc.data))])
				if got := e.m.fileSpools.held.Load() > 0; got != tc.spool {
					t.Fatalf("after %d bytes, file spool bytes %d: spooled = %v, want %v", off, e.m.fileSpools.held.Load(), got, tc.spool)
				}
			}
			if _, err := j.Finish(); err != nil {
				t.Fatal(err)
			}
			if peak := e.m.fileSpools.peak.Load(); (peak > 0) != tc.spool {
				t.Errorf("peak file spool %d bytes, want spooled = %v", peak, tc.spool)
			}
			if n, b := e.m.fileSpools.held.Load(), e.m.childSpools.held.Load(); n != 0 || b != 0 {
				t.Errorf("spool bytes held after the job: file %d, child %d", n, b)
			}
			if got, want := childPaths(events), []string{tc.name + " > x.bin clean", tc.name + " > y.bin clean"}; !slices.Equal(got, want) {
				t.Errorf("children %q, want %q", got, want)
			}
		})
	}
}

// gzipBomb is a multi-member gzip of zeros: copies of one member holding
// 8 MiB, about 1,000:1.
func gzipBomb(t testing.TB, copies int) []byte {
	var one bytes.Buffer
	gw, _ := gzip.NewWriterLevel(&one, gzip.BestCompression)
	gw.Write(make([]byte, 8<<20))
	gw.Close()
	return bytes.Repeat(one.Bytes(), copies)
}

func TestGzipBombIsStoppedDuringTheStream(t *testing.T) {
	e := newEngine(t, Config{ModuleDirs: []string{builtinDir}, Only: []string{"fileproc"}})
	data := gzipBomb(t, 128) // 1 GiB of zeros in about 1 MiB
	events, _, chunks := feedChunks(t, e, "bomb.gz", data, 64<<10, true)
	var budget, bomb *fedEvent
	for i, ev := range events {
		if ev.Type != core.EventFinding {
			continue
		}
		switch ev.Finding.Kind {
		case "budget_exceeded":
			budget = &events[i]
		case "archive_bomb":
			bomb = &events[i]
		}
	}
	if budget == nil || budget.Finding.Detail["budget"] != "ratio" || bomb == nil {
		t.Fatalf("budget finding %+v, bomb finding %+v: want the ratio budget and a bomb", budget, bomb)
	}
	if budget.fed >= chunks {
		t.Errorf("the bomb was stopped after chunk %d of %d, want during the stream", budget.fed, chunks)
	}
	kids := childPaths(unfed(events))
	if len(kids) != 1 || kids[0] != "bomb.gz > data clean" {
		t.Fatalf("children %q, want the cut data", kids)
	}
	for _, ev := range events {
		// The ratio is 100 against the declared size: the cut child holds
		// about 100 times the file, not the gigabyte.
		if ev.Type == core.EventChild && ev.Child.Size > 101*int64(len(data)) {
			t.Errorf("child of %d bytes, past the ratio budget", ev.Child.Size)
		}
	}
	if v := verdictOf(t, unfed(events)); v.Label != core.LabelMalicious {
		t.Errorf("verdict %+v, want malicious (a bomb)", v)
	}
}

func TestTruncatedTarGzKeepsTheCompleteMembers(t *testing.T) {
	e := newEngine(t, Config{ModuleDirs: []string{builtinDir}, Settings: []Setting{builtinRules(t)}})
	full := formatstest.TarGz(t,
		formatstest.Member{Name: "first/eicar.com", Data: testkit.EICAR()},
		formatstest.Member{Name: "second.bin", Data: formatstest.Noise(200 << 10)},
		formatstest.Member{Name: "third.bin", Data: formatstest.Noise(200 << 10)},
	)
	data := full[:len(full)-100<<10] // in the middle of third.bin
	events, _, _ := feedChunks(t, e, "cut.tar.gz", data, 64<<10, true)
	evs := unfed(events)
	kids := childPaths(evs)
	if len(kids) < 2 || kids[0] != "cut.tar.gz > first/eicar.com malicious" || kids[1] != "cut.tar.gz > second.bin clean" {
		t.Errorf("children %q, want the complete members first/eicar.com and second.bin analysed", kids)
	}
	var truncated []core.Finding
	for _, f := range findingsOf(evs, "malformed") {
		if f.Detail["truncated"] == true {
			truncated = append(truncated, f)
		}
	}
	if len(truncated) == 0 {
		t.Fatalf("malformed findings %+v, want one saying truncated", findingsOf(evs, "malformed"))
	}
	if v := verdictOf(t, evs); v.Label != core.LabelMalicious {
		t.Errorf("verdict %+v, want malicious (the complete member counts)", v)
	}
}

// Aborting the parent mid-stream frees the child it was extracting and any
// waiting: no bytes held, no temporary file left.
func TestAbortMidStreamFreesChildren(t *testing.T) {
	dir := t.TempDir()
	e := newEngine(t, Config{ModuleDirs: []string{builtinDir}, Only: []string{"fileproc"}, SpoolMemory: 64 << 10, SpoolDir: dir})
	data := formatstest.TarGz(t, formatstest.Member{Name: "big.bin", Data: formatstest.Noise(1 << 20)}, formatstest.Member{Name: "next.bin", Data: formatstest.Noise(1 << 20)})
	j, err := e.NewJob(t.Context(), core.FileMeta{Name: "a.tar.gz"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	j.Feed(data[:512<<10])
	if e.m.childSpools.held.Load() == 0 {
		t.Fatal("no child being extracted after half a member")
	}
	if left, _ := os.ReadDir(dir); len(left) == 0 {
		t.Fatal("the open child did not reach its temporary file (the test needs it)")
	}
	j.Abort()
	if held := e.m.childSpools.held.Load(); held != 0 {
		t.Errorf("%d child bytes held after Abort", held)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("spool files left behind: %v", left)
	}
	// The instance goes back to the pool mid-stream; the next file on it
	// starts clean.
	events := run(t, e, "next.tar.gz", formatstest.TarGz(t, formatstest.Member{Name: "n.txt", Data: []byte("next\n")}), 64<<10)
	if got := childPaths(events); !slices.Equal(got, []string{"next.tar.gz > n.txt clean"}) {
		t.Errorf("children of the next file %q", got)
	}
}

// benchTarGz is a tar.gz of 64 members of 256 KiB of noise.
func benchTarGz(b *testing.B) []byte {
	var members []formatstest.Member
	for i := range 64 {
		m := formatstest.Noise(256 << 10)
		copy(m, fmt.Sprintf("member %d text, then noise\n", i))
		members = append(members, formatstest.Member{Name: fmt.Sprintf("dir/m%02d.bin", i), Data: m})
	}
	return formatstest.TarGz(b, members...)
}

func BenchmarkFileprocTarGz(b *testing.B) {
	benchFileproc(b, "many.tar.gz", benchTarGz(b))
}

// Cancelling the parent while its streamed members are analysed stops
// the analysis: the members still waiting are freed unanalysed.
func TestCancelStopsPendingChildren(t *testing.T) {
	e := newEngine(t, Config{ModuleDirs: []string{builtinDir}, Only: []string{"fileproc"}})
	var members []formatstest.Member
	for i := range 10 {
		members = append(members, formatstest.Member{Name: fmt.Sprintf("m%d.bin", i), Data: formatstest.Noise(3000 + i)})
	}
	members = append(members, formatstest.Member{Name: "tail.bin", Data: formatstest.Noise(300 << 10)})
	data := formatstest.TarGz(t, members...)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var children []string
	j, err := e.NewJob(ctx, core.FileMeta{Name: "a.tar.gz"}, func(ev core.Event) {
		if ev.Type == core.EventChild {
			children = append(children, ev.Child.Path)
			cancel() // while the other members wait
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	j.Feed(data[:128<<10]) // the small members end in this feed
	if len(children) != 1 {
		t.Errorf("children analysed %q, want only the first", children)
	}
	j.Abort()
	if n, held := e.m.childSpools.held.Load(), e.m.fileSpools.held.Load(); n != 0 || held != 0 {
		t.Errorf("spool bytes held after Abort: child %d, file %d", n, held)
	}
}
