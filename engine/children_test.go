package engine

import (
	"os"
	"slices"
	"strings"
	"testing"

	"athena/internal/core"
)

// treeRun analyses data (the splitter's @ lines) as "top.txt" with the
// splitter and the built-in modules, and returns its events.
func treeRun(t *testing.T, cfg Config, data string) []core.Event {
	t.Helper()
	cfg.ModuleDirs = []string{builtinDir, splitDir}
	e := newEngine(t, cfg)
	var events []core.Event
	j, err := e.NewJob(t.Context(), core.FileMeta{Name: "top.txt", Size: int64(len(data))}, func(ev core.Event) { events = append(events, ev) })
	if err != nil {
		t.Fatal(err)
	}
	j.Feed([]byte(data))
	if _, err := j.Finish(); err != nil {
		t.Fatal(err)
	}
	for i, ev := range events {
		if ev.Seq != int64(i+1) {
			t.Fatalf("event %d has seq %d", i, ev.Seq)
		}
	}
	return events
}

func childPaths(events []core.Event) []string {
	var out []string
	for _, ev := range events {
		if ev.Type == core.EventChild {
			out = append(out, ev.Child.Path+" "+ev.Child.Label)
		}
	}
	return out
}

func findingsOf(events []core.Event, kind string) []core.Finding {
	var out []core.Finding
	for _, ev := range events {
		if ev.Type == core.EventFinding && ev.Finding.Kind == kind {
			out = append(out, *ev.Finding)
		}
	}
	return out
}

func TestChildFindingRollsUpWithItsPath(t *testing.T) {
	events := treeRun(t, Config{}, "@eicar docs/a.txt\n@many 2\n")
	if got, want := childPaths(events), []string{"top.txt > docs/a.txt malicious", "top.txt > c-0 clean", "top.txt > c-1 clean"}; !slices.Equal(got, want) {
		t.Errorf("child events %q, want %q", got, want)
	}
	var eicar *core.Finding
	for _, f := range findingsOf(events, "pattern") {
		if f.Rule == "eicar_test_file" {
			eicar = &f
		}
	}
	if eicar == nil || eicar.Path != "top.txt > docs/a.txt" || eicar.Offset != 0 {
		t.Fatalf("eicar finding %+v, want one at offset 0 of top.txt > docs/a.txt", eicar)
	}
	v := verdictOf(t, events)
	if v.Label != core.LabelMalicious || v.Partial || !slices.ContainsFunc(v.Reasons, func(r string) bool { return strings.HasSuffix(r, "in top.txt > docs/a.txt") }) {
		t.Errorf("verdict %+v, want malicious, complete, with a reason naming the child", v)
	}
}

func TestNestedChildrenAndTheDepthBudget(t *testing.T) {
	events := treeRun(t, Config{}, "@nest 2\n")
	want := "top.txt > level-2 > level-1 > level-0 > deep.txt"
	if f := findingsOf(events, "pattern"); len(f) != 1 || f[0].Path != want {
		t.Fatalf("pattern findings %+v, want eicar in %s", f, want)
	}
	if got := childPaths(events); len(got) != 4 || got[0] != want+" malicious" || got[3] != "top.txt > level-2 malicious" {
		t.Errorf("child events %q: want the deepest first, each malicious", got)
	}

	events = treeRun(t, Config{MaxDepth: 2}, "@nest 2\n")
	budget := findingsOf(events, core.KindBudgetExceeded)
	if len(budget) != 1 || budget[0].Detail["budget"] != "depth" || budget[0].Path != "top.txt > level-2 > level-1" {
		t.Fatalf("budget findings %+v, want one depth finding in top.txt > level-2 > level-1", budget)
	}
	if v := verdictOf(t, events); v.Label != core.LabelClean || !v.Partial {
		t.Errorf("verdict %+v, want clean and partial (the deep child was not analysed)", v)
	}
}

