//go:build linux

package web

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"athena/internal/modbuild"
	"athena/internal/testkit"
)

// The browser tests run the real athena binary (serve re-executes it for
// its engines) with the real analyzer modules, both built here once.
var athenaBin, modulesDir string

func TestMain(m *testing.M) {
	os.Exit(func() int {
		tmp, err := os.MkdirTemp("", "athena-web-test-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(tmp)
		modulesDir = filepath.Join(tmp, "modules")
		if _, err := modbuild.BuildAll("../modules", modulesDir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		athenaBin = filepath.Join(tmp, "athena")
		if out, err := exec.Command("go", "build", "-o", athenaBin, "../cmd/athena").CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
			return 1
		}
		return m.Run()
	}())
}

// ---- the real server ----

// athena is one `athena serve` on a fixed address: it can be killed
// (with its engines, which share its process group) and started again on
// the same address and data.
type athena struct {
	addr, data, cache string
	origin            string
	maxFileSize       int64
	mu                sync.Mutex
	cmd               *exec.Cmd
	done              chan struct{}
	out               testkit.SyncBuffer
	runs              int
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func newAthena(t *testing.T, origin string, maxFileSize int64) *athena {
	a := &athena{addr: freeAddr(t), data: t.TempDir(), cache: t.TempDir(), origin: origin, maxFileSize: maxFileSize}
	t.Cleanup(func() {
		a.stop()
		if t.Failed() {
			t.Logf("athena serve output:\n%s", a.out.String())
		}
	})
	return a
}

func (a *athena) base() string { return "http://" + a.addr }

// start runs serve and waits until /readyz says a file sent now would be
// analysed. It may run on any goroutine.
func (a *athena) start() error {
	a.runs++
	fmt.Fprintf(&a.out, "---- run %d ----\n", a.runs)
	cmd := exec.Command(athenaBin, "serve", "--addr", a.addr, "--data", a.data,
		"--nats-port", "-1", "--engines", "1", "--modules", modulesDir, "--cache-dir", a.cache,
		"--allowed-origin", a.origin, "--max-file-size", strconv.FormatInt(a.maxFileSize, 10),
		"--shutdown-grace", "2s", "--log-level", "info")
	cmd.Stdout, cmd.Stderr = &a.out, &a.out
	// Its engines share its process group and die with it; it dies with
	// the test, should the test be killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	a.mu.Lock()
	a.cmd, a.done = cmd, done
	a.mu.Unlock()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(a.base() + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-done:
			return errors.New("athena serve exited before it was ready")
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return errors.New("athena serve not ready after 60s")
		}
	}
}

// kill ends serve and its engines at once, as a crash or a power cut would.
func (a *athena) kill() {
	a.mu.Lock()
	cmd, done := a.cmd, a.done
	a.mu.Unlock()
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-done
}

// stop ends serve gracefully (SIGTERM), or kills it after 15 s.
func (a *athena) stop() {
	a.mu.Lock()
	cmd, done := a.cmd, a.done
	a.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-done:
		return
	default:
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

// ---- the page's server ----

// apiProxy forwards the API to the athena gateway, so that the page and the
// API share one origin, as they will once the gateway serves the page. It
// can cut the connection that carries the next job event, as a network
// drop would, and it notes the replays the page asks for.
type apiProxy struct {
	rp      *httputil.ReverseProxy
	armed   atomic.Bool
	cuts    atomic.Int32
	mu      sync.Mutex
	replays []string
}

var errCut = errors.New("cut by the test")

func newAPIProxy(target string) *apiProxy {
	u, err := url.Parse(target)
	if err != nil {
		panic(err)
	}
	p := &apiProxy{}
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			r.Out.Host = r.In.Host // the gateway admits its own host as Origin
		},
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				c, err := dialer.DialContext(ctx, network, addr)
				if err != nil {
					return nil, err
				}
				return &tapConn{Conn: c, p: p}, nil
			},
		},
		FlushInterval: -1,
		ErrorLog:      log.New(io.Discard, "", 0),
	}
	return p
}

func (p *apiProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/v1/jobs/") {
		p.mu.Lock()
		p.replays = append(p.replays, r.URL.RequestURI())
		p.mu.Unlock()
	}
	p.rp.ServeHTTP(w, r)
}

func (p *apiProxy) replayed() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.replays...)
}

