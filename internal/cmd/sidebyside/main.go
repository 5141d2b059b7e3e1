// Command sidebyside measures Athena against yara and ClamAV on the same
// machine, corpus and rules, in one invocation:
//
//   - `yara -p 1` and `yara -p 2` over the corpus directory;
//   - `athena rules scan -p 1` and `-p 2` (the pattern module in one engine);
//   - Athena end to end: `athena serve` with the rule set and 2 engines,
//     fed by `athena bench` (4 HTTP/2 clients); CPU is the serve process
//     tree's (gateway, NATS and engines) during the bench;
//   - clamd: a private clamd loaded with signatures equivalent to the rule
//     set (see buildSigs), fed every file over 4 INSTREAM connections; CPU
//     is clamd's during the scan, after its database load;
//   - the verdict cache's Redis operations (Get, GetMany, Put of
//     internal/cache against a private redis-server): p50 and p99 latency
//     against the product target of 5 ms.
//
// It reports wall and CPU seconds, MB/s, MB per CPU-second (user plus
// system time) and the ratios against yara -p 2 and clamd, as a Markdown
// table (stdout, and --md FILE) and, with --out FILE, as JSON.
//
//	go run ./internal/cmd/sidebyside --athena bin/athena --modules dist/modules
//
// `make bench` runs it. The corpus and the rule set come from
// internal/corpus (deterministic for a seed) and are deleted afterwards.
package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"athena/internal/corpus"
)

// Run is one tool's measured scan.
type Run struct {
	Name       string  `json:"name"`
	Command    string  `json:"command"`
	Seconds    float64 `json:"wall_seconds"`
	CPUSeconds float64 `json:"cpu_seconds"`
	MBps       float64 `json:"mb_per_s"`
	MBperCPU   float64 `json:"mb_per_cpu_s"`
	// StartCPUSeconds is what the same command costs on an empty
	// directory (loading rules and, for athena, modules), the least of the
	// repeats; ScanMBperCPU is MB per CPU-second after it: the steady
	// scanning rate a larger corpus approaches. Command-line tools only.
	StartCPUSeconds float64 `json:"start_cpu_seconds,omitempty"`
	ScanMBperCPU    float64 `json:"scan_mb_per_cpu_s,omitempty"`
	// Detections is the number of files the tool flagged: files named in
	// yara's output, files with a verdict other than clean from Athena end
	// to end, files whose clamd reply was FOUND.
	Detections int `json:"detections"`
	// Detected lists those files by name (relative to the corpus).
	Detected []string `json:"detected"`
	// Matches is yara's and athena rules scan's "rule path" lines, -1 where
	// the tool does not list every match (end to end, clamd).
	Matches int `json:"matches"`
	// P50ms and P99ms are the time to verdict per file (Athena end to end).
	P50ms float64 `json:"p50_ms,omitempty"`
	P99ms float64 `json:"p99_ms,omitempty"`
}

// Machine describes where the comparison ran.
type Machine struct {
	NProc    int    `json:"nproc"`
	CPUModel string `json:"cpu_model"`
	Kernel   string `json:"kernel"`
	OSArch   string `json:"os_arch"`
	// LoadStart and LoadEnd are /proc/loadavg before and after: other work
	// on the machine skews wall times more than CPU times.
	LoadStart string `json:"loadavg_start"`
	LoadEnd   string `json:"loadavg_end"`
}

// Versions are the tools' versions.
type Versions struct {
	Yara  string `json:"yara"`
	Clamd string `json:"clamd"`
	Go    string `json:"go"`
}

// ClamdInfo describes the clamd run.
type ClamdInfo struct {
	Signatures  ndbStats `json:"signatures"`
	LoadSeconds float64  `json:"load_seconds"` // start to PONG, not counted
	Conns       int      `json:"connections"`
	Errors      int      `json:"errors"`
	Found       []string `json:"found"` // "file: signature"
	Config      string   `json:"config"`
}

// E2EInfo describes the Athena end-to-end run.
type E2EInfo struct {
	ServeCommand   string         `json:"serve_command"`
	StartupSeconds float64        `json:"startup_seconds"` // start to /readyz 200, not counted
	CacheHits      int            `json:"cache_hits"`
	Labels         map[string]int `json:"labels"`
	Errors         map[string]int `json:"errors,omitempty"`
	Flagged        []flagged      `json:"flagged,omitempty"` // files not clean, with the reasons
}