func TestChildrenBudget(t *testing.T) {
	events := treeRun(t, Config{MaxChildren: 5}, "@many 20\n")
	if n := len(childPaths(events)); n != 5 {
		t.Errorf("%d children analysed, want 5", n)
	}
	if b := findingsOf(events, core.KindBudgetExceeded); len(b) != 15 || b[0].Detail["budget"] != "children" {
		t.Errorf("budget findings %+v, want 15 children ones", b)
	}
	if len(findingsOf(events, "refused")) != 15 {
		t.Error("the module was not told its children were refused")
	}
}

func TestBigChildSpoolsToDiskAndIsCut(t *testing.T) {
	dir := t.TempDir()
	events := treeRun(t, Config{SpoolMemory: 1 << 20, SpoolDir: dir}, "@big 3000000\n")
	if got := childPaths(events); len(got) != 1 || got[0] != "top.txt > big.bin clean" {
		t.Fatalf("children %q", got)
	}
	for _, ev := range events {
		if ev.Type == core.EventChild && ev.Child.Size != 3_000_000 {
			t.Errorf("child size %d, want 3000000", ev.Child.Size)
		}
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("spool files left behind: %v", left)
	}

	events = treeRun(t, Config{MaxChildBytes: 1 << 20}, "@big 3000000\n")
	if got := childPaths(events); len(got) != 1 || got[0] != "top.txt > big.bin (truncated) clean" {
		t.Errorf("children %q, want the truncated child analysed", got)
	}
	if b := findingsOf(events, core.KindBudgetExceeded); len(b) != 1 || b[0].Detail["budget"] != "child_bytes" {
		t.Errorf("budget findings %+v", b)
	}
	if v := verdictOf(t, events); !v.Partial {
		t.Errorf("verdict %+v, want partial", v)
	}
}

func TestReadAtSeesTheWholeFile(t *testing.T) {
	data := "@head and some more bytes\n"
	events := treeRun(t, Config{}, data)
	if f := findingsOf(events, "head"); len(f) != 1 || f[0].Detail["head"] != data[:16] {
		t.Fatalf("head findings %+v, want %q", f, data[:16])
	}
}

// Without a file-access module a job spools nothing and read_at answers
// -1: the chaos guest never asks, so check the job's gate directly.
func TestFilesOnlyForFileAccessModules(t *testing.T) {
	e := newEngine(t, Config{ModuleDirs: []string{chaosDir}})
	j, err := e.NewJob(t.Context(), core.FileMeta{Name: "f"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Abort()
	if j.spool != nil {
		t.Error("a job without file-access modules spools its file")
	}
	if n := j.readAt(make([]byte, 4), 0); n != -1 {
		t.Errorf("readAt without a spool = %d, want -1", n)
	}
}

// During a feed, read_at sees the spool and then the chunk being fed,
// which is spooled only after the modules had it.
func TestReadAtDuringFeedSpansSpoolAndChunk(t *testing.T) {
	e := newEngine(t, Config{ModuleDirs: []string{splitDir}})
	j, err := e.NewJob(t.Context(), core.FileMeta{Name: "f"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Abort()
	j.Feed([]byte("first chunk;"))
	if j.spool == nil || j.spool.Size() != 12 {
		t.Fatalf("spool after the first feed: %+v, want its 12 bytes", j.spool)
	}
	// As inside the next feed's module calls.
	j.cur = []byte("second")
	j.size += int64(len(j.cur))
	for _, tc := range []struct {
		off  int64
		n    int
		want string
	}{
		{0, 5, "first"},
		{6, 12, "chunk;second"},
		{12, 20, "second"},
		{15, 3, "ond"},
		{18, 4, ""},
	} {
		p := make([]byte, tc.n)
		n := j.readAt(p, tc.off)
		if string(p[:max(n, 0)]) != tc.want {
			t.Errorf("readAt(%d, %d) = %q, want %q", tc.off, tc.n, p[:max(n, 0)], tc.want)
		}
	}
	if n := j.readAt(make([]byte, 1), 19); n != -1 {
		t.Errorf("readAt past what arrived = %d, want -1", n)
	}
}
