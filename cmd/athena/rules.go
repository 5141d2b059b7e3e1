package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"athena/engine"
	"athena/internal/core"
	"athena/internal/rules"
	"athena/internal/yara/scan"
	"athena/modules/patterns"
)

// loadRules compiles the rule files and directories given, or the built-in
// set when there are none.
//
// It runs once, at start-up, and the compiler's allocations are mostly
// short-lived: with the collector held off until the heap nears 256 MiB
// (or a lower GOMEMLIMIT), a 10,000-rule set loads in a fifth less CPU
// time (BENCHMARKS.md, "YARA rules").
func loadRules(paths []string) (*rules.Set, error) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(min(debug.SetMemoryLimit(-1), 256<<20)))
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	if len(paths) == 0 {
		return rules.Builtin()
	}
	return rules.Load(paths)
}

func ruleSetting(s *rules.Set) engine.Setting {
	return engine.Setting{Kind: rules.Kind, Version: s.Version, Data: s.Plan}
}

// watchRules keeps an engine's rule set current: from the --rules paths
// (checked every poll) and from the shared bucket. The last change wins.
func watchRules(ctx context.Context, eng *engine.Engine, paths []string, poll time.Duration, js jetstream.JetStream, log *slog.Logger) error {
	apply := func(s *rules.Set) error { return eng.Configure(ctx, ruleSetting(s)) }
	if len(paths) > 0 && poll > 0 {
		srcs, err := rules.ReadPaths(paths)
		if err != nil {
			return err
		}
		go rules.WatchDir(ctx, paths, poll, rules.Digest(srcs), apply, log.With("component", "rules"))
	}
	if js != nil {
		return rules.WatchBucket(ctx, js, apply, log.With("component", "rules"))
	}
	return nil
}

func runRules(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "check":
			return runRulesCheck(args[1:], stdout, stderr)
		case "scan":
			return runRulesScan(ctx, args[1:], stdout, stderr)
		case "push":
			return runRulesPush(ctx, args[1:], stdout, stderr)
		}
	}
	fmt.Fprintln(stderr, `Usage: athena rules check RULES...
       athena rules scan [-r] [-s] [flags] RULES PATH...
       athena rules push [--nats URL] RULES...

RULES is a YARA rule file or a directory of .yar/.yara files.
check validates and compiles them; errors are printed as file:line:col: message.
scan prints matches in yara's own format (rule path; with -s the string matches),
scanning through the same pattern module and engine the pipeline uses.
push stores them in NATS (bucket ATHENA_RULES) for every engine to apply.`)
	return exitError
}

// printRuleErrors prints a compile error, one problem per line.
func printRuleErrors(w io.Writer, err error) {
	fmt.Fprintln(w, err)
}

func runRulesCheck(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("rules check", "rules check RULES...", stderr)
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return exitError
	}
	set, err := rules.Load(fs.Args())
	if err != nil {
		printRuleErrors(stderr, err)
		return exitDetection
	}
	fmt.Fprintf(stdout, "%d rules in %d files: ok (version %s, plan %d bytes)\n", set.Rules, len(set.Files), set.Version, len(set.Plan))
	return nil
}

func runRulesPush(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("rules push", "rules push [--nats URL] RULES...", stderr)
	natsURL := fs.String("nats", nats.DefaultURL, "NATS server URL (with JetStream)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return exitError
	}
	srcs, err := rules.ReadPaths(fs.Args())
	if err != nil {
		return err
	}
	nc, js, err := connectNATS(ctx, *natsURL, "athena-rules-push", newLogger(stderr, slog.LevelWarn))
	if err != nil {
		return err
	}
	defer nc.Close()
	set, err := rules.Push(ctx, js, srcs)
	if err != nil {
		printRuleErrors(stderr, err)
		return exitDetection
	}
	fmt.Fprintf(stdout, "pushed %d rules (version %s) to %s\n", set.Rules, set.Version, rules.Bucket)
	return nil
}

