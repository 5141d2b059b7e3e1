package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"athena/internal/core"
	"athena/internal/corpus"
)

// benchFlags are athena bench's settings.
type benchFlags struct {
	server, addr       string
	transport          string
	clients, count     int
	duration, timeout  time.Duration
	dir                string
	corpusFiles        int
	seed               int64
	minSize, maxSize   string
	planted            float64
	corpusDir          string
	generateOnly       bool
	zipf               float64
	declare            bool
	asJSON             bool
	out                string
	caFile             string
	insecure           bool
	minBytes, maxBytes int64 // parsed minSize, maxSize
	serverURL          *url.URL
	ws                 bool
	commandLine        string
	idle               int
	idleHold           time.Duration
	rate               float64 // MB/s per client, 0 for as fast as the server takes
}

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fset := newFlagSet("bench", "bench [flags] (--dir DIR | --corpus N | --idle N)", stderr)
	var f benchFlags
	fset.StringVar(&f.server, "server", "http://127.0.0.1:8080", "Athena gateway URL (http:// speaks h2c, https:// speaks TLS HTTP/2)")
	fset.StringVar(&f.addr, "addr", "", "gateway HOST:PORT, short for --server http://HOST:PORT")
	fset.StringVar(&f.transport, "transport", "http2", "ws (the WebSocket /v1/stream) or http2 (POST /v1/analyze)")
	fset.IntVar(&f.clients, "clients", 4, "concurrent clients, each with its own connection, each sending one file at a time")
	fset.IntVar(&f.count, "count", 0, "files to send in all; default every file once, or no limit with --duration")
	fset.DurationVar(&f.duration, "duration", 0, "stop starting files after this long (with --count, whichever comes first)")
	fset.DurationVar(&f.timeout, "timeout", 10*time.Minute, "give up on a file after this long")
	fset.StringVar(&f.dir, "dir", "", "send the regular files under this directory")
	fset.IntVar(&f.corpusFiles, "corpus", 0, "send a generated corpus of this many files (internal/corpus)")
	fset.Int64Var(&f.seed, "seed", 1, "seed of the generated corpus and of the --repeat-zipf picks")
	fset.StringVar(&f.minSize, "min-size", "1KiB", "smallest generated file")
	fset.StringVar(&f.maxSize, "max-size", "64MiB", "largest generated file (sizes are log-uniform)")
	fset.Float64Var(&f.planted, "planted", corpus.DefaultPlanted, "share of generated files with a planted marker (the first one is EICAR); negative for none")
	fset.StringVar(&f.corpusDir, "corpus-dir", "", "write the generated corpus here and keep it (default: a temporary directory, removed)")
	fset.BoolVar(&f.generateOnly, "generate-only", false, "write the --corpus into --corpus-dir, print its manifest (JSON: names, sizes, sha256, planted markers) and send nothing")
	fset.Float64Var(&f.zipf, "repeat-zipf", 0, "pick each file by a Zipf(S) popularity over the file set (S > 0, e.g. 1.1) instead of in turn: a cache-heavy mix")
	fset.BoolVar(&f.declare, "declare-sha256", false, "declare each file's sha256 so that a file the verdict cache knows is answered without its bytes")
	fset.BoolVar(&f.asJSON, "json", false, "print the report as JSON")
	fset.StringVar(&f.out, "out", "", "also write the JSON report to this file")
	fset.StringVar(&f.caFile, "ca", "", "PEM file of CA certificates to trust for https:// (default: the system's)")
	fset.BoolVar(&f.insecure, "insecure", false, "do not verify the server's TLS certificate")
	fset.Float64Var(&f.rate, "rate", 0, "send each file at most this fast, in MB/s per client (0: as fast as the server takes it); below the engines' rate, time to first finding measures the pipeline, not a queue")
	fset.IntVar(&f.idle, "idle", 0, "instead of sending files, open this many WebSocket sessions that send nothing, hold them, and report the server's resident memory per session (from its /metrics)")
	fset.DurationVar(&f.idleHold, "idle-hold", 10*time.Second, "with --idle, how long the sessions are held before the server is measured")
	if err := parse(fset, args); err != nil {
		return err
	}
	f.commandLine = commandLine(append([]string{"athena", "bench"}, args...))
	if err := f.validate(); err != nil {
		fmt.Fprintf(stderr, "athena bench: %v\n", err)
		return exitError
	}

	if f.idle > 0 {
		tlsCfg, err := clientTLS(f.caFile, f.insecure)
		if err != nil {
			return err
		}
		rep, err := runIdle(ctx, &f, f.idle, f.idleHold, tlsCfg)
		if err != nil {
			return err
		}
		if f.out != "" {
			if err := os.WriteFile(f.out, rep.json(), 0o644); err != nil {
				return err
			}
		}
		if f.asJSON {
			stdout.Write(rep.json())
		} else {
			rep.writeText(stdout)
		}
		if rep.Failed > 0 {
			return exitDetection
		}
		return nil
	}
	if f.generateOnly {
		man, err := corpus.Generate(f.corpusDir, f.corpusOptions())
		if err != nil {
			return err
		}
		js, _ := json.MarshalIndent(man, "", "  ")
		_, err = stdout.Write(append(js, '\n'))
		return err
	}
	files, cleanup, err := f.fileSet()
	if err != nil {
		return err
	}
	defer cleanup()
	tlsCfg, err := clientTLS(f.caFile, f.insecure)
	if err != nil {
		return err
	}
	rep := runBenchLoad(ctx, &f, files, func() scanClient {
		// Each client its own TLS config: the HTTP/2 transport edits it.
		return newScanClient(f.serverURL, tlsCfg.Clone(), f.ws)
	}, progressWriter(stderr))

	js, _ := json.MarshalIndent(rep, "", "  ")
	js = append(js, '\n')
	if f.out != "" {
		if err := os.WriteFile(f.out, js, 0o644); err != nil {
			return err
		}
	}
	if f.asJSON {
		stdout.Write(js)
	} else {
		rep.writeText(stdout)
	}
	if len(rep.Errors) > 0 {
		return exitDetection // the report is out; some files failed
	}
	return nil
}

