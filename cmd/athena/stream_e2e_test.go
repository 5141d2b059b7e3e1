package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"athena/internal/core"
	"athena/internal/testkit"
	"athena/streams"
)

const (
	bigFile  = 64 << 20
	bigChunk = 256 << 10
)

// bigChunks yields the chunks of a 64 MiB text file whose first chunk holds
// EICAR (built from pieces).
func bigChunks() [][]byte {
	line := []byte("an ordinary line of a large and harmless text file\n")
	data := bytes.Repeat(line, bigFile/len(line)+1)[:bigFile]
	copy(data[1000:], testkit.EICAR())
	var chunks [][]byte
	for off := 0; off < len(data); off += bigChunk {
		chunks = append(chunks, data[off:min(off+bigChunk, len(data))])
	}
	return chunks
}

// A 64 MiB stream with a pattern in its first chunk yields that finding
// before the client has sent the last chunk: the client holds the last
// chunk back until the finding has arrived.
func TestFindingArrivesBeforeUploadEnds(t *testing.T) {
	base, _ := startServe(t, 1)
	chunks := bigChunks()
	t.Run("http2", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		pr, pw := io.Pipe()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/analyze?name=big.txt", pr)
		req.ContentLength = bigFile
		client := newHTTPClient(mustURL(t, base), nil)
		defer client.Close()
		found := make(chan struct{})
		events := make(chan []core.Event, 1)
		go func() {
			defer pw.Close()
			for _, c := range chunks[:len(chunks)-1] {
				if _, err := pw.Write(c); err != nil {
					return
				}
			}
			select {
			case <-found:
				pw.Write(chunks[len(chunks)-1])
			case <-ctx.Done():
			}
		}()
		resp, err := client.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.ProtoMajor != 2 {
			t.Errorf("protocol %s, want HTTP/2", resp.Proto)
		}
		go func() {
			var got []core.Event
			readEvents(resp.Body, func(ev core.Event) {
				got = append(got, ev)
				if ev.Finding != nil && ev.Finding.Rule == "eicar_test_file" {
					close(found)
				}
			})
			events <- got
		}()
		checkBigResult(t, ctx, events)
	})
	t.Run("websocket", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		conn, _, err := websocket.DefaultDialer.DialContext(ctx, strings.Replace(base, "http", "ws", 1)+"/v1/stream", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.WriteJSON(map[string]any{"type": "start", "stream": 7, "name": "big.txt", "size": bigFile})
		found := make(chan struct{})
		accepted := make(chan struct{})
		events := make(chan []core.Event, 1)
		go func() {
			var got []core.Event
			defer func() { events <- got }()
			for {
				_, raw, err := conn.ReadMessage()
				if err != nil {
					return
				}
				var ctl struct {
					V    int
					Type string
				}
				json.Unmarshal(raw, &ctl)
				if ctl.V == 0 {
					if ctl.Type == "accepted" {
						close(accepted)
					}
					continue
				}
				ev, err := streams.DecodeEvent(raw)
				if err != nil {
					t.Errorf("bad event %s: %v", raw, err)
					return
				}
				got = append(got, ev)
				if ev.Finding != nil && ev.Finding.Rule == "eicar_test_file" {
					close(found)
				}
				if ev.Type == core.EventVerdict || ev.Type == core.EventError {
					return
				}
			}
		}()
		<-accepted
		send := func(c []byte) {
			frame := make([]byte, 2+len(c))
			binary.BigEndian.PutUint16(frame, 7)
			copy(frame[2:], c)
			if err := conn.WriteMessage(websocket.BinaryMessage, frame); err != nil {
				t.Errorf("send: %v", err)
			}
		}
		for _, c := range chunks[:len(chunks)-1] {
			send(c)
		}
		select {
		case <-found:
		case <-ctx.Done():
			t.Fatal("no eicar finding before the last chunk was sent")
		}
		send(chunks[len(chunks)-1])
		conn.WriteJSON(map[string]any{"type": "end", "stream": 7})
		checkBigResult(t, ctx, events)
	})
}

func checkBigResult(t *testing.T, ctx context.Context, events chan []core.Event) {
	t.Helper()
	var got []core.Event
	select {
	case got = <-events:
	case <-ctx.Done():
		t.Fatal("no verdict")
	}
	if len(got) == 0 {
		t.Fatal("no events")
	}
	last := got[len(got)-1]
	if last.Verdict == nil || last.Verdict.Size != bigFile || last.Verdict.Label != core.LabelMalicious {
		t.Errorf("last event %+v, want a malicious verdict of %d bytes", last, bigFile)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