// tapConn is a connection from the proxy to the gateway. Server messages
// are unmasked, so a job event shows as `"seq":` in the bytes.
type tapConn struct {
	net.Conn
	p    *apiProxy
	tail []byte
}

func (c *tapConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 && c.p.armed.Load() {
		seen := append(c.tail, b[:n]...)
		if bytes.Contains(seen, []byte(`"seq":`)) && c.p.armed.CompareAndSwap(true, false) {
			c.p.cuts.Add(1)
			c.Conn.Close()
			return 0, errCut
		}
		c.tail = append(c.tail[:0], seen[max(0, len(seen)-8):]...)
	}
	return n, err
}

// ---- the browser ----

type browser struct {
	ctx        context.Context
	shots      string
	exceptions chan string
}

// cspProbe records the page's CSP violations before its own scripts run.
const cspProbe = `window.__csp = []; document.addEventListener("securitypolicyviolation",
  (e) => window.__csp.push(e.violatedDirective + " " + e.blockedURI));`

func newBrowser(t *testing.T) *browser {
	t.Helper()
	path := os.Getenv("ATHENA_CHROMIUM")
	if path == "" {
		path = "/usr/bin/chromium"
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the browser tests need Chromium at %s (Debian: apt-get install chromium; or set ATHENA_CHROMIUM): %v", path, err)
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if _, err := chromedp.Run(ctx, chromedp.Title()); err != nil { // starts the browser
		t.Fatalf("start chromium: %v", err)
	}
	b := &browser{ctx: ctx, exceptions: make(chan string, 64)}
	b.shots = os.Getenv("ATHENA_SCREENSHOT_DIR")
	if b.shots == "" {
		b.shots = t.TempDir()
	} else if err := os.MkdirAll(b.shots, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspProbe}); err != nil {
		t.Fatal(err)
	}
	exceptions := chromedp.Events(ctx, runtime.ExceptionThrown)
	go func() {
		for ev, err := range exceptions {
			if err != nil {
				return
			}
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil && d.Exception.Description != "" {
				msg = d.Exception.Description
			}
			select {
			case b.exceptions <- fmt.Sprintf("%s (%s:%d)", msg, d.URL, d.LineNumber+1):
			default:
			}
		}
	}()
	return b
}

func (b *browser) do(t *testing.T, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		t.Fatal(err)
	}
}

