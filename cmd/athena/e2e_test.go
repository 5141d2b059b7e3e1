package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"athena/internal/core"
	"athena/internal/testkit"
)

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// process is a program a test started; done closes once it has exited.
type process struct {
	*exec.Cmd
	done chan struct{}
}

// startProcess runs the athena binary (or another program) until the test
// ends, then stops it with SIGTERM and waits.
func startProcess(t *testing.T, name string, args ...string) *process {
	t.Helper()
	p := &process{Cmd: exec.Command(name, args...), done: make(chan struct{})}
	out := &testkit.SyncBuffer{}
	p.Stdout, p.Stderr = out, out
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(20 * time.Second):
			p.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("%s %s output:\n%s", filepath.Base(name), strings.Join(args, " "), out.String())
		}
	})
	return p
}

// waitReady waits until the gateway at base is ready with at least
// engines engines: a test that needs every engine (their profiles, their
// share of the jobs) must not race their start.
func waitReady(t *testing.T, base string, engines int) {
	t.Helper()
	testkit.WaitFor(t, 90*time.Second, fmt.Sprintf("%s/readyz with %d engines", base, engines), func() bool {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var r struct{ Engines int }
		return resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&r) == nil && r.Engines >= engines
	})
}

// startServe runs `athena serve` and returns the gateway's base URL.
func startServe(t *testing.T, engines int, extra ...string) (string, *process) {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cmd := startProcess(t, athenaBin, append([]string{"serve", "--addr", addr, "--data", t.TempDir(),
		"--engines", strconv.Itoa(engines), "--nats-port", "-1",
		"--modules", modulesDir, "--cache-dir", cacheDir, "--log-level", "info"}, extra...)...)
	base := "http://" + addr
	waitReady(t, base, engines)
	return base, cmd
}

// sample writes a file of size bytes with EICAR (built from pieces) at offset at.
func sample(t *testing.T, dir string, i, size, at int) string {
	t.Helper()
	data := bytes.Repeat([]byte(fmt.Sprintf("line %d of a harmless file\n", i)), size/20+1)[:size]
	copy(data[at:], testkit.EICAR())
	p := filepath.Join(dir, fmt.Sprintf("sample-%d.txt", i))
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// scanJSON runs athena scan --json on one file and returns its events.
func scanJSON(t *testing.T, base, path string, extra ...string) ([]core.Event, int, string) {
	t.Helper()
	args := append([]string{"scan", "--server", base, "--json"}, extra...)
	out, errOut, code := athena(t, append(args, path)...)
	return decodeEvents(t, out), code, errOut
}

func TestServeScansOverHTTP2AndWebSocket(t *testing.T) {
	base, _ := startServe(t, 1)
	dir := t.TempDir()
	eicar := sample(t, dir, 1, 300_000, 150_000)
	clean := filepath.Join(dir, "clean.txt")
	os.WriteFile(clean, []byte("just words\n"), 0o644)
	for _, mode := range [][]string{nil, {"--ws"}} {
		events, code, errOut := scanJSON(t, base, eicar, mode...)
		if code != 1 {
			t.Fatalf("scan %v of eicar: exit %d, want 1; stderr %s", mode, code, errOut)
		}
		last := events[len(events)-1]
		if last.Verdict == nil || last.Verdict.Label != core.LabelMalicious || last.Verdict.Size != 300_000 {
			t.Errorf("scan %v: last event %+v, want a malicious verdict of 300000 bytes", mode, last)
		}
		if _, code, errOut := scanJSON(t, base, clean, mode...); code != 0 {
			t.Errorf("scan %v of a clean file: exit %d, want 0; stderr %s", mode, code, errOut)
		}
	}
	// Human output names the verdict.
	out, _, code := athena(t, "scan", "--server", base, eicar)
	if code != 1 || !strings.Contains(out, "MALICIOUS") || !strings.Contains(out, "eicar_test_file") {
		t.Errorf("human scan output (exit %d):\n%s", code, out)
	}
}

// An engine process killed with SIGKILL in the middle of 10 jobs: every job
// completes and every finding reaches its client exactly once.
func TestServeSurvivesEngineKill(t *testing.T) {
	base, serve := startServe(t, 2)
	dir := t.TempDir()
	const jobs = 10
	type result struct {
		events []core.Event
		code   int
		errOut string
	}
	results := make([]result, jobs)
	var wg sync.WaitGroup
	for i := range jobs {
		p := sample(t, dir, i, 3<<20, 2<<20)
		wg.Go(func() {
			ev, code, errOut := scanJSON(t, base, p)
			results[i] = result{ev, code, errOut}
		})
	}
	var killed int
	testkit.WaitFor(t, 60*time.Second, "an engine process", func() bool {
		pids := children(serve.Process.Pid)
		if len(pids) == 0 {
			return false
		}
		killed = pids[0]
		return true
	})
	syscall.Kill(killed, syscall.SIGKILL)
	wg.Wait()
	for i, r := range results {
		if r.code != 1 {
			t.Errorf("job %d: exit %d, want 1 (detection); stderr %s", i, r.code, r.errOut)
			continue
		}
		seen := map[int64]bool{}
		eicars := 0
		for _, ev := range r.events {
			if seen[ev.Seq] {
				t.Errorf("job %d: seq %d delivered twice", i, ev.Seq)
			}
			seen[ev.Seq] = true
			if ev.Finding != nil && ev.Finding.Rule == "eicar_test_file" {
				eicars++
			}
		}
		if eicars != 1 {
			t.Errorf("job %d: %d eicar findings, want exactly 1", i, eicars)
		}
	}
	testkit.WaitFor(t, 30*time.Second, "a replacement engine", func() bool {
		pids := children(serve.Process.Pid)
		return len(pids) == 2 && pids[0] != killed && pids[1] != killed
	})
}

// children lists the pids whose parent is ppid.
func children(ppid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so cut after ')'.
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(ppid) {
			out = append(out, pid)
		}
	}
	return out
}

