package core

import (
	"errors"
	"fmt"
	"time"
)

// ErrInvalidConfig is wrapped by every error Config.Validate returns.
var ErrInvalidConfig = errors.New("core: invalid config")

// Wire limits that bound configuration. They are mirrored (and enforced on
// decode) by package core/wire.
const (
	// MaxIHaveBatch is the largest number of announcements one IHave frame
	// may carry.
	MaxIHaveBatch = 1024
	// MaxGraftIDs is the largest number of ids one Graft frame may carry.
	MaxGraftIDs = 1024
	// MaxHeaders is the largest number of headers a message may carry.
	MaxHeaders = 32
	// MaxHeaderBytes bounds the total size of a message's header keys and
	// values.
	MaxHeaderBytes = 4096
	// MaxPeerIDLen bounds the length of a PeerID.
	MaxPeerIDLen = 255
	// MaxMessageSizeLimit is the largest max_message_size a Config accepts
	// (16 MiB).
	MaxMessageSizeLimit = 16 << 20
	// MaxLargeMessageSizeLimit is the largest max_large_message_size a
	// Config accepts (4 GiB).
	MaxLargeMessageSizeLimit = 4 << 30
	// MinMessageSizeForLarge is the smallest max_message_size that
	// carries large messages (max_large_message_size above 0): a chunk of
	// at least 256 bytes and its framing (core/large's ChunkOverhead).
	MinMessageSizeForLarge = 256 + 42
	// MinLargeSendRate is the smallest non-zero large_send_rate a Config
	// accepts (bytes/s): below it a large message would take days, which
	// is a unit mistake rather than a pace.
	MinLargeSendRate = 1 << 10
)

// HealthConfig holds the thresholds of the health report. The rules are
// applied in the order documented on Protocol.Health.
type HealthConfig struct {
	// FailureRateUnhealthy: graft failure rate (failed / (failed+succeeded)
	// within Window) above which the node is Unhealthy. Default 0.8.
	FailureRateUnhealthy float64
	// FailureRateDegraded: graft failure rate above which the node is
	// Degraded. Default 0.3.
	FailureRateDegraded float64
	// PendingGraftsDegraded: pending grafts above which the node is
	// Degraded (at most MaxPendingGrafts-1: a full pending set is Degraded
	// whatever this says). Default 50.
	PendingGraftsDegraded int
	// CacheUtilizationDegraded: store utilization (len/capacity) above which
	// the node is Degraded, for a store that does not report its retention
	// (RetentionStore). Default 0.95.
	CacheUtilizationDegraded float64
	// CacheRetentionDegraded: for a store that reports its retention
	// (RetentionStore: MemStore, the cache module's Cache), the node is
	// Degraded while the store holds less than this (capped at
	// MessageCacheTTL), whatever its utilization: a full store that still
	// holds this long is how a bounded store runs at a high rate. 0 turns
	// the rule off for such stores. Default 30 s, the time scale of Graft
	// retries and anti-entropy (the cache's MinRetention default).
	CacheRetentionDegraded time.Duration
	// MinPeersDegraded: fewer active peers than this is Degraded (or than
	// the active view's cap, or the peers known, when smaller). Default 3.
	MinPeersDegraded int
	// Window is how far back the graft failure rate looks. Default 5 min. A
	// bad minute degrades a node for at most Window, not forever.
	Window time.Duration
	// MinGraftSamples: the failure-rate rules apply only when at least this
	// many grafts ended within Window. Default 5.
	MinGraftSamples int
	// Standalone tells the health rules that the node is alone by
	// configuration (it was given no seeds, so it waits to be joined): with
	// no peer at all it is Healthy "Standalone: no peers yet" instead of
	// Unhealthy "No peers connected". Default false.
	Standalone bool
}

