package metricsprom

import (
	"errors"
	"sort"
	"sync"

	"github.com/plumtree-go/plumtree/core"
	"github.com/prometheus/client_golang/prometheus"
)

// Histogram buckets of the operations guide.
var (
	GraftLatencyBuckets = []float64{0.01, 0.05, 0.1, 0.5, 1, 5}
	MessageSizeBuckets  = []float64{100, 1024, 10 * 1024, 64 * 1024, 256 * 1024}
	MessageHopsBuckets  = []float64{1, 2, 3, 5, 10}
	IHaveBatchBuckets   = []float64{1, 4, 8, 16, 32, 64}
)

const (
	counter = prometheus.CounterValue
	gauge   = prometheus.GaugeValue
)

// metric is one scrape-time metric: a name, help, type and how to read the
// value from its source.
type metric[S any] struct {
	name string
	help string
	typ  prometheus.ValueType
	get  func(*S) float64
	// label, when set, is a variable label with one series per entry of
	// series (get is then unused).
	label  string
	series []series[S]
}

// mk returns a single-series metric.
func mk[S any](name, help string, typ prometheus.ValueType, get func(*S) float64) metric[S] {
	return metric[S]{name: name, help: help, typ: typ, get: get}
}

type series[S any] struct {
	value string
	get   func(*S) float64
}

func u64[S any](f func(*S) uint64) func(*S) float64 {
	return func(s *S) float64 { return float64(f(s)) }
}

func num[S any](f func(*S) int) func(*S) float64 {
	return func(s *S) float64 { return float64(f(s)) }
}

