package gateway

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"athena/internal/cache"
	"athena/internal/redistest"
	"athena/internal/testkit"
)

// BenchmarkCacheHits is a measured run of a fixed workload (run it once,
// -benchtime 1x): it reports cache-hit verdict lookups per second and
// their p50/p99 over HTTP/2 (GET /v1/verdicts/{sha256}, 16 concurrent
// streams on one connection) and over one WebSocket (declared-hash starts,
// one at a time), with the gateway's L1 on and off (off: every hit is a
// Redis GET).
//
//	go test ./gateway -run '^$' -bench BenchmarkCacheHits -benchtime 1x -v
func BenchmarkCacheHits(b *testing.B) {
	rs := redistest.Start(b)
	for _, l1 := range []bool{true, false} {
		b.Run(fmt.Sprintf("l1=%v", l1), func(b *testing.B) {
			cfg := cache.Config{RedisURL: rs.URL}
			if !l1 {
				cfg.L1MaxEntries = -1
			}
			c, err := cache.New(context.Background(), cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close(context.Background())
			h := newHarness(b, harnessOpts{cfg: func(gc *Config) { gc.Cache = c }})
			testkit.WaitFor(b, testTimeout, "fingerprint", func() bool { return slices.Equal(h.g.presence.fingerprints(), []string{fakeFP}) })
			ec := engineCache(b, rs)
			const files = 1000
			hashes := make([]string, files)
			for i := range files {
				data := []byte(fmt.Sprintf("measured %d", i))
				v := verdictFor(data, fakeFP)
				hashes[i] = v.SHA256
				if err := ec.Put(context.Background(), cache.Key{SHA256: v.SHA256, Fingerprint: fakeFP}, v, nil); err != nil {
					b.Fatal(err)
				}
			}
			// HTTP/2.
			cl := h.client("h2c")
			const workers, per = 16, 1000
			lat := make([][]time.Duration, workers)
			var wg sync.WaitGroup
			t0 := time.Now()
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range per {
						s := time.Now()
						resp, err := cl.Get(h.baseURL() + "/v1/verdicts/" + hashes[(w*per+i)%files])
						if err != nil || resp.StatusCode != 200 {
							b.Errorf("GET: %v", err)
							return
						}
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						lat[w] = append(lat[w], time.Since(s))
					}
				}()
			}
			wg.Wait()
			report(b, "http2 GET /v1/verdicts/{sha256}, 16 streams", slices.Concat(lat...), time.Since(t0))

			// A batch of 1,000 (all known) over HTTP/2, brotli accepted.
			var bl []time.Duration
			t0 = time.Now()
			for range 50 {
				s := time.Now()
				var got batchResponse
				if code, _ := getJSON(b, cl, "POST", h.baseURL()+"/v1/verdicts/batch", "br", batchRequest{SHA256: hashes}, &got); code != 200 || len(got.Verdicts) != files {
					b.Fatalf("batch: %d, %d verdicts", code, len(got.Verdicts))
				}
				bl = append(bl, time.Since(s))
			}
			report(b, "http2 POST /v1/verdicts/batch of 1,000 (br)", bl, time.Since(t0))

			// WebSocket: start with a declared sha256, wait for the verdict.
			ws := h.mustDialWS()
			var wl []time.Duration
			t0 = time.Now()
			for i := range 5000 {
				s := time.Now()
				n := uint16(i%60000 + 1)
				ws.writeText(map[string]any{"type": "start", "stream": n, "sha256": hashes[i%files]})
				msgs, err := ws.until(n, "verdict", "error")
				if err != nil || len(msgs) != 2 || !msgs[1].Verdict.Cached {
					b.Fatalf("ws: %v %s", err, rawOf(msgs))
				}
				wl = append(wl, time.Since(s))
			}
			report(b, "websocket declared-hash start, sequential", wl, time.Since(t0))
			st := c.Stats()
			b.Logf("gateway cache: l1 get p50 %.1fus p99 %.1fus; l2 (redis) get p50 %.1fus p99 %.1fus n=%d",
				st.L1.Latency["get"].P50US, st.L1.Latency["get"].P99US, st.L2.Latency["get"].P50US, st.L2.Latency["get"].P99US, st.L2.Latency["get"].Count)
		})
	}
}

func report(b *testing.B, what string, lat []time.Duration, total time.Duration) {
	slices.Sort(lat)
	q := func(p float64) time.Duration { return lat[int(p*float64(len(lat)-1))] }
	b.Logf("%s: %d lookups in %v = %.0f/s, p50 %v, p99 %v", what, len(lat), total.Round(time.Millisecond),
		float64(len(lat))/total.Seconds(), q(0.5).Round(time.Microsecond), q(0.99).Round(time.Microsecond))
}