// Config configures a Protocol. The zero value is not valid: start from
// DefaultConfig or a preset and change what you need. New copies the Config.
//
// Names follow the operations guide (snake_case there, CamelCase here):
// eager_fanout is EagerFanout and so on.
type Config struct {
	// MaxPeers bounds the active view: the links (eager + lazy) the node
	// holds, each held by both sides (opened by Join, closed by
	// Disconnect). 0 (the default) means EagerFanout + LazyFanout. A node
	// whose view is full refuses Joins, except from a node with no link at
	// all and from its protected ring neighbours, for which it drops one of
	// its own links. When set, at least EagerFanout + LazyFanout.
	MaxPeers int
	// EagerFanout is the number of eager peers the node aims for before the
	// tree prunes redundant links. Maintenance promotes while eager +
	// pruned-lazy peers < EagerFanout (or no eager peer is left): a node
	// whose redundant links were pruned does not refill. Default 2.
	EagerFanout int
	// LazyFanout bounds the lazy links (IHave targets): the lazy set never
	// holds more (a link demoted into a full lazy set makes the node drop
	// another lazy link, with a Disconnect), except when every lazy link
	// is a protected ring neighbour. Default 3.
	LazyFanout int
	// IHaveFanout bounds the lazy peers each message is announced to: at
	// most this many, a random subset per message. 0 (the default) means
	// every lazy peer (at most LazyFanout). Default 0.
	IHaveFanout int
	// MaxEagerPeers bounds the eager set below the active view's cap (0 =
	// the active view's cap). A node at the bound answers a first copy or a
	// link Graft from a lazy peer with a Prune, and links a peer it pulled
	// from only when the tree has stopped feeding it (three first copies in
	// a row pulled, or pushed a graft timeout after their announcement):
	// then it prunes the eager peer that pushed to it least recently to
	// make room. It keeps the tree from
	// growing hubs: a spanning tree's mean degree is just under 2, so a
	// bound of 3 keeps every node within 2× the mean. Default 3 (WAN and
	// large presets 4). Tree shaping (ShortcutSamples) needs 0.
	MaxEagerPeers int
	// MaxPassivePeers bounds the known members that are not in the active
	// view (repair candidates, anti-entropy targets). When it overflows, a
	// random passive member is forgotten, so the sample stays spread over
	// the membership. It also bounds the remembered removed peers.
	// Default 4096.
	MaxPassivePeers int

	// IHaveInterval is how often queued announcements are flushed to lazy
	// peers (and to eager ones, those of copies that came by anti-entropy
	// repair): a lazy link carries one IHave frame per interval under steady
	// load (more only when a queue reaches IHaveBatchSize first). A flush
	// comes the interval, give or take a quarter, after the first
	// announcement queued for it, by a hash of that message's id: the same
	// for every node, different for every message. Lower means faster
	// repair and more, smaller IHave frames. Default 200 ms.
	IHaveInterval time.Duration
	// IHaveBatchSize flushes a peer's queue as soon as this many
	// announcements are queued for it, so it also bounds the queue (and
	// an IHave frame). At most MaxIHaveBatch. Default 64.
	IHaveBatchSize int

	// MessageCacheTTL is the retention R: how long after its origin time a
	// message is kept to answer Grafts and anti-entropy (the store's TTL
	// counts from the origin time), and, with ClockSkew, the age bound of
	// every message (see ClockSkew). The guarantee is stated in its terms:
	// every message still stored by some live node reaches every live node
	// exactly once. Default 10 min (all presets).
	MessageCacheTTL time.Duration
	// MessageCacheMaxSize bounds the payloads kept (entries), and the
	// stored messages the stream summaries index for anti-entropy. With
	// the cache module, its byte bound (64 MiB by default) applies too.
	// Default 65,536: 10 min at 100 msg/s.
	MessageCacheMaxSize int
	// SeenTTL is how long the hop count and sender of a delivered message's
	// first copy are remembered (for HopOptimizationThreshold and duplicate
	// accounting; de-duplication uses the stream summaries, not this).
	// Default 2 × MessageCacheTTL when zero.
	SeenTTL time.Duration
	// SeenMaxSize bounds those remembered first copies. When full, the
	// oldest is forgotten (counted as a seen-map eviction). Default 100,000.
	SeenMaxSize int

	// OptimizationThreshold is how many duplicates an eager peer may send
	// before it is pruned (demoted to lazy). 1 is the paper's prune on the
	// first duplicate. Default 3.
	OptimizationThreshold int
	// PruneDelay spreads prune decisions over time: a peer is pruned at its
	// OptimizationThreshold-th duplicate, but not before a random delay in
	// [0, PruneDelay) after its (threshold-1)-th (a duplicate before that
	// only counts; the first one after it prunes). With many senders
	// sharing one tree, every edge of a cycle collects duplicates at once;
	// pruning on the spot, the nodes on the cycle prune several of its
	// edges within one round trip, split the tree, and the Grafts that
	// repair it create new cycles: the tree oscillates for as long as the
	// load lasts. The random delay lets the first prune take effect (and
	// the duplicates stop) before the others are due. It must be well above
	// the time a message takes to cross the tree; the presets use 2 ×
	// GraftTimeout. Cost: redundant links live up to PruneDelay longer.
	// 0 prunes at once. Threshold 1 (the paper) is never delayed.
	// Default 1 s (LAN 400 ms, WAN 2 s, large 1.5 s).
	PruneDelay time.Duration
	// HopOptimizationThreshold enables the paper's Algorithm 4: when an
	// IHave for a message already received reveals a path at least this
	// many hops shorter (the announcer's hop count + 1 <= ours - threshold),
	// the announcer is grafted and the eager sender pruned. 0 disables it.
	// The paper uses 3 (one sender) and 7 (many senders); with many
	// concurrent senders it keeps re-parenting (see the README). Default 0.
	HopOptimizationThreshold int
	// ShortcutSamples enables tree shaping for many senders (see
	// docs/design.md, "A shallow tree for many senders"): a node compares,
	// for each pair of an eager peer E and a lazy peer L, the hop count of
	// the messages whose first copy came from E with the hop count L
	// announces for them. After ShortcutSamples such announcements, if L's
	// paths are at least 1.5 hops shorter on average, L's link replaces E's
	// (L grafted, E pruned): the tree's total path length over all origins
	// goes down, so unlike Algorithm 4 it does not re-parent back and
	// forth. It needs MaxEagerPeers 0 (or at least the active view's cap):
	// the shaped tree has hubs. 0 disables it. Default 0 (off in every
	// preset): while it settles, each swap can lose a copy in flight, which
	// is then pulled a graft timeout late (see docs/design.md). 16 with
	// MaxEagerPeers 0 is what was measured.
	ShortcutSamples int

	// GraftTimeout is how long to wait after the first IHave for an unknown
	// message before sending a Graft — or less: the Graft goes out as soon
	// as the tree's copy is overdue by its age, when the message is older
	// than its origin's usual tree age here plus 1.25 × GraftTimeout (see
	// docs/design.md, "Pulls, not promotions"). Retries back off from it,
	// doubling, capped at 8 × GraftTimeout, each asking two announcers;
	// each wait is at least the answer timeout measured over the last 30 s
	// (the times from Grafts to their answers), itself capped at
	// 8 × GraftTimeout. Default 500 ms.
	GraftTimeout time.Duration
	// GraftMaxRetries is how many Grafts are retried after the first before
	// the message is given up as failed. Default 5.
	GraftMaxRetries int
	// GraftRateLimitPerSecond is the steady rate of Grafts answered per
	// requesting link. Grafts from senders that are no link of this node
	// share one bucket, and each is answered with at most
	// AntiEntropyBytes of payload. Default 10.
	GraftRateLimitPerSecond float64
	// GraftRateLimitBurst is the token bucket size of that limit. Default 20.
	GraftRateLimitBurst int
	// MaxPendingGrafts bounds the announced-but-missing messages tracked at
	// once; announcements beyond it are dropped and counted. Messages that
	// only senders which are no link of the node announced may take an
	// eighth of it. Default 10,000.
	MaxPendingGrafts int
	// MaxAnnouncers bounds the peers remembered per missing message.
	// Default 8.
	MaxAnnouncers int
	// MaxGraftsPerInterval bounds the ids pulled (Grafts with ids) per
	// graft-timeout interval; due pulls beyond it wait for the next
	// interval (counted as grafts_deferred). With the rule that a pull
	// changes no link unless the node got no first copy through the tree
	// for 2 × the graft timeout, it keeps a burst that only slows the tree
	// from multiplying the copies. Default 64.
	MaxGraftsPerInterval int

	// AntiEntropyBatch bounds the messages one anti-entropy answer sends:
	// a node that receives a digest sends at most this many of the stored
	// messages the digest says its sender lacks (oldest first) as Repair
	// messages. Every maintenance round each node sends one digest (its
	// stream summaries, see AntiEntropyDigestBytes) to one random known
	// member, which answers with the messages and its own digest, so a
	// round is a push-pull exchange. It repairs what Plumtree alone cannot:
	// every message a live node still stores reaches every live node after
	// a partition of any length, with or without later traffic, and a
	// restarted node catches up. 0 disables anti-entropy. Keep it below the
	// transport's send queue per peer (transport-tcp: 1,024 frames): one
	// answer goes out at once, and what does not fit is dropped (counted as
	// send errors) until a later round sends it again. Default 256.
	AntiEntropyBatch int
	// AntiEntropyBytes bounds the payload bytes of one anti-entropy answer
	// (the message that crosses it is still sent). Default 1 MiB.
	AntiEntropyBytes int
	// AntiEntropyMinAge: anti-entropy sends only messages at least this old
	// (by origin time), so it does not race the tree and its Grafts for
	// messages still in flight (a repair copy that beats the tree's copy
	// turns it into a duplicate, which prunes tree links). Below
	// MessageCacheTTL while anti-entropy is on: a message must be old
	// enough and still stored. It also bounds how long copies a pruned
	// peer had queued behind a backlog are taken as such (see
	// Protocol.SetBacklog). Default 5 s.
	AntiEntropyMinAge time.Duration
	// AntiEntropyDigestBytes bounds the encoded size of one digest. When
	// the stream summaries do not fit, successive digests rotate over the
	// streams. The size depends on the number of origins and their gaps,
	// never on the message rate. Default 16 KiB.
	AntiEntropyDigestBytes int
	// MaxStreams bounds the origins whose stream summaries are kept. When
	// full, the stream whose newest message is oldest is forgotten (counted
	// in StreamsForgotten): a copy of its messages still within the age
	// window could then be delivered again. Default 4096.
	MaxStreams int
	// MaxStreamGaps bounds the delivered runs kept above a stream's floor
	// (so the gaps between them). When a message opens one gap too many,
	// the lowest gap is given up: its messages are never delivered
	// (counted in GapsLost). Default 256.
	MaxStreamGaps int
	// ClockSkew is the clock difference between nodes the age rule
	// tolerates (S). A message whose origin time is more than
	// MessageCacheTTL + ClockSkew in the past, or more than ClockSkew in
	// the future, is refused: not delivered, stored, announced, grafted or
	// repaired. Default 30 s.
	ClockSkew time.Duration

	// MaxMessageSize bounds a payload (bytes). Default 64 KiB. At least
	// MinMessageSizeForLarge (298) unless MaxLargeMessageSize is 0: large
	// messages travel as chunks of this size.
	MaxMessageSize int

	// MaxLargeMessageSize bounds a large message (bytes): one sent with
	// node.Node.BroadcastLarge as chunks of at most MaxMessageSize (see
	// docs/design.md, "Large messages"). A larger one is refused at
	// publish, and a received one that declares more is dropped. A node's
	// BroadcastLarge calls in progress add up to at most this, and a
	// receiver assembles at most twice this of one origin (within
	// LargeAssemblyBytes). 0 disables large messages. Default 256 MiB, at
	// most 4 GiB.
	MaxLargeMessageSize int
	// LargeAssemblyBytes bounds the bytes a node holds in large messages
	// it has not received completely (its assembly budget); at least
	// MaxLargeMessageSize. Partial messages beyond it are evicted, oldest
	// first, and never delivered. Default 512 MiB.
	LargeAssemblyBytes int
	// LargeSendRate caps the bytes per second of large-message parts this
	// node publishes (bytes/s): one token bucket shared by all of the
	// node's node.Node.BroadcastLarge calls, holding one chunk's worth.
	// Each busy period starts at a random phase (its first part waits up
	// to two chunk times), so that nodes whose transfers begin together do
	// not send in step.
	// It bounds the large-message load an origin puts on the cluster
	// (every node receives, and relays forward, each byte once), leaving
	// CPU and bandwidth for ordinary messages (docs/design.md, "Large
	// messages", "Pacing"). Relays are not paced: the load a node
	// carries is about the sum of the rates of the origins sending at
	// once. 0 means no cap (the origin's adaptive pace alone); otherwise at
	// least MinLargeSendRate. Default 0.
	LargeSendRate int

	// MaintenanceInterval is the period of the peer maintenance (promote,
	// demote, refill), jittered by ± MaintenanceJitter. Default 2 s / 500 ms.
	MaintenanceInterval time.Duration
	MaintenanceJitter   time.Duration

	// UseHashRing places peers ∪ self on a ring sorted by a stable hash.
	UseHashRing bool
	// ProtectRingNeighbors keeps ring neighbours i±1, i±2 (up to
	// MaxProtectedNeighbors) in the active view: they are linked (a Join
	// they accept even when full) and never evicted, so the overlay stays
	// connected. They may be pruned to lazy like any link, so they cost
	// announcements, not payload copies. Needs UseHashRing.
	ProtectRingNeighbors  bool
	MaxProtectedNeighbors int

	// Health holds the health report's thresholds.
	Health HealthConfig

	// Seed seeds the Protocol's random choices (peer sampling, jitter,
	// anti-entropy targets). It is mixed with the node's own id, so nodes
	// sharing one Config still choose independently. The same seed, id and
	// inputs give the same outputs.
	Seed int64
}

