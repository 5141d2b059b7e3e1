package gateway

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"athena/internal/redistest"
)

// BenchmarkZipfHitRate is a measured run of a fixed workload (run it once,
// -benchtime 1x): it replays a Zipf-distributed request mix (s=1.1, v=1,
// fixed seed) over a catalogue of small files against a gateway with the
// verdict cache on a real redis-server. Each request does what a client
// that knows the file's sha256 does: POST /v1/analyze with X-Athena-SHA256
// over h2c; a cached answer (X-Athena-Cached: true) is a hit, otherwise the
// body is uploaded and analysed (a miss). It reports the hit rate beside
// the ideal for the sequence (1 - distinct/requests), requests/s, and the
// latency of hits and of misses. Only correctness is asserted.
//
//	go test ./gateway -run '^$' -bench BenchmarkZipfHitRate -benchtime 1x -v
func BenchmarkZipfHitRate(b *testing.B) {
	const (
		files    = 500
		requests = 5000
		clients  = 8
	)
	h, _ := newCacheHarness(b, redistest.Start(b), true)
	cl := h.client("h2c")

	// The catalogue: distinct files of 1 to 8 KiB from a seeded PRNG.
	gen := rand.New(rand.NewPCG(1, 2))
	catalogue := make([][]byte, files)
	sums := make([]string, files)
	for i := range catalogue {
		b := make([]byte, 1<<10+gen.IntN(7<<10))
		for j := range b {
			b[j] = byte(gen.Uint32())
		}
		catalogue[i], sums[i] = b, sha(b)
	}
	// The request sequence.
	z := rand.NewZipf(rand.New(rand.NewPCG(3, 4)), 1.1, 1, files-1)
	seq := make([]int, requests)
	distinct := map[int]bool{}
	for i := range seq {
		seq[i] = int(z.Uint64())
		distinct[seq[i]] = true
	}

	var (
		next            atomic.Int64
		mu              sync.Mutex
		hitLat, missLat []time.Duration
		wg              sync.WaitGroup
	)
	one := func(i int) (bool, error) {
		sum := sums[i]
		resp, pw, err := h.postDeclared(cl, sum)
		if err != nil {
			return false, err
		}
		defer resp.Body.Close()
		hit := resp.Header.Get(HeaderCached) == "true"
		if hit {
			pw.Close()
		} else {
			go func() { pw.Write(catalogue[i]); pw.Close() }()
		}
		if resp.StatusCode != 200 {
			return hit, fmt.Errorf("status %s", resp.Status)
		}
		evs, err := eventsUntil(ndjson(b, resp.Body))
		if err != nil {
			return hit, err
		}
		last := evs[len(evs)-1]
		if last.Verdict == nil || last.Verdict.SHA256 != sum || last.Verdict.Cached != hit {
			return hit, fmt.Errorf("last event %+v, want the verdict of %s (cached %v)", last, sum, hit)
		}
		return hit, nil
	}
	t0 := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n := int(next.Add(1)) - 1
				if n >= requests {
					return
				}
				s := time.Now()
				hit, err := one(seq[n])
				d := time.Since(s)
				if err != nil {
					b.Errorf("request %d (file %d): %v", n, seq[n], err)
					return
				}
				mu.Lock()
				if hit {
					hitLat = append(hitLat, d)
				} else {
					missLat = append(missLat, d)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	total := time.Since(t0)
	if b.Failed() {
		return
	}
	if got := len(hitLat) + len(missLat); got != requests {
		b.Fatalf("hits %d + misses %d = %d, want %d", len(hitLat), len(missLat), got, requests)
	}
	b.Logf("zipf s=1.1 v=1 over %d files, %d requests, %d clients on one h2c connection: %d distinct files",
		files, requests, clients, len(distinct))
	b.Logf("hit rate %.2f%% (%d hits, %d misses); ideal for this sequence %.2f%% (1 - %d/%d)",
		100*float64(len(hitLat))/requests, len(hitLat), len(missLat),
		100*(1-float64(len(distinct))/requests), len(distinct), requests)
	b.Logf("%d requests in %v = %.0f requests/s", requests, total.Round(time.Millisecond), requests/total.Seconds())
	quantiles(b, "hits", hitLat)
	quantiles(b, "misses", missLat)
}

func quantiles(b *testing.B, what string, lat []time.Duration) {
	if len(lat) == 0 {
		b.Logf("%s: none", what)
		return
	}
	slices.Sort(lat)
	q := func(p float64) time.Duration { return lat[int(p*float64(len(lat)-1))].Round(time.Microsecond) }
	b.Logf("%s: n=%d, p50 %v, p95 %v, p99 %v", what, len(lat), q(0.5), q(0.95), q(0.99))
}