func (f *benchFlags) validate() error {
	server := f.server
	if f.addr != "" {
		server = "http://" + f.addr
	}
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--server %q: want http://HOST:PORT or https://HOST:PORT", server)
	}
	f.serverURL = u
	switch f.transport {
	case "ws", "websocket":
		f.ws = true
	case "http2", "h2", "http":
	default:
		return fmt.Errorf("--transport %q: want ws or http2", f.transport)
	}
	if f.idle < 0 {
		return errors.New("--idle: want a number of sessions")
	}
	if f.idle == 0 && (f.dir == "") == (f.corpusFiles <= 0) {
		return errors.New("give one of --dir DIR or --corpus N (or --idle N)")
	}
	if f.generateOnly && (f.corpusFiles <= 0 || f.corpusDir == "") {
		return errors.New("--generate-only needs --corpus N and --corpus-dir DIR")
	}
	if f.clients < 1 || f.count < 0 || f.duration < 0 || f.zipf < 0 {
		return errors.New("--clients must be at least 1; --count, --duration and --repeat-zipf not negative")
	}
	if f.minBytes, err = corpus.ParseSize(f.minSize); err != nil {
		return fmt.Errorf("--min-size: %w", err)
	}
	if f.maxBytes, err = corpus.ParseSize(f.maxSize); err != nil {
		return fmt.Errorf("--max-size: %w", err)
	}
	return nil
}

func (f *benchFlags) corpusOptions() corpus.Options {
	planted := f.planted
	if planted == 0 {
		planted = -1 // none; corpus.Options takes 0 as its default
	}
	return corpus.Options{Seed: f.seed, Files: f.corpusFiles, MinSize: f.minBytes, MaxSize: f.maxBytes, Planted: planted}
}