// statsMetrics are read from core.Stats. The first sixteen counters and
// eight gauges are the ones the operations guide names.
var statsMetrics = []metric[core.Stats]{
	mk("plumtree_messages_broadcast_total", "Messages broadcast by this node.", counter, u64(func(s *core.Stats) uint64 { return s.MessagesBroadcast })),
	mk("plumtree_messages_delivered_total", "Messages delivered to the application (each message once, including this node's own broadcasts).", counter, u64(func(s *core.Stats) uint64 { return s.MessagesDelivered })),
	mk("plumtree_messages_duplicate_total", "Payload copies received for messages already delivered.", counter, u64(func(s *core.Stats) uint64 { return s.MessagesDuplicate })),
	mk("plumtree_gossip_sent_total", "Gossip (payload) messages sent.", counter, u64(func(s *core.Stats) uint64 { return s.GossipSent })),
	mk("plumtree_ihave_sent_total", "IHave frames sent to lazy peers.", counter, u64(func(s *core.Stats) uint64 { return s.IHaveSent })),
	mk("plumtree_graft_sent_total", "Graft messages sent (including retries and link-only grafts).", counter, u64(func(s *core.Stats) uint64 { return s.GraftSent })),
	mk("plumtree_prune_sent_total", "Prune messages sent.", counter, u64(func(s *core.Stats) uint64 { return s.PruneSent })),
	mk("plumtree_peer_promotions_total", "Peers promoted to eager.", counter, u64(func(s *core.Stats) uint64 { return s.PeerPromotions })),
	mk("plumtree_peer_demotions_total", "Peers demoted from eager to lazy.", counter, u64(func(s *core.Stats) uint64 { return s.PeerDemotions })),
	mk("plumtree_peer_added_total", "Peers added by the membership layer.", counter, u64(func(s *core.Stats) uint64 { return s.PeerAdded })),
	mk("plumtree_peer_removed_total", "Peers removed by the membership layer.", counter, u64(func(s *core.Stats) uint64 { return s.PeerRemoved })),
	mk("plumtree_graft_success_total", "Missing messages obtained through a Graft.", counter, u64(func(s *core.Stats) uint64 { return s.GraftSuccess })),
	mk("plumtree_graft_failed_total", "Missing messages given up after the last Graft retry.", counter, u64(func(s *core.Stats) uint64 { return s.GraftFailed })),
	mk("plumtree_graft_retries_total", "Graft retries (Grafts after the first for a message).", counter, u64(func(s *core.Stats) uint64 { return s.GraftRetries })),
	mk("plumtree_seen_map_evictions_total", "Message ids forgotten by the de-duplication map because it was full.", counter, u64(func(s *core.Stats) uint64 { return s.SeenMapEvictions })),
	mk("plumtree_messages_partitioned_total", "Announced messages that could not be grafted because every announcer was removed or unreachable.", counter, u64(func(s *core.Stats) uint64 { return s.MessagesPartitioned })),

	mk("plumtree_eager_peers", "Peers in the eager set (payload is pushed to them).", gauge, num(func(s *core.Stats) int { return s.EagerPeers })),
	mk("plumtree_lazy_peers", "Peers in the lazy set (IHave announcements are sent to them).", gauge, num(func(s *core.Stats) int { return s.LazyPeers })),
	mk("plumtree_total_peers", "Peers in the active view (eager + lazy).", gauge, num(func(s *core.Stats) int { return s.TotalPeers })),
	mk("plumtree_cache_size", "Messages held in the message cache (payload store).", gauge, num(func(s *core.Stats) int { return s.CacheSize })),
	mk("plumtree_cache_capacity", "Largest number of messages the message cache holds.", gauge, num(func(s *core.Stats) int { return s.CacheCapacity })),
	mk("plumtree_seen_map_size", "Message ids remembered for de-duplication.", gauge, num(func(s *core.Stats) int { return s.SeenSize })),
	mk("plumtree_ihave_queue_size", "Announcements queued for lazy peers.", gauge, num(func(s *core.Stats) int { return s.IHaveQueueSize })),
	mk("plumtree_pending_grafts", "Announced messages not yet received (waiting for or retrying a Graft).", gauge, num(func(s *core.Stats) int { return s.PendingGrafts })),

	mk("plumtree_gossip_received_total", "Gossip (payload) messages received, first copies and duplicates.", counter, u64(func(s *core.Stats) uint64 { return s.GossipReceived })),
	mk("plumtree_ihave_received_total", "IHave frames received.", counter, u64(func(s *core.Stats) uint64 { return s.IHaveReceived })),
	mk("plumtree_graft_received_total", "Graft messages received.", counter, u64(func(s *core.Stats) uint64 { return s.GraftReceived })),
	mk("plumtree_prune_received_total", "Prune messages received.", counter, u64(func(s *core.Stats) uint64 { return s.PruneReceived })),
	mk("plumtree_graft_rate_limited_total", "Grafts from peers dropped by the rate limit, or cut short (from senders that are no link).", counter, u64(func(s *core.Stats) uint64 { return s.GraftRateLimited })),
	mk("plumtree_graft_unanswerable_total", "Grafts for messages no longer in the cache.", counter, u64(func(s *core.Stats) uint64 { return s.GraftUnanswerable })),
	mk("plumtree_ihave_dropped_total", "Announcements dropped because an IHave queue or the pending-graft bound was full.", counter, u64(func(s *core.Stats) uint64 { return s.IHaveDropped })),
	mk("plumtree_ihave_suppressed_total", "Queued announcements not sent because the lazy peer announced the same message first.", counter, u64(func(s *core.Stats) uint64 { return s.IHaveSuppressed })),
	mk("plumtree_invalid_messages_total", "Messages from peers the protocol rejected.", counter, u64(func(s *core.Stats) uint64 { return s.InvalidMessages })),
	mk("plumtree_passive_peers", "Known members outside the active view (repair candidates).", gauge, num(func(s *core.Stats) int { return s.PassivePeers })),
	mk("plumtree_protected_peers", "Ring neighbours protected from demotion.", gauge, num(func(s *core.Stats) int { return s.ProtectedPeers })),
	mk("plumtree_seen_map_capacity", "Largest number of message ids the de-duplication map remembers.", gauge, num(func(s *core.Stats) int { return s.SeenCapacity })),

	mk("plumtree_join_sent_total", "Link requests (Join) sent to passive members.", counter, u64(func(s *core.Stats) uint64 { return s.JoinSent })),
	mk("plumtree_join_received_total", "Link requests (Join) received.", counter, u64(func(s *core.Stats) uint64 { return s.JoinReceived })),
	mk("plumtree_join_rejected_total", "Link requests refused because the active view was full.", counter, u64(func(s *core.Stats) uint64 { return s.JoinRejected })),
	mk("plumtree_disconnect_sent_total", "Links dropped by this node (and stray links refused), each announced with a Disconnect.", counter, u64(func(s *core.Stats) uint64 { return s.DisconnectSent })),
	mk("plumtree_disconnect_received_total", "Links dropped by the peer (Disconnect received).", counter, u64(func(s *core.Stats) uint64 { return s.DisconnectReceived })),
	mk("plumtree_grafts_deferred_total", "Due pulls held back: by max_grafts_per_interval, while the node is overloaded, while the tree still delivers the origin or runs late, or at a burst's onset.", counter, u64(func(s *core.Stats) uint64 { return s.GraftsDeferred })),
	mk("plumtree_digest_sent_total", "Anti-entropy digests sent.", counter, u64(func(s *core.Stats) uint64 { return s.DigestSent })),
	mk("plumtree_digest_received_total", "Anti-entropy digests received.", counter, u64(func(s *core.Stats) uint64 { return s.DigestReceived })),
	mk("plumtree_digest_rate_limited_total", "Anti-entropy digests left unanswered by the per-peer rate limit.", counter, u64(func(s *core.Stats) uint64 { return s.DigestRateLimited })),
	mk("plumtree_repair_sent_total", "Messages sent by anti-entropy to a peer that lacked them.", counter, u64(func(s *core.Stats) uint64 { return s.RepairSent })),
	mk("plumtree_repair_received_total", "Messages received from anti-entropy, first copies and duplicates.", counter, u64(func(s *core.Stats) uint64 { return s.RepairReceived })),
	mk("plumtree_repair_duplicate_total", "Anti-entropy copies of messages already delivered.", counter, u64(func(s *core.Stats) uint64 { return s.RepairDuplicate })),
	mk("plumtree_age_refused_total", "Copies and announcements refused by the age rule (origin time outside retention plus clock skew).", counter, u64(func(s *core.Stats) uint64 { return s.AgeRefused })),
	mk("plumtree_gaps_lost_total", "Stream gaps given up (older than retention plus clock skew, or over max_stream_gaps): their messages are never delivered.", counter, u64(func(s *core.Stats) uint64 { return s.GapsLost })),
	mk("plumtree_streams_forgotten_total", "Stream summaries forgotten because max_streams was reached.", counter, u64(func(s *core.Stats) uint64 { return s.StreamsForgotten })),
	mk("plumtree_streams_not_learnt_total", "Origins listed in peers' digests that were not tracked: the stream table was full, or an eighth of it held streams learnt from digests with nothing delivered yet.", counter, u64(func(s *core.Stats) uint64 { return s.StreamsNotLearnt })),
	mk("plumtree_streams", "Origins with a stream summary (delivered-message tracking).", gauge, num(func(s *core.Stats) int { return s.Streams })),
}

