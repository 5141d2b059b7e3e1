package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"athena/gateway"
	"athena/internal/core"
	"athena/streams"
)

func runScan(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("scan", "scan [flags] FILE...|-", stderr)
	server := fs.String("server", "http://127.0.0.1:8080", "Athena gateway URL (http:// speaks h2c, https:// speaks TLS HTTP/2)")
	useWS := fs.Bool("ws", false, "stream over the WebSocket at /v1/stream instead of HTTP/2")
	asJSON := fs.Bool("json", false, "print every event as NDJSON instead of a summary")
	caFile := fs.String("ca", "", "PEM file of CA certificates to trust for https:// (default: the system's)")
	insecure := fs.Bool("insecure", false, "do not verify the server's TLS certificate")
	timeout := fs.Duration("timeout", 10*time.Minute, "give up on a file after this long")
	declare := fs.Bool("declare-sha256", false, "hash each file first and declare its sha256: a file the server's verdict cache knows is answered without sending its bytes (not for stdin)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return exitError
	}
	base, err := url.Parse(*server)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return fmt.Errorf("--server %q: want http://HOST:PORT or https://HOST:PORT", *server)
	}
	tlsCfg, err := clientTLS(*caFile, *insecure)
	if err != nil {
		return err
	}
	out := scanOutput{w: stdout, json: *asJSON, progress: progressWriter(stderr)}
	client := newScanClient(base, tlsCfg, *useWS)
	defer client.Close()
	worst := exitClean
	for _, path := range fs.Args() {
		fctx, cancel := context.WithTimeout(ctx, *timeout)
		v, err := scanFile(fctx, client, path, *declare, &out)
		cancel()
		switch {
		case err != nil:
			fmt.Fprintf(stderr, "athena: %s: %v\n", path, err)
			worst = exitError
		case v.Label != core.LabelClean && worst == exitClean:
			worst = exitDetection
		}
	}
	if worst != exitClean {
		return worst
	}
	return nil
}

// scanClient streams one file to a gateway and calls onEvent for each event
// until the job's verdict or error.
type scanClient interface {
	// sha256, when not empty, is declared to the server: it may answer
	// from its verdict cache without reading body.
	Scan(ctx context.Context, meta core.FileMeta, sha256 string, body io.Reader, onEvent func(core.Event)) error
	Close()
}

func scanFile(ctx context.Context, c scanClient, path string, declare bool, out *scanOutput) (core.Verdict, error) {
	f, meta, err := openInput(path)
	if err != nil {
		return core.Verdict{}, err
	}
	defer f.Close()
	meta.Name = filepath.Base(meta.Name)
	var sum string
	if rs, ok := f.(io.ReadSeeker); ok && declare {
		h := sha256.New()
		if _, err := io.Copy(h, rs); err != nil {
			return core.Verdict{}, err
		}
		if _, err := rs.Seek(0, io.SeekStart); err != nil {
			return core.Verdict{}, err
		}
		sum = hex.EncodeToString(h.Sum(nil))
	}
	body := &countingReader{r: f}
	stop := out.startProgress(meta, body)
	defer stop()
	return scanJob(ctx, c, meta, sum, body, func(ev core.Event) { out.event(path, ev) })
}

// newScanClient returns a client of the gateway at base: over the WebSocket
// when ws is set, else over HTTP/2. A client scans one file at a time.
func newScanClient(base *url.URL, tlsCfg *tls.Config, ws bool) scanClient {
	if ws {
		return &wsClient{base: base, tls: tlsCfg}
	}
	return newHTTPClient(base, tlsCfg)
}

// scanJob streams one file with c, calling onEvent for each event, and
// returns the job's verdict, or the job's error event as a *core.Error, or
// the error that kept the exchange from ending.
func scanJob(ctx context.Context, c scanClient, meta core.FileMeta, sha256 string, body io.Reader, onEvent func(core.Event)) (core.Verdict, error) {
	var verdict *core.Verdict
	var jobErr *core.Error
	err := c.Scan(ctx, meta, sha256, body, func(ev core.Event) {
		onEvent(ev)
		switch {
		case ev.Verdict != nil:
			verdict = ev.Verdict
		case ev.Error != nil:
			jobErr = ev.Error
		}
	})
	switch {
	case err != nil:
		return core.Verdict{}, err
	case jobErr != nil:
		return core.Verdict{}, jobErr
	case verdict == nil:
		return core.Verdict{}, errors.New("the server ended the job without a verdict")
	}
	return *verdict, nil
}

// httpClient streams over POST /v1/analyze: the body uploads while the
// NDJSON events come back on the same exchange.
type httpClient struct {
	base *url.URL
	hc   *http.Client
}

