package cache

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Config configures a Cache. The zero value of each field means its
// documented default; the zero Config is a valid L1-only cache.
type Config struct {
	// RedisURL is the L2, e.g. "redis://:password@redis:6379/0" (rediss://
	// for TLS). Its go-redis options (?pool_size=...) apply, except those
	// this Config sets: PoolSize when set, and the retry and timeout fields
	// below always, with their defaults. Empty means no L2: an in-process
	// cache only. Redis Cluster is not supported.
	RedisURL string
	// PoolSize is the number of Redis connections kept per Cache.
	// Default 10 per GOMAXPROCS, as go-redis does.
	PoolSize int
	// MaxRetries is how many times a failed Redis command is retried, with
	// a backoff between MinRetryBackoff and MaxRetryBackoff. Default 3;
	// negative disables retries. Defaults 8ms and 512ms.
	MaxRetries      int
	MinRetryBackoff time.Duration
	MaxRetryBackoff time.Duration
	// DialTimeout, ReadTimeout and WriteTimeout bound one Redis connection
	// attempt, read and write. Small, so that a dead Redis does not stall
	// uploads. Defaults 500ms, 200ms, 200ms.
	DialTimeout  time.Duration
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	// OpTimeout bounds the Redis part of one cache call, retries included.
	// Default 1s.
	OpTimeout time.Duration
	// HealthInterval is the period of the background PING that detects an
	// unreachable Redis and its return. While Redis is unreachable, calls
	// skip L2 at once instead of waiting for timeouts. Default 1s.
	HealthInterval time.Duration
	// TTL is how long a verdict stays in Redis. Default 7 days; at least 1ms.
	TTL time.Duration
	// L1MaxEntries bounds the L1's entry count. Default 100,000; negative
	// disables the L1.
	L1MaxEntries int
	// L1MaxBytes bounds the L1's size, counted as the encoded size of its
	// verdicts. Default 64 MiB.
	L1MaxBytes int64
	// L1TTL is how long a verdict stays in the L1 after it was stored or
	// read from Redis; it also bounds how long another process's missed
	// invalidation can go unnoticed. Default 10 minutes, never more than TTL.
	L1TTL time.Duration
	// Logger receives state changes (Redis lost, Redis back) as warnings and
	// infos, and failed operations at debug level. Default slog.Default().
	Logger *slog.Logger
	// Registerer receives the athena_cache_* metrics. Nil registers none.
	Registerer prometheus.Registerer
}

// Defaults of Config.
const (
	DefaultMaxRetries      = 3
	DefaultMinRetryBackoff = 8 * time.Millisecond
	DefaultMaxRetryBackoff = 512 * time.Millisecond
	DefaultDialTimeout     = 500 * time.Millisecond
	DefaultReadTimeout     = 200 * time.Millisecond
	DefaultWriteTimeout    = 200 * time.Millisecond
	DefaultOpTimeout       = time.Second
	DefaultHealthInterval  = time.Second
	DefaultTTL             = 7 * 24 * time.Hour
	DefaultL1MaxEntries    = 100_000
	DefaultL1MaxBytes      = 64 << 20
	DefaultL1TTL           = 10 * time.Minute
)

// withDefaults returns cfg with its zero fields set to their defaults, or
// an error for a value out of range.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.PoolSize < 0 {
		return cfg, errors.New("cache: PoolSize is negative")
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"MinRetryBackoff", &cfg.MinRetryBackoff, DefaultMinRetryBackoff},
		{"MaxRetryBackoff", &cfg.MaxRetryBackoff, DefaultMaxRetryBackoff},
		{"DialTimeout", &cfg.DialTimeout, DefaultDialTimeout},
		{"ReadTimeout", &cfg.ReadTimeout, DefaultReadTimeout},
		{"WriteTimeout", &cfg.WriteTimeout, DefaultWriteTimeout},
		{"OpTimeout", &cfg.OpTimeout, DefaultOpTimeout},
		{"HealthInterval", &cfg.HealthInterval, DefaultHealthInterval},
		{"TTL", &cfg.TTL, DefaultTTL},
		{"L1TTL", &cfg.L1TTL, DefaultL1TTL},
	} {
		if *d.v < 0 {
			return cfg, fmt.Errorf("cache: %s is negative", d.name)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if cfg.TTL < time.Millisecond {
		return cfg, errors.New("cache: TTL is under 1ms")
	}
	if cfg.MaxRetryBackoff < cfg.MinRetryBackoff {
		return cfg, errors.New("cache: MaxRetryBackoff is below MinRetryBackoff")
	}
	cfg.L1TTL = min(cfg.L1TTL, cfg.TTL)
	switch {
	case cfg.MaxRetries == 0:
		cfg.MaxRetries = DefaultMaxRetries
	case cfg.MaxRetries < 0:
		cfg.MaxRetries = -1 // go-redis: -1 disables retries
	}
	if cfg.L1MaxEntries == 0 {
		cfg.L1MaxEntries = DefaultL1MaxEntries
	}
	switch {
	case cfg.L1MaxBytes == 0:
		cfg.L1MaxBytes = DefaultL1MaxBytes
	case cfg.L1MaxBytes < 0:
		return cfg, errors.New("cache: L1MaxBytes is negative")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return cfg, nil
}

// redisOptions builds go-redis options from the URL and the config.
func (cfg Config) redisOptions() (*redis.Options, error) {
	opt, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("cache: RedisURL: %w", err)
	}
	if cfg.PoolSize > 0 {
		opt.PoolSize = cfg.PoolSize
	}
	opt.MaxRetries = cfg.MaxRetries
	opt.MinRetryBackoff = cfg.MinRetryBackoff
	opt.MaxRetryBackoff = cfg.MaxRetryBackoff
	opt.DialTimeout = cfg.DialTimeout
	opt.ReadTimeout = cfg.ReadTimeout
	opt.WriteTimeout = cfg.WriteTimeout
	// One dial attempt per connection: command retries already back off,
	// and go-redis's default of 5 dials 100ms apart would stall every
	// command against a dead Redis for half a second.
	opt.DialerRetries = 1
	// Let the caller's context (an upload's) and OpTimeout bound commands.
	opt.ContextTimeoutEnabled = true
	// Maintenance notifications are a Redis Enterprise/Cloud feature; off,
	// so that connecting costs no extra handshake.
	opt.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	return opt, nil
}
