package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"athena/internal/core"
)

// closeLinger is how long the server waits for the client's close frame
// (or its end of the TCP connection) after sending its own.
const closeLinger = 2 * time.Second

var errSessionClosed = errors.New("gateway: websocket session closed")

// closeErr is a connection-level protocol violation: the connection closes
// with code.
type closeErr struct {
	code int
	text string
}

func protocolErr(format string, args ...any) *closeErr {
	return &closeErr{code: websocket.CloseUnsupportedData, text: fmt.Sprintf(format, args...)}
}

// handleStream upgrades /v1/stream to a WebSocket and runs its session
// until the connection ends.
func (g *Gateway) handleStream(w http.ResponseWriter, r *http.Request) error {
	if !websocket.IsWebSocketUpgrade(r) {
		return errorf(http.StatusUpgradeRequired, CodeUpgradeRequired, "/v1/stream is a WebSocket (RFC 6455) endpoint")
	}
	originOK := g.originAllowed(r)
	conn, err := g.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return nil // the upgrader answered
	}
	if !originOK {
		g.log.Info("websocket origin refused", "origin", truncate(r.Header.Get("Origin"), 128))
		refuse(conn, websocket.ClosePolicyViolation, "origin not allowed")
		return nil
	}
	s := newSession(g, conn, r)
	if !g.addSession(s) {
		refuse(conn, websocket.CloseGoingAway, "server shutting down")
		return nil
	}
	g.metrics.sessions.Inc()
	defer g.metrics.sessions.Dec()
	defer g.removeSession(s)
	s.run()
	return nil
}

// originAllowed applies the Origin policy: no Origin (not a browser), the
// gateway's own host, or one of AllowedOrigins ("*" allows any).
func (g *Gateway) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	if u, err := url.Parse(origin); err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host) {
		return true
	}
	for _, a := range g.cfg.AllowedOrigins {
		if a == "*" || strings.EqualFold(strings.TrimSuffix(a, "/"), origin) {
			return true
		}
	}
	return false
}

// refuse closes a fresh connection with code before reading anything from
// it but the client's close frame.
func refuse(conn *websocket.Conn, code int, text string) {
	conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, text), time.Now().Add(writeWait))
	conn.SetReadDeadline(time.Now().Add(closeLinger))
	conn.SetReadLimit(maxControl)
	for {
		if _, _, err := conn.NextReader(); err != nil {
			break
		}
	}
	conn.Close()
}

// session is one WebSocket connection: the HTTP handler's goroutine reads
// (and feeds every upload of the connection), one writer goroutine writes,
// and each upload's relay sends through the writer.
type session struct {
	g    *Gateway
	conn *websocket.Conn
	log  *slog.Logger

	// ctx ends when the session tears down; uploads derive from it. It is
	// not the request's context: a shutdown ends sessions explicitly.
	ctx    context.Context
	cancel context.CancelFunc

	out        chan []byte   // text messages for the writer
	closeReq   chan struct{} // closed by closeWith
	closeOnce  sync.Once
	closeCode  int
	closeText  string
	closeSent  atomic.Bool   // our close frame (or gorilla's 1009) went out
	writerDone chan struct{} // closed when the writer exits
	dlMu       sync.Mutex    // orders read-deadline updates with closing
	rawLinger  bool          // the reader failed after our close frame: drain the socket raw

	mu       sync.Mutex
	streams  map[uint16]*wsStream // files in flight, by the client's number
	tomb     map[uint16]*upload   // ended by the server before the client's end; nil once released
	live     map[*upload]struct{} // uploads whose relay has not ended
	draining bool
	closing  bool           // teardown began: coalesce opens no upload
	waiters  sync.WaitGroup // coalesce goroutines
	// waitCtx ends when teardown begins: coalesce stops waiting.
	waitCtx     context.Context
	stopWaiters context.CancelFunc
}

// wsStream is one file of a session.
type wsStream struct {
	s *session
	n uint16
	u *upload
	// clientDone is set (under s.mu) once the client sent end or cancel.
	clientDone bool
	// waiting is set (under s.mu) while the stream waits for another
	// upload's verdict (coalesce): it has no upload yet.
	waiting bool
}

func (st *wsStream) event(b []byte) error { return st.s.send(b) }

func (st *wsStream) ack(bytes int64) { st.s.send(ackMsg(st.n, bytes)) }

