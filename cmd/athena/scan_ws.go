package main

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/gorilla/websocket"

	"athena/internal/core"
	"athena/streams"
)

// wsChunk is the data carried by one binary frame.
const wsChunk = 256 << 10

// wsClient streams files over the gateway's WebSocket (docs/api.md), one
// file at a time on one connection.
type wsClient struct {
	base *url.URL
	tls  *tls.Config
	conn *websocket.Conn
}

func (c *wsClient) Close() {
	if c.conn != nil {
		c.conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
		c.conn.Close()
	}
}

func (c *wsClient) dial(ctx context.Context) error {
	if c.conn != nil {
		return nil
	}
	u := *c.base
	u.Scheme = map[string]string{"http": "ws", "https": "wss"}[c.base.Scheme]
	u.Path = "/v1/stream"
	d := websocket.Dialer{TLSClientConfig: c.tls, Proxy: http.ProxyFromEnvironment}
	conn, resp, err := d.DialContext(ctx, u.String(), nil)
	if err != nil {
		if resp != nil {
			return fmt.Errorf("websocket %s: %s", u.String(), resp.Status)
		}
		return fmt.Errorf("websocket %s: %w", u.String(), err)
	}
	c.conn = conn
	return nil
}

// wsMessage is any server message: an event (it has "v") or a control
// message (accepted, ack, rejected).
type wsMessage struct {
	V      int         `json:"v"`
	Type   string      `json:"type"`
	Stream int         `json:"stream"`
	Job    string      `json:"job"`
	Bytes  int64       `json:"bytes"`
	Cached bool        `json:"cached"`
	Error  *core.Error `json:"error"`
}

func (c *wsClient) Scan(ctx context.Context, meta core.FileMeta, sha256 string, body io.Reader, onEvent func(core.Event)) error {
	if err := c.dial(ctx); err != nil {
		return err
	}
	const stream = 1
	conn := c.conn
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	err := c.exchange(conn, stream, meta, sha256, body, onEvent)
	if err != nil && !isJobError(err) {
		conn.Close() // the connection's state is unknown: start afresh next time
		c.conn = nil
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return err
}

func isJobError(err error) bool {
	var e *core.Error
	return errors.As(err, &e)
}

// exchange starts the file, sends its bytes once the server accepted it,
// and relays events until the job's verdict or error.
func (c *wsClient) exchange(conn *websocket.Conn, stream int, meta core.FileMeta, sha256 string, body io.Reader, onEvent func(core.Event)) error {
	startMsg := map[string]any{"type": "start", "stream": stream, "name": meta.Name, "size": meta.Size}
	if sha256 != "" {
		startMsg["sha256"] = sha256
	}
	start, _ := json.Marshal(startMsg)
	if err := conn.WriteMessage(websocket.TextMessage, start); err != nil {
		return err
	}
	for {
		m, _, err := readMessage(conn)
		if err != nil {
			return err
		}
		switch {
		case m.Type == "rejected" && m.Error != nil:
			return m.Error
		case m.Type == "accepted" && m.Stream == stream && m.Cached:
			// Known to the verdict cache: the verdict follows, send nothing.
			return c.relay(conn, onEvent)
		case m.Type == "accepted" && m.Stream == stream:
			uploadErr := make(chan error, 1)
			go func() { uploadErr <- upload(conn, stream, body) }()
			if err := c.relay(conn, onEvent); err != nil {
				return err
			}
			return <-uploadErr
		}
	}
}

// upload sends body in frames of at most wsChunk bytes, each as soon as a
// read returns it: a file gives full frames, a slow source (stdin, a
// pipe) is sent as it comes instead of waiting for a frame to fill.
func upload(conn *websocket.Conn, stream int, body io.Reader) error {
	buf := make([]byte, 2+wsChunk)
	binary.BigEndian.PutUint16(buf, uint16(stream))
	for {
		n, err := body.Read(buf[2:])
		if n > 0 {
			if werr := conn.WriteMessage(websocket.BinaryMessage, buf[:2+n]); werr != nil {
				return werr
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
	}
	end, _ := json.Marshal(map[string]any{"type": "end", "stream": stream})
	return conn.WriteMessage(websocket.TextMessage, end)
}

// readMessage reads one server message; raw is its JSON.
func readMessage(conn *websocket.Conn) (wsMessage, []byte, error) {
	var m wsMessage
	_, raw, err := conn.ReadMessage()
	if err != nil {
		return m, nil, err
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return m, nil, fmt.Errorf("bad message from the server: %w", err)
	}
	return m, raw, nil
}

// relay reads server messages until the job's verdict or error.
func (c *wsClient) relay(conn *websocket.Conn, onEvent func(core.Event)) error {
	for {
		m, raw, err := readMessage(conn)
		if err != nil {
			return err
		}
		if m.V == 0 {
			continue // ack: the progress bar counts bytes read instead
		}
		ev, err := streams.DecodeEvent(raw)
		if err != nil {
			return fmt.Errorf("bad event from the server: %w", err)
		}
		onEvent(ev)
		if ev.Type == core.EventVerdict || ev.Type == core.EventError {
			return nil
		}
	}
}