func eval[T any](t *testing.T, b *browser, expr string) T {
	t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitFor polls a JavaScript condition in the page until it holds; on a
// timeout it fails with what the page shows.
func (b *browser) waitFor(t *testing.T, what, cond string, timeout time.Duration) {
	t.Helper()
	_, err := chromedp.Run(b.ctx, chromedp.Poll[bool]("!!("+cond+")",
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(timeout)))
	if err != nil {
		b.screenshot(t, "failed-"+strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
				return r
			}
			return '-'
		}, strings.ToLower(what)), true)
		text, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.body.innerText`))
		t.Fatalf("waiting for %s: %v\nthe page shows:\n%s", what, err, text)
	}
}

// screenshot saves the page as NAME.png, the whole page or what the
// window shows, and returns its path.
func (b *browser) screenshot(t *testing.T, name string, whole bool) string {
	t.Helper()
	shot := chromedp.CaptureScreenshot()
	if whole {
		shot = chromedp.FullScreenshot(100)
	}
	png, err := chromedp.Run(b.ctx, shot)
	if err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return ""
	}
	p := filepath.Join(b.shots, name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Error(err)
	}
	t.Logf("screenshot: %s", p)
	return p
}

// checkClean fails on uncaught exceptions and CSP violations so far.
func (b *browser) checkClean(t *testing.T) {
	t.Helper()
	for {
		select {
		case e := <-b.exceptions:
			t.Errorf("uncaught exception in the page: %s", e)
			continue
		default:
		}
		break
	}
	if v := eval[[]string](t, b, `window.__csp || []`); len(v) > 0 {
		t.Errorf("CSP violations: %q", v)
	}
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// cardJS is an expression for the file card of the file named name.
func cardJS(name string) string {
	return `[...document.querySelectorAll("#files > li")].find((li) => li.querySelector(".file__name").textContent === ` + jsString(name) + `)`
}

// card is what a file card shows.
type card struct {
	State    string   `json:"state"`
	Status   string   `json:"status"`
	Label    string   `json:"label"`
	Score    string   `json:"score"`
	Reasons  []string `json:"reasons"`
	SHA256   string   `json:"sha256"`
	Cached   bool     `json:"cached"`
	Findings []string `json:"findings"`
	Bytes    string   `json:"bytes"`
	Error    string   `json:"error"`
	Job      string   `json:"job"`
}

func (b *browser) card(t *testing.T, name string) card {
	t.Helper()
	return eval[card](t, b, `((c) => c && ({
  state: c.dataset.state,
  status: c.querySelector(".file__state").textContent,
  label: c.querySelector(".verdict__label")?.textContent ?? "",
  score: c.querySelector(".verdict__score")?.textContent ?? "",
  reasons: [...c.querySelectorAll(".verdict__reasons li")].map((li) => li.textContent),
  sha256: c.querySelector(".verdict .hash")?.textContent ?? "",
  cached: !!c.querySelector(".verdict .badge--cached"),
  findings: [...c.querySelectorAll(".finding")].map((f) => f.textContent),
  bytes: c.querySelector(".bytes").textContent,
  error: c.querySelector(".file__error").textContent,
  job: c.querySelector(".file__job").textContent,
}))(`+cardJS(name)+`)`)
}

// click clicks the middle of the element that css selects, with the mouse.
// (chromedp.Click looks the node up in its copy of the DOM, which lags
// behind a page that changes many times a second.)
func (b *browser) click(t *testing.T, css string) {
	t.Helper()
	xy := eval[[]float64](t, b, `((e) => { e.scrollIntoView({block: "center"}); const r = e.getBoundingClientRect();
  return [r.x + r.width / 2, r.y + r.height / 2]; })(document.querySelector(`+jsString(css)+`))`)
	b.do(t, chromedp.MouseClickXY(xy[0], xy[1]))
}

func (b *browser) upload(t *testing.T, paths ...string) {
	t.Helper()
	b.do(t, chromedp.SetUploadFiles(chromedp.ID("file-input"), paths))
}

func (b *browser) waitState(t *testing.T, name, state string, timeout time.Duration) card {
	t.Helper()
	b.waitFor(t, name+" "+state, `(`+cardJS(name)+`)?.dataset.state === `+jsString(state), timeout)
	return b.card(t, name)
}

// ---- files ----

// eicar is the EICAR anti-virus test file, put together at run time so that
// no scanner trips over this source.
func eicar() []byte {
	return []byte(`X5O!P%@AP[4\PZX54(P^)7CC)7}$` + "EICAR-STANDARD-" + "ANTIVIRUS-TEST-FILE!$H+H*")
}

func writeFile(t *testing.T, dir, name string, data []byte) (string, string) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return p, hex.EncodeToString(sum[:])
}

// sparseFile makes a file of size bytes of zeros that takes no disk.
func sparseFile(t *testing.T, dir, name string, size int64) string {
	t.Helper()
	p := filepath.Join(dir, name)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestDashboard drives the page in Chromium against a real athena serve.
func TestDashboard(t *testing.T) {
	// The page's own server: the dashboard, and the API proxied to athena.
	var proxy atomic.Pointer[apiProxy]
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", Handler())
	mux.Handle("GET /static/", Handler())
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { proxy.Load().ServeHTTP(w, r) }))
	pageSrv := httptest.NewServer(mux)
	defer pageSrv.Close()

	const maxFileSize = 512 << 20
	srv := newAthena(t, pageSrv.URL, maxFileSize)
	proxy.Store(newAPIProxy(srv.base()))
	started := make(chan error, 1)
	go func() { started <- srv.start() }() // meanwhile, Chromium starts
	b := newBrowser(t)
	if err := <-started; err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()

	b.do(t, chromedp.Navigate(pageSrv.URL+"/"))
	b.waitFor(t, "the connection", `document.getElementById("conn").dataset.state === "open"`, 10*time.Second)

	t.Run("controls are labelled and reachable by keyboard", func(t *testing.T) {
		unnamed := eval[[]string](t, b, `[...document.querySelectorAll("input, button")].filter((e) =>
  !((e.labels && e.labels.length && e.labels[0].textContent.trim()) || e.getAttribute("aria-label") || e.textContent.trim())
).map((e) => e.outerHTML)`)
		if len(unnamed) > 0 {
			t.Errorf("controls without a name: %q", unnamed)
		}
		b.do(t, chromedp.Evaluate[chromedp.Void](`document.activeElement.blur()`), chromedp.KeyEvent(kb.Tab), chromedp.KeyEvent(kb.Tab))
		if got := eval[string](t, b, `document.activeElement.id`); got != "file-input" {
			t.Errorf("after two Tabs the focus is on %q, want the file input", got)
		}
	})

	eicarPath, eicarSum := writeFile(t, dir, "eicar.com", eicar())
	t.Run("a finding and then the verdict", func(t *testing.T) {
		// Note the order in which findings and verdicts enter the page.
		b.do(t, chromedp.Evaluate[chromedp.Void](`window.__order = [];