// done frees the stream number before the file's terminal message goes
// out. A file the server ended before the client's end or cancel leaves a
// tombstone: frames already on the way for it are dropped.
func (st *wsStream) done() {
	s := st.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.streams[st.n] == st {
		delete(s.streams, st.n)
		if !st.clientDone {
			s.tomb[st.n] = st.u
		}
	}
}

func newSession(g *Gateway, conn *websocket.Conn, r *http.Request) *session {
	s := &session{
		g: g, conn: conn,
		log:        g.log.With("remote", r.RemoteAddr),
		out:        make(chan []byte, 64+4*g.cfg.MaxStreamsPerConn),
		closeReq:   make(chan struct{}),
		writerDone: make(chan struct{}),
		streams:    map[uint16]*wsStream{},
		tomb:       map[uint16]*upload{},
		live:       map[*upload]struct{}{},
	}
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(r.Context()))
	s.waitCtx, s.stopWaiters = context.WithCancel(s.ctx)
	return s
}

// run serves the connection until it ends, then aborts what is left.
func (s *session) run() {
	c := s.conn
	c.SetReadLimit(int64(s.g.cfg.MaxFrame))
	s.extendDeadline()
	c.SetPongHandler(func(string) error { s.extendDeadline(); return nil })
	c.SetCloseHandler(func(code int, _ string) error {
		// Echo the client's close unless ours already went out.
		if s.closeSent.CompareAndSwap(false, true) {
			msg := websocket.FormatCloseMessage(code, "")
			if code == websocket.CloseNoStatusReceived {
				msg = []byte{}
			}
			c.WriteControl(websocket.CloseMessage, msg, time.Now().Add(writeWait))
		}
		return nil
	})
	go s.writeLoop()
	reason, usable := s.readLoop()
	s.teardown(reason, usable)
}

// extendDeadline gives the client PongWait more to show it is alive,
// unless the connection is closing.
func (s *session) extendDeadline() {
	s.dlMu.Lock()
	defer s.dlMu.Unlock()
	if !s.closeSent.Load() {
		s.conn.SetReadDeadline(time.Now().Add(s.g.cfg.PongWait))
	}
}

// readLoop reads client messages until the connection fails or the server
// closes it. It returns the abort reason for the uploads left, and whether
// the connection can still be read (for the closing handshake).
func (s *session) readLoop() (reason string, usable bool) {
	for {
		typ, r, err := s.conn.NextReader()
		if err != nil {
			switch {
			case errors.Is(err, websocket.ErrReadLimit):
				s.log.Info("websocket protocol violation", "code", websocket.CloseMessageTooBig, "reason", "message too big")
				s.closeSent.Store(true) // gorilla sent 1009
				s.rawLinger = true
				s.closeWith(websocket.CloseMessageTooBig, "")
				return abortProtocolError, false
			}
			select {
			case <-s.closeReq:
				return s.closeReason(), false
			default:
			}
			// The client left: nothing more goes out.
			s.closeSent.Store(true)
			return abortClientGone, false
		}
		s.extendDeadline()
		var ce *closeErr
		switch typ {
		case websocket.TextMessage:
			ce = s.onText(r)
		case websocket.BinaryMessage:
			ce = s.onBinary(r)
		}
		if ce != nil {
			s.log.Info("websocket protocol violation", "code", ce.code, "reason", ce.text)
			s.closeWith(ce.code, ce.text)
			return abortProtocolError, true
		}
		select {
		case <-s.closeReq: // shutdown or write failure
			return s.closeReason(), true
		default:
		}
	}
}

func (s *session) closeReason() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closeCode == websocket.CloseGoingAway {
		return abortShutdown
	}
	return abortClientGone
}

func (s *session) onText(r io.Reader) *closeErr {
	b, err := io.ReadAll(io.LimitReader(r, maxControl+1))
	if err != nil {
		return nil // the connection failed; the next read says so
	}
	if len(b) > maxControl {
		return &closeErr{code: websocket.CloseMessageTooBig, text: fmt.Sprintf("control message over %d bytes", maxControl)}
	}
	m, err := parseControl(b)
	if err != nil {
		return protocolErr("%v", err)
	}
	switch m.Type {
	case msgStart:
		return s.onStart(m)
	case msgEnd:
		return s.onEnd(m.Stream)
	default:
		s.onCancel(m.Stream)
		return nil
	}
}