var healthMetrics = []metric[core.Health]{
	mk("plumtree_health_status", "Health verdict: 0 Healthy, 1 Degraded, 2 Unhealthy.", gauge, func(h *core.Health) float64 { return float64(h.Status) }),
	mk("plumtree_graft_failure_rate", "Graft failure rate within the health window (failed / (failed + successful)).", gauge, func(h *core.Health) float64 { return h.Delivery.GraftFailureRate }),
	mk("plumtree_cache_utilization", "Message cache utilization (size / capacity), as the health report computes it.", gauge, func(h *core.Health) float64 { return h.Cache.Utilization }),
	mk("plumtree_target_eager_peers", "Eager peers the node aims for: min(eager_fanout, peers known).", gauge, num(func(h *core.Health) int { return h.Peers.TargetEager })),
}

var runtimeMetrics = []metric[RuntimeStats]{
	mk("plumtree_delivery_queue_length", "Deliveries and delegate hooks waiting for the application.", gauge, num(func(s *RuntimeStats) int { return s.DeliveryQueueLen })),
	mk("plumtree_delivery_queue_capacity", "Capacity of the bounded delivery queue.", gauge, num(func(s *RuntimeStats) int { return s.DeliveryQueueCap })),
	mk("plumtree_delivery_overflow", "Deliveries and hooks held beyond the bounded delivery queue.", gauge, num(func(s *RuntimeStats) int { return s.DeliveryOverflow })),
	mk("plumtree_delivery_queue_bytes", "Payload bytes of the deliveries in the bounded delivery queue.", gauge, func(s *RuntimeStats) float64 { return float64(s.DeliveryQueueBytes) }),
	mk("plumtree_delivery_overflow_bytes", "Payload bytes of the deliveries held beyond the bounded delivery queue.", gauge, func(s *RuntimeStats) float64 { return float64(s.DeliveryOverflowBytes) }),
	mk("plumtree_observer_queue_length", "Event batches waiting for the observers.", gauge, num(func(s *RuntimeStats) int { return s.ObserverQueueLen })),
	mk("plumtree_intake_paused", "1 while the node does not read its transport because the application is too slow, else 0.", gauge, func(s *RuntimeStats) float64 {
		if s.IntakePaused {
			return 1
		}
		return 0
	}),
	mk("plumtree_broadcast_backpressure_total", "Broadcasts refused with a backpressure error.", counter, u64(func(s *RuntimeStats) uint64 { return s.Backpressure })),
	mk("plumtree_broadcast_admission_refused_total", "Broadcasts refused by an admission check (any error).", counter, u64(func(s *RuntimeStats) uint64 { return s.AdmissionRefused })),
	mk("plumtree_intake_pauses_total", "Times the node stopped reading its transport because the application was too slow.", counter, u64(func(s *RuntimeStats) uint64 { return s.IntakePauses })),
	mk("plumtree_hook_dropped_total", "Delegate hooks (never deliveries) dropped under overload.", counter, u64(func(s *RuntimeStats) uint64 { return s.HookDrops })),
	mk("plumtree_frames_received_total", "Frames the node received from its transport.", counter, u64(func(s *RuntimeStats) uint64 { return s.FramesIn })),
	mk("plumtree_frames_sent_total", "Frames the node handed to its transport.", counter, u64(func(s *RuntimeStats) uint64 { return s.FramesOut })),
	mk("plumtree_decode_errors_total", "Inbound frames that failed to decode.", counter, u64(func(s *RuntimeStats) uint64 { return s.DecodeErrors })),
	mk("plumtree_encode_errors_total", "Outbound messages that failed to encode.", counter, u64(func(s *RuntimeStats) uint64 { return s.EncodeErrors })),
	mk("plumtree_send_errors_total", "Outbound frames the transport refused.", counter, u64(func(s *RuntimeStats) uint64 { return s.SendErrors })),
	mk("plumtree_observer_dropped_events_total", "Observer events dropped because the observer queue was full.", counter, u64(func(s *RuntimeStats) uint64 { return s.ObserverDrops })),
	mk("plumtree_large_in_flight", "Large messages partly received.", gauge, num(func(s *RuntimeStats) int { return s.LargeInFlight })),
	mk("plumtree_large_assembly_bytes", "Bytes of the assembly budget reserved by partly received large messages.", gauge, func(s *RuntimeStats) float64 { return float64(s.LargeBytes) }),
	mk("plumtree_large_delivered_total", "Large messages delivered, digest verified.", counter, u64(func(s *RuntimeStats) uint64 { return s.LargeDelivered })),
	mk("plumtree_large_delivered_bytes_total", "Bytes of the large messages delivered.", counter, u64(func(s *RuntimeStats) uint64 { return s.LargeDeliveredBytes })),
	mk("plumtree_large_digest_failures_total", "Large messages complete but with a wrong SHA-256: dropped, never delivered.", counter, u64(func(s *RuntimeStats) uint64 { return s.LargeDigestFailures })),
	mk("plumtree_large_evicted_total", "Partly received large messages evicted because the assembly budget was full.", counter, u64(func(s *RuntimeStats) uint64 { return s.LargeEvicted })),
	mk("plumtree_large_expired_total", "Partly received large messages given up because their missing parts could no longer arrive.", counter, u64(func(s *RuntimeStats) uint64 { return s.LargeExpired })),
	mk("plumtree_large_part_repairs_total", "Large-message parts the tree did not push: pulled after an announcement or sent by anti-entropy repair.", counter, u64(func(s *RuntimeStats) uint64 { return s.LargeRepairs })),
	mk("plumtree_large_refused_total", "Large-message parts refused (size, budget, age or inconsistent geometry).", counter, u64(func(s *RuntimeStats) uint64 { return s.LargeRefused })),
}