// benchFile is one file of the set bench sends.
type benchFile struct {
	path   string
	name   string // relative to the set's directory
	size   int64
	sha256 string // set when hashes are declared
	// markerStart and markerEnd are where the first marker planted in the
	// file itself (not in an archive member) lies; markerEnd is 0 when
	// there is none or it is unknown (--dir).
	markerStart, markerEnd int64
}

// fileSet loads --dir or generates --corpus. cleanup removes a temporary
// corpus.
func (f *benchFlags) fileSet() ([]benchFile, func(), error) {
	nothing := func() {}
	if f.dir != "" {
		files, err := dirFiles(f.dir, f.declare)
		if err == nil && len(files) == 0 {
			err = fmt.Errorf("--dir %s: no regular files", f.dir)
		}
		return files, nothing, err
	}
	dir, cleanup := f.corpusDir, nothing
	if dir == "" {
		tmp, err := os.MkdirTemp("", "athena-bench-")
		if err != nil {
			return nil, nothing, err
		}
		dir, cleanup = tmp, func() { os.RemoveAll(tmp) }
	}
	man, err := corpus.Generate(dir, f.corpusOptions())
	if err != nil {
		cleanup()
		return nil, nothing, err
	}
	files := make([]benchFile, len(man.Files))
	for i, mf := range man.Files {
		files[i] = benchFile{path: filepath.Join(dir, mf.Name), name: mf.Name, size: mf.Size}
		for _, m := range mf.Markers {
			if text, ok := corpus.MarkerText(m.Name); ok && m.Member == "" && files[i].markerEnd == 0 {
				files[i].markerStart, files[i].markerEnd = m.Offset, m.Offset+int64(len(text))
			}
		}
		if f.declare {
			files[i].sha256 = mf.SHA256
		}
	}
	return files, cleanup, nil
}

// dirFiles lists the regular files under dir in lexical order, hashing
// them when hash is set.
func dirFiles(dir string, hash bool) ([]benchFile, error) {
	var files []benchFile
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		bf := benchFile{path: path, name: filepath.ToSlash(rel), size: info.Size()}
		if hash {
			if bf.sha256, err = fileSHA256(path); err != nil {
				return err
			}
		}
		files = append(files, bf)
		return nil
	})
	return files, err
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// picker chooses the file of the i-th send: in turn, or by a Zipf
// popularity over a seeded ranking of the files. pick is a pure function of
// i, so the sequence of files does not depend on scheduling.
type picker struct {
	seed int64
	cdf  []float64 // cumulative popularity by rank; nil: in turn
	rank []int     // rank -> file index
}

func newPicker(n int, s float64, seed int64) *picker {
	p := &picker{seed: seed}
	if s <= 0 {
		return p
	}
	p.cdf = make([]float64, n)
	sum := 0.0
	for k := range n {
		sum += 1 / math.Pow(float64(k+1), s)
		p.cdf[k] = sum
	}
	for k := range p.cdf {
		p.cdf[k] /= sum
	}
	p.rank = rand.New(rand.NewPCG(uint64(seed), 0x21bf)).Perm(n)
	return p
}

func (p *picker) pick(i int64, n int) int {
	if p.cdf == nil {
		return int(i % int64(n))
	}
	u := rand.New(rand.NewPCG(uint64(p.seed), uint64(i))).Float64()
	k := sort.SearchFloat64s(p.cdf, u)
	return p.rank[min(k, n-1)]
}

// benchResult is what one send measured.
type benchResult struct {
	file      int
	sent      int64
	toVerdict time.Duration
	toFinding time.Duration // -1 without a finding
	// afterMarker is from the moment the upload handed over the bytes
	// that complete the planted marker to the pattern finding at the
	// marker; -1 when the file has no known marker or the server's rules
	// do not know it.
	afterMarker  time.Duration
	label        string
	cached       bool
	partial      bool
	reasons      []string // kept only for a verdict the report lists
	errKind, err string
}