// DefaultConfig returns the default configuration (the Rust crate's
// defaults).
func DefaultConfig() Config {
	return Config{
		EagerFanout:             2,
		LazyFanout:              3,
		MaxPassivePeers:         4096,
		IHaveInterval:           200 * time.Millisecond,
		IHaveBatchSize:          64,
		MessageCacheTTL:         10 * time.Minute,
		MessageCacheMaxSize:     65536,
		SeenMaxSize:             100000,
		OptimizationThreshold:   3,
		GraftTimeout:            500 * time.Millisecond,
		PruneDelay:              time.Second,
		GraftMaxRetries:         5,
		GraftRateLimitPerSecond: 10,
		GraftRateLimitBurst:     20,
		MaxPendingGrafts:        10000,
		MaxAnnouncers:           8,
		MaxGraftsPerInterval:    64,
		MaxEagerPeers:           3,
		AntiEntropyBatch:        256,
		AntiEntropyBytes:        1 << 20,
		AntiEntropyDigestBytes:  16 << 10,
		AntiEntropyMinAge:       5 * time.Second,
		MaxStreams:              4096,
		MaxStreamGaps:           256,
		ClockSkew:               30 * time.Second,
		MaxMessageSize:          64 << 10,
		MaxLargeMessageSize:     256 << 20, // a snapshot or a binary update in one message
		LargeAssemblyBytes:      512 << 20, // two largest messages assembling at once
		MaintenanceInterval:     2 * time.Second,
		MaintenanceJitter:       500 * time.Millisecond,
		UseHashRing:             false,
		ProtectRingNeighbors:    true,
		MaxProtectedNeighbors:   4,
		Health:                  DefaultHealthConfig(),
	}
}