var transportMetrics = []metric[TransportStats]{
	mk("plumtree_transport_received_bytes_total", "Bytes received by the transport.", counter, u64(func(s *TransportStats) uint64 { return s.BytesIn })),
	mk("plumtree_transport_sent_bytes_total", "Bytes sent by the transport.", counter, u64(func(s *TransportStats) uint64 { return s.BytesOut })),
	mk("plumtree_transport_received_frames_total", "Frames received by the transport.", counter, u64(func(s *TransportStats) uint64 { return s.FramesIn })),
	mk("plumtree_transport_sent_frames_total", "Frames sent by the transport.", counter, u64(func(s *TransportStats) uint64 { return s.FramesOut })),
	mk("plumtree_transport_dropped_frames_total", "Frames the transport did not write (refused, lost with a broken connection, discarded).", counter, u64(func(s *TransportStats) uint64 { return s.Drops })),
	mk("plumtree_transport_queue_full_total", "Sends refused because the peer's send queue was full.", counter, u64(func(s *TransportStats) uint64 { return s.QueueFull })),
	mk("plumtree_transport_too_large_total", "Sends refused because the frame was too large.", counter, u64(func(s *TransportStats) uint64 { return s.TooLarge })),
	mk("plumtree_transport_dials_total", "Outbound connection attempts.", counter, u64(func(s *TransportStats) uint64 { return s.Dials })),
	mk("plumtree_transport_dial_failures_total", "Outbound connection attempts that failed.", counter, u64(func(s *TransportStats) uint64 { return s.DialFailures })),
	mk("plumtree_transport_reconnects_total", "Connections re-established to a peer that had one before.", counter, u64(func(s *TransportStats) uint64 { return s.Reconnects })),
	mk("plumtree_transport_handshake_failures_total", "Connections closed during set-up (bad hello, TLS, peer id, timeout).", counter, u64(func(s *TransportStats) uint64 { return s.HandshakeFailures })),
	mk("plumtree_transport_bad_frames_total", "Connections closed because of a bad frame.", counter, u64(func(s *TransportStats) uint64 { return s.BadFrames })),
	mk("plumtree_transport_rejected_connections_total", "Accepted connections closed because of the connection limit.", counter, u64(func(s *TransportStats) uint64 { return s.Rejected })),
	mk("plumtree_transport_evicted_connections_total", "Idle connections closed: after the idle timeout (peers that are not overlay links), or to make room for a new one at the connection limit.", counter, u64(func(s *TransportStats) uint64 { return s.Evicted })),
	mk("plumtree_transport_receive_dropped_frames_total", "Received frames dropped because the connection's receive queue stayed full (the node did not read fast enough).", counter, u64(func(s *TransportStats) uint64 { return s.ReceiveDrops })),
	mk("plumtree_transport_auth_failures_total", "Hellos and frames no key of the keyring verifies (part of the handshake failures and bad frames).", counter, u64(func(s *TransportStats) uint64 { return s.AuthFailures })),
	mk("plumtree_transport_stream_connections_total", "Connections handed to the stream handler (another protocol sharing the port, such as memberlist).", counter, u64(func(s *TransportStats) uint64 { return s.StreamConns })),
	mk("plumtree_transport_queue_depth", "Frames waiting in the transport's send queues.", gauge, num(func(s *TransportStats) int { return s.QueueDepth })),
	mk("plumtree_transport_receive_queue_bytes", "Bytes of received frames waiting in the connections' queues for the node to take them.", gauge, num(func(s *TransportStats) int { return s.ReceiveQueueBytes })),
	mk("plumtree_transport_connected_peers", "Peers with an established transport connection.", gauge, num(func(s *TransportStats) int { return s.ConnectedPeers })),
	mk("plumtree_transport_writers", "Writer goroutines running: one per peer with frames queued or a connection open, and one per bulk lane in use; a writer idle without a connection ends.", gauge, num(func(s *TransportStats) int { return s.Writers })),
	mk("plumtree_transport_connections", "Established transport connections.", gauge, num(func(s *TransportStats) int { return s.Conns })),
	mk("plumtree_transport_streams", "Stream handler connections not closed yet.", gauge, num(func(s *TransportStats) int { return s.Streams })),
}

