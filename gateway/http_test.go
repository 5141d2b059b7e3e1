package gateway

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"athena/internal/core"
	"athena/internal/testkit"
)

// TestHTTPFindingBeforeLastChunk posts a large file over HTTP/1.1 (full
// duplex), h2c with prior knowledge and TLS h2, and waits for the finding
// before sending the rest of the body.
func TestHTTPFindingBeforeLastChunk(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		proto     string
		tls       bool
		wantMajor int
	}{
		{"h1", false, 1},
		{"h2c", false, 2},
		{"h2", true, 2},
	} {
		t.Run(tc.proto, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, harnessOpts{tls: tc.tls})
			data := fileOf(*bigSize, true, 11)
			first := h.g.cfg.ChunkSize
			resp, pw, err := h.post(context.Background(), h.client(tc.proto), "big.bin")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK || resp.ProtoMajor != tc.wantMajor {
				t.Fatalf("got %s over HTTP/%d, want 200 over HTTP/%d", resp.Status, resp.ProtoMajor, tc.wantMajor)
			}
			job := resp.Header.Get(HeaderJob)
			if job == "" || resp.Header.Get("Content-Type") != "application/x-ndjson" {
				t.Fatalf("headers %v: want %s and application/x-ndjson", resp.Header, HeaderJob)
			}
			events := ndjson(t, resp.Body)
			writeErr := make(chan error, 1)
			go func() { _, err := pw.Write(data[:first]); writeErr <- err }()
			if err := <-writeErr; err != nil {
				t.Fatal(err)
			}
			var got []core.Event
			for {
				ev, err := nextEvent(events)
				if err != nil {
					t.Fatalf("no finding while the body uploads: %v", err)
				}
				got = append(got, ev)
				if ev.Type == core.EventFinding {
					break
				}
				if ev.Type == core.EventVerdict || ev.Type == core.EventError {
					t.Fatalf("terminal event before the finding: %+v", ev)
				}
			}
			// Only now send the rest.
			go func() {
				_, err := pw.Write(data[first:])
				pw.CloseWithError(err)
			}()
			rest, err := eventsUntil(events)
			if err != nil {
				t.Fatal(err)
			}
			last := rest[len(rest)-1]
			if last.Verdict == nil {
				t.Fatalf("last event %+v, want a verdict", last)
			}
			v := last.Verdict
			if err := checkVerdict(v, data, true); err != nil {
				t.Error(err)
			}
			for _, ev := range append(got, rest...) {
				if ev.Job != job {
					t.Errorf("event of job %q, want %q", ev.Job, job)
				}
			}
			if _, err := nextEvent(events); err != io.EOF {
				t.Errorf("after the verdict: %v, want EOF", err)
			}
		})
	}
}

