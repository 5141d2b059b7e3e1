package gateway

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"athena/internal/core"
	"athena/internal/natsembed/natstest"
	"athena/internal/testkit"
	"athena/streams"
)

// bigSize is the size of the file the streaming tests send.
var bigSize = flag.Int("gateway.bigsize", 8<<20, "bytes of the large file the gateway's streaming tests send")

// marker makes the fake engine report a finding.
var marker = []byte("ATHENA-TEST-MARKER")

// testTopology keeps the tests' streams in memory and small.
var testTopology = streams.Topology{Storage: jetstream.MemoryStorage, ChunkMaxBytes: 512 << 20}

const testTimeout = 30 * time.Second

// fileOf returns n bytes of deterministic content, with the marker at
// offset 0 when marked.
func fileOf(n int, marked bool, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) ^ seed
	}
	// Make sure unmarked content cannot contain the marker by accident.
	for i := 0; i+len(marker) <= n; i += 4096 {
		b[i] = 0
	}
	if marked && n >= len(marker) {
		copy(b, marker)
	}
	return b
}

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// harness is a gateway served on a real listener over an embedded NATS
// server, with a fake engine.
type harness struct {
	t      testing.TB
	ns     *server.Server
	nc     *nats.Conn
	js     jetstream.JetStream
	g      *Gateway
	reg    *prometheus.Registry
	eng    *fakeEngine
	addr   string
	tls    *tls.Config // the server's; nil for cleartext
	pool   *x509.CertPool
	cancel context.CancelFunc
	served chan error
}

type harnessOpts struct {
	cfg        func(*Config)
	tls        bool
	noPresence bool
}

func newHarness(t testing.TB, opts harnessOpts) *harness {
	t.Helper()
	ns := natstest.Start(t)
	h := &harness{t: t, ns: ns, reg: prometheus.NewRegistry(), served: make(chan error, 1)}
	h.nc, h.js = natstest.Connect(t, ns)
	h.eng = startFakeEngine(t, ns.ClientURL(), !opts.noPresence)
	cfg := Config{
		NC: h.nc, JS: h.js, Topology: testTopology,
		ShutdownGrace: 5 * time.Second,
		Logger:        slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Registry:      h.reg,
	}
	if opts.cfg != nil {
		opts.cfg(&cfg)
	}
	var err error
	h.g, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.addr = ln.Addr().String()
	if opts.tls {
		h.tls, h.pool = selfSigned(t)
	}
	if !opts.noPresence {
		testkit.WaitFor(t, testTimeout, "the gateway to see the engine", func() bool { return h.g.ready() == nil })
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.served <- h.g.Serve(ctx, ln, h.tls) }()
	t.Cleanup(func() {
		h.stop()
		h.g.Close()
	})
	return h
}