var membershipMetrics = []metric[MembershipStats]{
	mk("plumtree_membership_members", "Live members seen by the membership layer, including this node.", gauge, num(func(s *MembershipStats) int { return s.Members })),
	mk("plumtree_membership_alive_peers", "Members applied to the protocol as peers.", gauge, num(func(s *MembershipStats) int { return s.Alive })),
	mk("plumtree_membership_ignored_members", "Live members not made peers (no or foreign metadata).", gauge, num(func(s *MembershipStats) int { return s.Ignored })),
	mk("plumtree_membership_queue_length", "Member changes waiting to be applied to the protocol.", gauge, num(func(s *MembershipStats) int { return s.QueueLen })),
	mk("plumtree_membership_join_failures_total", "Join rounds that reached no member.", counter, u64(func(s *MembershipStats) uint64 { return s.JoinFailures })),
	mk("plumtree_membership_seed_rejoin_attempts_total", "Joins of static seeds missing from the live members.", counter, u64(func(s *MembershipStats) uint64 { return s.SeedRejoinAttempts })),
	mk("plumtree_membership_seed_rejoins_total", "Seed re-joins that succeeded.", counter, u64(func(s *MembershipStats) uint64 { return s.SeedRejoins })),
	mk("plumtree_membership_partition_suspicions_total", "Times a network partition was suspected (\"Possible partition detected\" log line).", counter, u64(func(s *MembershipStats) uint64 { return s.PartitionSuspicions })),
	mk("plumtree_membership_streams_accepted_total", "Inbound memberlist streams checked and handed to memberlist.", counter, u64(func(s *MembershipStats) uint64 { return s.StreamsAccepted })),
	{name: "plumtree_membership_streams_refused_total", help: "Inbound memberlist streams closed before memberlist read them, by reason.", typ: counter, label: "reason", series: []series[MembershipStats]{
		{"busy", u64(func(s *MembershipStats) uint64 { return s.StreamsRefusedBusy })},
		{"nodes", u64(func(s *MembershipStats) uint64 { return s.StreamsRefusedNodes })},
		{"size", u64(func(s *MembershipStats) uint64 { return s.StreamsRefusedSize })},
		{"malformed", u64(func(s *MembershipStats) uint64 { return s.StreamsRefusedMalformed })},
		{"decrypt", u64(func(s *MembershipStats) uint64 { return s.StreamsRefusedDecrypt })},
	}},
	mk("plumtree_membership_streams_open", "Inbound memberlist streams being checked or handled now.", gauge, func(s *MembershipStats) float64 { return float64(s.StreamsOpen) }),
	mk("plumtree_membership_stream_bytes", "Bytes held for open inbound memberlist streams now.", gauge, func(s *MembershipStats) float64 { return float64(s.StreamBytes) }),
}