func newHTTPClient(base *url.URL, tlsCfg *tls.Config) *httpClient {
	tr := &http.Transport{TLSClientConfig: tlsCfg, ForceAttemptHTTP2: true}
	tr.Protocols = new(http.Protocols)
	if base.Scheme == "https" {
		tr.Protocols.SetHTTP2(true)
	} else {
		tr.Protocols.SetUnencryptedHTTP2(true) // h2c with prior knowledge
	}
	return &httpClient{base: base, hc: &http.Client{Transport: tr}}
}

func (c *httpClient) Close() { c.hc.CloseIdleConnections() }

func (c *httpClient) Scan(ctx context.Context, meta core.FileMeta, sha256 string, body io.Reader, onEvent func(core.Event)) error {
	u := c.base.JoinPath("/v1/analyze")
	u.RawQuery = url.Values{"name": {meta.Name}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	if sha256 != "" {
		req.Header.Set(gateway.HeaderSHA256, sha256)
	}
	if meta.Size >= 0 {
		req.ContentLength = meta.Size
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return httpError(resp)
	}
	return readEvents(resp.Body, onEvent)
}

// readEvents decodes NDJSON events until a verdict or an error event.
func readEvents(r io.Reader, onEvent func(core.Event)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		ev, err := streams.DecodeEvent(sc.Bytes())
		if err != nil {
			return fmt.Errorf("bad event from the server: %w", err)
		}
		onEvent(ev)
		if ev.Type == core.EventVerdict || ev.Type == core.EventError {
			return nil
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return errors.New("the server closed the stream before the verdict")
}

// httpError turns an error response ({"error":{"code","message"}}) into an error.
func httpError(resp *http.Response) error {
	var body struct {
		Error core.Error `json:"error"`
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(raw, &body) == nil && body.Error.Code != "" {
		return fmt.Errorf("%s: %w", resp.Status, &body.Error)
	}
	return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(raw)))
}

func clientTLS(caFile string, insecure bool) (*tls.Config, error) {
	cfg := &tls.Config{InsecureSkipVerify: insecure, MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca %s: no PEM certificates", caFile)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

type countingReader struct {
	r io.Reader
	n atomic.Int64
	// mark, when not 0, is an offset: marked is the time (Unix ns) the
	// reader first handed over the byte before it.
	mark   int64
	marked atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if total := c.n.Add(int64(n)); c.mark > 0 && total >= c.mark && total-int64(n) < c.mark {
		c.marked.Store(time.Now().UnixNano())
	}
	return n, err
}

// scanOutput prints events as NDJSON or as a human summary, and a progress
// bar on a terminal.
type scanOutput struct {
	w        io.Writer
	json     bool
	progress io.Writer // nil when stderr is not a terminal
}

func (o *scanOutput) event(path string, ev core.Event) {
	if o.json {
		if line, err := ev.MarshalLine(); err == nil {
			o.w.Write(line)
		}
		return
	}
	switch {
	case ev.Finding != nil && (ev.Finding.Severity > core.Info || ev.Finding.Kind == core.KindAnalysisFailed):
		f := ev.Finding
		rule := f.Kind
		if f.Rule != "" {
			rule += " " + f.Rule
		}
		o.clearLine()
		fmt.Fprintf(o.w, "%s: %s %s/%s at offset %d\n", path, strings.ToUpper(f.Severity.String()), f.Module, rule, f.Offset)
	case ev.Verdict != nil:
		v := ev.Verdict
		cached := ""
		if v.Cached {
			cached = " (cached)"
		}
		o.clearLine()
		fmt.Fprintf(o.w, "%s: %s score %d sha256 %s%s\n", path, strings.ToUpper(v.Label), v.Score, v.SHA256, cached)
	case ev.Error != nil:
		o.clearLine()
		fmt.Fprintf(o.w, "%s: ERROR %s: %s\n", path, ev.Error.Code, ev.Error.Message)
	}
}

func (o *scanOutput) clearLine() {
	if o.progress != nil {
		fmt.Fprint(o.progress, "\r\033[K")
	}
}

// startProgress draws a progress bar until the returned stop is called.
func (o *scanOutput) startProgress(meta core.FileMeta, body *countingReader) (stop func()) {
	if o.progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				o.clearLine()
				return
			case <-t.C:
				sent := body.n.Load()
				bar := humanBytes(sent)
				if meta.Size > 0 {
					pct := int(sent * 100 / meta.Size)
					bar = fmt.Sprintf("[%-30s] %3d%% %s / %s", strings.Repeat("#", pct*30/100), pct, humanBytes(sent), humanBytes(meta.Size))
				}
				fmt.Fprintf(o.progress, "\r\033[K%s %s", meta.Name, bar)
			}
		}
	}()
	return func() { close(done); <-finished }
}

// progressWriter returns w when it is a terminal, else nil.
func progressWriter(w io.Writer) io.Writer {
	f, ok := w.(*os.File)
	if !ok {
		return nil
	}
	st, err := f.Stat()
	if err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return nil
	}
	return w
}