func runRulesScan(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("rules scan", "rules scan [-r] [-s] [flags] RULES PATH...", stderr)
	var ef engineFlags
	ef.register(fs)
	recursive := fs.Bool("r", false, "scan directories recursively")
	showStrings := fs.Bool("s", false, "print the matching strings, as yara -s does")
	threads := fs.Int("p", runtime.GOMAXPROCS(0), "files scanned at once")
	chunk := fs.Int("chunk-size", 64<<10, "bytes read from a file per chunk")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() < 2 {
		fs.Usage()
		return exitError
	}
	ef.rules = stringList{fs.Arg(0)}
	ef.only = []string{"patterns"}
	ef.noDigests = true // yara's output has none
	ef.concurrency = max(*threads, 1)
	eng, err := newEngine(ctx, ef, stderr, nil)
	if err != nil {
		return err
	}
	defer eng.Close(context.Background())

	var files []string
	for _, p := range fs.Args()[1:] {
		files, err = collectFiles(files, p, *recursive)
		if err != nil {
			fmt.Fprintf(stderr, "error scanning %s: %v\n", p, err)
		}
	}
	// Files are scanned concurrently and printed in the order listed.
	results := make([][]byte, len(files))
	next := make(chan int)
	var wg sync.WaitGroup
	failed := false
	var mu sync.Mutex
	for range ef.concurrency {
		wg.Go(func() {
			for i := range next {
				out, err := scanOne(ctx, eng, files[i], *chunk, *showStrings)
				if err != nil {
					mu.Lock()
					failed = true
					fmt.Fprintf(stderr, "error scanning %s: %v\n", files[i], err)
					mu.Unlock()
				}
				results[i] = out
			}
		})
	}
	for i := range files {
		next <- i
	}
	close(next)
	wg.Wait()
	w := bufio.NewWriter(stdout)
	for _, r := range results {
		w.Write(r)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if failed {
		return exitError
	}
	return nil
}

// collectFiles adds p, or the regular files under it, to files.
func collectFiles(files []string, p string, recursive bool) ([]string, error) {
	st, err := os.Stat(p)
	if err != nil {
		return files, err
	}
	if !st.IsDir() {
		return append(files, p), nil
	}
	err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != p && !recursive {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() {
			files = append(files, path)
		}
		return nil
	})
	return files, err
}

// scanOne analyses one file with the pattern module and formats its
// matches as yara prints them: matching rules in rule-set order, each
// followed by its string matches.
func scanOne(ctx context.Context, eng *engine.Engine, path string, chunk int, showStrings bool) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	meta := core.FileMeta{Name: path, Size: -1}
	if showStrings {
		meta.Options = map[string]string{"strings": "all"}
	}
	type ruleOut struct {
		index int
		lines []byte
	}
	byRule := map[string]*ruleOut{}
	var failure error
	_, err = eng.Analyze(ctx, meta, f, chunk, func(ev core.Event) {
		if ev.Type != core.EventFinding {
			return
		}
		fd := ev.Finding
		switch fd.Kind {
		case patterns.Kind:
			index, _ := fd.Detail["rule_index"].(float64)
			byRule[fd.Rule] = &ruleOut{index: int(index), lines: fmt.Appendf(nil, "%s %s\n", fd.Rule, path)}
		case patterns.KindStrings:
			if r := byRule[fd.Rule]; r != nil {
				r.lines = appendStrings(r.lines, fd)
			}
		case core.KindAnalysisFailed:
			failure = fmt.Errorf("pattern module failed: %v", fd.Detail["error"])
		}
	})
	if err == nil {
		err = failure
	}
	matched := slices.SortedFunc(maps.Values(byRule), func(a, b *ruleOut) int { return a.index - b.index })
	var out []byte
	for _, r := range matched {
		out = append(out, r.lines...)
	}
	return out, err
}

// appendStrings formats a pattern_strings finding as yara -s lines.
func appendStrings(out []byte, fd *core.Finding) []byte {
	list, _ := fd.Detail["strings"].([]any)
	for _, item := range list {
		m, _ := item.(map[string]any)
		var sm scan.StringMatch
		sm.ID, _ = m["id"].(string)
		off, _ := m["offset"].(float64)
		length, _ := m["length"].(float64)
		sm.Offset, sm.Length = int64(off), int(length)
		sm.Hex, _ = m["hex"].(bool)
		if s, ok := m["data"].(string); ok {
			sm.Data, _ = base64.StdEncoding.DecodeString(s)
		}
		out = append(sm.AppendYara(out), '\n')
	}
	return out
}
