package main

import (
	"context"
	"flag"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"athena/internal/cache"
)

// cacheFlags are the verdict cache's flags, in serve, gateway and engine.
type cacheFlags struct {
	redis string
	ttl   time.Duration
}

func (f *cacheFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.redis, "redis", "", "Redis URL of the shared verdict cache, e.g. redis://127.0.0.1:6379/0 (empty: serve and gateway cache in process only; an engine caches nothing)")
	fs.DurationVar(&f.ttl, "cache-ttl", cache.DefaultTTL, "how long a verdict stays in Redis")
}

// args returns the flags to pass on to an engine process.
func (f *cacheFlags) args() []string {
	if f.redis == "" {
		return nil
	}
	return []string{"--redis", f.redis, "--cache-ttl", f.ttl.String()}
}

var redisLoggerOnce sync.Once

// openCache opens the verdict cache. It does not fail when Redis is down:
// the cache then runs degraded and recovers by itself.
func openCache(ctx context.Context, f cacheFlags, log *slog.Logger, reg prometheus.Registerer) (*cache.Cache, error) {
	redisLoggerOnce.Do(func() { cache.SetRedisLogger(log) })
	return cache.New(ctx, cache.Config{RedisURL: f.redis, TTL: f.ttl, Logger: log, Registerer: reg})
}