// DefaultHealthConfig returns the health thresholds of the operations guide.
func DefaultHealthConfig() HealthConfig {
	return HealthConfig{
		FailureRateUnhealthy:     0.8,
		FailureRateDegraded:      0.3,
		PendingGraftsDegraded:    50,
		CacheUtilizationDegraded: 0.95,
		CacheRetentionDegraded:   30 * time.Second,
		MinPeersDegraded:         3,
		Window:                   5 * time.Minute,
		MinGraftSamples:          5,
	}
}

// activeCapacity is the active view's cap: MaxPeers, or EagerFanout +
// LazyFanout (Protocol.activeCap).
func (c Config) activeCapacity() int {
	if c.MaxPeers > 0 {
		return c.MaxPeers
	}
	return c.EagerFanout + c.LazyFanout
}

// LANConfig is tuned for a single data centre: low latency, fast repair.
func LANConfig() Config {
	c := DefaultConfig()
	c.IHaveInterval = 100 * time.Millisecond
	c.IHaveBatchSize = 32
	c.OptimizationThreshold = 2
	c.GraftTimeout = 200 * time.Millisecond
	c.PruneDelay = 400 * time.Millisecond
	c.GraftMaxRetries = 3
	c.GraftRateLimitPerSecond = 20
	c.GraftRateLimitBurst = 40
	c.MaintenanceInterval = time.Second
	c.MaintenanceJitter = 200 * time.Millisecond
	c.ProtectRingNeighbors = false
	c.MaxProtectedNeighbors = 2
	return c
}