new MutationObserver((ms) => { for (const m of ms) for (const n of m.addedNodes) {
  if (n.nodeType !== 1) continue;
  if (n.matches(".finding")) window.__order.push("finding:" + n.closest(".file").dataset.state);
  if (n.matches(".verdict")) window.__order.push("verdict");
} }).observe(document.getElementById("files"), {childList: true, subtree: true});`))
		b.upload(t, eicarPath)
		b.waitFor(t, "the EICAR finding", `(`+cardJS("eicar.com")+`)?.querySelector(".finding[data-severity=high]")?.textContent.includes("eicar_test_file")`, 30*time.Second)
		c := b.waitState(t, "eicar.com", "done", 30*time.Second)
		if c.Label != "Malicious" || c.Score != "score 80 / 100" || c.Status != "Malicious" {
			t.Errorf("verdict %q, %q, status %q; want Malicious, score 80 / 100", c.Label, c.Score, c.Status)
		}
		if len(c.Reasons) == 0 || !strings.Contains(strings.Join(c.Reasons, " "), "eicar_test_file") {
			t.Errorf("reasons %q, want one naming eicar_test_file", c.Reasons)
		}
		if c.SHA256 != eicarSum {
			t.Errorf("sha256 %q, want %q", c.SHA256, eicarSum)
		}
		if want := "68 B sent68 B acknowledged of 68 B"; !strings.Contains(c.Bytes, want) {
			t.Errorf("progress %q, want %q", c.Bytes, want)
		}
		if !strings.HasPrefix(c.Job, "job ") || len(c.Job) < 10 {
			t.Errorf("job line %q, want the job id", c.Job)
		}
		order := eval[[]string](t, b, `window.__order`)
		if len(order) < 2 || !strings.HasPrefix(order[0], "finding") || order[len(order)-1] != "verdict" {
			t.Errorf("order of appearance %q, want findings first and the verdict last", order)
		}
	})

	t.Run("three files at once", func(t *testing.T) {
		big := bytes.Repeat([]byte("a harmless line of text for the stream\n"), 300_000) // 11.7 MB
		copy(big[6<<20:], eicar())
		bigPath, bigSum := writeFile(t, dir, "big-with-eicar.txt", big)
		cleanPath, _ := writeFile(t, dir, "notes.txt", []byte("just words, nothing to see\n"))
		againPath, _ := writeFile(t, dir, "eicar-again.com", eicar())
		b.upload(t, bigPath, cleanPath, againPath)
		for name, want := range map[string]string{"big-with-eicar.txt": "Malicious", "notes.txt": "Clean", "eicar-again.com": "Malicious"} {
			c := b.waitState(t, name, "done", 45*time.Second)
			if c.Label != want {
				t.Errorf("%s: verdict %q, want %q", name, c.Label, want)
			}
		}
		c := b.card(t, "big-with-eicar.txt")
		if c.SHA256 != bigSum {
			t.Errorf("big file: sha256 %q, want %q", c.SHA256, bigSum)
		}
		if want := "11 MiB sent11 MiB acknowledged of 11 MiB"; !strings.Contains(c.Bytes, want) {
			t.Errorf("big file: progress %q, want %q", c.Bytes, want)
		}
		if f := strings.Join(c.Findings, "\n"); !strings.Contains(f, "eicar_test_file") || !strings.Contains(f, "bytes 6,291,456–6,291,524") {
			t.Errorf("big file: findings %q, want eicar_test_file at bytes 6,291,456–6,291,524", c.Findings)
		}
		if c := b.card(t, "notes.txt"); strings.Contains(strings.Join(c.Findings, " "), "High") {
			t.Errorf("clean file: findings %q", c.Findings)
		}
	})

	t.Run("an archive's members are grouped by path", func(t *testing.T) {
		var zb bytes.Buffer
		zw := zip.NewWriter(&zb)
		for name, data := range map[string][]byte{"docs/eicar.com": eicar(), "readme.txt": []byte("nothing here\n")} {
			w, err := zw.Create(name)
			if err != nil {
				t.Fatal(err)
			}
			w.Write(data)
		}
		zw.Close()
		zipPath, _ := writeFile(t, dir, "bundle.zip", zb.Bytes())
		b.upload(t, zipPath)
		c := b.waitState(t, "bundle.zip", "done", 45*time.Second)
		if c.Label != "Malicious" || !strings.Contains(strings.Join(c.Reasons, " "), "eicar_test_file in bundle.zip > docs/eicar.com") {
			t.Errorf("verdict %q, reasons %q; want Malicious because of the member", c.Label, c.Reasons)
		}
		group := eval[map[string]string](t, b, `((g) => g && ({
  label: g.dataset.label ?? "",
  findings: [...g.querySelectorAll(".findings--child .finding")].map((f) => f.textContent).join(" | "),
}))(`+cardJS("bundle.zip")+`?.querySelector('.finding--child[data-path="bundle.zip > docs/eicar.com"]'))`)
		if group == nil || group["label"] != "malicious" || !strings.Contains(group["findings"], "eicar_test_file") {
			t.Errorf("the member's group is %v, want it malicious, holding the EICAR finding", group)
		}
		if n := eval[int](t, b, `(`+cardJS("bundle.zip")+`).querySelectorAll('.finding--child[data-path="bundle.zip > readme.txt"][data-label="clean"]').length`); n != 1 {
			t.Errorf("%d groups for the clean member, want 1", n)
		}
	})

	t.Run("lookup by sha256", func(t *testing.T) {
		// lookup types a hash and Enter, and returns how the lookup ended.
		lookup := func(text string) string {
			t.Helper()
			want := strings.ToLower(strings.TrimSpace(text))
			b.do(t, chromedp.Evaluate[chromedp.Void](`document.getElementById("lookup-sha").select()`),
				chromedp.SendKeys(chromedp.ID("lookup-sha"), text+"\r"))
			b.waitFor(t, "the lookup of "+text, `((r) => r.dataset.sha === `+jsString(want)+` && r.dataset.outcome !== "pending")(document.getElementById("lookup-result"))`, 10*time.Second)
			return eval[string](t, b, `document.getElementById("lookup-result").dataset.outcome`)
		}
		result := func() string { return eval[string](t, b, `document.getElementById("lookup-result").innerText`) }

		if got := lookup("not a hash"); got != "invalid" || !strings.Contains(result(), "64 hexadecimal digits") {
			t.Errorf("a bad hash: outcome %q, page %q; want invalid, saying 64 hexadecimal digits", got, result())
		}
		if got := eval[string](t, b, `document.getElementById("lookup-sha").getAttribute("aria-invalid")`); got != "true" {
			t.Errorf("aria-invalid %q, want true", got)
		}
		// A hash nobody sent: 404 whether or not the gateway has the endpoint.
		unknown := sha256.Sum256([]byte("never sent to athena"))
		if got := lookup(hex.EncodeToString(unknown[:])); got != "unavailable" || !strings.Contains(result(), "Not available yet") || strings.Contains(result(), "Verdict for") {
			t.Errorf("an unknown hash: outcome %q, page %q; want unavailable, Not available yet, no verdict", got, result())
		}
		// The EICAR file: from the server's verdict cache, or, where the
		// gateway cannot look verdicts up, from the page's own files.
		got := lookup(strings.ToUpper(eicarSum))
		r := result()
		switch {
		case got == "found" && strings.Contains(r, "Malicious") && strings.Contains(r, eicarSum):
			t.Logf("the server knows the EICAR verdict: %q", r)
		case got == "unavailable" && strings.Contains(r, "From a file this page analysed earlier") && strings.Contains(r, eicarSum):
			t.Logf("the server has no verdict lookup; the page showed its own")
		default:
			t.Errorf("EICAR lookup: outcome %q, page %q; want its Malicious verdict with %s", got, r, eicarSum)
		}
	})

	t.Run("recent verdicts survive a reload; the system panel is live", func(t *testing.T) {
		// The page's list follows the verdicts as they arrive...
		b.waitFor(t, "the EICAR verdict in the recent list", `!!document.querySelector('#recent > li[data-sha="`+eicarSum+`"]')`, 15*time.Second)
		// ...and after a reload, with no file on the page, it comes from
		// the server.
		b.do(t, chromedp.Reload())
		b.waitFor(t, "the connection", `document.getElementById("conn").dataset.state === "open"`, 10*time.Second)
		b.waitFor(t, "the recent verdicts", `document.getElementById("recent").dataset.state === "loaded"`, 10*time.Second)
		if n := eval[int](t, b, `document.querySelectorAll("#files > li").length`); n != 0 {
			t.Fatalf("%d files on the page after the reload, want none", n)
		}
		type entry struct {
			Label, Name, SHA, Time, DateTime string
		}
		entries := eval[[]entry](t, b, `[...document.querySelectorAll("#recent > li")].map((li) => ({
  Label: li.querySelector(".recent__label").textContent,
  Name: li.querySelector(".recent__name")?.textContent ?? "",
  SHA: li.dataset.sha,
  Time: li.querySelector("time")?.textContent ?? "",
  DateTime: li.querySelector("time")?.getAttribute("datetime") ?? "",
}))`)
		bySHA := map[string]entry{}
		for _, e := range entries {
			bySHA[e.SHA] = e
		}
		e, ok := bySHA[eicarSum]
		switch {
		case !ok:
			t.Fatalf("the EICAR verdict is not among the recent verdicts: %+v", entries)
		case e.Label != "Malicious" || e.Time == "" || e.DateTime == "":
			t.Errorf("EICAR entry %+v, want Malicious with a time", e)
		case e.Name != "eicar.com" && e.Name != "eicar-again.com":
			t.Errorf("EICAR entry named %q, want eicar.com or eicar-again.com (the same bytes)", e.Name)
		}
		notes := sha256.Sum256([]byte("just words, nothing to see\n"))
		if c, ok := bySHA[hex.EncodeToString(notes[:])]; !ok || c.Label != "Clean" || c.Name != "notes.txt" {
			t.Errorf("notes.txt entry %+v (found %v), want Clean", c, ok)
		}
		if len(entries) < 3 {
			t.Errorf("%d recent verdicts, want at least 3: %+v", len(entries), entries)
		}
		// Newest first.
		times := eval[[]string](t, b, `[...document.querySelectorAll("#recent time")].map((t) => t.getAttribute("datetime"))`)
		for i := 1; i < len(times); i++ {
			a, _ := time.Parse(time.RFC3339Nano, times[i-1])
			c, _ := time.Parse(time.RFC3339Nano, times[i])
			if c.After(a) {
				t.Errorf("recent verdict %d (%s) is newer than %d (%s)", i, times[i], i-1, times[i-1])
			}
		}
		// Its button shows the verdict in the lookup section.
		b.click(t, `#recent > li[data-sha="`+eicarSum+`"] button`)
		b.waitFor(t, "the verdict shown from the list", `((r) => r.dataset.sha === `+jsString(eicarSum)+` && r.dataset.outcome !== "pending")(document.getElementById("lookup-result"))`, 10*time.Second)
		if r := eval[string](t, b, `document.getElementById("lookup-result").innerText`); !strings.Contains(r, "Malicious") {
			t.Errorf("the verdict shown from the list: %q", r)
		}

		// The system panel: live, with the engine, and a throughput.
		b.waitFor(t, "the system stream", `document.getElementById("system-state").dataset.state === "open" && document.getElementById("system").dataset.engines >= 1`, 10*time.Second)
		sys := eval[map[string]string](t, b, `Object.fromEntries(["sys-throughput", "sys-jobs", "sys-engines", "sys-cache", "sys-uploads"].map((id) => [id, document.getElementById(id).textContent]))`)
		if !regexp.MustCompile(`^[0-9.]+ (B|KiB|MiB|GiB)/s$`).MatchString(sys["sys-throughput"]) {
			t.Errorf("throughput %q", sys["sys-throughput"])
		}
		if !strings.HasSuffix(sys["sys-engines"], "healthy") || strings.HasPrefix(sys["sys-engines"], "0 ") {
			t.Errorf("engines %q, want at least 1 healthy", sys["sys-engines"])
		}
		if !regexp.MustCompile(`^[0-9]+$`).MatchString(sys["sys-jobs"]) || sys["sys-cache"] == "" || !strings.Contains(sys["sys-uploads"], "since start") {
			t.Errorf("system panel %q", sys)
		}
		// Throughput moves when a file uploads.
		b.do(t, chromedp.Evaluate[chromedp.Void](`window.__throughput = [];
new MutationObserver(() => window.__throughput.push(document.getElementById("sys-throughput").textContent))
  .observe(document.getElementById("sys-throughput"), {childList: true, characterData: true, subtree: true});`))
		big := bytes.Repeat([]byte("another harmless line for the throughput\n"), 500_000) // 20 MB
		p, _ := writeFile(t, dir, "throughput.txt", big)
		b.upload(t, p)
		b.waitState(t, "throughput.txt", "done", 45*time.Second)
		b.waitFor(t, "a throughput above 0 B/s", `window.__throughput.some((s) => !s.startsWith("0 B/s"))`, 5*time.Second)
		t.Logf("throughput seen: %q", eval[[]string](t, b, `[...new Set(window.__throughput)]`))
		b.do(t, chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`))
		b.screenshot(t, "dashboard-after-reload", true)
		b.checkClean(t)
	})

	t.Run("too large is rejected plainly", func(t *testing.T) {
		p := sparseFile(t, dir, "huge.iso", maxFileSize+1)
		b.upload(t, p)
		c := b.waitState(t, "huge.iso", "failed", 15*time.Second)
		if c.Status != "Too large" || !strings.Contains(c.Error, "Too large") || !strings.Contains(c.Error, "file_too_large") {
			t.Errorf("status %q, error %q; want Too large with file_too_large", c.Status, c.Error)
		}
	})

	t.Run("a dropped connection resumes the job", func(t *testing.T) {
		p, sum := writeFile(t, dir, "resume-me.txt", append([]byte("dropped on the way back\n"), eicar()...))
		px := proxy.Load()
		px.armed.Store(true) // cut the WebSocket at the job's first event
		b.upload(t, p)
		c := b.waitState(t, "resume-me.txt", "done", 30*time.Second)
		if n := px.cuts.Load(); n != 1 {
			t.Fatalf("%d connections cut, want 1", n)
		}
		job := strings.TrimPrefix(c.Job, "job ")
		want := "/v1/jobs/" + job + "/events?after=0"
		if r := px.replayed(); !slices.Contains(r, want) {
			t.Errorf("replays %q, want %q", r, want)
		}
		if c.Label != "Malicious" || c.SHA256 != sum || !strings.Contains(strings.Join(c.Findings, " "), "eicar_test_file") {
			t.Errorf("after the replay: %+v", c)
		}
		b.waitFor(t, "the reconnection", `document.getElementById("conn").dataset.state === "open" && document.getElementById("banner").hidden`, 15*time.Second)
	})

	t.Run("the server goes away and comes back", func(t *testing.T) {
		p := sparseFile(t, dir, "large-upload.bin", 400<<20)
		b.upload(t, p)
		b.waitFor(t, "the upload to be under way", `((c) => c && c.dataset.state === "uploading" && /[1-9][0-9.]* MiB acknowledged/.test(c.querySelector(".bytes").textContent))(`+cardJS("large-upload.bin")+`)`, 30*time.Second)
		srv.kill()
		c := b.waitState(t, "large-upload.bin", "failed", 15*time.Second)
		if c.Status != "Connection lost" || !strings.Contains(c.Error, "lost during the upload") {
			t.Errorf("status %q, error %q; want Connection lost", c.Status, c.Error)
		}
		b.waitFor(t, "the reconnect banner", `!document.getElementById("banner").hidden && document.getElementById("banner-text").textContent.includes("Reconnecting")`, 10*time.Second)
		b.do(t, chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`))
		b.screenshot(t, "server-gone", false)

		if err := srv.start(); err != nil { // same address, same data
			t.Fatal(err)
		}
		b.waitFor(t, "the banner to go", `document.getElementById("banner").hidden && document.getElementById("conn").dataset.state === "open"`, 20*time.Second)
		b.waitFor(t, "the system panel to be live again", `document.getElementById("system-state").dataset.state === "open"`, 10*time.Second)
		p2, _ := writeFile(t, dir, "after-restart.com", append([]byte("after the restart\n"), eicar()...))
		b.upload(t, p2)
		if c := b.waitState(t, "after-restart.com", "done", 30*time.Second); c.Label != "Malicious" {
			t.Errorf("after the restart: verdict %q, want Malicious", c.Label)
		}
		// The recent verdicts follow, from the restarted server.
		b.waitFor(t, "the verdict after the restart in the recent list", `((li) => li && li.querySelector(".recent__name")?.textContent === "after-restart.com")(document.querySelector("#recent > li")) && document.getElementById("recent-status").hidden`, 15*time.Second)
		// The failed file can be sent again; it is cancelled here.
		id := eval[string](t, b, `(`+cardJS("large-upload.bin")+`).dataset.id`)
		b.click(t, `#files > li[data-id="`+id+`"] button[data-action="retry"]`)
		b.waitFor(t, "the retry to upload", `(`+cardJS("large-upload.bin")+`)?.dataset.state === "uploading"`, 15*time.Second)
		b.click(t, `#files > li[data-id="`+id+`"] button[data-action="cancel"]`)
		if c := b.waitState(t, "large-upload.bin", "failed", 15*time.Second); c.Status != "Cancelled" {
			t.Errorf("after cancel: status %q, want Cancelled", c.Status)
		}
	})

	t.Run("renders every severity and badge, as text", func(t *testing.T) {
		res, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`(async () => {
  const ui = await import("./static/ui.js");
  const box = document.createElement("div");
  const list = document.createElement("ol");
  for (const s of ["info", "low", "medium", "high", "critical"]) {
    list.append(ui.findingItem({module: "m", kind: "k", rule: "<img src=x onerror=alert(1)>", severity: s, offset: 0, length: 0}));
  }
  box.append(list, ui.verdictCard({label: "suspicious", score: 50, reasons: ["<b>bold</b>"], sha256: "ab".repeat(32), size: 1, cached: true, partial: true}));
  document.body.append(box);
  const out = [box.querySelectorAll("img, b").length, box.querySelectorAll(".sev").length,
    !!box.querySelector(".badge--cached"), !!box.querySelector(".badge--partial"), box.innerText.includes("<img src=x")].join(",");
  box.remove();
  return out;
})()`, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatal(err)
		}
		if want := "0,5,true,true,true"; res != want {
			t.Errorf("fixture: %s (elements from markup, severities, cached, partial, markup shown as text), want %s", res, want)
		}
	})

	t.Run("screenshots", func(t *testing.T) {
		b.do(t, chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`))
		b.screenshot(t, "dashboard-light", true)
		if _, err := chromedp.Call(b.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}}); err != nil {
			t.Fatal(err)
		}
		if bg := eval[string](t, b, `getComputedStyle(document.body).backgroundColor`); bg != "rgb(15, 18, 22)" {
			t.Errorf("dark background %q, want rgb(15, 18, 22)", bg)
		}
		b.screenshot(t, "dashboard-dark", true)
		b.do(t, chromedp.EmulateViewport(375, 800))
		if w := eval[[]int](t, b, `[document.documentElement.scrollWidth, window.innerWidth]`); w[0] > w[1] {
			t.Errorf("on a 375 px screen the page is %d px wide: it scrolls sideways", w[0])
		}
		b.screenshot(t, "dashboard-narrow-dark", false)
		if _, err := chromedp.Call(b.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{}); err != nil {
			t.Fatal(err)
		}
		b.do(t, chromedp.EmulateViewport(1280, 900))
		b.checkClean(t)
	})

	t.Run("another server named in the URL", func(t *testing.T) {
		// The page from one origin, the WebSocket straight to athena,
		// which admits the page's origin (--allowed-origin).
		b.do(t, chromedp.Navigate(pageSrv.URL+"/?server="+url.QueryEscape(srv.base())))
		b.waitFor(t, "the connection", `document.getElementById("conn").dataset.state === "open"`, 10*time.Second)
		p, _ := writeFile(t, dir, "cross-origin.txt", []byte("hello from another origin\n"))
		b.upload(t, p)
		if c := b.waitState(t, "cross-origin.txt", "done", 30*time.Second); c.Label != "Clean" {
			t.Errorf("verdict %q, want Clean", c.Label)
		}
		b.checkClean(t)
	})
}
