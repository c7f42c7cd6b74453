package metricsprom

import (
	"time"

	"github.com/plumtree-go/plumtree/core"
)

// The source types below are defined here, not imported, so that this
// module depends on core only. A program adapts its runtime, transport,
// membership and cache statistics to them with a small function (see the
// README); a field the program cannot fill stays zero.

// RuntimeStats is what the runtime driving a core.Protocol (core/node)
// reports about itself. The fields have the names of core/node's
// RuntimeStats, so the adapter is a field-by-field copy.
type RuntimeStats struct {
	DeliveryQueueLen int // deliveries and hooks waiting for the application
	DeliveryQueueCap int // capacity of the bounded delivery queue
	DeliveryOverflow int // items held beyond the bounded queue
	// DeliveryOverflowBytes is the payload bytes of the deliveries in the
	// overflow (bounded by node.WithDeliveryOverflowBytes).
	DeliveryOverflowBytes int64
	// DeliveryQueueBytes is the payload bytes of the deliveries in the
	// bounded queue (bounded by node.WithDeliveryQueueBytes).
	DeliveryQueueBytes int64
	ObserverQueueLen   int  // event batches waiting for the observers
	IntakePaused       bool // the runtime stopped reading its transport (overflow full)

	Backpressure     uint64 // broadcasts refused with core.ErrBackpressure
	AdmissionRefused uint64 // broadcasts refused by an admission function (any error)
	IntakePauses     uint64 // times the runtime stopped reading its transport
	HookDrops        uint64 // delegate hooks (never deliveries) dropped under overload
	FramesIn         uint64 // frames received from the transport
	FramesOut        uint64 // frames handed to the transport
	DecodeErrors     uint64 // inbound frames the codec rejected
	EncodeErrors     uint64 // outbound messages the codec refused
	SendErrors       uint64 // frames the transport refused
	ObserverDrops    uint64 // events dropped because the observer queue was full

	// Large messages (node.Stats().Large).
	LargeInFlight       int    // large messages partly received
	LargeBytes          int64  // assembly budget they reserve
	LargeDelivered      uint64 // large messages delivered (digest verified)
	LargeDeliveredBytes uint64 // their bytes
	LargeDigestFailures uint64 // large messages dropped for a wrong digest
	LargeEvicted        uint64 // partial large messages evicted for room
	LargeExpired        uint64 // partial large messages given up by age
	LargeRefused        uint64 // large-message parts refused
	LargeRepairs        uint64 // large-message parts the tree did not push (pulled or repaired)
}

// TransportStats is what a transport (for example transport-tcp) reports.
// The fields have the names of transport-tcp's Stats.
type TransportStats struct {
	BytesIn           uint64 // bytes received
	BytesOut          uint64 // bytes sent
	FramesIn          uint64 // frames received
	FramesOut         uint64 // frames sent
	Drops             uint64 // frames not written (refused, lost with a broken connection, discarded)
	QueueFull         uint64 // sends refused because the peer's queue was full (part of Drops)
	TooLarge          uint64 // sends refused because the frame was too large (part of Drops)
	Dials             uint64 // outbound connection attempts
	DialFailures      uint64 // outbound attempts that failed (connect error or handshake)
	Reconnects        uint64 // connections re-established to a peer that had one before
	HandshakeFailures uint64 // connections closed during set-up (bad hello, TLS, peer id, timeout)
	BadFrames         uint64 // connections closed for a bad frame
	Rejected          uint64 // accepted connections closed because of the connection limit
	Evicted           uint64 // idle connections closed: after the idle timeout, or to make room at the connection limit
	ReceiveDrops      uint64 // received frames dropped because the connection's receive queue stayed full
	AuthFailures      uint64 // hellos and frames no key of the keyring verifies (part of HandshakeFailures and BadFrames)
	StreamConns       uint64 // connections handed to the stream handler (memberlist sharing the port)

	QueueDepth        int // frames queued for sending, over all peers
	ReceiveQueueBytes int // bytes of received frames waiting in the connections' queues for the node
	ConnectedPeers    int // peers with a connection
	Writers           int // writer goroutines running (transport-tcp: one per peer with frames queued or a connection, one per bulk lane in use)
	Conns             int // established connections
	Streams           int // stream handler connections not closed yet
}

// MembershipStats is what the membership layer (for example the memberlist
// adapter) reports. The fields have the names of membership's Stats.
type MembershipStats struct {
	Members             int    // live members, the local node included
	Alive               int    // members applied to the protocol as peers
	Ignored             int    // live members ignored (no or foreign metadata)
	QueueLen            int    // member changes waiting to be applied
	JoinFailures        uint64 // join rounds that reached nobody
	SeedRejoinAttempts  uint64 // joins of static seeds missing from the live set
	SeedRejoins         uint64 // of which succeeded
	PartitionSuspicions uint64 // "Possible partition detected - cannot reach peers" warnings

	// Inbound memberlist streams (membership's stream guard). The refused
	// streams are exported by reason; their sum is membership's
	// StreamsRefused.
	StreamsAccepted         uint64 // checked and handed to memberlist
	StreamsRefusedBusy      uint64 // too many streams open or bytes held
	StreamsRefusedNodes     uint64 // push/pull announcing too many nodes
	StreamsRefusedSize      uint64 // message or announced length over the size limit
	StreamsRefusedMalformed uint64 // not memberlist, truncated, or too slow
	StreamsRefusedDecrypt   uint64 // encrypted with no installed key
	StreamsOpen             int64  // streams being checked or handled now
	StreamBytes             int64  // bytes held for open streams now
}

// CacheStats is what a message store (for example the cache module)
// reports beyond core.Store's Len and Capacity, which the core already
// exports as plumtree_cache_size and plumtree_cache_capacity. The fields
// follow the cache module's Stats (its Evictions struct flattened).
type CacheStats struct {
	Bytes    int64 // payload and header bytes held
	MaxBytes int64 // byte bound (0 = none)
	// LargeBytes is the part of Bytes held in large messages' parts under
	// their own bound, MaxLargeBytes (0: parts count as messages).
	LargeBytes    int64
	MaxLargeBytes int64

	Puts   uint64 // messages stored
	Hits   uint64 // lookups (Graft answers) that found the message
	Misses uint64 // lookups that did not

	EvictedTTL          uint64 // entries removed because their TTL passed
	EvictedCapacity     uint64 // entries evicted at the entry bound
	EvictedBytes        uint64 // entries evicted at the byte bound
	EvictedBackpressure uint64 // entries shed at a backpressure level

	Sweeps       uint64        // expiry sweeps run
	LastSweep    time.Duration // duration of the last sweep
	Retention    time.Duration // how far back, by origin time, the store holds messages
	Backpressure int           // current level: 0 none, 1 drop some, 2 drop most, 3 block new broadcasts
	Rejected     uint64        // broadcasts refused by the cache's admission check
}

// Options of a Collector's data sources. Each is read when the registry is
// scraped, never cached, so the metrics are never stale. A source that is
// not set exports nothing.
type sources struct {
	stats      func() core.Stats
	health     func() core.Health
	runtime    func() RuntimeStats
	transport  func() TransportStats
	membership func() MembershipStats
	cache      func() CacheStats
}