var cacheMetrics = []metric[CacheStats]{
	{name: "plumtree_cache_bytes", help: "Payload and header bytes held in the message cache.", typ: gauge, get: func(s *CacheStats) float64 { return float64(s.Bytes) }},
	{name: "plumtree_cache_max_bytes", help: "Byte bound of the message cache (0 = none).", typ: gauge, get: func(s *CacheStats) float64 { return float64(s.MaxBytes) }},
	{name: "plumtree_cache_large_bytes", help: "Bytes of large messages' parts held in the message cache under their own bound (included in plumtree_cache_bytes).", typ: gauge, get: func(s *CacheStats) float64 { return float64(s.LargeBytes) }},
	{name: "plumtree_cache_large_max_bytes", help: "Byte bound of the large messages' parts in the message cache (0 = parts are stored as ordinary messages).", typ: gauge, get: func(s *CacheStats) float64 { return float64(s.MaxLargeBytes) }},
	{name: "plumtree_cache_puts_total", help: "Messages stored in the message cache.", typ: counter, get: u64(func(s *CacheStats) uint64 { return s.Puts })},
	{name: "plumtree_cache_hits_total", help: "Cache lookups (Graft answers) that found the message.", typ: counter, get: u64(func(s *CacheStats) uint64 { return s.Hits })},
	{name: "plumtree_cache_misses_total", help: "Cache lookups that did not find the message.", typ: counter, get: u64(func(s *CacheStats) uint64 { return s.Misses })},
	{name: "plumtree_cache_evictions_total", help: "Entries removed from the message cache, by reason.", typ: counter, label: "reason", series: []series[CacheStats]{
		{"ttl", u64(func(s *CacheStats) uint64 { return s.EvictedTTL })},
		{"capacity", u64(func(s *CacheStats) uint64 { return s.EvictedCapacity })},
		{"bytes", u64(func(s *CacheStats) uint64 { return s.EvictedBytes })},
		{"backpressure", u64(func(s *CacheStats) uint64 { return s.EvictedBackpressure })},
	}},
	{name: "plumtree_cache_sweeps_total", help: "Cache expiry sweeps run.", typ: counter, get: u64(func(s *CacheStats) uint64 { return s.Sweeps })},
	{name: "plumtree_cache_last_sweep_duration_seconds", help: "Duration of the last cache expiry sweep.", typ: gauge, get: func(s *CacheStats) float64 { return s.LastSweep.Seconds() }},
	{name: "plumtree_cache_retention_seconds", help: "How far back, by message origin time, the message cache holds messages: its TTL unless it evicted a live message for room within the last TTL.", typ: gauge, get: func(s *CacheStats) float64 { return s.Retention.Seconds() }},
	{name: "plumtree_cache_backpressure_level", help: "Cache backpressure level: 0 none, 1 drop some, 2 drop most, 3 block new broadcasts.", typ: gauge, get: num(func(s *CacheStats) int { return s.Backpressure })},
	{name: "plumtree_cache_admission_rejected_total", help: "Broadcasts refused by the cache's admission check.", typ: counter, get: u64(func(s *CacheStats) uint64 { return s.Rejected })},
}

// Histogram names and help.
const (
	graftLatencyName = "plumtree_graft_latency_seconds"
	messageSizeName  = "plumtree_message_size_bytes"
	messageHopsName  = "plumtree_message_hops"
	ihaveBatchName   = "plumtree_ihave_batch_size"
)

// MetricNames returns the name of every metric a Collector can export,
// sorted. Histograms are listed by their base name (the exposition adds
// _bucket, _sum and _count).
func MetricNames() []string {
	var names []string
	for _, m := range statsMetrics {
		names = append(names, m.name)
	}
	for _, m := range healthMetrics {
		names = append(names, m.name)
	}
	for _, m := range runtimeMetrics {
		names = append(names, m.name)
	}
	for _, m := range transportMetrics {
		names = append(names, m.name)
	}
	for _, m := range membershipMetrics {
		names = append(names, m.name)
	}
	for _, m := range cacheMetrics {
		names = append(names, m.name)
	}
	names = append(names, graftLatencyName, messageSizeName, messageHopsName, ihaveBatchName)
	sort.Strings(names)
	return names
}

