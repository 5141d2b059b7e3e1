package web

import (
	"bytes"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestHandler(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	tests := []struct {
		name, method, path string
		status             int
		ctype              string
		contains           string
	}{
		{"page", "GET", "/", 200, "text/html; charset=utf-8", `<script type="module" src="static/app.js">`},
		{"app", "GET", "/static/app.js", 200, "text/javascript; charset=utf-8", "new Client("},
		{"protocol module", "GET", "/static/protocol.js", 200, "text/javascript; charset=utf-8", "export class Client"},
		{"ui module", "GET", "/static/ui.js", 200, "text/javascript; charset=utf-8", "export class FileList"},
		{"styles", "GET", "/static/style.css", 200, "text/css; charset=utf-8", "prefers-color-scheme: dark"},
		{"icon", "GET", "/static/favicon.svg", 200, "image/svg+xml", "<svg"},
		{"head", "HEAD", "/", 200, "text/html; charset=utf-8", ""},
		{"index under static", "GET", "/static/index.html", 404, "", ""},
		{"no listing", "GET", "/static/", 404, "", ""},
		{"unknown", "GET", "/static/nope.js", 404, "", ""},
		{"outside", "GET", "/v1/stream", 404, "", ""},
		{"post", "POST", "/", 405, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, srv.URL+tt.path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if got := resp.Header.Get("Content-Security-Policy"); got != ContentSecurityPolicy {
				t.Errorf("Content-Security-Policy %q, want %q", got, ContentSecurityPolicy)
			}
			if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options %q, want nosniff", got)
			}
			if tt.status == 405 && resp.Header.Get("Allow") != "GET, HEAD" {
				t.Errorf("Allow %q, want GET, HEAD", resp.Header.Get("Allow"))
			}
			if tt.status != 200 {
				return
			}
			if got := resp.Header.Get("Content-Type"); got != tt.ctype {
				t.Errorf("Content-Type %q, want %q", got, tt.ctype)
			}
			if got := resp.Header.Get("Cache-Control"); got != "no-cache" {
				t.Errorf("Cache-Control %q, want no-cache", got)
			}
			if !bytes.Contains(body, []byte(tt.contains)) {
				t.Errorf("body does not contain %q", tt.contains)
			}
			// A revalidation costs no body.
			req, _ = http.NewRequest("GET", srv.URL+tt.path, nil)
			req.Header.Set("If-None-Match", resp.Header.Get("ETag"))
			again, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			again.Body.Close()
			if again.StatusCode != http.StatusNotModified {
				t.Errorf("with If-None-Match %s: status %d, want 304", resp.Header.Get("ETag"), again.StatusCode)
			}
		})
	}
}

// TestStaticRules checks what the CSP and the brief promise by reading the
// files: no inline script or style, no HTML built from strings, nothing
// loaded from another origin.
func TestStaticRules(t *testing.T) {
	rules := []struct {
		name  string
		ext   string
		re    *regexp.Regexp
		allow string
	}{
		{"inline script", ".html", regexp.MustCompile(`<script\b[^>]*>\s*[^<\s]`), ""},
		{"script without src", ".html", regexp.MustCompile(`<script\b(?:[^>](?:[^s>]|s[^r>]|sr[^c>]))*>`), ""},
		{"inline event handler", ".html", regexp.MustCompile(`\son[a-z]+\s*=`), ""},
		{"style attribute", ".html", regexp.MustCompile(`\sstyle\s*=`), ""},
		{"style element", ".html", regexp.MustCompile(`<style\b`), ""},
		{"HTML from strings", ".js", regexp.MustCompile(`innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function\(`), ""},
		{"style attribute from script", ".js", regexp.MustCompile(`setAttribute\(\s*["']style`), ""},
		{"another origin", "", regexp.MustCompile(`(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}`), "//www.w3.org"}, // the SVG namespace, never fetched
	}
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := static.ReadFile(p)
		if err != nil {
			return err
		}
		src := string(b)
		for _, r := range rules {
			if r.ext != "" && filepath.Ext(p) != r.ext {
				continue
			}
			for _, m := range r.re.FindAllString(src, -1) {
				if r.allow == "" || !strings.HasSuffix(m, r.allow) {
					t.Errorf("%s: %s: %q", p, r.name, m)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
