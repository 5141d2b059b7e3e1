package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"athena/internal/core"
	"athena/internal/testkit"
	"athena/streams"
)

// payload is file i of a concurrent batch: even ones carry EICAR.
func payload(i int) ([]byte, string) {
	data := bytes.Repeat([]byte(fmt.Sprintf("file %d says hello\n", i)), 20_000)
	if i%2 == 1 {
		return data, core.LabelClean
	}
	copy(data[5000:], testkit.EICAR())
	return data, core.LabelMalicious
}

// 20 concurrent uploads over one WebSocket connection and over separate
// HTTP/2 streams of one connection all get correct verdicts.
func TestTwentyConcurrentUploads(t *testing.T) {
	base, _ := startServe(t, 2)
	const n = 20
	t.Run("one websocket", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		conn, _, err := websocket.DefaultDialer.DialContext(ctx, strings.Replace(base, "http", "ws", 1)+"/v1/stream", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		for i := range n {
			data, _ := payload(i)
			conn.WriteJSON(map[string]any{"type": "start", "stream": i + 1, "name": fmt.Sprintf("f%d", i), "size": len(data)})
		}
		jobs := map[string]int{} // job -> file
		verdicts := map[int]string{}
		for len(verdicts) < n {
			_, raw, err := conn.ReadMessage()
			if err != nil {
				t.Fatalf("read: %v (%d verdicts so far)", err, len(verdicts))
			}
			var ctl struct {
				V      int
				Type   string
				Stream int
				Job    string
			}
			json.Unmarshal(raw, &ctl)
			switch {
			case ctl.Type == "accepted":
				i := ctl.Stream - 1
				jobs[ctl.Job] = i
				data, _ := payload(i)
				frame := make([]byte, 2+len(data))
				binary.BigEndian.PutUint16(frame, uint16(ctl.Stream))
				copy(frame[2:], data)
				conn.WriteMessage(websocket.BinaryMessage, frame)
				conn.WriteJSON(map[string]any{"type": "end", "stream": ctl.Stream})
			case ctl.V == 1:
				ev, err := streams.DecodeEvent(raw)
				if err != nil {
					t.Fatal(err)
				}
				if ev.Type == core.EventError {
					t.Fatalf("job %s: error %+v", ev.Job, ev.Error)
				}
				if ev.Verdict != nil {
					verdicts[jobs[ev.Job]] = ev.Verdict.Label
				}
			}
		}
		for i := range n {
			if _, want := payload(i); verdicts[i] != want {
				t.Errorf("file %d: verdict %q, want %q", i, verdicts[i], want)
			}
		}
	})
	t.Run("http2 streams", func(t *testing.T) {
		client := newHTTPClient(mustURL(t, base), nil)
		defer client.Close()
		errs := make(chan error, n)
		for i := range n {
			go func() {
				data, want := payload(i)
				var got string
				err := client.Scan(t.Context(), core.FileMeta{Name: fmt.Sprintf("f%d", i), Size: int64(len(data))}, "",
					bytes.NewReader(data), func(ev core.Event) {
						if ev.Verdict != nil {
							got = ev.Verdict.Label
						}
					})
				if err == nil && got != want {
					err = fmt.Errorf("file %d: verdict %q, want %q", i, got, want)
				}
				errs <- err
			}()
		}
		for range n {
			if err := <-errs; err != nil {
				t.Error(err)
			}
		}
	})
}

// A client that goes away mid-upload: its job ends with an aborted error
// (visible on replay), and the server goes on serving others.
func TestClientDisconnectMidUpload(t *testing.T) {
	base, _ := startServe(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pr, pw := io.Pipe()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/analyze?name=gone", pr)
	client := newHTTPClient(mustURL(t, base), nil)
	defer client.Close()
	go pw.Write(bytes.Repeat([]byte("partial upload\n"), 100_000))
	resp, err := client.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	job := resp.Header.Get("X-Athena-Job")
	if job == "" {
		t.Fatal("no X-Athena-Job header")
	}
	// Wait until the engine has seen bytes, then drop the exchange.
	testkit.WaitFor(t, 60*time.Second, "the engine to start on the job", func() bool {
		return len(replay(t, base, job)) > 0
	})
	cancel()
	resp.Body.Close()
	var last core.Event
	testkit.WaitFor(t, 60*time.Second, "the aborted error event", func() bool {
		evs := replay(t, base, job)
		if len(evs) == 0 {
			return false
		}
		last = evs[len(evs)-1]
		return last.Type == core.EventError || last.Type == core.EventVerdict
	})
	if last.Error == nil || last.Error.Code != "aborted" {
		t.Errorf("last event of the dropped job %+v, want an aborted error", last)
	}
	// The server is healthy and analyses the next file.
	if _, code, errOut := scanJSON(t, base, sample(t, t.TempDir(), 1, 10_000, 100)); code != 1 {
		t.Errorf("next scan: exit %d, want 1; %s", code, errOut)
	}
}

// replay returns the stored events of a job (empty while it has none).
func replay(t *testing.T, base, job string) []core.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/jobs/"+job+"/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		if resp != nil {
			resp.Body.Close()
		}
		return nil
	}
	defer resp.Body.Close()
	var evs []core.Event
	dec := json.NewDecoder(resp.Body)
	for {
		var ev core.Event
		if dec.Decode(&ev) != nil {
			return evs // a live job's replay ends with our deadline
		}
		evs = append(evs, ev)
	}
}
