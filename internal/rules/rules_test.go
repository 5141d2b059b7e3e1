package rules

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"athena/internal/natsembed/natstest"
	"athena/internal/testkit"
	"athena/internal/yara/ast"
	"athena/internal/yara/yaragen"
)

const (
	ruleA = "rule a { strings: $x = \"alpha\" condition: $x }\n"
	ruleB = "rule b { strings: $x = \"beta\" condition: $x }\n"
)

func src(name, data string) Source { return Source{Name: name, Data: []byte(data)} }

func TestBuiltinCompiles(t *testing.T) {
	set, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	if set.Rules < 5 || !strings.HasPrefix(set.Version, "rs-") || len(set.Version) != 19 {
		t.Fatalf("built-in set: %d rules, version %q", set.Rules, set.Version)
	}
	if _, err := Decode(set.Plan); err != nil {
		t.Fatalf("the plan does not decode: %v", err)
	}
}

func TestVersionFollowsTheRules(t *testing.T) {
	a1, err := Compile([]Source{src("a.yar", ruleA)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	a2, err := Compile([]Source{src("other-name.yar", ruleA)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ab, err := Compile([]Source{src("a.yar", ruleA), src("b.yar", ruleB)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a1.Version != a2.Version {
		t.Errorf("same rules, versions %s and %s", a1.Version, a2.Version)
	}
	if a1.Version == ab.Version {
		t.Errorf("another rule, same version %s", a1.Version)
	}
	if ab.Rules != 2 {
		t.Errorf("%d rules, want 2", ab.Rules)
	}
}

func TestCompileErrorsHavePositions(t *testing.T) {
	cases := []struct {
		name string
		srcs []Source
		want []string // each a prefix of one error line, in order
	}{
		{"syntax", []Source{src("bad.yar", "rule a {\n  condition: (\n}\n")}, []string{"bad.yar:3:"}},
		{"undefined string", []Source{src("u.yar", "rule a {\n condition: $nope\n}\n")}, []string{"u.yar:2:"}},
		{"duplicate across files", []Source{src("one.yar", ruleA), src("two.yar", "\n"+ruleA)}, []string{"two.yar:2:1: duplicated identifier \"a\""}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Compile(c.srcs, nil)
			var list ast.ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("error %v (%T), want an ast.ErrorList", err, err)
			}
			if len(list) < len(c.want) {
				t.Fatalf("errors %v, want %d", list, len(c.want))
			}
			for i, w := range c.want {
				if !strings.HasPrefix(list[i].Error(), w) {
					t.Errorf("error %d is %q, want it to start with %q", i, list[i].Error(), w)
				}
			}
		})
	}
}

func TestBundleRoundTrip(t *testing.T) {
	in := []Source{src("dir/a.yar", ruleA), src("b.yara", ruleB)}
	b, err := Bundle(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Unbundle(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 || out[0].Name != Bucket+"/a.yar" || string(out[1].Data) != ruleB {
		t.Fatalf("unbundled %+v", out)
	}
}

func TestUnbundleRejects(t *testing.T) {
	tarOf := func(hdr *tar.Header, data string) []byte {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		hdr.Size = int64(len(data))
		tw.WriteHeader(hdr)
		tw.Write([]byte(data))
		tw.Close()
		return buf.Bytes()
	}
	cases := map[string][]byte{
		"not a tar":      []byte("rule a { condition: true }"),
		"empty":          tarOf(&tar.Header{Name: "x.txt", Typeflag: tar.TypeReg, Mode: 0o644}, "")[:0],
		"not a rule":     tarOf(&tar.Header{Name: "x.txt", Typeflag: tar.TypeReg, Mode: 0o644}, "hello"),
		"path":           tarOf(&tar.Header{Name: "../x.yar", Typeflag: tar.TypeReg, Mode: 0o644}, ruleA),
		"symlink":        tarOf(&tar.Header{Name: "x.yar", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"}, ""),
		"truncated data": tarOf(&tar.Header{Name: "x.yar", Typeflag: tar.TypeReg, Mode: 0o644}, ruleA)[:530],
	}
	for name, b := range cases {
		if _, err := Unbundle(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func FuzzUnbundle(f *testing.F) {
	b, _ := Bundle([]Source{src("a.yar", ruleA)})
	f.Add(b)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		srcs, err := Unbundle(b)
		if err == nil && len(srcs) == 0 {
			t.Fatal("no error and no sources")
		}
	})
}

// applied records the versions an Apply saw.
type applied struct {
	mu       sync.Mutex
	versions []string
	refuse   string // a version the engine would reject
}

func (a *applied) apply(s *Set) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if s.Version == a.refuse {
		return errors.New("refused")
	}
	a.versions = append(a.versions, s.Version)
	return nil
}

func (a *applied) last() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.versions) == 0 {
		return ""
	}
	return a.versions[len(a.versions)-1]
}

func (a *applied) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.versions)
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestWatchBucket(t *testing.T) {
	js := natstest.JetStream(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()

	// A set pushed before the watch starts is applied at once.
	v1, err := Push(ctx, js, []Source{src("a.yar", ruleA)})
	if err != nil {
		t.Fatal(err)
	}
	var a applied
	if err := WatchBucket(ctx, js, a.apply, quietLog()); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 10*time.Second, "v1 applied", func() bool { return a.last() == v1.Version })

	// Push refuses a broken set; one written past it is rejected by the
	// watcher, and the old set stays.
	broken := []Source{src("bad.yar", "rule a { condition: $nope }")}
	if _, err := Push(ctx, js, broken); err == nil {
		t.Fatal("Push accepted a broken rule set")
	}
	obs, err := js.ObjectStore(ctx, Bucket)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Bundle(broken)
	if _, err := obs.PutBytes(ctx, Object, b); err != nil {
		t.Fatal(err)
	}
	// A set the engine refuses is not counted as applied either.
	v2, err := Compile([]Source{src("a.yar", ruleA), src("b.yar", ruleB)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	a.mu.Lock()
	a.refuse = v2.Version
	a.mu.Unlock()
	if _, err := Push(ctx, js, []Source{src("a.yar", ruleA), src("b.yar", ruleB)}); err != nil {
		t.Fatal(err)
	}
	// Then a good one: applied, and the broken and refused ones never were.
	v3, err := Push(ctx, js, []Source{src("b.yar", ruleB)})
	if err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 10*time.Second, "v3 applied", func() bool { return a.last() == v3.Version })
	if n := a.count(); n != 2 {
		t.Errorf("applied %v, want [v1 v3]", a.versions)
	}
}

func TestWatchDir(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "a.yar")
	write := func(s string) {
		if err := os.WriteFile(file, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(ruleA)
	srcs, err := ReadPaths([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var a applied
	go WatchDir(ctx, []string{dir}, 10*time.Millisecond, Digest(srcs), a.apply, quietLog())

	write("rule a { condition: $nope }") // broken: not applied
	good, err := Compile([]Source{src(file, ruleB)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	write(ruleB)
	testkit.WaitFor(t, 10*time.Second, "the changed file applied", func() bool { return a.last() == good.Version })
	if n := a.count(); n != 1 {
		t.Errorf("applied %v, want only the good change", a.versions)
	}
}

// TestGeneratedSetDecodes compiles the conformance rule set (600 rules of
// every feature) and decodes its plan as the pattern module does: a plan
// whose last rules index strings far beyond the bytes left once broke
// Decode.
func TestGeneratedSetDecodes(t *testing.T) {
	src, _ := yaragen.Generate(yaragen.Options{Seed: 1})
	set, err := Compile([]Source{{Name: "gen.yar", Data: src}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Decode(set.Plan)
	if err != nil {
		t.Fatal(err)
	}
	if p.Rules() != set.Rules {
		t.Errorf("decoded %d rules, compiled %d", p.Rules(), set.Rules)
	}
}