// stop shuts the server down gracefully and returns Serve's result.
func (h *harness) stop() error {
	h.cancel()
	select {
	case err := <-h.served:
		h.served <- err
		return err
	case <-time.After(testTimeout):
		h.t.Fatal("Serve did not return")
		return nil
	}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func selfSigned(t testing.TB) (*tls.Config, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "athena-test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, pool
}

// baseURL is the gateway's http(s) URL.
func (h *harness) baseURL() string {
	if h.tls != nil {
		return "https://" + h.addr
	}
	return "http://" + h.addr
}

// client returns an HTTP client speaking proto: "h1", "h2c" (prior
// knowledge) or "h2" (TLS).
func (h *harness) client(proto string) *http.Client {
	tr := &http.Transport{Protocols: new(http.Protocols)}
	switch proto {
	case "h1":
		tr.Protocols.SetHTTP1(true)
	case "h2c":
		tr.Protocols.SetUnencryptedHTTP2(true)
	case "h2":
		tr.Protocols.SetHTTP2(true)
	}
	if h.pool != nil {
		tr.TLSClientConfig = &tls.Config{RootCAs: h.pool}
	}
	h.t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// lastChunk returns the headers of the last chunk stored for a job.
func (h *harness) lastChunk(job string) (nats.Header, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := h.js.Stream(ctx, streams.StreamChunks)
	if err != nil {
		return nil, false
	}
	m, err := s.GetLastMsgForSubject(ctx, streams.ChunkSubject(job))
	if err != nil {
		return nil, false
	}
	return m.Header, true
}

// waitAbortChunk waits until the job's last stored chunk is an abort with
// the given reason.
func (h *harness) waitAbortChunk(job, reason string) {
	h.t.Helper()
	testkit.WaitFor(h.t, testTimeout, "abort chunk "+reason+" for job "+job, func() bool {
		hdr, ok := h.lastChunk(job)
		return ok && hdr.Get(streams.HeaderAbort) == reason
	})
}

// fakeEngine is a minimal engine built only from the wire contract: it
// claims jobs, reads their chunks in order, reports a high finding when a
// chunk contains the marker, then a verdict on the last chunk, or an
// "aborted" error on an abort chunk. It sends presence heartbeats.
type fakeEngine struct {
	t      testing.TB
	nc     *nats.Conn
	js     jetstream.JetStream
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	cc     jetstream.ConsumeContext

	// duplicate publishes each event a second time under another message
	// id, as a redelivered job does after JetStream's duplicate window.
	duplicate atomic.Bool
	// noVerdict makes the engine read whole files and never conclude.
	noVerdict atomic.Bool

	mu       sync.Mutex
	aborts   map[string]string // job -> reason
	presence context.CancelFunc
	fp       string // the pipeline fingerprint announced and set on verdicts
}

// fakeFP is the fake engine's default pipeline fingerprint.
const fakeFP = "fakefp1"

func (e *fakeEngine) fingerprint() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.fp
}

// setFingerprint changes the fingerprint, as an engine restarted with
// other modules would.
func (e *fakeEngine) setFingerprint(fp string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.fp = fp
}

func startFakeEngine(t testing.TB, url string, presence bool) *fakeEngine {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	e := &fakeEngine{t: t, nc: nc, js: js, aborts: map[string]string{}, fp: fakeFP}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	if err := testTopology.Ensure(e.ctx, js); err != nil {
		t.Fatal(err)
	}
	cons, err := js.Consumer(e.ctx, streams.StreamJobs, streams.ConsumerEngines)
	if err != nil {
		t.Fatal(err)
	}
	e.cc, err = cons.Consume(func(m jetstream.Msg) {
		job, err := streams.DecodeJob(m.Data())
		m.Ack()
		if err != nil {
			t.Errorf("fake engine: %v", err)
			return
		}
		e.wg.Add(1)
		go e.run(job)
	})
	if err != nil {
		t.Fatal(err)
	}
	if presence {
		e.startPresence()
	}
	t.Cleanup(e.stop)
	return e
}

func (e *fakeEngine) stop() {
	e.cc.Stop()
	e.cancel()
	e.wg.Wait()
	e.nc.Close()
}

// startPresence sends a heartbeat every 20ms until stopPresence.
func (e *fakeEngine) startPresence() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.presence != nil {
		return
	}
	ctx, cancel := context.WithCancel(e.ctx)
	e.presence = cancel
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			b, _ := streams.EncodePresence(streams.Presence{ID: "fake-1", Capacity: 8, Healthy: true, Fingerprint: e.fingerprint()})
			e.nc.Publish(streams.SubjectEngineHeartbeat, b)
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
}

// stopPresence stops the heartbeats; leaving also sends capacity 0.
func (e *fakeEngine) stopPresence(leaving bool) {
	e.mu.Lock()
	cancel := e.presence
	e.presence = nil
	e.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	if leaving {
		b, _ := streams.EncodePresence(streams.Presence{ID: "fake-1", Capacity: 0, Healthy: true})
		e.nc.Publish(streams.SubjectEngineHeartbeat, b)
		e.nc.Flush()
	}
}

func (e *fakeEngine) abortOf(job string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.aborts[job]
}

