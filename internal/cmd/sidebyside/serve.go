package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// benchJSON is the part of `athena bench --json` the comparison reads.
type benchJSON struct {
	Elapsed float64 `json:"elapsed_seconds"`
	Files   int     `json:"files"`
	Bytes   int64   `json:"bytes"`
	MBps    float64 `json:"mb_per_s"`
	Verdict struct {
		P50 float64 `json:"p50"`
		P99 float64 `json:"p99"`
	} `json:"time_to_verdict_ms"`
	Cache struct {
		Hits int `json:"hits"`
	} `json:"cache"`
	Labels  map[string]int `json:"labels"`
	Errors  map[string]int `json:"errors"`
	Flagged []flagged      `json:"flagged"`
}

// flagged is a file Athena did not find clean, with the reasons.
type flagged struct {
	Name    string   `json:"name"`
	Label   string   `json:"label"`
	Reasons []string `json:"reasons,omitempty"`
}

// e2eResult is one `athena serve` + `athena bench` run.
type e2eResult struct {
	Bench      benchJSON
	CPUSeconds float64 // the serve process tree's, during the bench
	ServeCmd   string
	BenchCmd   string
	Startup    time.Duration // start to /readyz 200
}

// runE2E starts athena serve with the rule set, waits for /readyz, runs
// athena bench over dir with 4 HTTP/2 clients and measures the CPU time of
// serve and its engine processes during the bench; then stops serve with
// SIGTERM.
//
// With profDir, serve writes CPU profiles there (--cpuprofile-dir); they
// cover serve's whole life after ready, which is mostly the bench.
func runE2E(ctx context.Context, athena, modules, rules, cacheDir, dir, tmp, profDir string, engines, clients int) (e2eResult, error) {
	var res e2eResult
	port, err := freePort()
	if err != nil {
		return res, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	data, err := os.MkdirTemp(tmp, "serve-data-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(data)
	serveArgs := []string{"serve", "--modules", modules, "--rules", rules, "--addr", addr, "--nats-port", "-1",
		"--data", data, "--engines", strconv.Itoa(engines), "--cache-dir", cacheDir, "--rules-poll", "0"}
	if profDir != "" {
		abs, err := filepath.Abs(profDir)
		if err != nil {
			return res, err
		}
		if err := os.MkdirAll(abs, 0o755); err != nil {
			return res, err
		}
		serveArgs = append(serveArgs, "--cpuprofile-dir", abs)
	}
	res.ServeCmd = athena + " " + strings.Join(serveArgs, " ")
	logf, err := os.Create(filepath.Join(data, "..", filepath.Base(data)+".log"))
	if err != nil {
		return res, err
	}
	defer logf.Close()
	serve := exec.Command(athena, serveArgs...)
	serve.Stdout, serve.Stderr = logf, logf
	start := time.Now()
	if err := serve.Start(); err != nil {
		return res, err
	}
	done := make(chan error, 1)
	go func() { done <- serve.Wait() }()
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		serve.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-done:
			return err
		case <-time.After(45 * time.Second):
			serve.Process.Kill()
			<-done
			return fmt.Errorf("athena serve: no exit 45 s after SIGTERM; killed")
		}
	}
	defer stop()

	cl := &http.Client{Timeout: 2 * time.Second}
	ready := false
	for !ready && time.Since(start) < 3*time.Minute {
		select {
		case err := <-done:
			stopped = true
			log, _ := os.ReadFile(logf.Name())
			return res, fmt.Errorf("athena serve exited before ready (%v)\n%s", err, tail(log, 4000))
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if resp, err := cl.Get("http://" + addr + "/readyz"); err == nil {
			ready = resp.StatusCode == http.StatusOK
			resp.Body.Close()
		}
	}
	if !ready {
		return res, fmt.Errorf("athena serve: /readyz not 200 after 3 minutes")
	}
	res.Startup = time.Since(start)

	benchArgs := []string{"bench", "--addr", addr, "--dir", dir, "--clients", strconv.Itoa(clients), "--transport", "http2", "--json"}
	res.BenchCmd = athena + " " + strings.Join(benchArgs, " ")
	before, err := treeTicks(serve.Process.Pid)
	if err != nil {
		return res, err
	}
	bench := exec.CommandContext(ctx, athena, benchArgs...)
	var stdout, stderr bytes.Buffer
	bench.Stdout, bench.Stderr = &stdout, &stderr
	benchErr := bench.Run()
	after, err := treeTicks(serve.Process.Pid)
	if err != nil {
		return res, err
	}
	res.CPUSeconds = float64(after-before) / clockTicks
	if err := json.Unmarshal(stdout.Bytes(), &res.Bench); err != nil {
		return res, fmt.Errorf("athena bench (%v): %v\n%s", benchErr, err, tail(stderr.Bytes(), 4000))
	}
	if benchErr != nil && len(res.Bench.Errors) == 0 {
		return res, fmt.Errorf("athena bench: %v\n%s", benchErr, tail(stderr.Bytes(), 4000))
	}
	if err := stop(); err != nil {
		fmt.Fprintf(os.Stderr, "sidebyside: warning: athena serve after SIGTERM: %v\n", err)
	}
	return res, nil
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