// runBenchLoad sends files with f.clients concurrent clients and measures.
// progress, when not nil, gets a line a second.
func runBenchLoad(ctx context.Context, f *benchFlags, files []benchFile, newClient func() scanClient, progress io.Writer) benchReport {
	count := int64(f.count)
	if count == 0 && f.duration == 0 {
		count = int64(len(files))
	}
	pick := newPicker(len(files), f.zipf, f.seed)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var stopAt time.Time
	start := time.Now()
	if f.duration > 0 {
		stopAt = start.Add(f.duration)
	}

	var (
		next    atomic.Int64
		mu      sync.Mutex
		results []benchResult
		done    atomic.Int64
		sent    atomic.Int64
		wg      sync.WaitGroup
	)
	for range f.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := newClient()
			defer c.Close()
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if (count > 0 && i >= count) || (!stopAt.IsZero() && time.Now().After(stopAt)) {
					return
				}
				idx := pick.pick(i, len(files))
				r := sendBenchFile(ctx, c, files[idx], f.timeout, f.rate)
				r.file = idx
				sent.Add(r.sent)
				done.Add(1)
				mu.Lock()
				results = append(results, r)
				mu.Unlock()
			}
		}()
	}
	if progress != nil {
		stop := make(chan struct{})
		finished := make(chan struct{})
		go func() {
			defer close(finished)
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				select {
				case <-stop:
					fmt.Fprint(progress, "\r\033[K")
					return
				case <-t.C:
					el := time.Since(start).Seconds()
					fmt.Fprintf(progress, "\r\033[K%d files, %s uploaded, %.1f files/s", done.Load(), humanBytes(sent.Load()), float64(done.Load())/el)
				}
			}
		}()
		defer func() { close(stop); <-finished }()
	}
	wg.Wait()
	return buildReport(f, files, results, time.Since(start))
}

// sendBenchFile streams one file and times its first finding and verdict.
func sendBenchFile(ctx context.Context, c scanClient, bf benchFile, timeout time.Duration, rate float64) benchResult {
	r := benchResult{toFinding: -1, afterMarker: -1}
	fh, err := os.Open(bf.path)
	if err != nil {
		r.errKind, r.err = "open", err.Error()
		return r
	}
	defer fh.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var src io.Reader = fh
	if rate > 0 {
		src = &pacedReader{r: fh, rate: rate * 1e6, start: time.Now()}
	}
	body := &countingReader{r: src, mark: bf.markerEnd}
	start := time.Now()
	v, err := scanJob(ctx, c, core.FileMeta{Name: filepath.Base(bf.name), Size: bf.size}, bf.sha256, body, func(ev core.Event) {
		if ev.Finding != nil && r.toFinding < 0 {
			r.toFinding = time.Since(start)
		}
		// The marker's own finding: a rule matching at the marker.
		if f := ev.Finding; f != nil && f.Kind == "pattern" && r.afterMarker < 0 && bf.markerEnd > 0 &&
			f.Offset >= bf.markerStart && f.Offset < bf.markerEnd {
			if at := body.marked.Load(); at != 0 {
				r.afterMarker = time.Since(time.Unix(0, at))
			}
		}
	})
	r.toVerdict = time.Since(start)
	r.sent = body.n.Load()
	if err != nil {
		r.errKind, r.err = errorKind(ctx, err), err.Error()
		return r
	}
	r.label, r.cached, r.partial = v.Label, v.Cached, v.Partial
	if v.Label != core.LabelClean || v.Partial {
		r.reasons = v.Reasons
	}
	return r
}

// pacedReader hands out at most rate bytes per second since start, in
// pieces of at most 64 KiB, by waiting before each read.
type pacedReader struct {
	r     io.Reader
	rate  float64
	start time.Time
	n     int64
}

