package gateway

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"athena/internal/core"
	"athena/streams"
)

// publishVerdict stores a verdict event on ATHENA_VERDICTS, as an engine
// does when it finishes a job (the fake engine does not).
func (h *harness) publishVerdict(ev core.Event) {
	h.t.Helper()
	data, err := streams.EncodeEvent(ev)
	if err != nil {
		h.t.Fatal(err)
	}
	m := nats.NewMsg(streams.VerdictSubject(ev.Verdict.SHA256))
	m.Data = data
	m.Header.Set(streams.HeaderMsgID, "v/"+ev.Job)
	if _, err := h.js.PublishMsg(context.Background(), m); err != nil {
		h.t.Fatal(err)
	}
}

type recentBody struct {
	Verdicts []recentVerdict `json:"verdicts"`
}

func (h *harness) recent(c *http.Client, query string) (*http.Response, recentBody) {
	h.t.Helper()
	resp, err := c.Get(h.baseURL() + "/v1/verdicts/recent" + query)
	if err != nil {
		h.t.Fatal(err)
	}
	var body recentBody
	if resp.StatusCode == http.StatusOK {
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			h.t.Fatalf("recent: %v", err)
		}
	}
	return resp, body
}

func TestRecentVerdicts(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	c := h.client("h1")

	// Empty at first, without a cache.
	resp, body := h.recent(c, "")
	if resp.StatusCode != http.StatusOK || body.Verdicts == nil || len(body.Verdicts) != 0 {
		t.Fatalf("empty stream: status %d, %+v", resp.StatusCode, body)
	}

	var shas []string
	for i := range 3 {
		data := fileOf(10_000+i, i == 1, byte(i))
		evs, _, err := h.analyze(c, fmt.Sprintf("file-%d.bin", i), data)
		if err != nil {
			t.Fatal(err)
		}
		last := evs[len(evs)-1]
		if last.Type != core.EventVerdict {
			t.Fatalf("file %d: last event %+v", i, last)
		}
		h.publishVerdict(last)
		shas = append(shas, sha(data))
	}
	// The first file again: its older message is replaced (one per
	// subject), so it is now the newest and listed once.
	evs, _, err := h.analyze(c, "file-0-again.bin", fileOf(10_000, false, 0))
	if err != nil {
		t.Fatal(err)
	}
	h.publishVerdict(evs[len(evs)-1])

	resp, body = h.recent(c, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	want := []string{shas[0], shas[2], shas[1]}
	if len(body.Verdicts) != len(want) {
		t.Fatalf("%d verdicts, want %d: %+v", len(body.Verdicts), len(want), body.Verdicts)
	}
	for i, v := range body.Verdicts {
		if v.SHA256 != want[i] || v.Verdict == nil || v.Verdict.SHA256 != want[i] {
			t.Errorf("verdict %d: %s, want %s", i, v.SHA256, want[i])
		}
		if v.Time.IsZero() || time.Since(v.Time) > time.Minute || v.Job == "" {
			t.Errorf("verdict %d: time %v job %q", i, v.Time, v.Job)
		}
		if i > 0 && v.Time.After(body.Verdicts[i-1].Time) {
			t.Errorf("verdict %d is newer than verdict %d", i, i-1)
		}
	}
	if n := body.Verdicts[0].Name; n != "file-0-again.bin" {
		t.Errorf("newest name %q", n)
	}
	if n := body.Verdicts[2].Name; n != "file-1.bin" {
		t.Errorf("oldest name %q", n)
	}
	if l := body.Verdicts[2].Verdict.Label; l != core.LabelMalicious {
		t.Errorf("marked file label %q", l)
	}

	resp, body = h.recent(c, "?limit=2")
	if resp.StatusCode != http.StatusOK || len(body.Verdicts) != 2 ||
		body.Verdicts[0].SHA256 != want[0] || body.Verdicts[1].SHA256 != want[1] {
		t.Fatalf("limit=2: status %d, %+v", resp.StatusCode, body.Verdicts)
	}

	for _, q := range []string{"?limit=0", "?limit=201", "?limit=x", "?limit=-1"} {
		resp, _ := h.recent(c, q)
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", q, resp.StatusCode)
			continue
		}
		if e := apiErr(t, resp); e.Code != CodeBadLimit {
			t.Errorf("%s: code %q", q, e.Code)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, h.baseURL()+"/v1/verdicts/recent", nil)
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: status %d", resp.StatusCode)
	}
}

// sseEvents reads the data lines of a Server-Sent Events body.
func sseEvents(t *testing.T, resp *http.Response) <-chan systemEvent {
	ch := make(chan systemEvent, 64)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			line := sc.Text()
			data, ok := strings.CutPrefix(line, "data: ")
			if !ok {
				if line != "" && !strings.HasPrefix(line, "retry: ") {
					t.Errorf("unexpected SSE line %q", line)
				}
				continue
			}
			var ev systemEvent
			if err := json.Unmarshal([]byte(data), &ev); err != nil {
				t.Errorf("SSE event %q: %v", data, err)
				return
			}
			ch <- ev
		}
	}()
	return ch
}

func TestSystemStream(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	c := h.client("h2c")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.baseURL()+"/v1/system/stream", nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	events := sseEvents(t, resp)
	next := func() systemEvent {
		t.Helper()
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("the stream ended")
			}
			return ev
		case <-time.After(5 * time.Second):
			t.Fatal("no event within 5s")
		}
		return systemEvent{}
	}
	first := next()
	if first.Time.IsZero() || first.Cache != nil {
		t.Errorf("first event %+v", first)
	}
	if len(first.Engines) != 1 || first.Engines[0].ID != "fake-1" || !first.Engines[0].Healthy || first.Engines[0].Capacity != 8 {
		t.Errorf("engines %+v", first.Engines)
	}
	if first.UploadsTotal != 0 {
		t.Errorf("uploads_total %d before any upload", first.UploadsTotal)
	}

	hc := h.client("h1")
	for i := range 2 {
		if _, _, err := h.analyze(hc, "f.bin", fileOf(100_000, false, byte(i))); err != nil {
			t.Fatal(err)
		}
	}
	var sawRate bool
	deadline := time.Now().Add(10 * time.Second)
	for {
		ev := next()
		if ev.UploadsTotal == 2 && ev.BytesInPerS > 0 && ev.UploadsPerS > 0 {
			sawRate = true
		}
		if !ev.Time.After(first.Time) {
			t.Errorf("event time %v not after %v", ev.Time, first.Time)
		}
		if ev.UploadsTotal == 2 && sawRate {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("uploads not counted: %+v", ev)
		}
	}

	// A graceful shutdown ends the stream.
	go h.stop()
	select {
	case _, ok := <-events:
		for ok {
			_, ok = <-events
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the stream did not end with the shutdown")
	}
}

func TestSystemStreamCache(t *testing.T) {
	h, _ := newCacheHarness(t, nil, false)
	resp, err := h.client("h1").Get(h.baseURL() + "/v1/system/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	select {
	case ev := <-sseEvents(t, resp):
		if ev.Cache == nil {
			t.Fatalf("no cache in %+v", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no event")
	}
}