func (s *session) onStart(m controlMsg) *closeErr {
	n := m.Stream
	s.mu.Lock()
	if _, busy := s.streams[n]; busy {
		s.mu.Unlock()
		s.send(rejectedMsg(n, CodeBadStart, fmt.Sprintf("stream %d already has a file in flight", n)))
		return nil
	}
	if len(s.streams) >= s.g.cfg.MaxStreamsPerConn {
		s.mu.Unlock()
		return &closeErr{code: websocket.ClosePolicyViolation,
			text: fmt.Sprintf("too many streams: at most %d files in flight per connection", s.g.cfg.MaxStreamsPerConn)}
	}
	old := s.tomb[n]
	delete(s.tomb, n)
	s.mu.Unlock()
	if old != nil {
		old.release()
	}
	switch {
	case m.StartErr != nil:
		s.send(rejectedMsg(n, CodeBadStart, fmt.Sprintf("stream %d: %v", n, m.StartErr)))
		return nil
	case m.Size > s.g.cfg.MaxFileSize:
		s.send(rejectedMsg(n, CodeFileTooLarge, fmt.Sprintf("stream %d: %d bytes; the limit is %d", n, m.Size, s.g.cfg.MaxFileSize)))
		return nil
	}
	st := &wsStream{s: s, n: n}
	req := uploadRequest{Name: m.Name, Size: m.Size, SHA256: m.SHA256, Options: m.Options, Transport: "ws"}
	if req.SHA256 != "" {
		if v, ok := s.g.lookup(s.ctx, req.SHA256); ok {
			s.answerCached(n, v)
			return nil
		}
		f, leader := s.g.join(req.SHA256)
		switch {
		case leader:
			req.flight = f
		case f != nil:
			// Another upload of this file is in flight: wait for its
			// verdict off the reader, with stream n reserved.
			st.waiting = true
			s.mu.Lock()
			s.streams[n] = st
			s.mu.Unlock()
			s.waiters.Add(1)
			go s.coalesce(st, req, f)
			return nil
		}
	}
	s.open(st, req)
	return nil
}

// open starts the upload of stream st and tells the client its job.
func (s *session) open(st *wsStream, req uploadRequest) {
	n := st.n
	u, err := s.g.openUpload(s.ctx, req, st, st.ack, func(*upload) { s.uploadEnded(st) })
	if err != nil {
		s.mu.Lock()
		if s.streams[n] == st {
			delete(s.streams, n)
		}
		s.mu.Unlock()
		s.send(rejectedMsg(n, CodeNotReady, fmt.Sprintf("stream %d: %v", n, err)))
		return
	}
	s.mu.Lock()
	st.u = u
	st.waiting = false
	s.streams[n] = st
	s.live[u] = struct{}{}
	s.mu.Unlock()
	s.send(acceptedMsg(n, u.id))
	u.start()
}

// coalesce runs on its own goroutine (owned by the session: teardown
// waits for it) while stream st waits for the verdict of another upload
// of the same declared sha256. It answers from that verdict, or uploads
// the file itself when none came in time, or gives up when the client
// cancelled or the session ends.
func (s *session) coalesce(st *wsStream, req uploadRequest, f *flight) {
	defer s.waiters.Done()
	v, ok := s.g.wait(s.waitCtx, f)
	s.mu.Lock()
	cancelled, closing := st.clientDone, s.closing
	if cancelled || closing || ok {
		if s.streams[st.n] == st {
			delete(s.streams, st.n)
		}
	}
	s.mu.Unlock()
	switch {
	case closing:
	case cancelled:
		s.send(rejectedMsg(st.n, CodeCancelled, fmt.Sprintf("stream %d cancelled by the client", st.n)))
	case ok:
		s.answerCached(st.n, v)
	default:
		s.open(st, req)
		return
	}
	s.mu.Lock()
	idle := s.draining && len(s.streams) == 0
	s.mu.Unlock()
	if idle {
		s.closeWith(websocket.CloseGoingAway, "server shutting down")
	}
}

// answerCached answers stream n from the verdict cache: accepted with a
// synthetic job id and "cached":true, then the verdict event (seq 1,
// cached). No job exists; frames the client sends for n anyway are
// dropped, until its end, cancel or next start for n.
func (s *session) answerCached(n uint16, v core.Verdict) {
	job := newCachedJobID()
	s.mu.Lock()
	s.tomb[n] = nil
	s.mu.Unlock()
	s.send(acceptedCachedMsg(n, job))
	s.send(cachedEvent(job, v))
}