func (p *pacedReader) Read(b []byte) (int, error) {
	if due := p.start.Add(time.Duration(float64(p.n) / p.rate * float64(time.Second))); time.Until(due) > 0 {
		time.Sleep(time.Until(due))
	}
	n, err := p.r.Read(b[:min(len(b), 64<<10)])
	p.n += int64(n)
	return n, err
}

// errorKind names the sort of a failed send, for the report's counts.
func errorKind(ctx context.Context, err error) string {
	var jobErr *core.Error
	var closeErr *websocket.CloseError
	var netErr net.Error
	switch {
	case errors.As(err, &jobErr):
		return jobErr.Code
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		return "client_timeout"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	case errors.As(err, &closeErr):
		return "ws_close_" + strconv.Itoa(closeErr.Code)
	case errors.As(err, &netErr), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection"
	case strings.Contains(err.Error(), "without a verdict"), strings.Contains(err.Error(), "before the verdict"):
		return "no_verdict"
	}
	return "other"
}

// benchReport is athena bench's report; its JSON is the --json output.
type benchReport struct {
	Timestamp      string         `json:"timestamp"` // RFC 3339, when the run ended
	Command        string         `json:"command"`
	Machine        benchMachine   `json:"machine"`
	Config         benchConfig    `json:"config"`
	ElapsedSeconds float64        `json:"elapsed_seconds"`
	Sends          int            `json:"sends"` // files started
	Files          int            `json:"files"` // files that got a verdict
	Bytes          int64          `json:"bytes"` // their sizes
	BytesSent      int64          `json:"bytes_sent"`
	MBPerSecond    float64        `json:"mb_per_s"` // Bytes per second, in 10^6 bytes
	FilesPerSecond float64        `json:"files_per_s"`
	Verdict        latencySummary `json:"time_to_verdict_ms"`
	FirstFinding   latencySummary `json:"time_to_first_finding_ms"` // of files with a finding, info ones included
	// AfterMarker is, for generated files with a marker planted in the
	// file itself, the time from handing the marker's last byte to the
	// connection to the pattern finding at the marker: the product's
	// "first finding after the chunk that holds it" (target p99 under 25
	// ms). Only markers the server's rules know count: EICAR with the
	// built-in set, all of them with the corpus rules (corpus.Rules, which
	// internal/cmd/sidebyside --keep writes).
	AfterMarker  latencySummary    `json:"first_finding_after_marker_ms"`
	Cache        cacheMix          `json:"cache"`
	Labels       map[string]int    `json:"labels"`
	Partial      int               `json:"partial"`
	Errors       map[string]int    `json:"errors"`
	ErrorSamples map[string]string `json:"error_samples,omitempty"`
	Flagged      []flaggedFile     `json:"flagged,omitempty"`
}

type benchMachine struct {
	GOMAXPROCS int    `json:"gomaxprocs"`
	NumCPU     int    `json:"num_cpu"`
	OS         string `json:"os"`
	Arch       string `json:"arch"`
	Go         string `json:"go"`
	Hostname   string `json:"hostname,omitempty"`
}

type benchConfig struct {
	Server     string  `json:"server"`
	Transport  string  `json:"transport"`
	Clients    int     `json:"clients"`
	Count      int     `json:"count,omitempty"`
	Duration   string  `json:"duration,omitempty"`
	Source     string  `json:"source"` // the directory, or "corpus"
	SetFiles   int     `json:"set_files"`
	SetBytes   int64   `json:"set_bytes"`
	Seed       int64   `json:"seed"`
	MaxSize    int64   `json:"max_size,omitempty"`
	RepeatZipf float64 `json:"repeat_zipf,omitempty"`
	Declare    bool    `json:"declare_sha256"`
	RateMBps   float64 `json:"rate_mb_per_s,omitempty"` // per client
}

