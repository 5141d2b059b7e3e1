package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// exitCode is an error that only sets the process exit code; what needed
// saying was already said.
type exitCode int

func (e exitCode) Error() string { return "exit " + strconv.Itoa(int(e)) }

// Exit codes, as clamdscan has them.
const (
	exitClean     exitCode = 0
	exitDetection exitCode = 1
	exitError     exitCode = 2
)

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"serve", "run everything in one process tree: embedded NATS, the gateway and supervised engines", runServe},
		{"gateway", "run a gateway against an external NATS server", runGateway},
		{"engine", "run an analysis engine that takes jobs from NATS JetStream", runEngine},
		{"scan", "stream files to an Athena server and print findings and verdicts", runScan},
		{"bench", "load-test a running server: stream a directory or a generated corpus, report throughput and latency", runBench},
		{"analyze", "analyse files locally with the engine and print events as NDJSON", runAnalyze},
		{"modules", "list analyzer modules, or pack a manifest into a module", runModules},
		{"rules", "check YARA rules, scan files with them as yara does, or push them to every engine", runRules},
	}
}

// Run executes the athena command line. It is main without the process:
// tests call it directly.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		return nil
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	usage(stderr)
	return fmt.Errorf("unknown command %q", args[0])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Athena: real-time streaming file analysis.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage: athena COMMAND [flags] [args]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'athena COMMAND -h' for a command's flags. Every flag can also be set")
	fmt.Fprintln(w, "with an ATHENA_* environment variable (--job-timeout is ATHENA_JOB_TIMEOUT).")
}

// newFlagSet returns a flag set whose usage names the command and its
// environment variables.
func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: athena %s\n\nFlags (environment variable in brackets):\n", synopsis)
		fs.VisitAll(func(f *flag.Flag) {
			def := ""
			if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "[]" {
				def = fmt.Sprintf(" (default %s)", f.DefValue)
			}
			fmt.Fprintf(stderr, "  --%s [%s]\n    \t%s%s\n", f.Name, envName(f.Name), f.Usage, def)
		})
	}
	return fs
}

func envName(flagName string) string {
	return "ATHENA_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parse parses args, then applies ATHENA_* environment variables to the
// flags the command line did not set: a flag on the command line wins over
// the environment (a repeatable flag too: its values are not merged).
func parse(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		return exitClean
	}
	if err != nil {
		return exitError
	}
	onCommandLine := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { onCommandLine[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if v, ok := os.LookupEnv(envName(f.Name)); ok && !onCommandLine[f.Name] {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", envName(f.Name), err))
			}
		}
	})
	return errors.Join(errs...)
}

// engineFlags are the flags every command that runs the engine shares.
type engineFlags struct {
	modules     string
	extra       stringList
	cacheDir    string
	runtime     string
	jobTimeout  time.Duration
	concurrency int
	logLevel    slog.Level
	rules       stringList
	// passwords is the --archive-passwords file; empty: the file
	// processor's defaults.
	passwords string
	// only names the modules to run and noDigests drops the file digests
	// (athena rules scan); not flags.
	only      []string
	noDigests bool
	// profileLabels labels guest calls for CPU profiles (engine
	// --cpuprofile); not a flag.
	profileLabels bool
}

func (f *engineFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.modules, "modules", "dist/modules", "directory of built-in analyzer modules (make modules builds them)")
	fs.Var(&f.extra, "extra-modules", "directory of modules that are not built in; they always run with in-call deadlines (repeatable)")
	fs.StringVar(&f.cacheDir, "cache-dir", defaultCacheDir(), "on-disk cache of compiled modules; empty disables it")
	fs.StringVar(&f.runtime, "wasm-runtime", "wazy", "wasm runtime: wazy or wazero (see RATIONALE.md)")
	fs.DurationVar(&f.jobTimeout, "job-timeout", 5*time.Minute, "deadline of one file's analysis")
	fs.IntVar(&f.concurrency, "concurrency", 4, "files analysed at once by one engine")
	fs.TextVar(&f.logLevel, "log-level", slog.LevelWarn, "log level: debug, info, warn or error")
	fs.Var(&f.rules, "rules", "YARA rule file or directory of .yar/.yara files for the pattern module (repeatable); default the built-in set")
	fs.StringVar(&f.passwords, "archive-passwords", "", "file of passwords the file processor tries on encrypted archive members, one per line (see docs/api.md); default infected, malware")
}

func defaultCacheDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "athena", "wasm")
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }

func (s *stringList) Set(v string) error {
	*s = append(*s, v)
	sort.Strings(*s)
	return nil
}
