package cache

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// Stats is a snapshot of a Cache's counters since New, the body of
// GET /v1/cache/stats. Counts are per key looked up: a GetMany of 1,000
// hashes counts 1,000 lookups.
type Stats struct {
	// Hits and Misses count lookups answered from either level, or from none.
	Hits    uint64  `json:"hits"`
	Misses  uint64  `json:"misses"`
	HitRate float64 `json:"hit_rate"` // Hits / (Hits + Misses), 0 without lookups
	// Errors counts failed Redis operations, including those skipped because
	// Redis was unreachable, and corrupt values.
	Errors uint64 `json:"errors"`
	// Redis is "disabled" (no RedisURL), "ok" or "degraded".
	Redis string     `json:"redis"`
	L1    LevelStats `json:"l1"`
	L2    LevelStats `json:"l2"`
}

// LevelStats describes one level: L1 in process, L2 in Redis.
type LevelStats struct {
	Enabled bool    `json:"enabled"`
	Hits    uint64  `json:"hits"`
	Misses  uint64  `json:"misses"`
	HitRate float64 `json:"hit_rate"`
	Errors  uint64  `json:"errors"`
	// Entries is the L1's estimated entry count (0 for L2).
	Entries int `json:"entries,omitempty"`
	// Latency holds per operation ("get", "get_many", "put", "invalidate")
	// the latency of the operations that ran at this level.
	Latency map[string]LatencyStats `json:"latency"`
}

// LatencyStats summarises the latencies of one operation. Quantiles come
// from log-linear buckets and are within 12.5% of the true value.
type LatencyStats struct {
	Count  uint64  `json:"count"`
	MeanUS float64 `json:"mean_us"`
	P50US  float64 `json:"p50_us"`
	P99US  float64 `json:"p99_us"`
}

// Cache levels, the values of the "level" label.
const (
	levelL1 = iota
	levelL2
	nLevels
)

var levelNames = [nLevels]string{"l1", "l2"}

// Operations, the values of the "op" label of the duration histogram.
type op int

const (
	opGet op = iota
	opGetMany
	opPut
	opInvalidate
	nOps
)

var opNames = [nOps]string{"get", "get_many", "put", "invalidate"}

// levelCounters are the Stats counters of one level.
type levelCounters struct {
	hits, misses, errors atomic.Uint64
	lat                  [nOps]latency
}

func (l *levelCounters) snapshot(enabled bool) LevelStats {
	s := LevelStats{
		Enabled: enabled,
		Hits:    l.hits.Load(),
		Misses:  l.misses.Load(),
		Errors:  l.errors.Load(),
		Latency: map[string]LatencyStats{},
	}
	s.HitRate = rate(s.Hits, s.Misses)
	for o := range nOps {
		if ls := l.lat[o].snapshot(); ls.Count > 0 {
			s.Latency[opNames[o]] = ls
		}
	}
	return s
}

func rate(hits, misses uint64) float64 {
	if hits+misses == 0 {
		return 0
	}
	return float64(hits) / float64(hits+misses)
}

// nBuckets covers every uint64 nanosecond count: 8 exact buckets for 0-7 ns,
// then 4 per power of two.
const nBuckets = 8 + 61*4

// latency is a lock-free log-linear histogram of durations.
type latency struct {
	count, sumNs atomic.Uint64
	buckets      [nBuckets]atomic.Uint64
}

// bucketOf maps a duration in ns to its bucket: values below 8 have their
// own; above, a bucket spans a quarter of a power of two.
func bucketOf(ns uint64) int {
	if ns < 8 {
		return int(ns)
	}
	e := bits.Len64(ns)             // 4..64
	top := ns >> (e - 3)            // the 3 leading bits: 4..7
	return 8 + (e-4)*4 + int(top-4) // 8..251
}

// bucketMid is the middle of bucket i, in ns.
func bucketMid(i int) float64 {
	if i < 8 {
		return float64(i)
	}
	e := (i-8)/4 + 4
	top := uint64((i-8)%4 + 4)
	lo := float64(top << (e - 3))
	width := float64(uint64(1) << (e - 3))
	return lo + width/2
}

func (l *latency) observe(d time.Duration) {
	ns := uint64(max(d, 0))
	l.count.Add(1)
	l.sumNs.Add(ns)
	l.buckets[bucketOf(ns)].Add(1)
}

func (l *latency) snapshot() LatencyStats {
	var counts [nBuckets]uint64
	var total uint64
	for i := range counts {
		counts[i] = l.buckets[i].Load()
		total += counts[i]
	}
	if total == 0 {
		return LatencyStats{}
	}
	s := LatencyStats{
		Count:  total,
		MeanUS: float64(l.sumNs.Load()) / float64(max(l.count.Load(), 1)) / 1e3,
	}
	s.P50US = quantile(&counts, total, 0.50) / 1e3
	s.P99US = quantile(&counts, total, 0.99) / 1e3
	return s
}

// quantile returns the middle of the bucket holding the q-th observation.
func quantile(counts *[nBuckets]uint64, total uint64, q float64) float64 {
	rank := uint64(q*float64(total) + 0.5)
	rank = min(max(rank, 1), total)
	var seen uint64
	for i, c := range counts {
		seen += c
		if seen >= rank {
			return bucketMid(i)
		}
	}
	return bucketMid(nBuckets - 1)
}