// descs holds the descriptors of one metric table, in table order.
type descs[S any] struct {
	table []metric[S]
	d     []*prometheus.Desc
}

func newDescs[S any](table []metric[S], labels prometheus.Labels) descs[S] {
	ds := descs[S]{table: table, d: make([]*prometheus.Desc, len(table))}
	for i, m := range table {
		var variable []string
		if m.label != "" {
			variable = []string{m.label}
		}
		ds.d[i] = prometheus.NewDesc(m.name, m.help, variable, labels)
	}
	return ds
}

func (ds *descs[S]) describe(ch chan<- *prometheus.Desc) {
	for _, d := range ds.d {
		ch <- d
	}
}

func (ds *descs[S]) collect(ch chan<- prometheus.Metric, src func() S) {
	if src == nil {
		return
	}
	s := src()
	for i, m := range ds.table {
		if m.label == "" {
			ch <- prometheus.MustNewConstMetric(ds.d[i], m.typ, m.get(&s))
			continue
		}
		for _, x := range m.series {
			ch <- prometheus.MustNewConstMetric(ds.d[i], m.typ, x.get(&s), x.value)
		}
	}
}

// Collector exports one node's plumtree_* metrics. Counters and gauges are
// read from the node's sources when the registry is scraped (the
// client_golang DBStatsCollector pattern), so they are never stale;
// histograms are fed by core events through Observe.
//
// A Collector is safe for concurrent use: Observe may run on the runtime's
// observer goroutine while a scrape runs on an HTTP goroutine. Register it
// with one registry (prometheus.Registerer.Register). Several nodes in one
// process use one Collector each, either in a registry of their own or in a
// shared registry with a distinct WithNode label.
type Collector struct {
	mu  sync.Mutex
	src sources

	stats      descs[core.Stats]
	health     descs[core.Health]
	runtime    descs[RuntimeStats]
	transport  descs[TransportStats]
	membership descs[MembershipStats]
	cache      descs[CacheStats]

	graftLatency prometheus.Histogram
	messageSize  prometheus.Histogram
	messageHops  prometheus.Histogram
	ihaveBatch   prometheus.Histogram
}

// Option configures a Collector.
type Option func(*config)

type config struct {
	labels prometheus.Labels
	src    sources
}

// WithNode adds the constant label node=name to every metric, so that the
// collectors of several nodes can share one registry.
func WithNode(name string) Option {
	return WithConstLabels(prometheus.Labels{"node": name})
}

// WithConstLabels adds constant labels to every metric.
func WithConstLabels(l prometheus.Labels) Option {
	return func(c *config) {
		if c.labels == nil {
			c.labels = prometheus.Labels{}
		}
		for k, v := range l {
			c.labels[k] = v
		}
	}
}

// WithStats sets the source of the core counters and gauges; see
// Collector.SetStats.
func WithStats(f func() core.Stats) Option { return func(c *config) { c.src.stats = f } }

// WithHealth sets the source of the health gauges; see Collector.SetHealth.
func WithHealth(f func() core.Health) Option { return func(c *config) { c.src.health = f } }

// WithRuntime sets the source of the runtime metrics; see
// Collector.SetRuntime.
func WithRuntime(f func() RuntimeStats) Option { return func(c *config) { c.src.runtime = f } }

// WithTransport sets the source of the transport metrics; see
// Collector.SetTransport.
func WithTransport(f func() TransportStats) Option { return func(c *config) { c.src.transport = f } }

// WithMembership sets the source of the membership metrics; see
// Collector.SetMembership.
func WithMembership(f func() MembershipStats) Option {
	return func(c *config) { c.src.membership = f }
}

// WithCache sets the source of the cache metrics; see Collector.SetCache.
func WithCache(f func() CacheStats) Option { return func(c *config) { c.src.cache = f } }

// New returns a Collector. Sources can be given now (With* options) or later
// (Set* methods): a runtime that takes the Collector as its observer exists
// only after the Collector does. Metrics of a source that is not set are not
// exported; the four histograms are always exported.
func New(opts ...Option) *Collector {
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	l := cfg.labels
	hist := func(name, help string, buckets []float64) prometheus.Histogram {
		return prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets, ConstLabels: l})
	}
	return &Collector{
		src:        cfg.src,
		stats:      newDescs(statsMetrics, l),
		health:     newDescs(healthMetrics, l),
		runtime:    newDescs(runtimeMetrics, l),
		transport:  newDescs(transportMetrics, l),
		membership: newDescs(membershipMetrics, l),
		cache:      newDescs(cacheMetrics, l),
		graftLatency: hist(graftLatencyName,
			"Time from the first Graft for a missing message to the message's arrival.", GraftLatencyBuckets),
		messageSize: hist(messageSizeName,
			"Payload size of the messages delivered (received and broadcast).", MessageSizeBuckets),
		messageHops: hist(messageHopsName,
			"Hop count with which messages from other nodes were delivered (1 = straight from the origin).", MessageHopsBuckets),
		ihaveBatch: hist(ihaveBatchName,
			"Announcements per IHave frame sent.", IHaveBatchBuckets),
	}
}

