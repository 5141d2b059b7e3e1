package cache

import (
	"testing"
	"time"

	"athena/internal/core"
	"athena/internal/redistest"
)

// reportLatency adds the p50 and p99 latency of op at level, from Stats, to
// the benchmark.
func reportLatency(b *testing.B, c *Cache, level string, op string) {
	st := c.Stats()
	ls := map[string]LevelStats{"l1": st.L1, "l2": st.L2}[level].Latency[op]
	b.ReportMetric(ls.P50US, level+"_"+op+"_p50_us")
	b.ReportMetric(ls.P99US, level+"_"+op+"_p99_us")
}

// BenchmarkGet measures hits: from L1, and from Redis with L1 disabled
// (one GET round trip on loopback).
func BenchmarkGet(b *testing.B) {
	srv := redistest.Start(b)
	for _, bc := range []struct {
		name  string
		level string
		cfg   Config
	}{
		{"l1_hit", "l1", Config{RedisURL: srv.URL}},
		{"l2_hit", "l2", Config{RedisURL: srv.URL, L1MaxEntries: -1}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c, _ := newCache(b, bc.cfg)
			ctx := b.Context()
			const files = 1000
			for i := range files {
				if err := c.Put(ctx, keyOf(i), verdictOf(i), testPipeline.Tags()); err != nil {
					b.Fatal(err)
				}
			}
			keys := make([]Key, files)
			for i := range keys {
				keys[i] = keyOf(i)
			}
			c.levels = [nLevels]levelCounters{} // latency of the timed loop only
			b.ResetTimer()
			start := time.Now()
			i := 0
			for b.Loop() {
				if _, ok := c.Get(ctx, keys[i%files]); !ok {
					b.Fatal("miss")
				}
				i++
			}
			b.ReportMetric(float64(i)/time.Since(start).Seconds(), "gets/s")
			reportLatency(b, c, bc.level, "get")
		})
	}
}

// BenchmarkGetMany1000 measures a batch of 1,000 hashes, half of them known,
// answered by one MGET (L1 disabled so that every batch goes to Redis).
func BenchmarkGetMany1000(b *testing.B) {
	srv := redistest.Start(b)
	c, _ := newCache(b, Config{RedisURL: srv.URL, L1MaxEntries: -1})
	ctx := b.Context()
	hashes := make([]string, MaxBatch)
	for i := range hashes {
		hashes[i] = hashOf(i)
		if i%2 == 0 {
			if err := c.Put(ctx, keyOf(i), verdictOf(i), nil); err != nil {
				b.Fatal(err)
			}
		}
	}
	c.levels = [nLevels]levelCounters{}
	b.ResetTimer()
	start := time.Now()
	n := 0
	for b.Loop() {
		found, _, err := c.GetMany(ctx, testFP, hashes)
		if err != nil || len(found) != MaxBatch/2 {
			b.Fatalf("GetMany: %d found, %v", len(found), err)
		}
		n++
	}
	secs := time.Since(start).Seconds()
	b.ReportMetric(float64(n)/secs, "batches/s")
	b.ReportMetric(float64(n*MaxBatch)/secs, "lookups/s")
	reportLatency(b, c, "l2", "get_many")
}

// BenchmarkPut measures Put with three tags: one MULTI/EXEC with 10 commands.
func BenchmarkPut(b *testing.B) {
	srv := redistest.Start(b)
	c, _ := newCache(b, Config{RedisURL: srv.URL})
	ctx := b.Context()
	vs := make([]struct {
		k Key
		v core.Verdict
	}, 1000)
	for i := range vs {
		vs[i].k, vs[i].v = keyOf(i), verdictOf(i)
	}
	c.levels = [nLevels]levelCounters{}
	b.ResetTimer()
	start := time.Now()
	i := 0
	for b.Loop() {
		x := vs[i%len(vs)]
		if err := c.Put(ctx, x.k, x.v, testPipeline.Tags()); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(i)/time.Since(start).Seconds(), "puts/s")
	reportLatency(b, c, "l2", "put")
}
