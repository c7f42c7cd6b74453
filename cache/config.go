package cache

import (
	"time"

	"github.com/plumtree-go/plumtree/core"
)

// DefaultMaxBytes is the default bound on stored bytes (64 MiB).
const DefaultMaxBytes = 64 << 20

// Config bounds a Cache. Names in Validate errors are the snake_case names
// given on each field.
type Config struct {
	// MaxEntries (max_entries) bounds the stored messages: the protocol's
	// message_cache_max_size. Default 65,536.
	MaxEntries int
	// MaxBytes (max_bytes) bounds the stored bytes: payloads plus header
	// keys and values. A message larger than MaxBytes on its own is not
	// stored (counted as a bytes eviction). Default 64 MiB. With
	// MaxLargeBytes set, the parts of large messages do not count here.
	MaxBytes int64
	// MaxLargeBytes (max_large_bytes), when above 0, gives the parts of
	// large messages (node.Node.BroadcastLarge: messages stored with the
	// core/large.HeaderKey header) a list and a byte bound of their own,
	// evicted least recently used first among themselves; MaxEntries
	// still bounds all entries together. A transfer then keeps every part
	// stored until it ends, so that a node that missed an early part can
	// still pull it from its peers, and it pushes no ordinary message out;
	// ordinary traffic in turn cannot push its parts out. 0 (the default):
	// parts are stored as any message, within MaxBytes. ConfigFromCore
	// sets it from max_large_message_size.
	MaxLargeBytes int64
	// TTL (ttl) is how long a message is kept: the protocol's
	// message_cache_ttl (its retention). A message is expired when more than
	// TTL has passed since the time given to its Put, which the protocol
	// sets to the message's origin time (when its origin broadcast it), so
	// a copy received late is not kept longer. Default 10 min: with the
	// default 64 MiB byte bound, 10 minutes of 1 KiB messages at up to
	// about 100 msg/s (5 minutes at 200 msg/s).
	TTL time.Duration
	// ShedSomeTo (shed_some_to) and ShedMostTo (shed_most_to) are the
	// utilizations the cache sheds down to (least recently used first) at
	// BackpressureDropSome and at BackpressureDropMost or above. 1 sheds
	// nothing. Defaults 1 and 1: the cache is bounded and evicts on every
	// Put when full, so shedding below the bounds frees no memory the
	// bounds did not already allow; it only shortens how long messages
	// are kept, and the cache refills at once. Set them below 1 where the
	// memory the bounds allow is wanted back while the cache is nearly
	// full.
	ShedSomeTo float64
	ShedMostTo float64
	// MinRetention (min_retention) is the retention of ordinary messages
	// (not of the large messages' parts list, see MaxLargeBytes) below
	// which the cache applies BackpressureBlockNew (Admit refuses new
	// broadcasts) when its Scheduler asks for it. Retention is how far
	// back, by origin time, the cache still holds messages (see
	// Cache.Retention): a cache that is merely full still holds a TTL's
	// worth, or close to it, and refusing
	// broadcasts then would help nothing. Below MinRetention a Graft or an
	// anti-entropy round can find a message already gone, and refusing the
	// node's own broadcasts slows the cluster's rate until the caches hold
	// enough again. While the Scheduler asks for block-new and the
	// retention is at least MinRetention, the cache applies drop-most
	// instead. The effective value is min(MinRetention, TTL); 0 never
	// refuses. Default 30 s (DefaultMinRetention).
	MinRetention time.Duration
}

// DefaultMinRetention is the default MinRetention. With the protocol's
// defaults a Graft is retried for about 12 s (500 ms, doubling, capped at
// 4 s, 5 retries) and anti-entropy sends only messages at least 5 s old,
// one exchange per node every 2 s: a message must stay stored for some
// tens of seconds for either to reach a node that missed it.
const DefaultMinRetention = 30 * time.Second

// DefaultConfig returns the defaults (those of the protocol's default
// preset).
func DefaultConfig() Config {
	return Config{
		MaxEntries:   65536,
		MaxBytes:     DefaultMaxBytes,
		TTL:          10 * time.Minute,
		ShedSomeTo:   1,
		ShedMostTo:   1,
		MinRetention: DefaultMinRetention,
	}
}

// ConfigFromCore returns DefaultConfig with MaxEntries and TTL taken from
// the protocol's message_cache_max_size and message_cache_ttl, so the store
// keeps exactly what the protocol expects it to, and, with large messages
// on, MaxLargeBytes at LargeBytesFor(max_large_message_size): the parts of
// the largest message the node accepts all fit in their own list.
func ConfigFromCore(c core.Config) Config {
	cfg := DefaultConfig()
	cfg.MaxEntries = c.MessageCacheMaxSize
	cfg.TTL = c.MessageCacheTTL
	if c.MaxLargeMessageSize > 0 {
		cfg.MaxLargeBytes = LargeBytesFor(c.MaxLargeMessageSize)
	}
	return cfg
}

// LargeBytesFor returns the MaxLargeBytes that ConfigFromCore gives for a
// max_large_message_size of size: size and an eighth, room for the largest
// message's parts with their framing and headers (about 0.1 % above the
// payload in 64 KiB parts) and its manifest, beside smaller transfers.
// With the defaults, 288 MiB.
func LargeBytesFor(size int) int64 { return int64(size) + int64(size)/8 }

// Validate reports the first field out of bounds, naming it and the bound.
func (c *Config) Validate() error {
	switch {
	case c.MaxEntries < 1 || c.MaxEntries > 1<<26:
		return fieldErr("max_entries", "is %d, must be in [1, %d]", c.MaxEntries, 1<<26)
	case c.MaxBytes < 1 || c.MaxBytes > 1<<40:
		return fieldErr("max_bytes", "is %d, must be in [1, %d]", c.MaxBytes, int64(1)<<40)
	case c.MaxLargeBytes < 0 || c.MaxLargeBytes > 1<<40:
		return fieldErr("max_large_bytes", "is %d, must be in [0, %d]", c.MaxLargeBytes, int64(1)<<40)
	case c.TTL < time.Millisecond:
		return fieldErr("ttl", "is %v, must be at least 1ms", c.TTL)
	case !(c.ShedMostTo >= 0 && c.ShedMostTo <= 1):
		return fieldErr("shed_most_to", "is %v, must be in [0, 1]", c.ShedMostTo)
	case !(c.ShedSomeTo >= c.ShedMostTo && c.ShedSomeTo <= 1):
		return fieldErr("shed_some_to", "is %v, must be in [shed_most_to, 1] = [%v, 1]", c.ShedSomeTo, c.ShedMostTo)
	case c.MinRetention < 0:
		return fieldErr("min_retention", "is %v, must not be negative", c.MinRetention)
	}
	return nil
}