// latencySummary is in milliseconds, over Count sends.
type latencySummary struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
	Mean  float64 `json:"mean"`
}

type cacheMix struct {
	Hits    int     `json:"hits"`   // verdicts with cached=true
	Misses  int     `json:"misses"` // verdicts computed for this send
	HitRate float64 `json:"hit_rate"`
}

// flaggedFile is a file whose verdict was not clean, or partial.
type flaggedFile struct {
	Name    string   `json:"name"`
	Label   string   `json:"label"`
	Partial bool     `json:"partial,omitempty"`
	Reasons []string `json:"reasons,omitempty"`
	// Size is the file's size; AfterMarkerMs, for a file with a planted
	// marker, is its first-finding-after-marker time.
	Size          int64   `json:"size"`
	AfterMarkerMs float64 `json:"after_marker_ms,omitempty"`
}

const maxFlagged = 1000

func buildReport(f *benchFlags, files []benchFile, results []benchResult, elapsed time.Duration) benchReport {
	host, _ := os.Hostname()
	rep := benchReport{
		Timestamp: time.Now().UTC().Format(time.RFC3339),
		Command:   f.commandLine,
		Machine: benchMachine{GOMAXPROCS: runtime.GOMAXPROCS(0), NumCPU: runtime.NumCPU(),
			OS: runtime.GOOS, Arch: runtime.GOARCH, Go: runtime.Version(), Hostname: host},
		Config: benchConfig{RateMBps: f.rate, Server: f.serverURL.String(), Transport: map[bool]string{true: "ws", false: "http2"}[f.ws],
			Clients: f.clients, Count: f.count, Seed: f.seed, RepeatZipf: f.zipf, Declare: f.declare,
			SetFiles: len(files), Source: f.dir},
		ElapsedSeconds: elapsed.Seconds(),
		Sends:          len(results),
		Labels:         map[string]int{},
		Errors:         map[string]int{},
	}
	if f.duration > 0 {
		rep.Config.Duration = f.duration.String()
	}
	if f.dir == "" {
		rep.Config.Source, rep.Config.MaxSize = "corpus", f.maxBytes
	}
	for _, bf := range files {
		rep.Config.SetBytes += bf.size
	}
	var toVerdict, toFinding, afterMarker []time.Duration
	flagged := map[string]flaggedFile{}
	for _, r := range results {
		rep.BytesSent += r.sent
		if r.errKind != "" {
			rep.Errors[r.errKind]++
			if rep.ErrorSamples == nil {
				rep.ErrorSamples = map[string]string{}
			}
			if _, ok := rep.ErrorSamples[r.errKind]; !ok {
				rep.ErrorSamples[r.errKind] = files[r.file].name + ": " + r.err
			}
			continue
		}
		rep.Files++
		rep.Bytes += files[r.file].size
		toVerdict = append(toVerdict, r.toVerdict)
		if r.toFinding >= 0 {
			toFinding = append(toFinding, r.toFinding)
		}
		if r.afterMarker >= 0 {
			afterMarker = append(afterMarker, r.afterMarker)
		}
		if r.cached {
			rep.Cache.Hits++
		} else {
			rep.Cache.Misses++
		}
		rep.Labels[r.label]++
		if r.partial {
			rep.Partial++
		}
		if (r.label != core.LabelClean || r.partial) && len(flagged) < maxFlagged {
			ff := flaggedFile{Name: files[r.file].name, Label: r.label, Partial: r.partial, Reasons: r.reasons, Size: files[r.file].size}
			if r.afterMarker >= 0 {
				ff.AfterMarkerMs = float64(r.afterMarker.Microseconds()) / 1000
			}
			flagged[files[r.file].name] = ff
		}
	}
	for _, ff := range flagged {
		rep.Flagged = append(rep.Flagged, ff)
	}
	sort.Slice(rep.Flagged, func(i, j int) bool { return rep.Flagged[i].Name < rep.Flagged[j].Name })
	if rep.Files > 0 {
		rep.Cache.HitRate = float64(rep.Cache.Hits) / float64(rep.Files)
	}
	if s := elapsed.Seconds(); s > 0 {
		rep.MBPerSecond = float64(rep.Bytes) / 1e6 / s
		rep.FilesPerSecond = float64(rep.Files) / s
	}
	rep.Verdict = summarize(toVerdict)
	rep.FirstFinding = summarize(toFinding)
	rep.AfterMarker = summarize(afterMarker)
	return rep
}

