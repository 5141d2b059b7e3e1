package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"athena/internal/core"
	"athena/internal/corpus"
)

// TestBenchAgainstServe runs athena bench against a real athena serve over
// both transports, then a Zipf mix with declared hashes.
func TestBenchAgainstServe(t *testing.T) {
	base, _ := startServe(t, 1)
	dir := t.TempDir()
	man, err := corpus.Generate(dir, corpus.Options{Seed: 11, Files: 12, MaxSize: 256 << 10, Planted: 0.4})
	if err != nil {
		t.Fatal(err)
	}
	eicar := ""
	for _, f := range man.Files {
		for _, m := range f.Markers {
			if m.Name == "eicar" && m.Member == "" && eicar == "" {
				eicar = f.Name
			}
		}
	}
	if eicar == "" {
		t.Fatalf("the corpus has no file with EICAR in its raw bytes: %+v", man.Files)
	}

	for _, transport := range []string{"http2", "ws"} {
		t.Run(transport, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "report.json")
			rep := benchJSON(t, "--server", base, "--transport", transport, "--dir", dir, "--clients", "3", "--out", out)
			saved, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			var fromFile benchReport
			if err := json.Unmarshal(saved, &fromFile); err != nil || fromFile.Timestamp != rep.Timestamp || fromFile.Files != rep.Files {
				t.Errorf("--out file %s (%v) is not the printed report", saved, err)
			}
			checkSane(t, rep, len(man.Files), man.Bytes)
			if rep.Config.Transport != transport || rep.Config.SetBytes != man.Bytes {
				t.Errorf("config %+v, want transport %s and set bytes %d", rep.Config, transport, man.Bytes)
			}
			if rep.BytesSent != man.Bytes {
				t.Errorf("bytes sent %d, want %d (no hash declared: every byte goes)", rep.BytesSent, man.Bytes)
			}
			if rep.FirstFinding.Count == 0 || rep.FirstFinding.P50 > rep.FirstFinding.P99 {
				t.Errorf("time to first finding %+v, want findings (filetype reports every file)", rep.FirstFinding)
			}
			var label string
			for _, f := range rep.Flagged {
				if f.Name == eicar {
					label = f.Label
				}
			}
			if label != core.LabelMalicious {
				t.Errorf("%s (EICAR planted) got %q, want malicious; flagged %+v", eicar, label, rep.Flagged)
			}
		})
	}

	for i, transport := range []string{"http2", "ws"} {
		t.Run("zipf with declared hashes over "+transport, func(t *testing.T) {
			seed := strconv.Itoa(3 + i) // a corpus the server has not seen
			rep := benchJSON(t, "--server", base, "--transport", transport, "--corpus", "6", "--seed", seed,
				"--max-size", "64KiB", "--count", "40", "--repeat-zipf", "1.2", "--declare-sha256", "--clients", "2")
			checkSane(t, rep, 40, -1)
			if rep.Cache.Hits == 0 || rep.Cache.Hits+rep.Cache.Misses != 40 {
				t.Errorf("cache %+v, want hits > 0 out of 40", rep.Cache)
			}
			// On HTTP/2 the transport may send a small body before the
			// server's answer resets the stream; on the WebSocket a cached
			// file sends nothing.
			if transport == "ws" && rep.BytesSent >= rep.Bytes {
				t.Errorf("uploaded %d bytes for %d bytes of verdicts: cached files should send none", rep.BytesSent, rep.Bytes)
			}
		})
	}

	// The server runs the built-in rules, which know the EICAR marker (the
	// first one planted; this corpus has it in a file's own bytes).
	t.Run("first finding after the planted marker", func(t *testing.T) {
		rep := benchJSON(t, "--server", base, "--transport", "ws", "--corpus", "12", "--seed", "11",
			"--max-size", "256KiB", "--planted", "0.4", "--clients", "2")
		checkSane(t, rep, 12, -1)
		a := rep.AfterMarker
		if a.Count == 0 || a.P50 > a.P99 || a.Max <= 0 {
			t.Errorf("after marker %+v, want the files with a marker in their own bytes", a)
		}
	})

	t.Run("idle sessions", func(t *testing.T) {
		out, errOut, code := athena(t, "bench", "--server", base, "--idle", "50", "--idle-hold", "100ms", "--json")
		if code != 0 {
			t.Fatalf("exit %d; stderr %s\n%s", code, errOut, out)
		}
		var rep idleReport
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("report is not JSON: %v\n%s", err, out)
		}
		if rep.Sessions != 50 || rep.Failed != 0 || rep.ServerSessions < 50 {
			t.Errorf("sessions %d (failed %d), the server counted %.0f: want 50 held", rep.Sessions, rep.Failed, rep.ServerSessions)
		}
		if rep.RSSBefore <= 0 || rep.RSSHeld <= 0 || rep.GoroutinesAdded < 50 {
			t.Errorf("server memory %.0f -> %.0f, goroutines %+.0f: want the server's metrics", rep.RSSBefore, rep.RSSHeld, rep.GoroutinesAdded)
		}
	})

	t.Run("text report and duration", func(t *testing.T) {
		out, errOut, code := athena(t, "bench", "--server", base, "--dir", dir, "--duration", "300ms", "--transport", "ws")
		if code != 0 {
			t.Fatalf("exit %d; stderr %s", code, errOut)
		}
		for _, want := range []string{"MB/s", "files/s", "p99", "cache", "errors        none", "GOMAXPROCS"} {
			if !strings.Contains(out, want) {
				t.Errorf("text report lacks %q:\n%s", want, out)
			}
		}
	})
}