func (e *fakeEngine) run(job streams.Job) {
	defer e.wg.Done()
	oc, err := e.js.OrderedConsumer(e.ctx, streams.StreamChunks, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{streams.ChunkSubject(job.ID)},
	})
	if err != nil {
		return
	}
	it, err := oc.Messages()
	if err != nil {
		return
	}
	defer it.Stop()
	defer context.AfterFunc(e.ctx, it.Stop)()
	var seq int64
	emit := func(ev core.Event) {
		seq++
		ev.V, ev.Job, ev.Seq = core.SchemaVersion, job.ID, seq
		msg, err := streams.EventMsg(job.ID, ev)
		if err != nil {
			e.t.Errorf("fake engine: %v", err)
			return
		}
		e.js.PublishMsg(e.ctx, msg)
		if e.duplicate.Load() {
			msg.Header.Set(streams.HeaderMsgID, msg.Header.Get(streams.HeaderMsgID)+"/again")
			e.js.PublishMsg(e.ctx, msg)
		}
	}
	h := sha256.New()
	var size int64
	var findings []core.Finding
	for {
		m, err := it.Next()
		if err != nil {
			return
		}
		c, err := streams.DecodeChunk(m.Headers(), m.Data())
		if err != nil {
			emit(core.Event{Type: core.EventError, Error: &core.Error{Code: "bad_chunk", Message: err.Error()}})
			return
		}
		if c.Abort != "" {
			e.mu.Lock()
			e.aborts[job.ID] = c.Abort
			e.mu.Unlock()
			emit(core.Event{Type: core.EventError, Error: &core.Error{Code: "aborted", Message: c.Abort}})
			return
		}
		h.Write(c.Data)
		size += int64(len(c.Data))
		if i := bytes.Index(c.Data, marker); i >= 0 && len(findings) == 0 {
			f := core.Finding{Module: "fake", Kind: "pattern", Rule: "marker", Severity: core.High, Offset: c.Offset + int64(i), Length: int64(len(marker))}
			findings = append(findings, f)
			emit(core.Event{Type: core.EventFinding, Finding: &f})
		}
		emit(core.Event{Type: core.EventProgress, Progress: &core.Progress{Bytes: size}})
		if c.Last && e.noVerdict.Load() {
			return
		}
		if c.Last {
			v := core.VerdictFrom(findings)
			v.SHA256, v.Size = hex.EncodeToString(h.Sum(nil)), size
			v.Hashes.SHA256, v.Fingerprint = v.SHA256, e.fingerprint()
			emit(core.Event{Type: core.EventVerdict, Verdict: &v})
			return
		}
	}
}

// wsMsg is any server message on the WebSocket.
type wsMsg struct {
	raw     []byte
	V       int           `json:"v"`
	Type    string        `json:"type"`
	Stream  uint16        `json:"stream"`
	Job     string        `json:"job"`
	Seq     int64         `json:"seq"`
	Bytes   int64         `json:"bytes"`
	Error   *core.Error   `json:"error"`
	Finding *core.Finding `json:"finding"`
	Verdict *core.Verdict `json:"verdict"`
	Cached  bool          `json:"cached"`
}

func (m wsMsg) terminal() bool {
	return m.V != 0 && (m.Type == core.EventVerdict || m.Type == core.EventError)
}

// wsClient is a test client that routes server messages to channels by
// stream (events by the job announced in "accepted").
type wsClient struct {
	t    testing.TB
	conn *websocket.Conn
	wmu  sync.Mutex

	mu      sync.Mutex
	streams map[uint16]chan wsMsg
	jobs    map[string]uint16
	done    chan struct{}
	err     error // the read error, once done is closed
}

func (h *harness) dialWS(hdr http.Header) (*wsClient, error) { return h.dialWSWith(hdr, nil) }

// dialWSWith dials and calls setup on the connection before reading starts.
func (h *harness) dialWSWith(hdr http.Header, setup func(*websocket.Conn)) (*wsClient, error) {
	url := "ws://" + h.addr + "/v1/stream"
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	if h.tls != nil {
		url = "wss://" + h.addr + "/v1/stream"
		d.TLSClientConfig = &tls.Config{RootCAs: h.pool}
	}
	conn, resp, err := d.Dial(url, hdr)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("%w (%s)", err, resp.Status)
		}
		return nil, err
	}
	c := &wsClient{t: h.t, conn: conn, streams: map[uint16]chan wsMsg{}, jobs: map[string]uint16{}, done: make(chan struct{})}
	if setup != nil {
		setup(conn)
	}
	go c.readLoop()
	h.t.Cleanup(func() { conn.Close(); <-c.done })
	return c, nil
}

