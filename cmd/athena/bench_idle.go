package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// idleReport is what athena bench --idle measures: the server's cost of
// many open WebSocket sessions that send nothing (a dashboard left open),
// from its own /metrics before and after.
type idleReport struct {
	Timestamp       string  `json:"timestamp"`
	Command         string  `json:"command"`
	Server          string  `json:"server"`
	Sessions        int     `json:"sessions"` // opened and held
	Failed          int     `json:"failed"`
	FirstError      string  `json:"first_error,omitempty"`
	OpenSeconds     float64 `json:"open_seconds"`
	HoldSeconds     float64 `json:"hold_seconds"`
	ServerSessions  float64 `json:"server_sessions"` // athena_gateway_websocket_sessions while held
	RSSBefore       float64 `json:"rss_before_bytes"`
	RSSHeld         float64 `json:"rss_held_bytes"`
	BytesPerSession float64 `json:"bytes_per_session"`
	GoroutinesAdded float64 `json:"goroutines_added"`
}

// idleDialers is how many sessions are being opened at once.
const idleDialers = 64

// runIdle opens n sessions, holds them for hold, and reports.
func runIdle(ctx context.Context, f *benchFlags, n int, hold time.Duration, tlsCfg *tls.Config) (idleReport, error) {
	rep := idleReport{Command: f.commandLine, Server: f.serverURL.String()}
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsCfg}}
	before, err := scrapeMetrics(ctx, hc, f.serverURL)
	if err != nil {
		return rep, err
	}
	u := *f.serverURL
	u.Scheme = map[string]string{"http": "ws", "https": "wss"}[u.Scheme]
	u.Path = "/v1/stream"
	d := websocket.Dialer{TLSClientConfig: tlsCfg, HandshakeTimeout: 30 * time.Second}
	conns := make([]*websocket.Conn, n)
	var mu sync.Mutex
	next := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for range idleDialers {
		wg.Go(func() {
			for i := range next {
				c, _, err := d.DialContext(ctx, u.String(), nil)
				if err != nil {
					mu.Lock()
					if rep.Failed++; rep.FirstError == "" {
						rep.FirstError = err.Error()
					}
					mu.Unlock()
					continue
				}
				// Read (and drop) whatever the server sends, so that its
				// pings are answered and the session stays healthy.
				go func() {
					for {
						if _, _, err := c.NextReader(); err != nil {
							return
						}
					}
				}()
				conns[i] = c
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	rep.OpenSeconds = time.Since(start).Seconds()
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	rep.Sessions = n - rep.Failed
	// Hold them: the server settles (its buffers, goroutines, GC) before
	// it is measured.
	select {
	case <-time.After(hold):
	case <-ctx.Done():
		return rep, ctx.Err()
	}
	rep.HoldSeconds = hold.Seconds()
	held, err := scrapeMetrics(ctx, hc, f.serverURL)
	if err != nil {
		return rep, err
	}
	rep.ServerSessions = held["athena_gateway_websocket_sessions"]
	rep.RSSBefore, rep.RSSHeld = before["process_resident_memory_bytes"], held["process_resident_memory_bytes"]
	if rep.Sessions > 0 {
		rep.BytesPerSession = (rep.RSSHeld - rep.RSSBefore) / float64(rep.Sessions)
	}
	rep.GoroutinesAdded = held["go_goroutines"] - before["go_goroutines"]
	rep.Timestamp = time.Now().UTC().Format(time.RFC3339)
	return rep, nil
}

// scrapeMetrics reads the server's /metrics: the value of each sample
// without labels, by name (enough for gauges such as
// process_resident_memory_bytes).
func scrapeMetrics(ctx context.Context, hc *http.Client, base *url.URL) (map[string]float64, error) {
	u := *base
	u.Path = "/metrics"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("metrics: %s", resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' || strings.ContainsRune(line, '{') {
			continue
		}
		name, val, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
			out[name] = v
		}
	}
	return out, sc.Err()
}

func (r *idleReport) writeText(w io.Writer) {
	fmt.Fprintf(w, "athena bench --idle: %s, %s\n", r.Server, r.Timestamp)
	fmt.Fprintf(w, "  sessions      %d open (%d failed) in %.1fs, held %.0fs; the server counts %.0f\n",
		r.Sessions, r.Failed, r.OpenSeconds, r.HoldSeconds, r.ServerSessions)
	if r.FirstError != "" {
		fmt.Fprintf(w, "  first error   %s\n", r.FirstError)
	}
	fmt.Fprintf(w, "  server memory %s resident before, %s held: %s per session; %+.0f goroutines\n",
		humanBytes(int64(r.RSSBefore)), humanBytes(int64(r.RSSHeld)), humanBytes(int64(r.BytesPerSession)), r.GoroutinesAdded)
}

func (r *idleReport) json() []byte {
	js, _ := json.MarshalIndent(r, "", "  ")
	return append(js, '\n')
}