// natsServerBin finds the nats-server binary `make test` installs with go install.
func natsServerBin(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("nats-server"); err == nil {
		return p
	}
	gopath, err := exec.Command("go", "env", "GOPATH").Output()
	if err == nil {
		p := filepath.Join(strings.TrimSpace(string(gopath)), "bin", "nats-server")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatal("nats-server not found: make test installs it (go install github.com/nats-io/nats-server/v2@v2.15.2)")
	return ""
}

// athena gateway and two athena engine processes against a separately
// started nats-server: jobs are spread over both engines.
func TestGatewayAndEnginesOnExternalNATS(t *testing.T) {
	natsPort := freePort(t)
	startProcess(t, natsServerBin(t), "-js", "-a", "127.0.0.1", "-p", strconv.Itoa(natsPort), "-sd", t.TempDir())
	natsURL := fmt.Sprintf("nats://127.0.0.1:%d", natsPort)
	var metrics []string
	for i := range 2 {
		m := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		metrics = append(metrics, "http://"+m+"/metrics")
		startProcess(t, athenaBin, "engine", "--nats", natsURL, "--id", fmt.Sprintf("e%d", i),
			"--metrics-addr", m, "--concurrency", "1", "--modules", modulesDir, "--cache-dir", cacheDir)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	startProcess(t, athenaBin, "gateway", "--addr", addr, "--nats", natsURL)
	base := "http://" + addr
	waitReady(t, base, 1)
	// Both engines must be up before the jobs go out.
	testkit.WaitFor(t, 60*time.Second, "both engines' metrics", func() bool {
		for _, m := range metrics {
			if _, err := scrape(m); err != nil {
				return false
			}
		}
		return true
	})
	dir := t.TempDir()
	var wg sync.WaitGroup
	for i := range 10 {
		p := sample(t, dir, i, 1<<20, 1000)
		wg.Go(func() {
			if _, code, errOut := scanJSON(t, base, p); code != 1 {
				t.Errorf("scan %d: exit %d, want 1; %s", i, code, errOut)
			}
		})
	}
	wg.Wait()
	for _, m := range metrics {
		body, err := scrape(m)
		if err != nil {
			t.Fatal(err)
		}
		if n := jobsDone(body); n < 1 {
			t.Errorf("engine at %s took %v jobs, want at least 1:\n%s", m, n, body)
		}
	}
}

func scrape(url string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// jobsDone sums athena_worker_jobs_total over its outcomes.
func jobsDone(metrics string) float64 {
	var sum float64
	for _, line := range strings.Split(metrics, "\n") {
		if !strings.HasPrefix(line, "athena_worker_jobs_total{") {
			continue
		}
		f := strings.Fields(line)
		if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
			sum += v
		}
	}
	return sum
}

// The gateway serves the dashboard at / with its scripts, under a strict CSP.
func TestServeServesDashboard(t *testing.T) {
	base, _ := startServe(t, 1)
	for _, path := range []string{"/", "/static/app.js", "/static/style.css"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || len(body) == 0 {
			t.Errorf("GET %s: %s, %d bytes", path, resp.Status, len(body))
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("GET %s: CSP %q", path, csp)
		}
	}
	if resp, err := http.Get(base + "/nope"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /nope: %v %v, want 404", resp.Status, err)
	}
}

// SIGTERM stops athena serve cleanly: it exits 0 within the grace period and
// leaves no engine process behind.
func TestServeStopsOnSIGTERM(t *testing.T) {
	_, serve := startServe(t, 2)
	engines := children(serve.Process.Pid)
	if len(engines) != 2 {
		t.Fatalf("serve has %d child processes, want 2 engines", len(engines))
	}
	serve.Process.Signal(syscall.SIGTERM)
	select {
	case <-serve.done:
	case <-time.After(45 * time.Second):
		t.Fatal("serve still running 45s after SIGTERM")
	}
	if code := serve.ProcessState.ExitCode(); code != 0 {
		t.Errorf("serve exited with %d, want 0", code)
	}
	for _, pid := range engines {
		if err := syscall.Kill(pid, 0); err == nil {
			t.Errorf("engine %d still alive after serve exited", pid)
		}
	}
}

func TestServeWritesCPUProfiles(t *testing.T) {
	dir := t.TempDir()
	base, serve := startServe(t, 2, "--cpuprofile-dir", dir)
	eicar := sample(t, t.TempDir(), 1, 300_000, 150_000)
	if _, code, errOut := scanJSON(t, base, eicar); code != 1 {
		t.Fatalf("scan: exit %d, want 1; stderr %s", code, errOut)
	}
	serve.Process.Signal(syscall.SIGTERM)
	select {
	case <-serve.done:
	case <-time.After(45 * time.Second):
		t.Fatal("serve still running 45s after SIGTERM")
	}
	for _, name := range []string{"serve.pprof", "engine-0.pprof", "engine-1.pprof"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		// A pprof profile is gzip-compressed protobuf.
		if len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
			t.Errorf("%s: %d bytes, not a gzip-compressed profile", name, len(b))
		}
	}
}