// Report is the whole comparison.
type Report struct {
	Time     string   `json:"time"` // RFC 3339, UTC, at the start
	Machine  Machine  `json:"machine"`
	Versions Versions `json:"versions"`
	Files    int      `json:"files"`
	Bytes    int64    `json:"bytes"`
	MaxSize  int64    `json:"max_size"`
	Rules    int      `json:"rules"`
	Seed     int64    `json:"seed"`
	Repeat   int      `json:"repeat"` // rounds of the command-line tools; the least wall and CPU time count
	Command  string   `json:"command"`
	Runs     []Run    `json:"runs"`
	// CompileSeconds is athena rules check on the rule set (parse, compile,
	// encode), and PlanBytes the plan's size.
	CompileSeconds float64    `json:"compile_seconds"`
	PlanBytes      string     `json:"plan"`
	E2E            *E2EInfo   `json:"athena_end_to_end,omitempty"`
	Clamd          *ClamdInfo `json:"clamd,omitempty"`
	Redis          *RedisInfo `json:"redis_cache,omitempty"`
}

type config struct {
	athena, modules, yara, clamd string
	redis                        string
	redisOps                     int
	noRedis                      bool
	files, rules, repeat         int
	engines, clients, conns      int
	maxSize                      string
	seed                         int64
	out, md, keep, profDir       string
	noE2E, noClamd               bool
}

