package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/redis/go-redis/v9"
)

// healthLoop probes Redis every HealthInterval, and at once when a call
// found it unreachable, until ctx ends. It is what brings L2 back.
func (c *Cache) healthLoop(ctx context.Context) {
	defer c.bg.Done()
	t := time.NewTicker(c.cfg.HealthInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-c.wake:
		}
		c.probe(ctx)
	}
}

// probe PINGs Redis and records whether it answered.
func (c *Cache) probe(ctx context.Context) {
	pctx, cancel := context.WithTimeout(ctx, c.cfg.OpTimeout)
	defer cancel()
	err := c.rdb.Ping(pctx).Err()
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		c.countErr(-1, errOpPing)
		c.markDown(err)
		return
	}
	if !c.up.Swap(true) && c.lastError() != nil {
		c.log.Info("cache: redis reachable again, L2 back in use")
	}
}

// subscribe creates the invalidation subscription and waits, within the
// connection timeouts, for Redis to confirm it. When it is not confirmed the
// subscriber loop keeps trying.
func (c *Cache) subscribe(ctx context.Context) (ps *redis.PubSub, confirmed bool) {
	ps = c.rdb.Subscribe(ctx) // no channel yet: does not connect
	wait := c.cfg.DialTimeout + c.cfg.ReadTimeout
	sctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	// On error the channel is still recorded, and the next receive
	// reconnects and subscribes.
	if err := ps.Subscribe(sctx, invalidateChan); err != nil {
		return ps, false
	}
	msg, err := ps.ReceiveTimeout(sctx, wait)
	if err != nil {
		return ps, false
	}
	_, confirmed = msg.(*redis.Subscription)
	return ps, confirmed
}

// subscribeLoop receives invalidations and drops the L1 entries they name,
// until ctx ends (Close also closes the subscription to unblock it).
// missed is true while the subscription may have lost messages: the loop
// then empties L1 when Redis confirms the next subscription.
//
// go-redis reconnects and resubscribes a subscription after a read error.
// A connection that silently stopped delivering (no error, no data) is
// caught by a PING after an idle period: when the PONG does not come
// within another one, the subscription is replaced.
func (c *Cache) subscribeLoop(ctx context.Context, ps *redis.PubSub, missed bool) {
	defer c.bg.Done()
	idle := max(5*c.cfg.HealthInterval, time.Second)
	const minBackoff, maxBackoff = 50 * time.Millisecond, time.Second
	backoff := minBackoff
	pinged := false
	for {
		msg, err := ps.ReceiveTimeout(ctx, idle)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			if isTimeout(err) && !pinged {
				pinged = true
				if ps.Ping(ctx) == nil {
					continue
				}
			} else if isTimeout(err) {
				// No PONG: a dead connection that never errored.
				old := ps
				ps = c.rdb.Subscribe(ctx, invalidateChan)
				c.ps.Store(ps)
				_ = old.Close()
				if ctx.Err() != nil {
					_ = ps.Close()
					return
				}
			}
			pinged = false
			if !missed {
				c.log.Warn("cache: invalidation subscription lost; L1 will be emptied when it resumes", "err", err)
			}
			missed = true
			c.countErr(-1, errOpSubscribe)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		backoff = minBackoff
		pinged = false
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" && missed {
				c.dropAll()
				missed = false
				c.log.Info("cache: invalidation subscription resumed; emptied L1, which may have missed invalidations")
			}
		case *redis.Message:
			inv, err := decodeInvalidation(m.Payload)
			if err != nil {
				c.countErr(-1, errOpDecode)
				c.log.Warn("cache: ignored a malformed invalidation message", "err", err)
				continue
			}
			if inv.Origin != c.origin { // InvalidateTag already dropped ours
				c.dropTag(inv.Tag)
			}
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// SetRedisLogger sends go-redis's own log lines (a failed dial each time a
// probe finds Redis down, and the like) to l at debug level. go-redis has
// one logger per process, so this is for main to call once; by default
// go-redis writes to the standard log package.
func SetRedisLogger(l *slog.Logger) { redis.SetLogger(redisLogger{l}) }

type redisLogger struct{ log *slog.Logger }

func (r redisLogger) Printf(ctx context.Context, format string, v ...any) {
	r.log.DebugContext(ctx, "cache: go-redis: "+fmt.Sprintf(format, v...))
}
