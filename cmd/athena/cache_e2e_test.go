package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"athena/internal/core"
	"athena/internal/redistest"
	"athena/internal/testkit"
)

// h2c is an HTTP/2 client with prior knowledge.
func h2c(t *testing.T) *http.Client {
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: time.Minute}
}

// analyzeDeclared posts data to /v1/analyze declaring its sha256. When
// body is false the request body is a pipe that is never written: only an
// answer from the cache can complete. It returns the events and whether the
// answer says it came from the cache.
func analyzeDeclared(t *testing.T, c *http.Client, base string, data []byte, body bool) ([]core.Event, bool) {
	t.Helper()
	sum := sha256.Sum256(data)
	var rd io.Reader = bytes.NewReader(data)
	if !body {
		pr, pw := io.Pipe()
		defer pw.Close()
		rd = pr
	}
	req, err := http.NewRequest(http.MethodPost, base+"/v1/analyze?name=f", rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Athena-SHA256", hex.EncodeToString(sum[:]))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("analyze: %s %s", resp.Status, b)
	}
	var evs []core.Event
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var ev core.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("line %q: %v", sc.Bytes(), err)
		}
		evs = append(evs, ev)
	}
	if len(evs) == 0 || evs[len(evs)-1].Verdict == nil {
		t.Fatalf("events %+v, want a verdict last", evs)
	}
	return evs, resp.Header.Get("X-Athena-Cached") == "true"
}

// verdictKnown reports whether GET /v1/verdicts/{sha256} answers 200.
func verdictKnown(base string, data []byte) bool {
	sum := sha256.Sum256(data)
	resp, err := http.Get(base + "/v1/verdicts/" + hex.EncodeToString(sum[:]))
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == 200
}

func readyStatus(base string) string {
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var body struct{ Status string }
	json.NewDecoder(resp.Body).Decode(&body)
	return body.Status
}

// uploads reads athena_gateway_uploads_total (all transports): files that
// became jobs, whose bytes went to JetStream.
func uploads(t *testing.T, base string) float64 {
	t.Helper()
	m, err := scrape(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, line := range strings.Split(m, "\n") {
		if strings.HasPrefix(line, "athena_gateway_uploads_total{") {
			var v float64
			fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &v)
			n += v
		}
	}
	return n
}

// TestServeVerdictCacheWithRedis runs serve --redis on a real redis-server:
// a scanned file is then answered from the cache on HTTP/2 and WebSocket
// without a job (no chunk published); with Redis killed uploads go on
// (readyz degraded), and once Redis is back hits resume.
func TestServeVerdictCacheWithRedis(t *testing.T) {
	rs := redistest.Start(t)
	base, _ := startServe(t, 1, "--redis", rs.URL)
	c := h2c(t)
	data := []byte(strings.Repeat("a harmless known file\n", 5000))
	evs, cached := analyzeDeclared(t, c, base, data, true)
	if cached || evs[len(evs)-1].Verdict.Cached {
		t.Fatalf("first analysis answered from the cache")
	}
	if fp := evs[len(evs)-1].Verdict.Fingerprint; fp == "" {
		t.Error("the verdict carries no pipeline fingerprint")
	}
	// The engine writes the verdict once JetStream holds it.
	testkit.WaitFor(t, 20*time.Second, "the verdict in the cache", func() bool { return verdictKnown(base, data) })

	jobs := uploads(t, base)
	evs, cached = analyzeDeclared(t, c, base, data, false)
	if !cached || len(evs) != 1 || !evs[0].Verdict.Cached || evs[0].Seq != 1 {
		t.Fatalf("declared-hash request: cached %v, events %+v; want one cached verdict", cached, evs)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, _, err := websocket.DefaultDialer.DialContext(ctx, strings.Replace(base, "http", "ws", 1)+"/v1/stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sum := sha256.Sum256(data)
	conn.WriteJSON(map[string]any{"type": "start", "stream": 1, "size": len(data), "sha256": hex.EncodeToString(sum[:])})
	var acc struct {
		Type   string
		Job    string
		Cached bool
	}
	var ev core.Event
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	if err := conn.ReadJSON(&acc); err != nil || acc.Type != "accepted" || !acc.Cached {
		t.Fatalf("websocket: %+v %v, want accepted cached", acc, err)
	}
	if err := conn.ReadJSON(&ev); err != nil || ev.Job != acc.Job || ev.Verdict == nil || !ev.Verdict.Cached {
		t.Fatalf("websocket: %+v %v, want the cached verdict", ev, err)
	}
	if got := uploads(t, base); got != jobs {
		t.Errorf("uploads went from %v to %v for cached answers, want no new job", jobs, got)
	}

	rs.Kill()
	testkit.WaitFor(t, 20*time.Second, "readyz degraded", func() bool { return readyStatus(base) == "degraded" })
	other := []byte(strings.Repeat("another harmless file\n", 4000))
	if evs, cached := analyzeDeclared(t, c, base, other, true); cached || evs[len(evs)-1].Verdict.Label != core.LabelClean {
		t.Fatalf("upload with Redis down: cached %v, %+v", cached, evs[len(evs)-1])
	}

	rs.Restart()
	testkit.WaitFor(t, 20*time.Second, "readyz ready", func() bool { return readyStatus(base) == "ready" })
	// Each process notices Redis is back within its probe interval (1s);
	// a verdict computed before its engine noticed is not cached, so
	// upload until one is.
	third := []byte(strings.Repeat("a third harmless file\n", 3000))
	testkit.WaitFor(t, 30*time.Second, "a verdict cached after the restart", func() bool {
		if _, cached := analyzeDeclared(t, c, base, third, true); cached {
			return true
		}
		return testkit.Poll(2*time.Second, func() bool { return verdictKnown(base, third) })
	})
	if _, cached := analyzeDeclared(t, c, base, third, false); !cached {
		t.Error("no cached answer after Redis came back")
	}
}

// TestServeVerdictCacheInProcess runs serve without --redis: the gateway
// caches what it relays, so a second declared-hash request is answered
// from its in-process cache.
func TestServeVerdictCacheInProcess(t *testing.T) {
	base, _ := startServe(t, 1)
	c := h2c(t)
	data := []byte(strings.Repeat("cached in process\n", 3000))
	analyzeDeclared(t, c, base, data, true)
	if evs, cached := analyzeDeclared(t, c, base, data, false); !cached || !evs[0].Verdict.Cached {
		t.Fatalf("second request: cached %v %+v, want an answer from the cache", cached, evs)
	}
	if readyStatus(base) != "ready" {
		t.Error("readyz is not ready without Redis")
	}
	// The CLI declares the hash with --declare-sha256, over both transports.
	path := filepath.Join(t.TempDir(), "known.txt")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, mode := range [][]string{{"--declare-sha256"}, {"--declare-sha256", "--ws"}} {
		evs, code, errOut := scanJSON(t, base, path, mode...)
		if code != 0 || len(evs) != 1 || evs[0].Verdict == nil || !evs[0].Verdict.Cached {
			t.Errorf("scan %v: exit %d, events %+v, stderr %s; want one cached verdict", mode, code, evs, errOut)
		}
	}
}
