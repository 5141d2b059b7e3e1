// Package web is Athena's browser dashboard: one page, plain ES modules and
// CSS with no build step, embedded in the binary. An analyst drops files on
// it; each streams over one WebSocket (/v1/stream, docs/api.md) while the
// findings and the verdict of each file arrive. A "System" panel follows
// the gateway's /v1/system/stream (Server-Sent Events) and "Recent
// verdicts" lists /v1/verdicts/recent, the server's own history, so it
// survives a reload.
//
// The files, in static/: index.html; app.js wires the page; protocol.js
// is the API client (stream numbers, pacing by `ack`, reconnection and
// replay; no DOM); ui.js renders, with textContent only; style.css, light
// and dark.
//
// Handler serves the page at "/" and its assets under "/static/". The
// page talks to the API of the server that served it (same origin) unless
// its URL says otherwise with ?server=http://host:port. That is a
// development aid: the WebSocket then needs --allowed-origin on the
// gateway, the HTTP calls (replay after a drop, verdict lookup) fail
// plainly and the system panel and recent verdicts say they are not
// available, since ContentSecurityPolicy lets the page fetch from its own
// origin only and the gateway sends no CORS headers.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"time"
)

//go:embed static
var static embed.FS

// ContentSecurityPolicy is sent with every response of Handler: scripts,
// styles and images only from the page's own origin (no inline script, no
// CDN), fetches to the same origin and WebSockets anywhere (the page may
// be pointed at another gateway with ?server=).
const ContentSecurityPolicy = "default-src 'self'; connect-src 'self' ws: wss:; " +
	"script-src 'self'; style-src 'self'; img-src 'self'; object-src 'none'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// contentTypes are the types of the files the page is made of; a file of
// another kind is not served.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
}

type asset struct {
	body  []byte
	ctype string
	etag  string
}

// Handler returns the handler of the dashboard: GET or HEAD of "/" is the
// page, "/static/NAME" its files; any other path answers 404 and any other
// method 405. Responses carry Cache-Control: no-cache with a strong ETag
// (so a browser revalidates and never runs a stale script after an
// upgrade), ContentSecurityPolicy and X-Content-Type-Options: nosniff. The
// handler is safe for concurrent use.
func Handler() http.Handler {
	assets := map[string]asset{}
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		ctype, ok := contentTypes[path.Ext(p)]
		if !ok {
			return nil
		}
		b, err := static.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		assets["/"+p] = asset{body: b, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
		return nil
	})
	if err != nil {
		panic("web: embedded files: " + err.Error()) // the embed is fixed at build time
	}
	assets["/"] = assets["/static/index.html"]
	delete(assets, "/static/index.html")

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", ContentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		a, ok := assets[r.URL.Path]
		if !ok {
			http.Error(w, "404 page not found", http.StatusNotFound)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "405 method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h.Set("Content-Type", a.ctype)
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", a.etag)
		// ServeContent answers If-None-Match with 304, HEAD and ranges.
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
	})
}
