// Command sidebyside measures Athena's pattern matcher against yara on the
// same machine, corpus and rules, in one invocation: `athena rules scan`
// (through the pattern module and the engine) versus `yara -p 1` and
// `yara -p 2`. It reports MB/s of wall time, MB per CPU-second (user plus
// system time of the process) and the ratios, as a Markdown table and,
// with --out, as JSON.
//
//	go run ./internal/cmd/sidebyside --athena bin/athena --modules dist/modules
//
// `make bench` runs it. The corpus and the rule set come from
// internal/corpus (deterministic for a seed) and are deleted afterwards.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
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
	Matches    int     `json:"matches"` // "rule path" lines printed
}

// Report is the whole comparison.
type Report struct {
	Time    string `json:"time"`
	Machine string `json:"machine"`
	Files   int    `json:"files"`
	Bytes   int64  `json:"bytes"`
	Rules   int    `json:"rules"`
	Seed    int64  `json:"seed"`
	Runs    []Run  `json:"runs"`
	// CompileSeconds is athena rules check on the rule set (parse, compile,
	// encode), and PlanBytes the plan's size.
	CompileSeconds float64 `json:"compile_seconds"`
	PlanBytes      string  `json:"plan"`
}

func main() {
	athena := flag.String("athena", "bin/athena", "the athena binary")
	modules := flag.String("modules", "dist/modules", "built-in modules directory")
	files := flag.Int("files", 40, "corpus files")
	maxSize := flag.String("max-size", "8MiB", "largest corpus file")
	rules := flag.Int("rules", 1000, "generated rules")
	seed := flag.Int64("seed", 1, "corpus and rules seed")
	repeat := flag.Int("repeat", 3, "runs of each tool; the fastest counts")
	out := flag.String("out", "", "write the JSON report here too")
	keep := flag.String("keep", "", "write the corpus and rules into this directory and keep them")
	flag.Parse()
	if err := run(*athena, *modules, *files, *maxSize, *rules, *seed, *repeat, *out, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "sidebyside:", err)
		os.Exit(1)
	}
}

func run(athena, modules string, files int, maxSize string, nRules int, seed int64, repeat int, out, keep string) error {
	largest, err := corpus.ParseSize(maxSize)
	if err != nil {
		return err
	}
	tmp := keep
	if tmp == "" {
		if tmp, err = os.MkdirTemp("", "sidebyside-"); err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
	}
	dir := filepath.Join(tmp, "corpus")
	man, err := corpus.Generate(dir, corpus.Options{Seed: seed, Files: files, MaxSize: largest})
	if err != nil {
		return err
	}
	rulesPath := filepath.Join(tmp, "rules.yar")
	if err := os.WriteFile(rulesPath, corpus.Rules(nRules, seed), 0o644); err != nil {
		return err
	}
	rep := Report{Time: time.Now().UTC().Format(time.RFC3339), Files: len(man.Files), Bytes: man.Bytes,
		Rules: nRules, Seed: seed, Machine: fmt.Sprintf("%s/%s, %d CPUs", runtime.GOOS, runtime.GOARCH, runtime.NumCPU())}

	// Compile time and plan size, from athena rules check.
	t0 := time.Now()
	checkOut, err := exec.Command(athena, "rules", "check", rulesPath).CombinedOutput()
	if err != nil {
		return fmt.Errorf("athena rules check: %v\n%s", err, checkOut)
	}
	rep.CompileSeconds = time.Since(t0).Seconds()
	rep.PlanBytes = strings.TrimSpace(string(checkOut))

	cacheDir := filepath.Join(tmp, "wasm-cache")
	tools := []struct {
		name, bin string
		args      []string
	}{
		{"yara -p 1", "yara", []string{"-p", "1", "-r", rulesPath, dir}},
		{"yara -p 2", "yara", []string{"-p", "2", "-r", rulesPath, dir}},
		{"athena rules scan -p 1", athena, []string{"rules", "scan", "--modules", modules, "--cache-dir", cacheDir, "-p", "1", "-r", rulesPath, dir}},
		{"athena rules scan -p 2", athena, []string{"rules", "scan", "--modules", modules, "--cache-dir", cacheDir, "-p", "2", "-r", rulesPath, dir}},
	}
	for _, tool := range tools {
		best := Run{Name: tool.name, Command: tool.bin + " " + strings.Join(tool.args, " ")}
		for i := range max(repeat, 1) {
			cmd := exec.Command(tool.bin, tool.args...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			start := time.Now()
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("%s: %v\n%s", tool.name, err, stderr.Bytes())
			}
			wall := time.Since(start).Seconds()
			cpu := (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
			if i == 0 || wall < best.Seconds {
				best.Seconds, best.CPUSeconds = wall, cpu
				best.Matches = countMatches(stdout.Bytes())
			}
		}
		mb := float64(man.Bytes) / 1e6
		best.MBps, best.MBperCPU = mb/best.Seconds, mb/best.CPUSeconds
		rep.Runs = append(rep.Runs, best)
	}
	printTable(rep)
	if out != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(out, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// countMatches counts "rule path" lines (string lines start with 0x).
func countMatches(out []byte) int {
	n := 0
	for _, line := range strings.Split(string(out), "\n") {
		if line != "" && !strings.HasPrefix(line, "0x") {
			n++
		}
	}
	return n
}

func printTable(rep Report) {
	fmt.Printf("%s; %d files, %.1f MB; %d rules (seed %d); %s\n", rep.Time, rep.Files, float64(rep.Bytes)/1e6, rep.Rules, rep.Seed, rep.Machine)
	fmt.Printf("athena rules check: %.2f s (%s)\n\n", rep.CompileSeconds, rep.PlanBytes)
	fmt.Println("| tool | wall s | CPU s | MB/s | MB per CPU-s | vs yara -p 1 (MB per CPU-s) | matches |")
	fmt.Println("|---|---|---|---|---|---|---|")
	base := rep.Runs[slices.IndexFunc(rep.Runs, func(r Run) bool { return r.Name == "yara -p 1" })]
	for _, r := range rep.Runs {
		fmt.Printf("| %s | %.2f | %.2f | %.1f | %.1f | %.2f | %d |\n", r.Name, r.Seconds, r.CPUSeconds, r.MBps, r.MBperCPU, r.MBperCPU/base.MBperCPU, r.Matches)
	}
}
