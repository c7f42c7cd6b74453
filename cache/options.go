package cache

import (
	"log/slog"
	"time"
)

// Option configures a Cache.
type Option func(*Cache)

// WithLogger logs through l: DEBUG "Evicting {count} messages from cache
// (TTL expired)" after each sweep that removed entries, WARN/INFO on
// backpressure level changes. Default: discard.
func WithLogger(l *slog.Logger) Option {
	return func(c *Cache) {
		if l != nil {
			c.logger = l
		}
	}
}

// WithScheduler makes s schedule the sweeps and set the backpressure level,
// typically a *tuner.CleanupTuner. Default: FixedScheduler{TTL/4,
// MaxEntries}.
func WithScheduler(s Scheduler) Option {
	return func(c *Cache) {
		if s != nil {
			c.sched = s
		}
	}
}

// WithClock sets the clock Run reads for the now it passes to Step, and
// Stats for its Retention. Use the clock that feeds Put and Get (a node's
// clock). Default time.Now.
func WithClock(now func() time.Time) Option {
	return func(c *Cache) {
		if now != nil {
			c.clock = now
		}
	}
}