// WANConfig is tuned for links across data centres: higher latency, more
// redundancy, patient grafts, a protected hash ring.
func WANConfig() Config {
	c := DefaultConfig()
	c.EagerFanout = 3
	c.LazyFanout = 4
	c.MaxEagerPeers = 4
	c.IHaveInterval = 300 * time.Millisecond
	c.OptimizationThreshold = 4
	c.GraftTimeout = time.Second
	c.PruneDelay = 2 * time.Second
	c.GraftMaxRetries = 7
	c.GraftRateLimitPerSecond = 5
	c.GraftRateLimitBurst = 15
	c.MaintenanceInterval = 5 * time.Second
	c.MaintenanceJitter = time.Second
	c.UseHashRing = true
	return c
}

// LargeClusterConfig is tuned for clusters of thousands of nodes: a
// protected hash ring, a larger cache, patient IHaves.
func LargeClusterConfig() Config {
	c := DefaultConfig()
	c.EagerFanout = 3
	c.LazyFanout = 4
	c.MaxEagerPeers = 4
	c.IHaveInterval = 250 * time.Millisecond
	c.MessageCacheMaxSize = 1 << 18
	c.IHaveBatchSize = 128
	c.OptimizationThreshold = 5
	c.GraftTimeout = 750 * time.Millisecond
	c.PruneDelay = 1500 * time.Millisecond
	c.GraftRateLimitBurst = 30
	c.MaintenanceInterval = 3 * time.Second
	c.MaintenanceJitter = 750 * time.Millisecond
	c.UseHashRing = true
	return c
}