// uploadEnded runs on the relay's goroutine when a file's relay ends (its
// stream was freed by done already).
func (s *session) uploadEnded(st *wsStream) {
	s.mu.Lock()
	delete(s.live, st.u)
	idle := s.draining && len(s.streams) == 0
	s.mu.Unlock()
	if idle {
		s.closeWith(websocket.CloseGoingAway, "server shutting down")
	}
}

func (s *session) onBinary(r io.Reader) *closeErr {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return protocolErr("%v", errShortFrame)
		}
		return nil
	}
	n, err := decodeFrameHeader(h[:])
	if err != nil {
		return protocolErr("%v", err)
	}
	s.mu.Lock()
	st := s.streams[n]
	dead, isDead := s.tomb[n]
	if isDead {
		s.tomb[n] = nil
	}
	waiting := st != nil && st.waiting
	s.mu.Unlock()
	if waiting {
		return protocolErr("binary frame for stream %d before its accepted", n)
	}
	switch {
	case st != nil && !st.clientDone:
		_, err := st.u.readFrom(aliveReader{r, s})
		var src *sourceError
		switch {
		case err == nil, errors.As(err, &src):
			// A read failure is the connection's: the next read says so.
		case errors.Is(err, errTooLarge):
			st.u.stop(abortFileTooLarge, &core.Error{Code: CodeFileTooLarge,
				Message: fmt.Sprintf("stream %d: the file exceeds %d bytes", n, s.g.cfg.MaxFileSize)})
			st.u.release()
		default: // stopped by the job's end, a failure or a shutdown
			st.u.release()
		}
	case isDead:
		if dead != nil {
			dead.release()
		}
		io.Copy(io.Discard, r)
	case st != nil:
		return protocolErr("binary frame for stream %d after its end", n)
	default:
		return protocolErr("binary frame for unknown stream %d", n)
	}
	return nil
}

// aliveReader extends the read deadline while a message's bytes flow, so
// a large frame on a slow link is not taken for a dead client.
type aliveReader struct {
	r io.Reader
	s *session
}

func (a aliveReader) Read(p []byte) (int, error) {
	n, err := a.r.Read(p)
	if n > 0 {
		a.s.extendDeadline()
	}
	return n, err
}

func (s *session) onEnd(n uint16) *closeErr {
	s.mu.Lock()
	st := s.streams[n]
	dead, isDead := s.tomb[n]
	switch {
	case st == nil && isDead:
		delete(s.tomb, n)
		s.mu.Unlock()
		if dead != nil {
			dead.release()
		}
		return nil
	case st == nil:
		s.mu.Unlock()
		return protocolErr("end for unknown stream %d", n)
	case st.waiting:
		s.mu.Unlock()
		return protocolErr("end for stream %d before its accepted", n)
	case st.clientDone:
		s.mu.Unlock()
		return protocolErr("second end for stream %d", n)
	}
	st.clientDone = true
	s.mu.Unlock()
	st.u.end() // on errStopped the upload already said why
	st.u.release()
	return nil
}

// onCancel stops a file; cancelling a file that already ended is a no-op,
// since the client may not have seen its end yet.
func (s *session) onCancel(n uint16) {
	s.mu.Lock()
	st := s.streams[n]
	dead, isDead := s.tomb[n]
	if st == nil {
		delete(s.tomb, n)
		s.mu.Unlock()
		if isDead && dead != nil {
			dead.release()
		}
		return
	}
	st.clientDone = true
	if st.waiting {
		s.mu.Unlock()
		return // coalesce answers rejected cancelled
	}
	s.mu.Unlock()
	st.u.stop(abortCancelled, &core.Error{Code: CodeCancelled, Message: fmt.Sprintf("stream %d cancelled by the client", n)})
	st.u.release()
}

// send queues a text message for the writer. It fails once the session is
// closing.
func (s *session) send(b []byte) error {
	select {
	case <-s.closeReq:
		return errSessionClosed
	default:
	}
	select {
	case s.out <- b:
		return nil
	case <-s.closeReq:
	case <-s.writerDone:
	case <-s.ctx.Done():
	}
	return errSessionClosed
}

// closeWith asks the writer to send what is queued, then a close frame
// with code; the first call wins. Any goroutine may call it.
func (s *session) closeWith(code int, text string) {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closeCode, s.closeText = code, truncate(text, 120)
		s.mu.Unlock()
		close(s.closeReq)
	})
}