// summarize returns nearest-rank percentiles in milliseconds.
func summarize(ds []time.Duration) latencySummary {
	s := latencySummary{Count: len(ds)}
	if len(ds) == 0 {
		return s
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	ms := func(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }
	at := func(p float64) float64 {
		return ms(ds[max(int(math.Ceil(p*float64(len(ds))))-1, 0)])
	}
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	s.P50, s.P90, s.P99, s.Max = at(0.50), at(0.90), at(0.99), ms(ds[len(ds)-1])
	s.Mean = ms(sum / time.Duration(len(ds)))
	return s
}

func (r *benchReport) writeText(w io.Writer) {
	c := r.Config
	src := c.Source
	if src == "corpus" {
		src = fmt.Sprintf("a generated corpus (seed %d)", c.Seed)
	}
	fmt.Fprintf(w, "athena bench: %s over %s, %d clients, %s\n", c.Server, c.Transport, c.Clients, r.Timestamp)
	fmt.Fprintf(w, "  file set      %d files, %s from %s\n", c.SetFiles, humanBytes(c.SetBytes), src)
	mix := "in turn"
	if c.RepeatZipf > 0 {
		mix = fmt.Sprintf("Zipf(%g)", c.RepeatZipf)
	}
	if c.Declare {
		mix += ", sha256 declared"
	}
	fmt.Fprintf(w, "  sends         %d (%s) in %.2fs\n", r.Sends, mix, r.ElapsedSeconds)
	fmt.Fprintf(w, "  throughput    %.2f MB/s  %.2f files/s  (%s verdicts, %s uploaded)\n",
		r.MBPerSecond, r.FilesPerSecond, humanBytes(r.Bytes), humanBytes(r.BytesSent))
	lat := func(name string, l latencySummary) {
		if l.Count == 0 {
			fmt.Fprintf(w, "  %-13s none\n", name)
			return
		}
		fmt.Fprintf(w, "  %-13s p50 %.1fms  p90 %.1fms  p99 %.1fms  max %.1fms  (%d files)\n", name, l.P50, l.P90, l.P99, l.Max, l.Count)
	}
	lat("verdict", r.Verdict)
	lat("first finding", r.FirstFinding)
	lat("after marker", r.AfterMarker)
	fmt.Fprintf(w, "  cache         %d hits, %d misses (hit rate %.1f%%)\n", r.Cache.Hits, r.Cache.Misses, 100*r.Cache.HitRate)
	fmt.Fprintf(w, "  verdicts      %s", countList(r.Labels))
	if r.Partial > 0 {
		fmt.Fprintf(w, " (%d partial)", r.Partial)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  errors        %s\n", countList(r.Errors))
	for _, k := range sortedKeys(r.ErrorSamples) {
		fmt.Fprintf(w, "    %s: %s\n", k, r.ErrorSamples[k])
	}
	fmt.Fprintf(w, "  machine       %s/%s, GOMAXPROCS %d, %s\n", r.Machine.OS, r.Machine.Arch, r.Machine.GOMAXPROCS, r.Machine.Go)
}

func countList(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range sortedKeys(m) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// commandLine quotes args for a shell, for the report.
func commandLine(args []string) string {
	quoted := make([]string, len(args))
	for i, a := range args {
		if a != "" && strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=,@%+") == "" {
			quoted[i] = a
		} else {
			quoted[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(quoted, " ")
}
