package filewatch

import (
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"athena/internal/testkit"
)

func TestStamp(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.yar")
	os.WriteFile(a, []byte("one"), 0o644)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("x"), 0o644)
	yar := func(name string) bool { return strings.HasSuffix(name, ".yar") }
	s1 := Stamp([]string{dir}, yar)
	if !strings.Contains(s1, "a.yar") || strings.Contains(s1, "notes.txt") {
		t.Fatalf("stamp %q: want a.yar only", s1)
	}
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("changed"), 0o644)
	if s := Stamp([]string{dir}, yar); s != s1 {
		t.Errorf("a file keep refuses changed the stamp: %q", s)
	}
	os.WriteFile(a, []byte("one more"), 0o644)
	if s := Stamp([]string{dir}, yar); s == s1 {
		t.Error("a changed size left the stamp as it was")
	}
	if s := Stamp([]string{filepath.Join(dir, "gone")}, nil); !strings.Contains(s, "missing") {
		t.Errorf("stamp of a missing file %q", s)
	}
}

// Poll calls changed at its first check and then only after a change.
func TestPoll(t *testing.T) {
	path := filepath.Join(t.TempDir(), "list.txt")
	os.WriteFile(path, []byte("one"), 0o644)
	var calls atomic.Int32
	go Poll(t.Context(), []string{path}, nil, 5*time.Millisecond, func() { calls.Add(1) })
	testkit.WaitFor(t, 5*time.Second, "the first check", func() bool { return calls.Load() == 1 })
	os.WriteFile(path, []byte("one and two"), 0o644)
	testkit.WaitFor(t, 5*time.Second, "the change to be seen", func() bool { return calls.Load() == 2 })
	// A check of an unchanged file calls nothing: were it to, the count
	// would run past 2 and 3 (one check every 5 ms) and these waits for
	// exact counts would time out.
	os.WriteFile(path, []byte("one, two, three"), 0o644)
	testkit.WaitFor(t, 5*time.Second, "the second change", func() bool { return calls.Load() == 3 })
}