// benchJSON runs athena bench --json and decodes its report.
func benchJSON(t *testing.T, args ...string) benchReport {
	t.Helper()
	out, errOut, code := athena(t, append([]string{"bench", "--json"}, args...)...)
	if code != 0 {
		t.Fatalf("bench exit %d; stderr %s\n%s", code, errOut, out)
	}
	var rep benchReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, out)
	}
	return rep
}

// checkSane checks a report of a run without errors of files sends, of
// bytes in all (unless negative).
func checkSane(t *testing.T, rep benchReport, files int, bytes int64) {
	t.Helper()
	if rep.Files != files || rep.Sends != files {
		t.Errorf("files %d, sends %d, want %d", rep.Files, rep.Sends, files)
	}
	if bytes >= 0 && rep.Bytes != bytes {
		t.Errorf("bytes %d, want %d", rep.Bytes, bytes)
	}
	if len(rep.Errors) != 0 {
		t.Errorf("errors %v: %v", rep.Errors, rep.ErrorSamples)
	}
	v := rep.Verdict
	if v.Count != files || v.P50 <= 0 || v.P50 > v.P90 || v.P90 > v.P99 || v.P99 > v.Max {
		t.Errorf("time to verdict %+v, want %d ordered percentiles", v, files)
	}
	if rep.MBPerSecond <= 0 || rep.FilesPerSecond <= 0 {
		t.Errorf("throughput %.3f MB/s, %.3f files/s", rep.MBPerSecond, rep.FilesPerSecond)
	}
	if _, err := time.Parse(time.RFC3339, rep.Timestamp); err != nil {
		t.Errorf("timestamp %q: %v", rep.Timestamp, err)
	}
	if rep.Machine.GOMAXPROCS < 1 || rep.Machine.OS == "" || !strings.HasPrefix(rep.Command, "athena bench ") {
		t.Errorf("machine %+v, command %q", rep.Machine, rep.Command)
	}
}

func TestBenchFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"no file set", nil},
		{"both file sets", []string{"--dir", ".", "--corpus", "3"}},
		{"bad transport", []string{"--corpus", "3", "--transport", "quic"}},
		{"bad size", []string{"--corpus", "3", "--max-size", "lots"}},
		{"bad server", []string{"--corpus", "3", "--server", "ftp://x"}},
		{"no clients", []string{"--corpus", "3", "--clients", "0"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, errOut, code := athena(t, append([]string{"bench"}, tc.args...)...); code != 2 {
				t.Errorf("exit %d, want 2; stderr %s", code, errOut)
			}
		})
	}
}

func TestBenchZipfPicker(t *testing.T) {
	const n, draws = 50, 20000
	p, q := newPicker(n, 1.1, 7), newPicker(n, 1.1, 7)
	hits := make([]int, n)
	for i := range int64(draws) {
		k := p.pick(i, n)
		if k != q.pick(i, n) {
			t.Fatalf("pick %d differs between two pickers of one seed", i)
		}
		hits[k]++
	}
	top, distinct := 0, 0
	for _, h := range hits {
		top = max(top, h)
		if h > 0 {
			distinct++
		}
	}
	// Zipf(1.1) over 50 ranks gives the first about 27% of the draws.
	if top < draws/5 || top > draws/3 || distinct < n/2 {
		t.Errorf("most popular file drawn %d of %d times, %d distinct: not Zipf(1.1)-like", top, draws, distinct)
	}
	inTurn := newPicker(n, 0, 7)
	for i := range int64(2 * n) {
		if got := inTurn.pick(i, n); got != int(i%n) {
			t.Fatalf("in turn: pick %d = %d", i, got)
		}
	}
}

func TestBenchSummarize(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	got := summarize(ds)
	want := latencySummary{Count: 100, P50: 50, P90: 90, P99: 99, Max: 100, Mean: 50.5}
	if got != want {
		t.Errorf("summarize = %+v, want %+v", got, want)
	}
	if got := summarize(nil); got != (latencySummary{}) {
		t.Errorf("summarize(nil) = %+v", got)
	}
}

// A gateway chunk below 4 KiB is refused before anything starts.
func TestServeChunkSizeFlag(t *testing.T) {
	_, errOut, code := athena(t, "serve", "--chunk-size", "100", "--nats-port", "-1", "--data", t.TempDir())
	if code != 2 || !strings.Contains(errOut, "--chunk-size 100") {
		t.Fatalf("serve --chunk-size 100: exit %d, stderr %q", code, errOut)
	}
}
