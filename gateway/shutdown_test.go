package gateway

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"athena/internal/core"
	"athena/internal/testkit"
)

// TestShutdownLetsUploadsFinish cancels Serve while a WebSocket file and an
// HTTP/2 post are in flight: the listener closes, both finish within the
// grace with their verdicts, then the WebSocket closes with 1001 and Serve
// returns nil.
func TestShutdownLetsUploadsFinish(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{cfg: func(c *Config) { c.ShutdownGrace = 20 * time.Second }})
	ws := h.mustDialWS()
	idle := h.mustDialWS()
	wsData := fileOf(3*h.g.cfg.ChunkSize, true, 20)
	if _, err := ws.accept(1, "ws", int64(len(wsData))); err != nil {
		t.Fatal(err)
	}
	if err := ws.send(1, wsData[:h.g.cfg.ChunkSize], 64<<10); err != nil {
		t.Fatal(err)
	}
	resp, pw, err := h.post(context.Background(), h.client("h2c"), "http")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events := ndjson(t, resp.Body)
	httpData := fileOf(3*h.g.cfg.ChunkSize, false, 21)
	if _, err := pw.Write(httpData[:h.g.cfg.ChunkSize]); err != nil {
		t.Fatal(err)
	}

	served := make(chan error, 1)
	go func() { served <- h.stop() }()
	// The idle connection closes at once with 1001; new connections fail.
	if got := idle.closeCode(); got != websocket.CloseGoingAway {
		t.Errorf("idle connection closed with %d, want 1001", got)
	}
	testkit.WaitFor(t, testTimeout, "the listener to close", func() bool {
		c, err := net.Dial("tcp", h.addr)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	select {
	case err := <-served:
		t.Fatalf("Serve returned %v with uploads in flight", err)
	default:
	}

	msgs, err := ws.finish(1, wsData[h.g.cfg.ChunkSize:], 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := verdictOf(msgs); err != nil || checkVerdict(v, wsData, true) != nil {
		t.Fatalf("WebSocket upload during shutdown: %v", err)
	}
	if got := ws.closeCode(); got != websocket.CloseGoingAway {
		t.Errorf("close code %d after the last file, want 1001", got)
	}

	go func() {
		_, err := pw.Write(httpData[h.g.cfg.ChunkSize:])
		pw.CloseWithError(err)
	}()
	evs, err := eventsUntil(events)
	if err != nil {
		t.Fatal(err)
	}
	if v := evs[len(evs)-1].Verdict; v == nil || checkVerdict(v, httpData, false) != nil {
		t.Fatalf("HTTP upload during shutdown ended with %+v", evs[len(evs)-1])
	}
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("Serve did not return after the uploads finished")
	}
}

// TestShutdownGraceExpires: an upload that does not finish within the grace
// gets a shutting_down error, an abort chunk, and close 1001.
func TestShutdownGraceExpires(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{cfg: func(c *Config) { c.ShutdownGrace = 200 * time.Millisecond }})
	ws := h.mustDialWS()
	job, err := ws.accept(1, "slow", -1)
	if err != nil {
		t.Fatal(err)
	}
	if err := ws.send(1, fileOf(h.g.cfg.ChunkSize, false, 22), 64<<10); err != nil {
		t.Fatal(err)
	}
	if _, err := ws.until(1, "ack"); err != nil {
		t.Fatal(err)
	}
	resp, pw, err := h.post(context.Background(), h.client("h2c"), "slow")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	defer pw.Close()
	httpJob := resp.Header.Get(HeaderJob)
	events := ndjson(t, resp.Body)
	if _, err := pw.Write(fileOf(h.g.cfg.ChunkSize, false, 23)); err != nil {
		t.Fatal(err)
	}
	if ev, err := nextEvent(events); err != nil || ev.Type != core.EventProgress {
		t.Fatalf("first event %+v, %v: want progress", ev, err)
	}
	if err := h.stop(); err != nil {
		t.Errorf("Serve: %v", err)
	}
	evs, err := eventsUntil(events)
	if err != nil {
		t.Fatal(err)
	}
	if last := evs[len(evs)-1]; last.Error == nil || last.Error.Code != CodeShuttingDown {
		t.Errorf("HTTP: last event %+v, want a %s error", last, CodeShuttingDown)
	}
	h.waitAbortChunk(httpJob, abortShutdown)
	msgs, err := ws.until(1, core.EventVerdict, core.EventError)
	if err != nil {
		t.Fatal(err)
	}
	if last := msgs[len(msgs)-1]; last.Error == nil || last.Error.Code != CodeShuttingDown {
		t.Errorf("last message %s, want a %s error", last.raw, CodeShuttingDown)
	}
	if got := ws.closeCode(); got != websocket.CloseGoingAway {
		t.Errorf("close code %d, want 1001", got)
	}
	h.waitAbortChunk(job, abortShutdown)
}