// Register creates a Collector and registers it with reg (never the global
// registry unless reg is it).
func Register(reg prometheus.Registerer, opts ...Option) (*Collector, error) {
	if reg == nil {
		return nil, errors.New("metricsprom: nil Registerer")
	}
	c := New(opts...)
	if err := reg.Register(c); err != nil {
		return nil, err
	}
	return c, nil
}

// SetStats sets the function that returns the node's core.Stats (for a
// core/node Node: func() core.Stats { return n.Stats().Stats }). It is
// called once per scrape, on the scraping goroutine.
func (c *Collector) SetStats(f func() core.Stats) { c.mu.Lock(); c.src.stats = f; c.mu.Unlock() }

// SetHealth sets the function that returns the node's health report (for a
// core/node Node: n.Health). It is called once per scrape.
func (c *Collector) SetHealth(f func() core.Health) { c.mu.Lock(); c.src.health = f; c.mu.Unlock() }

// SetRuntime sets the function that returns the runtime's statistics.
func (c *Collector) SetRuntime(f func() RuntimeStats) { c.mu.Lock(); c.src.runtime = f; c.mu.Unlock() }

// SetTransport sets the function that returns the transport's statistics.
func (c *Collector) SetTransport(f func() TransportStats) {
	c.mu.Lock()
	c.src.transport = f
	c.mu.Unlock()
}

// SetMembership sets the function that returns the membership statistics.
func (c *Collector) SetMembership(f func() MembershipStats) {
	c.mu.Lock()
	c.src.membership = f
	c.mu.Unlock()
}

// SetCache sets the function that returns the message cache's statistics.
func (c *Collector) SetCache(f func() CacheStats) { c.mu.Lock(); c.src.cache = f; c.mu.Unlock() }

// Describe implements prometheus.Collector. It describes every metric the
// Collector can export, whichever sources are set.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	c.stats.describe(ch)
	c.health.describe(ch)
	c.runtime.describe(ch)
	c.transport.describe(ch)
	c.membership.describe(ch)
	c.cache.describe(ch)
	c.graftLatency.Describe(ch)
	c.messageSize.Describe(ch)
	c.messageHops.Describe(ch)
	c.ihaveBatch.Describe(ch)
}

// Collect implements prometheus.Collector: it reads every source that is
// set and the histograms.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	src := c.src
	c.mu.Unlock()
	c.stats.collect(ch, src.stats)
	c.health.collect(ch, src.health)
	c.runtime.collect(ch, src.runtime)
	c.transport.collect(ch, src.transport)
	c.membership.collect(ch, src.membership)
	c.cache.collect(ch, src.cache)
	c.graftLatency.Collect(ch)
	c.messageSize.Collect(ch)
	c.messageHops.Collect(ch)
	c.ihaveBatch.Collect(ch)
}

// Observe feeds the histograms from a batch of core events. It has the shape
// of core/node's Observer, so a Collector is passed to node.WithObserver
// directly; a program driving core.Protocol itself calls it with
// Output.Events after each Drain. It keeps nothing of the batch.
//
//   - EventDelivered: plumtree_message_size_bytes (Size) and, for a message
//     received from another node (Hops > 0), plumtree_message_hops (Hops:
//     the real hop count, 1 = straight from the origin).
//   - EventGraftSuccess: plumtree_graft_latency_seconds (Latency, from the
//     first Graft to the message's arrival).
//   - EventIHaveSent: plumtree_ihave_batch_size (Count).
//
// Every counter is read from Stats at scrape time instead, so Observe
// never double counts.
func (c *Collector) Observe(events []core.Event) {
	for i := range events {
		e := &events[i]
		switch e.Kind {
		case core.EventDelivered:
			c.messageSize.Observe(float64(e.Size))
			if e.Hops > 0 {
				c.messageHops.Observe(float64(e.Hops))
			}
		case core.EventGraftSuccess:
			c.graftLatency.Observe(e.Latency.Seconds())
		case core.EventIHaveSent:
			c.ihaveBatch.Observe(float64(e.Count))
		}
	}
}

var _ prometheus.Collector = (*Collector)(nil)
