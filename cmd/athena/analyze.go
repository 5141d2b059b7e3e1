package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/prometheus/client_golang/prometheus"

	"athena/engine"
	"athena/internal/core"
)

func runAnalyze(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("analyze", "analyze [flags] FILE...|-", stderr)
	var ef engineFlags
	ef.register(fs)
	chunk := fs.Int("chunk-size", 64<<10, "bytes read from a file per chunk")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return exitError
	}
	eng, err := newEngine(ctx, ef, stderr, nil)
	if err != nil {
		return err
	}
	defer eng.Close(context.Background())

	out := &ndjson{w: stdout}
	worst := exitClean
	for _, path := range fs.Args() {
		v, err := analyzeFile(ctx, eng, path, *chunk, out)
		if err != nil {
			fmt.Fprintf(stderr, "athena: %s: %v\n", path, err)
			worst = exitError
			continue
		}
		if v.Label != core.LabelClean && worst == exitClean {
			worst = exitDetection
		}
	}
	if out.err != nil {
		return out.err
	}
	if worst != exitClean {
		return worst
	}
	return nil
}

func analyzeFile(ctx context.Context, eng *engine.Engine, path string, chunk int, out *ndjson) (core.Verdict, error) {
	f, meta, err := openInput(path)
	if err != nil {
		return core.Verdict{}, err
	}
	defer f.Close()
	return eng.Analyze(ctx, meta, f, chunk, func(ev core.Event) {
		ev.Job = meta.Name
		out.write(ev)
	})
}

// openInput opens a file, or stdin for "-".
func openInput(path string) (io.ReadCloser, core.FileMeta, error) {
	if path == "-" {
		return io.NopCloser(os.Stdin), core.FileMeta{Name: "-", Size: -1}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, core.FileMeta{}, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, core.FileMeta{}, err
	}
	if st.IsDir() {
		f.Close()
		return nil, core.FileMeta{}, fmt.Errorf("is a directory")
	}
	return f, core.FileMeta{Name: path, Size: st.Size()}, nil
}

func newEngine(ctx context.Context, ef engineFlags, stderr io.Writer, reg prometheus.Registerer) (*engine.Engine, error) {
	set, err := loadRules(ef.rules)
	if err != nil {
		return nil, err
	}
	settings := []engine.Setting{ruleSetting(set)}
	if ef.passwords != "" {
		pw, err := loadPasswords(ef.passwords)
		if err != nil {
			return nil, err
		}
		settings = append(settings, pw)
	}
	return engine.New(ctx, engine.Config{
		Only:            ef.only,
		NoDigests:       ef.noDigests,
		Settings:        settings,
		ModuleDirs:      []string{ef.modules},
		ExtraModuleDirs: ef.extra,
		CacheDir:        ef.cacheDir,
		Runtime:         ef.runtime,
		JobTimeout:      ef.jobTimeout,
		Concurrency:     ef.concurrency,
		Logger:          newLogger(stderr, ef.logLevel),
		Registerer:      reg,
		ProfileLabels:   ef.profileLabels,
	})
}

// ndjson writes events one per line and keeps the first write error.
type ndjson struct {
	w   io.Writer
	err error
}

func (n *ndjson) write(ev core.Event) {
	if n.err != nil {
		return
	}
	line, err := ev.MarshalLine()
	if err == nil {
		_, err = n.w.Write(line)
	}
	n.err = err
}