// TestHTTP2ConcurrentUploads sends 20 files at once as streams of one
// HTTP/2 connection.
func TestHTTP2ConcurrentUploads(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	c := h.client("h2c")
	const files = 20
	var wg sync.WaitGroup
	for i := range files {
		wg.Add(1)
		go func() {
			defer wg.Done()
			data := fileOf(300<<10+i*1000, i%2 == 1, byte(i))
			evs, resp, err := h.analyze(c, fmt.Sprintf("f%d", i), data)
			if err != nil {
				t.Errorf("file %d: %v", i, err)
				return
			}
			if resp.ProtoMajor != 2 {
				t.Errorf("file %d: HTTP/%d, want 2", i, resp.ProtoMajor)
			}
			last := evs[len(evs)-1]
			if last.Verdict == nil {
				t.Errorf("file %d: last event %+v, want a verdict", i, last)
				return
			}
			if err := checkVerdict(last.Verdict, data, i%2 == 1); err != nil {
				t.Errorf("file %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
}

// TestHTTPClientGoneAborts cancels a request mid-body.
func TestHTTPClientGoneAborts(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	resp, pw, err := h.post(ctx, h.client("h2c"), "gone")
	if err != nil {
		t.Fatal(err)
	}
	job := resp.Header.Get(HeaderJob)
	if _, err := pw.Write(fileOf(2*h.g.cfg.ChunkSize, false, 12)); err != nil {
		t.Fatal(err)
	}
	// The engine reports progress once it has read a chunk: the upload is
	// under way.
	events := ndjson(t, resp.Body)
	if ev, err := nextEvent(events); err != nil || ev.Type != core.EventProgress {
		t.Fatalf("first event %+v, %v: want progress", ev, err)
	}
	cancel()
	pw.CloseWithError(context.Canceled)
	h.waitAbortChunk(job, abortClientGone)

	data := fileOf(1000, false, 13)
	evs, _, err := h.analyze(h.client("h2c"), "after", data)
	if err != nil {
		t.Fatal(err)
	}
	if v := evs[len(evs)-1].Verdict; v == nil || checkVerdict(v, data, false) != nil {
		t.Fatalf("gateway unhealthy after a client left: %+v", evs[len(evs)-1])
	}
}

// TestHTTPOversize covers a Content-Length over the limit (413 before
// anything) and a body that grows over it (error event and abort chunk).
func TestHTTPOversize(t *testing.T) {
	t.Parallel()
	const limit = 300 << 10
	h := newHarness(t, harnessOpts{cfg: func(c *Config) { c.MaxFileSize = limit }})

	req, _ := http.NewRequest(http.MethodPost, h.baseURL()+"/v1/analyze?name=big", bytes.NewReader(make([]byte, limit+1)))
	resp, err := h.client("h2c").Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("status %s, want 413", resp.Status)
	}
	if e := apiErr(t, resp); e.Code != CodeFileTooLarge {
		t.Errorf("code %q, want %q", e.Code, CodeFileTooLarge)
	}

	resp, pw, err := h.post(context.Background(), h.client("h2c"), "grows")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	job := resp.Header.Get(HeaderJob)
	go func() {
		_, err := pw.Write(fileOf(limit+1, false, 14))
		pw.CloseWithError(err)
	}()
	evs, err := eventsUntil(ndjson(t, resp.Body))
	if err != nil {
		t.Fatal(err)
	}
	if last := evs[len(evs)-1]; last.Error == nil || last.Error.Code != CodeFileTooLarge || last.Job != job || last.Seq != 0 {
		t.Fatalf("last event %+v, want a %s error with seq 0", last, CodeFileTooLarge)
	}
	h.waitAbortChunk(job, abortFileTooLarge)
}

// TestHTTPErrors are the errors answered before any streaming, each with
// its status and a JSON body.
func TestHTTPErrors(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	c := h.client("h1")
	for _, tc := range []struct {
		name, method, path string
		header             map[string]string
		status             int
		code               string
	}{
		{"GET analyze", http.MethodGet, "/v1/analyze?name=x", nil, http.StatusMethodNotAllowed, CodeMethodNotAllowed},
		{"control char in name", http.MethodPost, "/v1/analyze?name=a%00b", nil, http.StatusBadRequest, CodeBadName},
		{"name too long", http.MethodPost, "/v1/analyze?name=" + strings.Repeat("a", 256), nil, http.StatusBadRequest, CodeBadName},
		{"bad sha256", http.MethodPost, "/v1/analyze?name=x", map[string]string{HeaderSHA256: "xyz"}, http.StatusBadRequest, CodeBadSHA256},
		{"unknown route", http.MethodGet, "/v2/nothing", nil, http.StatusNotFound, CodeNotFound},
		{"stream without upgrade", http.MethodGet, "/v1/stream", nil, http.StatusUpgradeRequired, CodeUpgradeRequired},
		{"bad job id", http.MethodGet, "/v1/jobs/bad%20id/events", nil, http.StatusBadRequest, CodeBadJobID},
		{"bad after", http.MethodGet, "/v1/jobs/abc/events?after=-1", nil, http.StatusBadRequest, CodeBadAfter},
		{"unknown job", http.MethodGet, "/v1/jobs/nosuchjob/events", nil, http.StatusNotFound, CodeNotFound},
		{"POST events", http.MethodPost, "/v1/jobs/abc/events", nil, http.StatusMethodNotAllowed, CodeMethodNotAllowed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, h.baseURL()+tc.path, strings.NewReader("body"))
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status {
				t.Errorf("status %s, want %d", resp.Status, tc.status)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q, want application/json", ct)
			}
			if e := apiErr(t, resp); e.Code != tc.code || e.Message == "" {
				t.Errorf("error %+v, want code %q and a message", e, tc.code)
			}
		})
	}
}

// TestReplayEvents replays a finished job from after=N, and follows a
// running one live until its verdict.
func TestReplayEvents(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	c := h.client("h2c")
	data := fileOf(3*h.g.cfg.ChunkSize, true, 15)
	evs, resp, err := h.analyze(c, "done", data)
	if err != nil {
		t.Fatal(err)
	}
	job := resp.Header.Get(HeaderJob)

	replay := func(path string) []core.Event {
		t.Helper()
		resp, err := c.Get(h.baseURL() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s", path, resp.Status)
		}
		var got []core.Event
		for ev := range ndjson(t, resp.Body) {
			got = append(got, ev)
		}
		return got
	}
	for _, after := range []int{0, 2, len(evs) - 1, len(evs)} {
		got := replay(fmt.Sprintf("/v1/jobs/%s/events?after=%d", job, after))
		if len(got) != len(evs)-after {
			t.Errorf("after=%d: %d events, want %d", after, len(got), len(evs)-after)
			continue
		}
		for i, ev := range got {
			if ev.Seq != int64(after+i+1) || ev.Type != evs[after+i].Type {
				t.Errorf("after=%d: event %d is seq %d %s, want seq %d %s", after, i, ev.Seq, ev.Type, after+i+1, evs[after+i].Type)
			}
		}
	}

	// A running job: the replay streams until the verdict.
	ws := h.mustDialWS()
	data = fileOf(2*h.g.cfg.ChunkSize, false, 16)
	job, err = ws.accept(1, "live", int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if err := ws.send(1, data[:h.g.cfg.ChunkSize], 64<<10); err != nil {
		t.Fatal(err)
	}
	resp, err = c.Get(h.baseURL() + "/v1/jobs/" + job + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	live := ndjson(t, resp.Body)
	if ev, err := nextEvent(live); err != nil || ev.Type != core.EventProgress {
		t.Fatalf("first live event %+v, %v: want progress", ev, err)
	}
	if err := ws.send(1, data[h.g.cfg.ChunkSize:], 64<<10); err != nil {
		t.Fatal(err)
	}
	if err := ws.end(1); err != nil {
		t.Fatal(err)
	}
	rest, err := eventsUntil(live)
	if err != nil {
		t.Fatal(err)
	}
	if v := rest[len(rest)-1].Verdict; v == nil || checkVerdict(v, data, false) != nil {
		t.Fatalf("live replay ended with %+v, want the verdict", rest[len(rest)-1])
	}
	if _, err := nextEvent(live); err != io.EOF {
		t.Errorf("after the verdict: %v, want EOF", err)
	}
}

// TestReadiness: /readyz and uploads follow engine presence.
func TestReadiness(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{noPresence: true, cfg: func(c *Config) { c.EngineStaleAfter = 300e6 }})
	c := h.client("h1")
	status := func(path string) int {
		resp, err := c.Get(h.baseURL() + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := status("/healthz"); got != http.StatusOK {
		t.Errorf("/healthz %d, want 200", got)
	}
	resp, err := c.Get(h.baseURL() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	if e := apiErr(t, resp); resp.StatusCode != http.StatusServiceUnavailable || e.Code != CodeNotReady || !strings.Contains(e.Message, "engine") {
		t.Errorf("/readyz without engines: %s %+v, want 503 not_ready naming engines", resp.Status, e)
	}
	_, resp, err = h.analyze(c, "x", []byte("x"))
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("analyze without engines: %v, want 503", err)
	}
	ws := h.mustDialWS()
	if err := ws.start(1, "x", 1); err != nil {
		t.Fatal(err)
	}
	if m, err := ws.next(1); err != nil || m.Type != "rejected" || m.Error.Code != CodeNotReady {
		t.Errorf("WebSocket start without engines: %s %v, want rejected not_ready", m.raw, err)
	}

	h.eng.startPresence()
	testkit.WaitFor(t, testTimeout, "/readyz 200 after presence", func() bool { return status("/readyz") == http.StatusOK })
	h.eng.stopPresence(true)
	testkit.WaitFor(t, testTimeout, "/readyz 503 after the engine left", func() bool { return status("/readyz") == http.StatusServiceUnavailable })
	h.eng.startPresence()
	testkit.WaitFor(t, testTimeout, "/readyz 200 after presence", func() bool { return status("/readyz") == http.StatusOK })
	h.eng.stopPresence(false)
	testkit.WaitFor(t, testTimeout, "/readyz 503 once presence is stale", func() bool { return status("/readyz") == http.StatusServiceUnavailable })

	resp, err = c.Get(h.baseURL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, name := range []string{
		"athena_gateway_http_requests_total", "athena_gateway_http_request_duration_seconds",
		"athena_gateway_websocket_sessions",
	} {
		if !bytes.Contains(body, []byte(name)) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
}

// TestMetricsAfterUpload checks the upload metrics move.
func TestMetricsAfterUpload(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	data := fileOf(100<<10, true, 17)
	if _, _, err := h.analyze(h.client("h2c"), "m", data); err != nil {
		t.Fatal(err)
	}
	seen := func() map[string]float64 {
		mfs, err := h.reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]float64{}
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				switch {
				case m.GetCounter() != nil:
					seen[mf.GetName()] += m.GetCounter().GetValue()
				case m.GetHistogram() != nil:
					seen[mf.GetName()] += float64(m.GetHistogram().GetSampleCount())
				}
			}
		}
		return seen
	}
	want := map[string]float64{
		"athena_gateway_uploads_total":                 1,
		"athena_gateway_bytes_in_total":                float64(len(data)),
		"athena_gateway_first_finding_seconds":         1,
		"athena_gateway_job_duration_seconds":          1,
		"athena_gateway_http_requests_total":           1,
		"athena_gateway_jetstream_publish_seconds":     2, // the job and at least one chunk
		"athena_gateway_http_request_duration_seconds": 1,
	}
	// Some are recorded after the client has the verdict: the request once
	// the handler returns, a chunk's publish when JetStream's ack comes
	// back. Wait until every one has moved.
	var short []string
	if !testkit.Poll(testTimeout, func() bool {
		got := seen()
		short = short[:0]
		for name, min := range want {
			if got[name] < min {
				short = append(short, fmt.Sprintf("%s = %v, want at least %v", name, got[name], min))
			}
		}
		return len(short) == 0
	}) {
		t.Errorf("metrics did not move: %v", short)
	}
}

// TestCurlExample runs the docs/api.md example with curl.
func TestCurlExample(t *testing.T) {
	t.Parallel()
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Fatal("curl is a test dependency (make deps installs it)")
	}
	h := newHarness(t, harnessOpts{})
	file := filepath.Join(t.TempDir(), "sample.bin")
	data := fileOf(3<<20, true, 18) // large enough for curl to send Expect: 100-continue
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"--http2-prior-knowledge"},
		{"--http1.1"},
	} {
		t.Run(args[0], func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			cmd := exec.CommandContext(ctx, curl, append(args, "-sS", "--fail-with-body", "-T", file,
				h.baseURL()+"/v1/analyze?name=sample.bin")...)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("curl: %v\n%s", err, out)
			}
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			evs, err := eventsUntil(ndjson(t, strings.NewReader(strings.Join(lines, "\n"))))
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if v := evs[len(evs)-1].Verdict; v == nil || checkVerdict(v, data, true) != nil {
				t.Fatalf("curl output ends with %s", lines[len(lines)-1])
			}
		})
	}
}
