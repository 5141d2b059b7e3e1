package engine

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"athena/internal/core"
	"athena/internal/modbuild"
	"athena/internal/rules"
)

// Directories of guests built once for the whole package.
var (
	builtinDir string // the real modules under modules/
	chaosDir   string // the chaos test guest
	wordsDir   string // the words test guest, which takes a setting
	splitDir   string // the splitter test guest, which extracts children
	cacheDir   string // compilation cache shared by the tests
)

func TestMain(m *testing.M) {
	os.Exit(func() int {
		tmp, err := os.MkdirTemp("", "engine-test-")
		if err != nil {
			panic(err)
		}
		defer os.RemoveAll(tmp)
		builtinDir, chaosDir, wordsDir = filepath.Join(tmp, "modules"), filepath.Join(tmp, "chaos"), filepath.Join(tmp, "words")
		splitDir = filepath.Join(tmp, "splitter")
		cacheDir = filepath.Join(tmp, "cache")
		if _, err := modbuild.BuildAll("../modules", builtinDir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		for dst, src := range map[string]string{chaosDir: "testdata/chaos", wordsDir: "testdata/words", splitDir: "testdata/splitter"} {
			if _, err := modbuild.Build(src, dst); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
		}
		return m.Run()
	}())
}

// newEngine starts an engine for a test and closes it at the end.
func newEngine(t testing.TB, cfg Config) *Engine {
	t.Helper()
	if cfg.CacheDir == "" {
		cfg.CacheDir = cacheDir
	}
	if cfg.Settings == nil {
		cfg.Settings = []Setting{builtinRules(t)}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(testWriter{t}, nil))
	}
	// Compiling the modules cold on a loaded machine takes a while.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	e, err := New(ctx, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { e.Close(context.Background()) })
	return e
}

// builtinRules is the built-in rule set as the engine setting the
// patterns module takes.
func builtinRules(t testing.TB) Setting {
	t.Helper()
	set, err := rules.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	return Setting{Kind: rules.Kind, Version: set.Version, Data: set.Plan}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// run analyses data in chunks of chunk bytes and returns the events.
func run(t testing.TB, e *Engine, name string, data []byte, chunk int) []core.Event {
	t.Helper()
	var events []core.Event
	j, err := e.NewJob(context.Background(), core.FileMeta{Name: name, Size: int64(len(data))}, func(ev core.Event) {
		events = append(events, ev)
	})
	if err != nil {
		t.Fatalf("NewJob: %v", err)
	}
	for len(data) > 0 {
		n := min(chunk, len(data))
		if err := j.Feed(data[:n]); err != nil {
			t.Fatalf("Feed: %v", err)
		}
		data = data[n:]
	}
	if _, err := j.Finish(); err != nil {
		t.Fatalf("Finish: %v", err)
	}
	return events
}

// findings returns the findings among events, optionally of one module.
func findings(events []core.Event, module string) []core.Finding {
	var out []core.Finding
	for _, ev := range events {
		if ev.Finding != nil && (module == "" || ev.Finding.Module == module) {
			out = append(out, *ev.Finding)
		}
	}
	return out
}

func verdictOf(t testing.TB, events []core.Event) core.Verdict {
	t.Helper()
	last := events[len(events)-1]
	if last.Verdict == nil {
		t.Fatalf("last event is %q, want a verdict", last.Type)
	}
	return *last.Verdict
}