// writeLoop is the connection's only writer of data frames; it also pings.
func (s *session) writeLoop() {
	defer close(s.writerDone)
	ping := time.NewTicker(s.g.cfg.PingInterval)
	defer ping.Stop()
	for {
		select {
		case b := <-s.out:
			if err := s.write(b); err != nil {
				s.writeFailed(err)
				return
			}
		case <-ping.C:
			if err := s.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeWait)); err != nil {
				s.writeFailed(err)
				return
			}
		case <-s.closeReq:
			if err := s.flush(); err != nil {
				s.writeFailed(err)
				return
			}
			s.writeClose()
			return
		case <-s.ctx.Done():
			return
		}
	}
}

// flush writes what is queued, unless a close frame already went out.
func (s *session) flush() error {
	for !s.closeSent.Load() {
		select {
		case b := <-s.out:
			if err := s.write(b); err != nil {
				return err
			}
		default:
			return nil
		}
	}
	return nil
}

func (s *session) write(b []byte) error {
	s.conn.SetWriteDeadline(time.Now().Add(writeWait))
	return s.conn.WriteMessage(websocket.TextMessage, b)
}

// writeFailed ends a session whose client does not take data: the reader
// stops at once. It leaves s.ctx alone: the reader's teardown must stop the
// uploads first, so that each publishes its abort chunk with a reason
// (cancelling their contexts here ended their relays silently, and the
// engines waited for bytes that never came).
func (s *session) writeFailed(err error) {
	s.log.Debug("websocket write", "err", err)
	s.closeSent.Store(true) // no close frame on a broken connection
	s.closeWith(websocket.CloseAbnormalClosure, "")
	s.dlMu.Lock()
	s.conn.SetReadDeadline(time.Now())
	s.dlMu.Unlock()
}

// writeClose sends the close frame (unless one went out) and gives the
// client closeLinger to answer.
func (s *session) writeClose() {
	s.mu.Lock()
	code, text := s.closeCode, s.closeText
	s.mu.Unlock()
	s.dlMu.Lock()
	defer s.dlMu.Unlock()
	if s.closeSent.CompareAndSwap(false, true) {
		s.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, text), time.Now().Add(writeWait))
	}
	s.conn.SetReadDeadline(time.Now().Add(closeLinger))
}

// startDrain makes the session close with 1001 once it has no file in
// flight (at once if it has none).
func (s *session) startDrain() {
	s.mu.Lock()
	s.draining = true
	idle := len(s.streams) == 0
	s.mu.Unlock()
	if idle {
		s.closeWith(websocket.CloseGoingAway, "server shutting down")
	}
}

// shutdown ends the session now: each file in flight gets a shutting_down
// error, then the connection closes with 1001.
func (s *session) shutdown() {
	s.mu.Lock()
	s.draining = true
	active := make([]*wsStream, 0, len(s.streams))
	for _, st := range s.streams {
		if st.u != nil { // a stream waiting in coalesce has no upload
			active = append(active, st)
		}
	}
	s.mu.Unlock()
	for _, st := range active {
		st.u.stop(abortShutdown, shutdownError(st.u.id))
	}
	s.closeWith(websocket.CloseGoingAway, "server shutting down")
}

// teardown aborts the uploads left, waits for their relays and the writer,
// finishes the closing handshake and closes the connection.
func (s *session) teardown(reason string, usable bool) {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	s.stopWaiters() // coalesce goroutines stop waiting
	s.waiters.Wait()
	s.mu.Lock()
	live := make([]*upload, 0, len(s.live))
	for u := range s.live {
		live = append(live, u)
	}
	dead := make([]*upload, 0, len(s.tomb))
	for _, u := range s.tomb {
		if u != nil {
			dead = append(dead, u)
		}
	}
	s.mu.Unlock()
	// This is the feeder's goroutine: it may release every upload.
	for _, u := range live {
		u.stop(reason, nil)
		u.release()
	}
	for _, u := range dead {
		u.release()
	}
	for _, u := range live {
		<-u.done
	}
	s.closeWith(websocket.CloseNormalClosure, "")
	<-s.writerDone
	s.cancel()
	switch {
	case usable && s.closeSent.Load():
		// Wait for the client's close frame, within the deadline
		// writeClose set.
		for {
			if _, _, err := s.conn.NextReader(); err != nil {
				break
			}
		}
	case s.rawLinger:
		// Closing a socket with unread data resets it, and the reset can
		// destroy our close frame before the client reads it: drain until
		// the client closes or the linger ends.
		nc := s.conn.NetConn()
		nc.SetReadDeadline(time.Now().Add(closeLinger))
		io.Copy(io.Discard, nc)
	}
	s.conn.Close()
}
