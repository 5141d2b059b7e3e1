package gateway

import (
	"encoding/binary"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"athena/internal/core"
	"athena/internal/testkit"
	"athena/streams"
)

// TestWSFindingBeforeLastChunk streams a large file with the marker in its
// first chunk and waits for the finding before sending the rest: the
// finding must arrive while the upload is still running.
func TestWSFindingBeforeLastChunk(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	c := h.mustDialWS()
	data := fileOf(*bigSize, true, 1)
	first := h.g.cfg.ChunkSize
	if _, err := c.accept(1, "big.bin", int64(len(data))); err != nil {
		t.Fatal(err)
	}
	if err := c.send(1, data[:first], 64<<10); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.until(1, core.EventFinding)
	if err != nil {
		t.Fatalf("no finding while the upload runs: %v", err)
	}
	if f := msgs[len(msgs)-1].Finding; f == nil || f.Offset != 0 || f.Rule != "marker" {
		t.Fatalf("finding %s, want the marker at offset 0", msgs[len(msgs)-1].raw)
	}
	// Only now send the rest.
	rest, err := c.finish(1, data[first:], 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	v, err := verdictOf(rest)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkVerdict(v, data, true); err != nil {
		t.Error(err)
	}
	var acked int64
	var last int64
	for _, m := range append(msgs, rest...) {
		switch {
		case m.Type == "ack":
			if m.Bytes < acked {
				t.Errorf("ack %d after ack %d", m.Bytes, acked)
			}
			acked = m.Bytes
		case m.V != 0:
			if m.Seq <= last {
				t.Errorf("event seq %d after %d", m.Seq, last)
			}
			last = m.Seq
		}
	}
	if acked != int64(len(data)) {
		t.Errorf("last ack %d bytes, want %d", acked, len(data))
	}
}

// TestWSConcurrentUploads sends 20 files at once on one connection, their
// frames interleaved.
func TestWSConcurrentUploads(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{cfg: func(c *Config) { c.MaxStreamsPerConn = 32 }})
	c := h.mustDialWS()
	const files = 20
	var wg sync.WaitGroup
	for i := range files {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := uint16(i + 1)
			data := fileOf(300<<10+i*1000, i%2 == 0, byte(i))
			msgs, err := c.upload(n, fmt.Sprintf("f%d", i), data)
			if err != nil {
				t.Errorf("file %d: %v", i, err)
				return
			}
			v, err := verdictOf(msgs)
			if err == nil {
				err = checkVerdict(v, data, i%2 == 0)
			}
			if err != nil {
				t.Errorf("file %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
}

// TestWSClientGoneAborts drops the connection mid-upload: the gateway must
// publish an abort chunk, and keep serving.
func TestWSClientGoneAborts(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	c := h.mustDialWS()
	data := fileOf(4*h.g.cfg.ChunkSize, false, 2)
	job, err := c.accept(1, "gone.bin", int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.send(1, data[:2*h.g.cfg.ChunkSize], 64<<10); err != nil {
		t.Fatal(err)
	}
	// Wait until JetStream holds the bytes, then vanish without a close.
	if _, err := c.until(1, "ack"); err != nil {
		t.Fatal(err)
	}
	c.conn.NetConn().Close()
	h.waitAbortChunk(job, abortClientGone)
	testkit.WaitFor(t, testTimeout, "the engine to see the abort", func() bool { return h.eng.abortOf(job) == abortClientGone })

	c2 := h.mustDialWS()
	msgs, err := c2.upload(1, "after.bin", fileOf(1000, true, 3))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verdictOf(msgs); err != nil {
		t.Fatalf("gateway unhealthy after a client left: %v", err)
	}
}

// TestWSCancel cancels a file mid-upload: the client gets a cancelled
// error, the engine an abort chunk, and the stream number is free again.
func TestWSCancel(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	c := h.mustDialWS()
	job, err := c.accept(7, "x", -1)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.send(7, fileOf(h.g.cfg.ChunkSize+10, false, 4), 32<<10); err != nil {
		t.Fatal(err)
	}
	if err := c.writeText(map[string]any{"type": "cancel", "stream": 7}); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.until(7, core.EventVerdict, core.EventError)
	if err != nil {
		t.Fatal(err)
	}
	if last := msgs[len(msgs)-1]; last.Error == nil || last.Error.Code != CodeCancelled || last.Job != job || last.Seq != 0 {
		t.Fatalf("last message %s, want a cancelled error for job %s with seq 0", last.raw, job)
	}
	h.waitAbortChunk(job, abortCancelled)
	// A second cancel is harmless, and 7 can start a new file.
	if err := c.writeText(map[string]any{"type": "cancel", "stream": 7}); err != nil {
		t.Fatal(err)
	}
	data := fileOf(5000, false, 5)
	msgs, err = c.upload(7, "again", data)
	if err != nil {
		t.Fatal(err)
	}
	v, err := verdictOf(msgs)
	if err == nil {
		err = checkVerdict(v, data, false)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// TestWSOversize covers a declared size over the limit (rejected) and a
// stream that grows over it (error event, abort chunk, connection kept).
func TestWSOversize(t *testing.T) {
	t.Parallel()
	const limit = 300 << 10
	h := newHarness(t, harnessOpts{cfg: func(c *Config) { c.MaxFileSize = limit }})
	c := h.mustDialWS()

	if err := c.start(1, "big", limit+1); err != nil {
		t.Fatal(err)
	}
	m, err := c.next(1)
	if err != nil {
		t.Fatal(err)
	}
	if m.Type != "rejected" || m.Error == nil || m.Error.Code != CodeFileTooLarge {
		t.Fatalf("got %s, want rejected with %s", m.raw, CodeFileTooLarge)
	}

	job, err := c.accept(2, "grows", -1)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.send(2, fileOf(limit+1, false, 6), 64<<10); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.until(2, core.EventVerdict, core.EventError)
	if err != nil {
		t.Fatal(err)
	}
	if last := msgs[len(msgs)-1]; last.Error == nil || last.Error.Code != CodeFileTooLarge || last.Job != job {
		t.Fatalf("got %s, want a %s error for job %s", last.raw, CodeFileTooLarge, job)
	}
	h.waitAbortChunk(job, abortFileTooLarge)
	// Frames the client sends before it sees the error are dropped, its
	// end is accepted, and the connection goes on.
	if err := c.send(2, []byte("late"), 64); err != nil {
		t.Fatal(err)
	}
	if err := c.end(2); err != nil {
		t.Fatal(err)
	}
	data := fileOf(1000, true, 7)
	msgs, err = c.upload(3, "small", data)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := verdictOf(msgs); err != nil || checkVerdict(v, data, true) != nil {
		t.Fatalf("connection unusable after an oversize file: %v", err)
	}
}

// TestWSRejectedStarts are per-file errors: the connection stays open.
func TestWSRejectedStarts(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	c := h.mustDialWS()
	if _, err := c.accept(1, "a", -1); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		msg  string
		n    uint16
	}{
		{"stream in use", `{"type":"start","stream":1}`, 1},
		{"bad sha256", `{"type":"start","stream":2,"sha256":"abc"}`, 2},
		{"bad name", `{"type":"start","stream":3,"name":"a\u0000b"}`, 3},
		{"negative size", `{"type":"start","stream":4,"size":-5}`, 4},
		{"options not strings", `{"type":"start","stream":5,"options":{"a":1}}`, 5},
	} {
		if err := c.writeText([]byte(tc.msg)); err != nil {
			t.Fatal(err)
		}
		m, err := c.next(tc.n)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if m.Type != "rejected" || m.Error == nil || m.Error.Code != CodeBadStart || m.Stream != tc.n {
			t.Errorf("%s: got %s, want rejected bad_start for stream %d", tc.name, m.raw, tc.n)
		}
	}
	if err := c.end(1); err != nil {
		t.Fatal(err)
	}
	if _, err := c.until(1, core.EventVerdict); err != nil {
		t.Fatal(err)
	}
}

// TestWSViolationsClose checks the close code of each connection-level
// violation, while a bystander's upload on another connection goes on.
func TestWSViolationsClose(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{cfg: func(c *Config) {
		c.MaxStreamsPerConn = 2
		c.MaxFrame = 64 << 10
		c.AllowedOrigins = []string{"https://allowed.example"}
	}})
	bystander := h.mustDialWS()
	data := fileOf(200<<10, true, 8)
	if _, err := bystander.accept(1, "bystander", int64(len(data))); err != nil {
		t.Fatal(err)
	}
	if err := bystander.send(1, data[:100<<10], 32<<10); err != nil {
		t.Fatal(err)
	}

	frame := func(n uint16, data []byte) []byte {
		b := make([]byte, 2+len(data))
		binary.BigEndian.PutUint16(b, n)
		copy(b[2:], data)
		return b
	}
	for _, tc := range []struct {
		name string
		act  func(c *wsClient) error
		code int
	}{
		{"malformed JSON", func(c *wsClient) error { return c.writeText([]byte(`{"type":`)) }, websocket.CloseUnsupportedData},
		{"unknown type", func(c *wsClient) error { return c.writeText([]byte(`{"type":"pause","stream":1}`)) }, websocket.CloseUnsupportedData},
		{"stream 0", func(c *wsClient) error { return c.writeText([]byte(`{"type":"start","stream":0}`)) }, websocket.CloseUnsupportedData},
		{"stream too big", func(c *wsClient) error { return c.writeText([]byte(`{"type":"end","stream":65536}`)) }, websocket.CloseUnsupportedData},
		{"end unknown stream", func(c *wsClient) error { return c.end(9) }, websocket.CloseUnsupportedData},
		{"binary for unknown stream", func(c *wsClient) error { return c.writeBinary(frame(9, []byte("x"))) }, websocket.CloseUnsupportedData},
		{"short binary frame", func(c *wsClient) error { return c.writeBinary([]byte{1}) }, websocket.CloseUnsupportedData},
		{"frame too large", func(c *wsClient) error {
			if _, err := c.accept(1, "x", -1); err != nil {
				return err
			}
			return c.writeBinary(frame(1, make([]byte, 64<<10)))
		}, websocket.CloseMessageTooBig},
		{"too many streams", func(c *wsClient) error {
			for n := uint16(1); n <= 2; n++ {
				if _, err := c.accept(n, "x", -1); err != nil {
					return err
				}
			}
			return c.start(3, "x", -1)
		}, websocket.ClosePolicyViolation},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := h.mustDialWS()
			if err := tc.act(c); err != nil {
				t.Fatal(err)
			}
			if got := c.closeCode(); got != tc.code {
				t.Errorf("close code %d, want %d", got, tc.code)
			}
		})
	}

	t.Run("bad origin", func(t *testing.T) {
		c, err := h.dialWS(http.Header{"Origin": {"https://evil.example"}})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := c.closeCode(), websocket.ClosePolicyViolation; got != want {
			t.Errorf("close code %d, want %d", got, want)
		}
	})
	t.Run("allowed origin", func(t *testing.T) {
		c, err := h.dialWS(http.Header{"Origin": {"https://allowed.example"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.upload(1, "ok", []byte("hello")); err != nil {
			t.Fatal(err)
		}
	})

	msgs, err := bystander.finish(1, data[100<<10:], 32<<10)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := verdictOf(msgs); err != nil || checkVerdict(v, data, true) != nil {
		t.Fatalf("bystander affected: %v", err)
	}
}

// TestWSDedupsRedeliveredEvents: events the engine publishes twice (a
// redelivered job) reach the client once, in order.
func TestWSDedupsRedeliveredEvents(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	h.eng.duplicate.Store(true)
	c := h.mustDialWS()
	msgs, err := c.upload(1, "dup", fileOf(3*h.g.cfg.ChunkSize, true, 9))
	if err != nil {
		t.Fatal(err)
	}
	var last int64
	for _, m := range msgs {
		if m.V == 0 {
			continue
		}
		if m.Seq <= last {
			t.Errorf("event seq %d after %d: duplicates reached the client", m.Seq, last)
		}
		last = m.Seq
	}
	if _, err := verdictOf(msgs); err != nil {
		t.Fatal(err)
	}
}

// TestFlowControlWindow checks the memory bound: an upload never has more
// than Window chunks unacknowledged, nor more than Window+1 buffers.
func TestFlowControlWindow(t *testing.T) {
	t.Parallel()
	const window, chunk = 2, 16 << 10
	h := newHarness(t, harnessOpts{cfg: func(c *Config) { c.Window = window; c.ChunkSize = chunk }})
	c := h.mustDialWS()
	data := fileOf(2<<20, false, 10)
	msgs, err := c.upload(1, "flow", data)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := verdictOf(msgs); err != nil || checkVerdict(v, data, false) != nil {
		t.Fatalf("verdict: %v", err)
	}
	if _, _, err := h.analyze(h.client("h2c"), "flow2", data); err != nil {
		t.Fatal(err)
	}
	inflight, buffers := h.g.stats.peakInflight.Load(), h.g.stats.peakBuffers.Load()
	t.Logf("peak chunks in flight %d, peak buffers %d (window %d)", inflight, buffers, window)
	if inflight < 1 || inflight > window {
		t.Errorf("peak chunks in flight %d, want 1..%d", inflight, window)
	}
	if buffers > window+1 {
		t.Errorf("peak buffers %d, want at most %d", buffers, window+1)
	}
}

// TestWSKeepalive: a client that answers pings stays; one that does not is
// dropped after PongWait, and its file in flight is aborted.
func TestWSKeepalive(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{cfg: func(c *Config) {
		c.PingInterval = 100 * time.Millisecond
		c.PongWait = 2 * time.Second // generous: the race detector on a loaded machine
	}})
	alive := h.mustDialWS()
	silent, err := h.dialWSWith(nil, func(c *websocket.Conn) {
		c.SetPingHandler(func(string) error { return nil }) // never pong
	})
	if err != nil {
		t.Fatal(err)
	}
	job, err := silent.accept(1, "silent", -1)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-silent.done:
	case <-time.After(testTimeout):
		t.Fatal("a client that does not answer pings was not dropped")
	}
	h.waitAbortChunk(job, abortClientGone)
	// The other client idled as long, answering pings: it is still served.
	data := fileOf(1000, false, 30)
	msgs, err := alive.upload(1, "alive", data)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := verdictOf(msgs); err != nil || checkVerdict(v, data, false) != nil {
		t.Fatalf("verdict: %v", err)
	}
}

// TestJobTimeout: without a verdict within JobTimeout of the last byte, the
// client gets a timeout error.
func TestJobTimeout(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{cfg: func(c *Config) { c.JobTimeout = 200 * time.Millisecond }})
	h.eng.noVerdict.Store(true)
	c := h.mustDialWS()
	msgs, err := c.upload(1, "stuck", fileOf(1000, false, 31))
	if err != nil {
		t.Fatal(err)
	}
	if last := msgs[len(msgs)-1]; last.Error == nil || last.Error.Code != CodeTimeout || last.Seq != 0 {
		t.Fatalf("last message %s, want a %s error with seq 0", last.raw, CodeTimeout)
	}
}

// TestFlushAfterPublishesPartialChunks: with FlushAfter, bytes that arrive
// slowly are published before a chunk fills, and the file still arrives
// whole.
func TestFlushAfterPublishesPartialChunks(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{cfg: func(c *Config) { c.FlushAfter = 20 * time.Millisecond }})
	ws := h.mustDialWS()
	data := fileOf(64<<10, false, 31) // a quarter of a chunk
	job, err := ws.accept(1, "slow", int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	sent := 0
	testkit.WaitFor(t, testTimeout, "a chunk before the file ends", func() bool {
		if sent < len(data)-1 { // one byte per look, until the last
			if err := ws.send(1, data[sent:sent+1], 1); err != nil {
				t.Fatal(err)
			}
			sent++
		}
		_, ok := h.lastChunk(job)
		return ok
	})
	hdr, _ := h.lastChunk(job)
	if c, err := streams.DecodeChunk(hdr, nil); err != nil || c.Last || c.Seq != 1 {
		t.Fatalf("first chunk %+v, %v: want chunk 1, not the last", c, err)
	}
	if sent == len(data)-1 {
		t.Fatalf("no chunk was published during %d bytes", sent)
	}
	msgs, err := ws.finish(1, data[sent:], 4096)
	if err != nil {
		t.Fatal(err)
	}
	v, err := verdictOf(msgs)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkVerdict(v, data, false); err != nil { // its sha256: every byte, in order
		t.Fatal(err)
	}
}