func (h *harness) mustDialWS() *wsClient {
	h.t.Helper()
	c, err := h.dialWS(nil)
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

func (c *wsClient) ch(n uint16) chan wsMsg {
	ch, ok := c.streams[n]
	if !ok {
		ch = make(chan wsMsg, 8192)
		c.streams[n] = ch
	}
	return ch
}

func (c *wsClient) readLoop() {
	defer close(c.done)
	for {
		typ, b, err := c.conn.ReadMessage()
		if err != nil {
			c.err = err
			c.conn.Close() // as a well-behaved client does after the close handshake
			return
		}
		if typ != websocket.TextMessage {
			c.t.Errorf("server sent a binary message")
			continue
		}
		var m wsMsg
		if err := json.Unmarshal(b, &m); err != nil {
			c.t.Errorf("server message %q: %v", b, err)
			continue
		}
		m.raw = b
		c.mu.Lock()
		n := m.Stream
		if m.V != 0 {
			n = c.jobs[m.Job]
		} else if m.Type == "accepted" {
			c.jobs[m.Job] = n
		}
		ch := c.ch(n)
		c.mu.Unlock()
		ch <- m
	}
}

// next returns the next message for stream n.
func (c *wsClient) next(n uint16) (wsMsg, error) {
	c.mu.Lock()
	ch := c.ch(n)
	c.mu.Unlock()
	timer := time.NewTimer(testTimeout)
	defer timer.Stop()
	select {
	case m := <-ch:
		return m, nil
	case <-timer.C:
		return wsMsg{}, fmt.Errorf("stream %d: no message within %v", n, testTimeout)
	case <-c.done:
		select {
		case m := <-ch:
			return m, nil
		default:
		}
		return wsMsg{}, fmt.Errorf("stream %d: connection ended: %v", n, c.err)
	}
}

// until returns stream n's messages up to and including the first of one
// of the given types.
func (c *wsClient) until(n uint16, types ...string) ([]wsMsg, error) {
	var got []wsMsg
	for {
		m, err := c.next(n)
		if err != nil {
			return got, err
		}
		got = append(got, m)
		for _, t := range types {
			if m.Type == t {
				return got, nil
			}
		}
	}
}

func (c *wsClient) writeText(v any) error {
	b, ok := v.([]byte)
	if !ok {
		b, _ = json.Marshal(v)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.conn.WriteMessage(websocket.TextMessage, b)
}

func (c *wsClient) writeBinary(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.conn.WriteMessage(websocket.BinaryMessage, b)
}

func (c *wsClient) start(n uint16, name string, size int64) error {
	return c.writeText(map[string]any{"type": "start", "stream": n, "name": name, "size": size})
}

func (c *wsClient) end(n uint16) error {
	return c.writeText(map[string]any{"type": "end", "stream": n})
}

// send sends data for stream n in frames of at most frame bytes.
func (c *wsClient) send(n uint16, data []byte, frame int) error {
	buf := make([]byte, 2+frame)
	binary.BigEndian.PutUint16(buf, n)
	for len(data) > 0 {
		k := copy(buf[2:], data)
		if err := c.writeBinary(buf[:2+k]); err != nil {
			return err
		}
		data = data[k:]
	}
	return nil
}

// accept starts stream n and returns its job id.
func (c *wsClient) accept(n uint16, name string, size int64) (string, error) {
	if err := c.start(n, name, size); err != nil {
		return "", err
	}
	m, err := c.next(n)
	if err != nil {
		return "", err
	}
	if m.Type != "accepted" {
		return "", fmt.Errorf("stream %d: got %s, want accepted", n, m.raw)
	}
	return m.Job, nil
}

// closeCode waits for the connection to end and returns the server's close
// code.
func (c *wsClient) closeCode() int {
	c.t.Helper()
	select {
	case <-c.done:
	case <-time.After(testTimeout):
		c.t.Fatal("connection did not close")
	}
	var ce *websocket.CloseError
	if errors.As(c.err, &ce) {
		return ce.Code
	}
	c.t.Fatalf("connection ended without a close frame: %v", c.err)
	return 0
}

// upload sends a whole file on stream n and returns its messages through
// the terminal event.
func (c *wsClient) upload(n uint16, name string, data []byte) ([]wsMsg, error) {
	if _, err := c.accept(n, name, int64(len(data))); err != nil {
		return nil, err
	}
	return c.finish(n, data, 64<<10)
}

// finish sends the rest of stream n's file in frames of frame bytes, ends
// it and returns its messages through the terminal event.
func (c *wsClient) finish(n uint16, rest []byte, frame int) ([]wsMsg, error) {
	if err := c.send(n, rest, frame); err != nil {
		return nil, err
	}
	if err := c.end(n); err != nil {
		return nil, err
	}
	return c.until(n, core.EventVerdict, core.EventError)
}

// verdictOf returns the verdict at the end of msgs.
func verdictOf(msgs []wsMsg) (*core.Verdict, error) {
	if len(msgs) == 0 {
		return nil, errors.New("no messages")
	}
	last := msgs[len(msgs)-1]
	if last.Verdict == nil {
		return nil, fmt.Errorf("last message %s is not a verdict", last.raw)
	}
	return last.Verdict, nil
}

// checkVerdict checks a verdict against the file it judges.
func checkVerdict(v *core.Verdict, data []byte, marked bool) error {
	want := core.LabelClean
	if marked {
		want = core.LabelMalicious
	}
	switch {
	case v.Label != want:
		return fmt.Errorf("label %q, want %q", v.Label, want)
	case v.SHA256 != sha(data):
		return fmt.Errorf("sha256 %s, want %s", v.SHA256, sha(data))
	case v.Size != int64(len(data)):
		return fmt.Errorf("size %d, want %d", v.Size, len(data))
	}
	return nil
}

// ndjson reads events from an NDJSON body into a channel, closed at EOF.
func ndjson(t testing.TB, r io.Reader) <-chan core.Event {
	ch := make(chan core.Event, 8192)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var ev core.Event
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				t.Errorf("bad NDJSON line %q: %v", sc.Bytes(), err)
				return
			}
			ch <- ev
		}
	}()
	return ch
}