func main() {
	var c config
	flag.StringVar(&c.athena, "athena", "bin/athena", "the athena binary")
	flag.StringVar(&c.modules, "modules", "dist/modules", "built-in modules directory")
	flag.StringVar(&c.yara, "yara", "yara", "the yara binary")
	flag.StringVar(&c.clamd, "clamd", "/usr/sbin/clamd", "the clamd binary (Debian's clamav-daemon)")
	flag.IntVar(&c.files, "files", 60, "corpus files")
	flag.StringVar(&c.maxSize, "max-size", "16MiB", "largest corpus file")
	flag.IntVar(&c.rules, "rules", 1000, "generated rules")
	flag.Int64Var(&c.seed, "seed", 1, "corpus and rules seed")
	flag.IntVar(&c.repeat, "repeat", 5, "rounds of the command-line tools (yara, athena rules scan), each tool in turn; the least wall and CPU time count")
	flag.IntVar(&c.engines, "engines", 2, "engine processes of athena serve")
	flag.IntVar(&c.clients, "clients", 4, "athena bench clients")
	flag.IntVar(&c.conns, "conns", 4, "concurrent clamd INSTREAM connections")
	flag.StringVar(&c.out, "out", "", "write the JSON report here too")
	flag.StringVar(&c.md, "md", "", "write the Markdown summary here too")
	flag.StringVar(&c.keep, "keep", "", "write the corpus, rules and signatures into this directory and keep them")
	flag.BoolVar(&c.noE2E, "no-e2e", false, "skip Athena end to end")
	flag.StringVar(&c.profDir, "cpuprofile-dir", "", "debugging: athena serve writes pprof CPU profiles of its process (gateway, NATS) and of each engine into this directory (serve --cpuprofile-dir)")
	flag.BoolVar(&c.noClamd, "no-clamd", false, "skip clamd")
	flag.StringVar(&c.redis, "redis-server", "redis-server", "the redis-server binary for the verdict cache's Redis latencies")
	flag.IntVar(&c.redisOps, "redis-ops", 5000, "cache Gets and Puts measured against Redis (a tenth as many GetMany batches of 1,000)")
	flag.BoolVar(&c.noRedis, "no-redis", false, "skip the verdict cache's Redis latencies")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	command := strings.Join(os.Args, " ")
	if strings.Contains(os.Args[0], "go-build") { // go run
		command = strings.Join(append([]string{"go run ./internal/cmd/sidebyside"}, os.Args[1:]...), " ")
	}
	if err := run(ctx, c, command); err != nil {
		fmt.Fprintln(os.Stderr, "sidebyside:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, c config, command string) error {
	largest, err := corpus.ParseSize(c.maxSize)
	if err != nil {
		return err
	}
	tmp := c.keep
	if tmp == "" {
		if tmp, err = os.MkdirTemp("", "sidebyside-"); err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
	} else if tmp, err = filepath.Abs(tmp); err != nil {
		return err
	}
	dir := filepath.Join(tmp, "corpus")
	man, err := corpus.Generate(dir, corpus.Options{Seed: c.seed, Files: c.files, MaxSize: largest})
	if err != nil {
		return err
	}
	rulesPath := filepath.Join(tmp, "rules.yar")
	if err := os.WriteFile(rulesPath, corpus.Rules(c.rules, c.seed), 0o644); err != nil {
		return err
	}
	rep := Report{Time: time.Now().UTC().Format(time.RFC3339), Files: len(man.Files), Bytes: man.Bytes,
		MaxSize: largest, Rules: c.rules, Seed: c.seed, Repeat: max(c.repeat, 1), Command: command,
		Machine: machine(), Versions: versions(c)}
	mb := float64(man.Bytes) / 1e6
	progress := func(format string, args ...any) { fmt.Fprintf(os.Stderr, "sidebyside: "+format+"\n", args...) }

	// Compile time and plan size, from athena rules check.
	t0 := time.Now()
	checkOut, err := exec.Command(c.athena, "rules", "check", rulesPath).CombinedOutput()
	if err != nil {
		return fmt.Errorf("athena rules check: %v\n%s", err, checkOut)
	}
	rep.CompileSeconds = time.Since(t0).Seconds()
	rep.PlanBytes = strings.TrimSpace(string(checkOut))

	// Fill the compiled-module cache with one unmeasured analysis of a
	// small text file by every module (patterns, filetype, fileproc, lines;
	// exit 1 means a detection): every measured athena run starts warm,
	// and no engine compiles a module lazily during the bench (fileproc
	// costs about 8 CPU-seconds to compile, which is startup, not
	// throughput).
	cacheDir := filepath.Join(tmp, "wasm-cache")
	warm := exec.CommandContext(ctx, c.athena, "analyze", "--modules", c.modules, "--cache-dir", cacheDir,
		"--rules", rulesPath, rulesPath)
	if out, err := warm.CombinedOutput(); err != nil && warm.ProcessState.ExitCode() != 1 {
		return fmt.Errorf("athena analyze (warm-up): %v\n%s", err, tail(out, 4000))
	}
	empty := filepath.Join(tmp, "empty")
	if err := os.MkdirAll(empty, 0o755); err != nil {
		return err
	}
	tools := []struct {
		name, bin string
		args      []string // the corpus directory goes last
	}{
		{"yara -p 1", c.yara, []string{"-p", "1", "-r", rulesPath}},
		{"yara -p 2", c.yara, []string{"-p", "2", "-r", rulesPath}},
		{"athena rules scan -p 1", c.athena, []string{"rules", "scan", "--modules", c.modules, "--cache-dir", cacheDir, "-p", "1", "-r", rulesPath}},
		{"athena rules scan -p 2", c.athena, []string{"rules", "scan", "--modules", c.modules, "--cache-dir", cacheDir, "-p", "2", "-r", rulesPath}},
	}
	// Rounds go through every tool in turn, so that a noisy moment of the
	// machine falls on all of them; each figure is the best of the rounds
	// (the least wall time, the least CPU time).
	best := make([]Run, len(tools))
	for i := range max(c.repeat, 1) {
		for k, tool := range tools {
			progress("%s (round %d)", tool.name, i+1)
			args := append(slices.Clip(tool.args), dir)
			stdout, wall, cpu, err := runTool(ctx, tool.bin, args)
			if err != nil {
				return fmt.Errorf("%s: %w", tool.name, err)
			}
			b := &best[k]
			if i == 0 {
				*b = Run{Name: tool.name, Command: tool.bin + " " + strings.Join(args, " "), Seconds: wall, CPUSeconds: cpu}
				b.Matches, b.Detected = countMatches(stdout, dir)
				b.Detections = len(b.Detected)
			}
			b.Seconds, b.CPUSeconds = min(b.Seconds, wall), min(b.CPUSeconds, cpu)
			_, _, cpu, err = runTool(ctx, tool.bin, append(slices.Clip(tool.args), empty))
			if err != nil {
				return fmt.Errorf("%s on an empty directory: %w", tool.name, err)
			}
			if i == 0 || cpu < b.StartCPUSeconds {
				b.StartCPUSeconds = cpu
			}
		}
	}
	for _, b := range best {
		b.MBps, b.MBperCPU = mb/b.Seconds, mb/b.CPUSeconds
		if scan := b.CPUSeconds - b.StartCPUSeconds; scan > 0 {
			b.ScanMBperCPU = mb / scan
		}
		rep.Runs = append(rep.Runs, b)
	}

	if !c.noE2E {
		progress("athena serve + athena bench")
		absRules, _ := filepath.Abs(rulesPath)
		e, err := runE2E(ctx, c.athena, c.modules, absRules, cacheDir, dir, tmp, c.profDir, c.engines, c.clients)
		if err != nil {
			return fmt.Errorf("athena end to end: %w", err)
		}
		r := Run{Name: fmt.Sprintf("athena serve (%d engines) + bench (%d clients, http2)", c.engines, c.clients),
			Command: e.BenchCmd, Seconds: e.Bench.Elapsed, CPUSeconds: e.CPUSeconds, MBps: e.Bench.MBps,
			Matches: -1, P50ms: e.Bench.Verdict.P50, P99ms: e.Bench.Verdict.P99}
		for _, f := range e.Bench.Flagged {
			if f.Label != "clean" {
				r.Detected = append(r.Detected, filepath.Base(f.Name))
			}
		}
		slices.Sort(r.Detected)
		r.Detections = len(r.Detected)
		if e.CPUSeconds > 0 {
			r.MBperCPU = float64(e.Bench.Bytes) / 1e6 / e.CPUSeconds
		}
		rep.Runs = append(rep.Runs, r)
		rep.E2E = &E2EInfo{ServeCommand: e.ServeCmd, StartupSeconds: e.Startup.Seconds(), CacheHits: e.Bench.Cache.Hits,
			Labels: e.Bench.Labels, Errors: e.Bench.Errors, Flagged: e.Bench.Flagged}
		if e.Bench.Files != len(man.Files) {
			progress("warning: athena bench got %d verdicts for %d files", e.Bench.Files, len(man.Files))
		}
	}

	if !c.noClamd {
		progress("clamd INSTREAM")
		strs, err := corpus.RuleStrings(c.rules, c.seed)
		if err != nil {
			return err
		}
		db := buildSigs(strs)
		cdir := filepath.Join(tmp, "clamd")
		cl, err := startClamd(ctx, c.clamd, cdir, &db, largest)
		if err != nil {
			return err
		}
		paths := make([]string, len(man.Files))
		for i, f := range man.Files {
			paths[i] = filepath.Join(dir, f.Name)
		}
		before, err1 := ownTicks(cl.cmd.Process.Pid)
		res := instreamAll(ctx, cl.addr, paths, c.conns)
		after, err2 := ownTicks(cl.cmd.Process.Pid)
		cl.stop()
		if err := cmp.Or(err1, err2); err != nil {
			return fmt.Errorf("clamd CPU: %w", err)
		}
		if res.Errors > 0 {
			progress("warning: clamd: %d files failed, the first: %v", res.Errors, res.FirstErr)
		}
		cpu := float64(after-before) / clockTicks
		r := Run{Name: fmt.Sprintf("clamd INSTREAM (%d connections)", c.conns),
			Command: fmt.Sprintf("%s --foreground --config-file=%s; INSTREAM each file", c.clamd, filepath.Join(cdir, "clamd.conf")),
			Seconds: res.Wall.Seconds(), CPUSeconds: cpu, MBps: mb / res.Wall.Seconds(), Detections: res.Detected, Matches: -1}
		for _, n := range res.Names {
			file, _, _ := strings.Cut(n, ": ")
			r.Detected = append(r.Detected, file)
		}
		if cpu > 0 {
			r.MBperCPU = mb / cpu
		}
		rep.Runs = append(rep.Runs, r)
		slices.Sort(res.Names)
		slices.Sort(r.Detected)
		conf, _ := os.ReadFile(filepath.Join(cdir, "clamd.conf"))
		rep.Clamd = &ClamdInfo{Signatures: db.Stats, LoadSeconds: cl.Load.Seconds(), Conns: c.conns,
			Errors: res.Errors, Found: res.Names, Config: string(conf)}
	}
	if !c.noRedis {
		progress("verdict cache on redis-server")
		srv, err := startRedis(ctx, c.redis, filepath.Join(tmp, "redis"))
		if err != nil {
			return err
		}
		ops, err := measureRedis(ctx, srv.url, c.redisOps)
		srv.stop()
		if err != nil {
			return fmt.Errorf("redis latencies: %w", err)
		}
		rep.Redis = &RedisInfo{Version: versionLine(c.redis, "--version"), TargetMS: redisTargetMS, Ops: ops}
	}
	rep.Machine.LoadEnd = loadavg()

	var md bytes.Buffer
	printTable(&md, rep)
	os.Stdout.Write(md.Bytes())
	if c.md != "" {
		if err := os.WriteFile(c.md, md.Bytes(), 0o644); err != nil {
			return err
		}
	}
	if c.out != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(c.out, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// countMatches counts yara's "rule path" lines (string lines start with
// 0x) and lists the distinct paths among them, relative to dir, sorted.
func countMatches(out []byte, dir string) (matches int, files []string) {
	paths := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		if line == "" || strings.HasPrefix(line, "0x") {
			continue
		}
		matches++
		if _, path, ok := strings.Cut(line, " "); ok {
			if rel, err := filepath.Rel(dir, path); err == nil {
				path = rel
			}
			if !paths[path] {
				paths[path] = true
				files = append(files, path)
			}
		}
	}
	slices.Sort(files)
	return matches, files
}

func machine() Machine {
	m := Machine{NProc: runtime.NumCPU(), OSArch: runtime.GOOS + "/" + runtime.GOARCH, LoadStart: loadavg()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if out, err := exec.Command("nproc").Output(); err == nil {
		fmt.Sscan(string(out), &m.NProc)
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// versionLine is the first line of a command's output, empty on failure.
func versionLine(name string, args ...string) string {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return ""
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return line
}

func versions(c config) Versions {
	v := Versions{Yara: versionLine(c.yara, "--version"), Clamd: versionLine(c.clamd, "--version"), Go: versionLine("go", "version")}
	if v.Go == "" {
		v.Go = runtime.Version() + " (sidebyside's build)"
	}
	return v
}

// diff lists the names in a and not in b.
func diff(a, b []string) []string {
	var d []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			d = append(d, x)
		}
	}
	return d
}

// ratio formats a/b, or "-" when b is zero.
// runTool runs a command-line scanner and returns its output, wall and
// CPU seconds.
func runTool(ctx context.Context, bin string, args []string) (stdout []byte, wall, cpu float64, err error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return nil, 0, 0, fmt.Errorf("%v\n%s", err, errOut.Bytes())
	}
	wall = time.Since(start).Seconds()
	cpu = (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
	return out.Bytes(), wall, cpu, nil
}

func ratio(a, b float64) string {
	if b == 0 || a == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", a/b)
}

func printTable(w io.Writer, rep Report) {
	fmt.Fprintf(w, "## Side by side: %s\n\n", rep.Time)
	fmt.Fprintf(w, "- Machine: nproc %d, %s, Linux %s; load average %s at the start, %s at the end\n",
		rep.Machine.NProc, rep.Machine.CPUModel, rep.Machine.Kernel, rep.Machine.LoadStart, rep.Machine.LoadEnd)
	fmt.Fprintf(w, "- Versions: %s; %s; yara %s\n", rep.Versions.Go, rep.Versions.Clamd, rep.Versions.Yara)
	fmt.Fprintf(w, "- Corpus: %d files, %.1f MB (internal/corpus, seed %d, up to %d MiB); %d rules (corpus.Rules)\n",
		rep.Files, float64(rep.Bytes)/1e6, rep.Seed, rep.MaxSize>>20, rep.Rules)
	fmt.Fprintf(w, "- athena rules check: %.2f s (%s)\n", rep.CompileSeconds, rep.PlanBytes)
	if rep.Clamd != nil {
		s := rep.Clamd.Signatures
		fmt.Fprintf(w, "- clamd database: %d signatures for %d rule strings (%d .ndb, %d nocase as .ldb ::i; %d regexps approximated by gaps, %d hex/regexp signatures normalised, %d cut after clamd refused them, %d skipped); load %.2f s, not counted\n",
			s.Signatures, s.Strings, s.NDB, s.LDB, s.Regexps, s.Normalized, s.Simplified, s.Skipped, rep.Clamd.LoadSeconds)
	}
	if rep.E2E != nil {
		fmt.Fprintf(w, "- athena serve: ready in %.1f s, not counted; verdict cache hits %d; labels %v\n",
			rep.E2E.StartupSeconds, rep.E2E.CacheHits, rep.E2E.Labels)
	}
	fmt.Fprintf(w, "- Command: `%s`\n\n", rep.Command)
	fmt.Fprintln(w, "| tool | wall s | CPU s | MB/s | MB per CPU-s | vs yara -p 2 (MB/s; per CPU-s) | vs clamd (MB/s; per CPU-s) | files detected | matches |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|")
	find := func(prefix string) Run {
		if i := slices.IndexFunc(rep.Runs, func(r Run) bool { return strings.HasPrefix(r.Name, prefix) }); i >= 0 {
			return rep.Runs[i]
		}
		return Run{}
	}
	yara2, clamd := find("yara -p 2"), find("clamd")
	for _, r := range rep.Runs {
		matches := "-"
		if r.Matches >= 0 {
			matches = fmt.Sprint(r.Matches)
		}
		fmt.Fprintf(w, "| %s | %.2f | %.2f | %.1f | %.1f | %s; %s | %s; %s | %d | %s |\n", r.Name, r.Seconds, r.CPUSeconds, r.MBps, r.MBperCPU,
			ratio(r.MBps, yara2.MBps), ratio(r.MBperCPU, yara2.MBperCPU), ratio(r.MBps, clamd.MBps), ratio(r.MBperCPU, clamd.MBperCPU),
			r.Detections, matches)
	}
	fmt.Fprintln(w, "\nStart-up (the same command on an empty directory: rules, and for athena the module and its configuration) and the scan after it:")
	fmt.Fprintln(w, "\n| tool | start-up CPU s | MB per CPU-s after start-up | vs yara -p 2 |")
	fmt.Fprintln(w, "|---|---|---|---|")
	for _, r := range rep.Runs {
		if r.ScanMBperCPU > 0 {
			fmt.Fprintf(w, "| %s | %.2f | %.1f | %s |\n", r.Name, r.StartCPUSeconds, r.ScanMBperCPU, ratio(r.ScanMBperCPU, yara2.ScanMBperCPU))
		}
	}
	if e := find("athena serve"); e.Name != "" {
		fmt.Fprintf(w, "\nAthena end to end, time to verdict per file: p50 %.1f ms, p99 %.1f ms.\n", e.P50ms, e.P99ms)
	}
	if r := rep.Redis; r != nil {
		fmt.Fprintf(w, "\nVerdict cache on Redis (%s, loopback, one call at a time, L1 off; target under %g ms):\n\n", r.Version, r.TargetMS)
		fmt.Fprintln(w, "| cache call | Redis commands | calls | mean ms | p50 ms | p99 ms | p99 under target |")
		fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
		for _, o := range r.Ops {
			ok := "yes"
			if o.P99MS >= r.TargetMS {
				ok = "no"
			}
			fmt.Fprintf(w, "| %s | %s | %d | %.3f | %.3f | %.3f | %s |\n", o.Op, o.Command, o.Count, o.MeanMS, o.P50MS, o.P99MS, ok)
		}
	}
	if yara2.Name != "" {
		fmt.Fprintln(w, "\nFiles detected, against yara -p 2's:")
		fmt.Fprintln(w)
		for _, r := range rep.Runs {
			if strings.HasPrefix(r.Name, "yara") {
				continue
			}
			extra, missed := diff(r.Detected, yara2.Detected), diff(yara2.Detected, r.Detected)
			fmt.Fprintf(w, "- %s: %d more %v, %d fewer %v\n", r.Name, len(extra), extra, len(missed), missed)
		}
	}
	fmt.Fprintln(w, "\nCommands:")
	fmt.Fprintln(w, "\n```sh")
	if rep.E2E != nil {
		fmt.Fprintln(w, rep.E2E.ServeCommand)
	}
	for _, r := range rep.Runs {
		fmt.Fprintln(w, r.Command)
	}
	fmt.Fprintln(w, "```")
}
