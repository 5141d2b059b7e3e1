package gateway

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/brotli"

	"athena/internal/cache"
	"athena/internal/core"
	"athena/internal/redistest"
	"athena/internal/testkit"
	"athena/streams"
)

// newCacheHarness is a harness whose gateway has a verdict cache on a real
// redis-server (rs nil: L1 only).
func newCacheHarness(t testing.TB, rs *redistest.Server, relayed bool) (*harness, *cache.Cache) {
	t.Helper()
	cfg := cache.Config{HealthInterval: 50 * time.Millisecond}
	if rs != nil {
		cfg.RedisURL = rs.URL
	}
	c, err := cache.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	h := newHarness(t, harnessOpts{cfg: func(gc *Config) {
		gc.Cache, gc.CacheRelayedVerdicts = c, relayed
		gc.CoalesceWait = 20 * time.Second
	}})
	testkit.WaitFor(t, testTimeout, "the engine's fingerprint", func() bool {
		return slices.Equal(h.g.presence.fingerprints(), []string{fakeFP})
	})
	return h, c
}

// engineCache is the cache an engine process would write, on the same Redis.
func engineCache(t testing.TB, rs *redistest.Server) *cache.Cache {
	t.Helper()
	c, err := cache.New(context.Background(), cache.Config{RedisURL: rs.URL, L1MaxEntries: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// chunkMsgs is how many messages the chunk stream holds: the bytes every
// upload published.
func (h *harness) chunkMsgs() uint64 {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := h.js.Stream(ctx, streams.StreamChunks)
	if err != nil {
		h.t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	return info.State.Msgs
}

// verdictFor is a complete verdict as an engine of fingerprint fp computes it.
func verdictFor(data []byte, fp string) core.Verdict {
	s := sha(data)
	return core.Verdict{Label: core.LabelClean, SHA256: s, Size: int64(len(data)),
		Hashes: core.Hashes{SHA256: s}, Fingerprint: fp}
}

// postDeclared posts to /v1/analyze with X-Athena-SHA256 and a body that is
// never written: an answer from the cache must not need it.
func (h *harness) postDeclared(c *http.Client, sum string) (*http.Response, *io.PipeWriter, error) {
	pr, pw := io.Pipe()
	req, err := http.NewRequest(http.MethodPost, h.baseURL()+"/v1/analyze?name=known", pr)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set(HeaderSHA256, sum)
	resp, err := c.Do(req)
	if err != nil {
		pw.Close()
		return nil, nil, err
	}
	return resp, pw, nil
}

// checkCachedAnswer checks an /v1/analyze answer from the cache.
func checkCachedAnswer(t *testing.T, resp *http.Response, sum string) {
	t.Helper()
	if resp.StatusCode != http.StatusOK || resp.Header.Get(HeaderCached) != "true" ||
		!strings.HasPrefix(resp.Header.Get(HeaderJob), cachedJobPrefix) {
		t.Fatalf("status %s, %s %q, %s %q; want 200 from the cache", resp.Status,
			HeaderCached, resp.Header.Get(HeaderCached), HeaderJob, resp.Header.Get(HeaderJob))
	}
	evs, err := eventsUntil(ndjson(t, resp.Body))
	if err != nil || len(evs) != 1 {
		t.Fatalf("events %+v (%v), want one verdict", evs, err)
	}
	ev := evs[0]
	if ev.Type != core.EventVerdict || ev.Seq != 1 || ev.Job != resp.Header.Get(HeaderJob) ||
		ev.Verdict == nil || !ev.Verdict.Cached || ev.Verdict.SHA256 != sum {
		t.Fatalf("event %+v, want the cached verdict of %s, seq 1", ev, sum)
	}
}

// TestCacheShortCircuitHTTP2 uploads a file over HTTP/2 (the gateway caches
// the verdict it relays), then declares its sha256 again: the answer comes
// from the cache, the body is never read, and no chunk is published.
func TestCacheShortCircuitHTTP2(t *testing.T) {
	h, c := newCacheHarness(t, redistest.Start(t), true)
	cl := h.client("h2c")
	data := fileOf(300<<10, true, 3)
	evs, _, err := h.analyze(cl, "first", data)
	if err != nil {
		t.Fatal(err)
	}
	if v := evs[len(evs)-1].Verdict; v == nil || v.Cached {
		t.Fatalf("first upload ended with %+v, want a fresh verdict", evs[len(evs)-1])
	}
	if _, ok := c.Get(context.Background(), cache.Key{SHA256: sha(data), Fingerprint: fakeFP}); !ok {
		t.Fatal("the relayed verdict is not cached")
	}
	before := h.chunkMsgs()
	resp, pw, err := h.postDeclared(cl, sha(data))
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	defer resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Errorf("protocol %s, want HTTP/2", resp.Proto)
	}
	checkCachedAnswer(t, resp, sha(data))
	if got := h.chunkMsgs(); got != before {
		t.Errorf("chunk messages %d after a cached answer, want %d (none published)", got, before)
	}
}

// TestCacheShortCircuitWS declares the sha256 of a file an engine cached:
// accepted is marked cached, the verdict follows, no chunk is published,
// and frames sent for the stream anyway are dropped.
func TestCacheShortCircuitWS(t *testing.T) {
	rs := redistest.Start(t)
	h, _ := newCacheHarness(t, rs, false)
	c := engineCache(t, rs)
	data := fileOf(100<<10, false, 4)
	v := verdictFor(data, fakeFP)
	if err := c.Put(context.Background(), cache.Key{SHA256: v.SHA256, Fingerprint: fakeFP}, v, nil); err != nil {
		t.Fatal(err)
	}
	before := h.chunkMsgs()
	ws := h.mustDialWS()
	if err := ws.writeText(map[string]any{"type": "start", "stream": 1, "name": "known", "size": len(data), "sha256": v.SHA256}); err != nil {
		t.Fatal(err)
	}
	msgs, err := ws.until(1, core.EventVerdict, core.EventError)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 || msgs[0].Type != "accepted" || !msgs[0].Cached || !strings.HasPrefix(msgs[0].Job, cachedJobPrefix) {
		t.Fatalf("messages %s, want accepted (cached) then the verdict", rawOf(msgs))
	}
	if got := msgs[1]; got.Job != msgs[0].Job || got.Seq != 1 || got.Verdict == nil || !got.Verdict.Cached || got.Verdict.SHA256 != v.SHA256 {
		t.Fatalf("verdict %s, want the cached verdict, seq 1, job %s", got.raw, msgs[0].Job)
	}
	// A client that sends the bytes anyway is not disconnected.
	if err := ws.send(1, data, 64<<10); err != nil {
		t.Fatal(err)
	}
	if err := ws.end(1); err != nil {
		t.Fatal(err)
	}
	// The same stream number is free for a file the cache does not know.
	other := fileOf(10<<10, false, 5)
	if msgs, err := ws.upload(1, "other", other); err != nil {
		t.Fatal(err)
	} else if v, err := verdictOf(msgs); err != nil || v.Cached {
		t.Fatalf("second file: %v %+v, want a fresh verdict", err, v)
	}
	if got, want := h.chunkMsgs()-before, uint64(1); got != want {
		t.Errorf("chunk messages published %d, want %d (the second file only)", got, want)
	}
}

func rawOf(msgs []wsMsg) string {
	var b strings.Builder
	for _, m := range msgs {
		b.Write(m.raw)
		b.WriteByte('\n')
	}
	return b.String()
}

// TestCoalesce sends two uploads declaring the same sha256 at once: the
// second waits for the first's verdict and gets it as cached without
// sending a byte.
func TestCoalesce(t *testing.T) {
	h, _ := newCacheHarness(t, nil, true)
	cl := h.client("h2c")
	data := fileOf(200<<10, true, 6)
	sum := sha(data)
	first, pw1, err := h.postDeclared(cl, sum)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Body.Close()
	testkit.WaitFor(t, testTimeout, "the first upload's flight", func() bool {
		h.g.flightMu.Lock()
		defer h.g.flightMu.Unlock()
		return h.g.flights[sum] != nil
	})
	type result struct {
		resp *http.Response
		err  error
	}
	second := make(chan result, 1)
	go func() {
		resp, pw, err := h.postDeclared(cl, sum)
		if pw != nil {
			defer pw.Close()
		}
		second <- result{resp, err}
	}()
	select {
	case r := <-second:
		t.Fatalf("the second upload was answered (%v) before the first ended", r.err)
	case <-time.After(300 * time.Millisecond):
	}
	go func() { pw1.Write(data); pw1.Close() }()
	evs, err := eventsUntil(ndjson(t, first.Body))
	if err != nil || evs[len(evs)-1].Verdict == nil || evs[len(evs)-1].Verdict.Cached {
		t.Fatalf("first upload: %v %+v, want a fresh verdict", err, evs)
	}
	r := <-second
	if r.err != nil {
		t.Fatal(r.err)
	}
	defer r.resp.Body.Close()
	checkCachedAnswer(t, r.resp, sum)
	if got := h.chunkMsgs(); got != 1 {
		t.Errorf("chunk messages %d, want 1 (the first upload's only)", got)
	}
}

// getJSON sends a request and decodes its JSON answer, undoing any
// content encoding; it returns the status and the encoding.
func getJSON(t testing.TB, c *http.Client, method, url, accept string, body any, out any) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if accept != "" {
		req.Header.Set("Accept-Encoding", accept)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r io.Reader = resp.Body
	enc := resp.Header.Get("Content-Encoding")
	switch enc {
	case "br":
		r = brotli.NewReader(resp.Body)
	case "gzip":
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	}
	if out != nil {
		if err := json.NewDecoder(r).Decode(out); err != nil {
			t.Fatalf("%s %s: %s: decoding: %v", method, url, resp.Status, err)
		}
	}
	return resp.StatusCode, enc
}

// TestVerdictAPI covers GET /v1/verdicts/{sha256}, a batch of 1,000 with
// known and unknown hashes (compressed), operator invalidation, the stats
// and a fingerprint change.
func TestVerdictAPI(t *testing.T) {
	rs := redistest.Start(t)
	h, _ := newCacheHarness(t, rs, false)
	c := engineCache(t, rs)
	cl := h.client("h2c")
	ctx := context.Background()
	var hashes []string
	known := map[string]bool{}
	for i := range cache.MaxBatch {
		data := []byte(fmt.Sprintf("file %d", i))
		hashes = append(hashes, sha(data))
		if i%3 == 0 {
			v := verdictFor(data, fakeFP)
			if err := c.Put(ctx, cache.Key{SHA256: v.SHA256, Fingerprint: fakeFP}, v, []string{"batch:test"}); err != nil {
				t.Fatal(err)
			}
			known[v.SHA256] = true
		}
	}
	var v core.Verdict
	if code, _ := getJSON(t, cl, "GET", h.baseURL()+"/v1/verdicts/"+strings.ToUpper(hashes[0]), "", nil, &v); code != 200 || !v.Cached || v.SHA256 != hashes[0] {
		t.Errorf("GET known: %d %+v, want 200 and the cached verdict", code, v)
	}
	var e struct{ Error apiError }
	if code, _ := getJSON(t, cl, "GET", h.baseURL()+"/v1/verdicts/"+hashes[1], "", nil, &e); code != 404 || e.Error.Code != CodeNotFound {
		t.Errorf("GET unknown: %d %+v, want 404 not_found", code, e)
	}
	if code, _ := getJSON(t, cl, "GET", h.baseURL()+"/v1/verdicts/xyz", "", nil, &e); code != 400 || e.Error.Code != CodeBadSHA256 {
		t.Errorf("GET bad: %d %+v, want 400 bad_sha256", code, e)
	}

	for _, enc := range []string{"br", "gzip", ""} {
		var got batchResponse
		code, gotEnc := getJSON(t, cl, "POST", h.baseURL()+"/v1/verdicts/batch", enc, batchRequest{SHA256: hashes}, &got)
		if code != 200 || gotEnc != enc {
			t.Fatalf("batch (%q): status %d, encoding %q", enc, code, gotEnc)
		}
		if len(got.Verdicts) != len(known) || len(got.Verdicts)+len(got.Unknown) != len(hashes) {
			t.Fatalf("batch: %d known, %d unknown; want %d and %d", len(got.Verdicts), len(got.Unknown), len(known), len(hashes)-len(known))
		}
		for s, v := range got.Verdicts {
			if !known[s] || v.SHA256 != s || !v.Cached {
				t.Fatalf("batch: %s -> %+v, want a cached verdict of a known hash", s, v)
			}
		}
		for _, s := range got.Unknown {
			if known[s] {
				t.Fatalf("batch: known %s listed unknown", s)
			}
		}
	}
	if code, _ := getJSON(t, cl, "POST", h.baseURL()+"/v1/verdicts/batch", "", batchRequest{SHA256: append(hashes, hashes[0])}, &e); code != 413 || e.Error.Code != CodeBatchTooLarge {
		t.Errorf("batch of 1,001: %d %+v, want 413 batch_too_large", code, e)
	}

	var st cache.Stats
	if code, _ := getJSON(t, cl, "GET", h.baseURL()+"/v1/cache/stats", "gzip", nil, &st); code != 200 || st.Hits == 0 || st.Misses == 0 || st.Redis != "ok" {
		t.Errorf("stats: %d %+v, want hits, misses and redis ok", code, st)
	}

	// A pipeline change: the engine now announces another fingerprint,
	// and verdicts of the old one are no longer served.
	h.eng.setFingerprint("fakefp2")
	testkit.WaitFor(t, testTimeout, "the new fingerprint", func() bool {
		return slices.Equal(h.g.presence.fingerprints(), []string{"fakefp2"})
	})
	if code, _ := getJSON(t, cl, "GET", h.baseURL()+"/v1/verdicts/"+hashes[0], "", nil, &e); code != 404 {
		t.Errorf("GET after a fingerprint change: %d, want 404", code)
	}
	h.eng.setFingerprint(fakeFP)
	testkit.WaitFor(t, testTimeout, "the old fingerprint", func() bool {
		return slices.Equal(h.g.presence.fingerprints(), []string{fakeFP})
	})

	var inv struct {
		Removed int `json:"removed"`
	}
	if code, _ := getJSON(t, cl, "DELETE", h.baseURL()+"/v1/verdicts?tag=batch:test", "", nil, &inv); code != 200 || inv.Removed != len(known) {
		t.Errorf("DELETE: %d removed %d, want 200 and %d", code, inv.Removed, len(known))
	}
	if code, _ := getJSON(t, cl, "GET", h.baseURL()+"/v1/verdicts/"+hashes[0], "", nil, &e); code != 404 {
		t.Errorf("GET after invalidation: %d, want 404", code)
	}
	if code, _ := getJSON(t, cl, "DELETE", h.baseURL()+"/v1/verdicts", "", nil, &e); code != 400 || e.Error.Code != CodeBadTag {
		t.Errorf("DELETE without tag: %d %+v, want 400 bad_tag", code, e)
	}
}

// TestCacheRedisDown kills Redis mid-test: /readyz says degraded (200),
// uploads that declare a hash are analysed, and once Redis is back hits
// resume.
func TestCacheRedisDown(t *testing.T) {
	rs := redistest.Start(t)
	h, c := newCacheHarness(t, rs, false)
	cl := h.client("h2c")
	ctx := context.Background()
	data := fileOf(50<<10, false, 7)
	v := verdictFor(data, fakeFP)
	key := cache.Key{SHA256: v.SHA256, Fingerprint: fakeFP}

	rs.Kill()
	c.Get(ctx, key) // notices at once rather than at the next probe
	var ready map[string]any
	testkit.WaitFor(t, testTimeout, "readyz degraded", func() bool {
		code, _ := getJSON(t, cl, "GET", h.baseURL()+"/readyz", "", nil, &ready)
		return code == 200 && ready["status"] == "degraded"
	})
	other := fileOf(60<<10, true, 8)
	resp, pw, err := h.postDeclared(cl, sha(other))
	if err != nil {
		t.Fatal(err)
	}
	go func() { pw.Write(other); pw.Close() }()
	evs, err := eventsUntil(ndjson(t, resp.Body))
	resp.Body.Close()
	if err != nil || evs[len(evs)-1].Verdict == nil || evs[len(evs)-1].Verdict.Cached {
		t.Fatalf("upload with Redis down: %v %+v, want a fresh verdict", err, evs)
	}
	if st := c.Stats(); st.Errors == 0 || st.Redis != "degraded" {
		t.Errorf("stats %+v, want errors counted and redis degraded", st)
	}

	rs.Restart()
	testkit.WaitFor(t, testTimeout, "readyz ready", func() bool {
		code, _ := getJSON(t, cl, "GET", h.baseURL()+"/readyz", "", nil, &ready)
		return code == 200 && ready["status"] == "ready"
	})
	// An engine writes the verdict to the restarted Redis; the gateway
	// answers from it.
	if err := engineCache(t, rs).Put(ctx, key, v, nil); err != nil {
		t.Fatal(err)
	}
	resp, pw, err = h.postDeclared(cl, v.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	defer resp.Body.Close()
	checkCachedAnswer(t, resp, v.SHA256)
}

// TestCoalesceLeaderFails: a WebSocket start declaring a sha256 in flight
// waits; when the first upload fails (its client goes away) the waiter
// uploads its own bytes and gets a fresh verdict.
func TestCoalesceLeaderFails(t *testing.T) {
	h, _ := newCacheHarness(t, nil, true)
	data := fileOf(100<<10, false, 9)
	sum := sha(data)
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, h.baseURL()+"/v1/analyze?name=first", pr)
	req.Header.Set(HeaderSHA256, sum)
	resp, err := h.client("h2c").Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	pw.Write(data[:10<<10])

	ws := h.mustDialWS()
	if err := ws.writeText(map[string]any{"type": "start", "stream": 7, "sha256": sum, "size": len(data)}); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, testTimeout, "the second upload to wait", func() bool {
		h.g.flightMu.Lock()
		defer h.g.flightMu.Unlock()
		return h.g.flights[sum] != nil
	})
	select {
	case m := <-ws.ch(7):
		t.Fatalf("stream 7 answered %s while the first upload runs", m.raw)
	case <-time.After(200 * time.Millisecond):
	}
	cancel() // the first client goes away: its upload is aborted
	pw.CloseWithError(context.Canceled)
	m, err := ws.next(7)
	if err != nil || m.Type != "accepted" || m.Cached {
		t.Fatalf("stream 7: %s %v, want accepted for its own upload", m.raw, err)
	}
	msgs, err := ws.finish(7, data, 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := verdictOf(msgs); err != nil || v.Cached || checkVerdict(v, data, false) != nil {
		t.Fatalf("stream 7 verdict %+v %v, want a fresh clean verdict", v, err)
	}
}