// nextEvent returns the next event, or an error at EOF or timeout.
func nextEvent(ch <-chan core.Event) (core.Event, error) {
	select {
	case ev, ok := <-ch:
		if !ok {
			return ev, io.EOF
		}
		return ev, nil
	case <-time.After(testTimeout):
		return core.Event{}, errors.New("no event in time")
	}
}

// eventsUntil reads events through the first terminal one.
func eventsUntil(ch <-chan core.Event) ([]core.Event, error) {
	var got []core.Event
	for {
		ev, err := nextEvent(ch)
		if err != nil {
			return got, err
		}
		got = append(got, ev)
		if ev.Type == core.EventVerdict || ev.Type == core.EventError {
			return got, nil
		}
	}
}

// post starts POST /v1/analyze with a streaming body and returns the
// response and the pipe to write the body into.
func (h *harness) post(ctx context.Context, c *http.Client, name string) (*http.Response, *io.PipeWriter, error) {
	pr, pw := io.Pipe()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.baseURL()+"/v1/analyze?name="+name, pr)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := c.Do(req)
	if err != nil {
		pw.Close()
		return nil, nil, err
	}
	return resp, pw, nil
}

// analyze posts a whole file and returns its events.
func (h *harness) analyze(c *http.Client, name string, data []byte) ([]core.Event, *http.Response, error) {
	req, err := http.NewRequest(http.MethodPost, h.baseURL()+"/v1/analyze?name="+name, bytes.NewReader(data))
	if err != nil {
		return nil, nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return nil, resp, fmt.Errorf("status %s: %s", resp.Status, b)
	}
	evs, err := eventsUntil(ndjson(h.t, resp.Body))
	return evs, resp, err
}

// apiErr decodes an HTTP error body.
func apiErr(t *testing.T, resp *http.Response) apiError {
	t.Helper()
	defer resp.Body.Close()
	var body struct {
		Error apiError `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("error body: %v", err)
	}
	return body.Error
}