// Preset returns the named preset: "default", "lan", "wan" or "large".
func Preset(name string) (Config, error) {
	switch name {
	case "default", "":
		return DefaultConfig(), nil
	case "lan":
		return LANConfig(), nil
	case "wan":
		return WANConfig(), nil
	case "large", "large-cluster", "large_cluster":
		return LargeClusterConfig(), nil
	}
	return Config{}, fmt.Errorf("%w: unknown preset %q (want default, lan, wan or large)", ErrInvalidConfig, name)
}

func fieldErr(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s %s", ErrInvalidConfig, field, fmt.Sprintf(format, args...))
}

// Validate reports the first field that is out of bounds, naming the field
// and the bound. It never panics.
func (c *Config) Validate() error {
	type intCheck struct {
		name     string
		v, lo    int
		hi       int // 0 = no upper bound
		zeroNone bool
	}
	checks := []intCheck{
		{name: "eager_fanout", v: c.EagerFanout, lo: 1, hi: 1024},
		{name: "lazy_fanout", v: c.LazyFanout, lo: 0, hi: 4096},
		{name: "ihave_fanout", v: c.IHaveFanout, lo: 0, hi: 1 << 20},
		{name: "max_peers", v: c.MaxPeers, lo: 0, zeroNone: true},
		{name: "max_eager_peers", v: c.MaxEagerPeers, lo: 0, zeroNone: true},
		{name: "max_passive_peers", v: c.MaxPassivePeers, lo: 1, hi: 1 << 20},
		{name: "ihave_batch_size", v: c.IHaveBatchSize, lo: 1, hi: MaxIHaveBatch},
		{name: "message_cache_max_size", v: c.MessageCacheMaxSize, lo: 1, hi: 1 << 26},
		{name: "seen_max_size", v: c.SeenMaxSize, lo: 1, hi: 1 << 26},
		{name: "optimization_threshold", v: c.OptimizationThreshold, lo: 1, hi: 1 << 20},
		{name: "hop_optimization_threshold", v: c.HopOptimizationThreshold, lo: 0, hi: 1 << 15},
		{name: "shortcut_samples", v: c.ShortcutSamples, lo: 0, hi: 1 << 20},
		{name: "graft_max_retries", v: c.GraftMaxRetries, lo: 0, hi: 64},
		{name: "graft_rate_limit_burst", v: c.GraftRateLimitBurst, lo: 1, hi: 1 << 20},
		{name: "max_pending_grafts", v: c.MaxPendingGrafts, lo: 1, hi: 1 << 24},
		{name: "max_announcers", v: c.MaxAnnouncers, lo: 1, hi: 64},
		{name: "max_grafts_per_interval", v: c.MaxGraftsPerInterval, lo: 1, hi: 1 << 20},
		{name: "anti_entropy_batch", v: c.AntiEntropyBatch, lo: 0, hi: 1 << 16},
		{name: "anti_entropy_bytes", v: c.AntiEntropyBytes, lo: 1, hi: 1 << 30},
		{name: "anti_entropy_digest_bytes", v: c.AntiEntropyDigestBytes, lo: 512, hi: MaxDigestBytes},
		{name: "max_streams", v: c.MaxStreams, lo: 1, hi: MaxStateStreams},
		{name: "max_stream_gaps", v: c.MaxStreamGaps, lo: 1, hi: MaxDigestRuns},
		{name: "max_message_size", v: c.MaxMessageSize, lo: 1, hi: MaxMessageSizeLimit},
		{name: "max_large_message_size", v: c.MaxLargeMessageSize, lo: 0, hi: MaxLargeMessageSizeLimit},
		{name: "large_assembly_bytes", v: c.LargeAssemblyBytes, lo: 0, hi: 1 << 40},
		{name: "large_send_rate", v: c.LargeSendRate, lo: 0, hi: 1 << 40},
		{name: "max_protected_neighbors", v: c.MaxProtectedNeighbors, lo: 0, hi: 4},
		{name: "health.pending_grafts_degraded", v: c.Health.PendingGraftsDegraded, lo: 0},
		{name: "health.min_peers_degraded", v: c.Health.MinPeersDegraded, lo: 0},
		{name: "health.min_graft_samples", v: c.Health.MinGraftSamples, lo: 0},
	}
	for _, k := range checks {
		if k.v < k.lo {
			return fieldErr(k.name, "is %d, must be at least %d", k.v, k.lo)
		}
		if k.hi > 0 && k.v > k.hi {
			return fieldErr(k.name, "is %d, must be at most %d", k.v, k.hi)
		}
	}
	type durCheck struct {
		name   string
		v      time.Duration
		lo, hi time.Duration
	}
	const day = 24 * time.Hour
	durs := []durCheck{
		{"ihave_interval", c.IHaveInterval, time.Millisecond, time.Hour},
		{"message_cache_ttl", c.MessageCacheTTL, time.Millisecond, 30 * day},
		{"seen_ttl", c.SeenTTL, 0, 60 * day},
		{"graft_timeout", c.GraftTimeout, time.Millisecond, time.Hour},
		{"prune_delay", c.PruneDelay, 0, time.Hour},
		{"clock_skew", c.ClockSkew, 0, day},
		{"anti_entropy_min_age", c.AntiEntropyMinAge, 0, time.Hour},
		{"maintenance_interval", c.MaintenanceInterval, time.Millisecond, day},
		{"maintenance_jitter", c.MaintenanceJitter, 0, day},
		{"health.window", c.Health.Window, time.Second, 30 * day},
		{"health.cache_retention_degraded", c.Health.CacheRetentionDegraded, 0, 30 * day},
	}
	for _, d := range durs {
		if d.v < d.lo {
			return fieldErr(d.name, "is %v, must be at least %v", d.v, d.lo)
		}
		if d.v > d.hi {
			return fieldErr(d.name, "is %v, must be at most %v", d.v, d.hi)
		}
	}
	if c.SeenTTL != 0 && c.SeenTTL < c.MessageCacheTTL {
		return fieldErr("seen_ttl", "is %v, must be 0 (2 × message_cache_ttl) or at least message_cache_ttl (%v)", c.SeenTTL, c.MessageCacheTTL)
	}
	if c.AntiEntropyBatch > 0 && c.AntiEntropyMinAge >= c.MessageCacheTTL {
		return fieldErr("anti_entropy_min_age", "is %v, must be below message_cache_ttl (%v) while anti-entropy is on (anti_entropy_batch > 0): it sends only messages at least that old and still stored, so it would send none", c.AntiEntropyMinAge, c.MessageCacheTTL)
	}
	if c.MaxLargeMessageSize > 0 && c.MaxMessageSize < MinMessageSizeForLarge {
		return fieldErr("max_message_size", "is %d, must be at least %d while large messages are on (max_large_message_size %d; 0 turns them off): they travel as chunks of max_message_size", c.MaxMessageSize, MinMessageSizeForLarge, c.MaxLargeMessageSize)
	}
	if c.LargeAssemblyBytes < c.MaxLargeMessageSize {
		return fieldErr("large_assembly_bytes", "is %d, must be at least max_large_message_size (%d)", c.LargeAssemblyBytes, c.MaxLargeMessageSize)
	}
	if c.LargeSendRate > 0 && c.LargeSendRate < MinLargeSendRate {
		return fieldErr("large_send_rate", "is %d, must be 0 (no cap) or at least %d bytes/s", c.LargeSendRate, MinLargeSendRate)
	}
	if c.MaintenanceJitter >= c.MaintenanceInterval {
		return fieldErr("maintenance_jitter", "is %v, must be less than maintenance_interval (%v)", c.MaintenanceJitter, c.MaintenanceInterval)
	}
	if !(c.GraftRateLimitPerSecond > 0) || c.GraftRateLimitPerSecond > 1e6 {
		return fieldErr("graft_rate_limit_per_second", "is %v, must be in (0, 1e6]", c.GraftRateLimitPerSecond)
	}
	if c.MaxPeers > 0 && c.MaxPeers < c.EagerFanout+c.LazyFanout {
		return fieldErr("max_peers", "is %d, must be 0 (none) or at least eager_fanout+lazy_fanout (%d)", c.MaxPeers, c.EagerFanout+c.LazyFanout)
	}
	if c.ShortcutSamples > 0 && c.MaxEagerPeers > 0 && c.MaxEagerPeers < c.activeCapacity() {
		return fieldErr("shortcut_samples", "is %d but max_eager_peers (%d) caps the eager links below the active view (%d): tree shaping moves links to central nodes and needs max_eager_peers 0", c.ShortcutSamples, c.MaxEagerPeers, c.activeCapacity())
	}
	if c.MaxEagerPeers > 0 && c.MaxEagerPeers < c.EagerFanout {
		return fieldErr("max_eager_peers", "is %d, must be 0 (none) or at least eager_fanout (%d)", c.MaxEagerPeers, c.EagerFanout)
	}
	if active := max(c.MaxPeers, c.EagerFanout+c.LazyFanout); c.UseHashRing && c.ProtectRingNeighbors && active < c.MaxProtectedNeighbors+1 {
		return fieldErr("max_protected_neighbors", "is %d, must be below the active view's size (%d: max_peers, or eager_fanout+lazy_fanout)", c.MaxProtectedNeighbors, active)
	}
	rates := []struct {
		name string
		v    float64
	}{
		{"health.failure_rate_unhealthy", c.Health.FailureRateUnhealthy},
		{"health.failure_rate_degraded", c.Health.FailureRateDegraded},
		{"health.cache_utilization_degraded", c.Health.CacheUtilizationDegraded},
	}
	for _, r := range rates {
		if !(r.v >= 0 && r.v <= 1) {
			return fieldErr(r.name, "is %v, must be in [0, 1]", r.v)
		}
	}
	if c.Health.FailureRateDegraded > c.Health.FailureRateUnhealthy {
		return fieldErr("health.failure_rate_degraded", "is %v, must be at most failure_rate_unhealthy (%v): a rate above both is Unhealthy first, so the Degraded rule could never fire", c.Health.FailureRateDegraded, c.Health.FailureRateUnhealthy)
	}
	return nil
}

// seenTTL returns the effective SeenTTL.
func (c *Config) seenTTL() time.Duration {
	if c.SeenTTL == 0 {
		return 2 * c.MessageCacheTTL
	}
	return c.SeenTTL
}
