package core

import (
	"encoding/json"
	"time"
)

// Counters are the cumulative counts since New. Every field has a metric of
// the same meaning (see EventKind).
type Counters struct {
	MessagesBroadcast   uint64 `json:"messages_broadcast"`
	MessagesDelivered   uint64 `json:"messages_delivered"`
	MessagesDuplicate   uint64 `json:"messages_duplicate"`
	GossipSent          uint64 `json:"gossip_sent"`
	IHaveSent           uint64 `json:"ihave_sent"`
	GraftSent           uint64 `json:"graft_sent"`
	PruneSent           uint64 `json:"prune_sent"`
	GossipReceived      uint64 `json:"gossip_received"`
	IHaveReceived       uint64 `json:"ihave_received"`
	GraftReceived       uint64 `json:"graft_received"`
	PruneReceived       uint64 `json:"prune_received"`
	PeerPromotions      uint64 `json:"peer_promotions"`
	PeerDemotions       uint64 `json:"peer_demotions"`
	PeerAdded           uint64 `json:"peer_added"`
	PeerRemoved         uint64 `json:"peer_removed"`
	GraftSuccess        uint64 `json:"graft_success"`
	GraftFailed         uint64 `json:"graft_failed"`
	GraftRetries        uint64 `json:"graft_retries"`
	SeenMapEvictions    uint64 `json:"seen_map_evictions"`
	MessagesPartitioned uint64 `json:"messages_partitioned"`
	GraftRateLimited    uint64 `json:"graft_rate_limited"`
	GraftUnanswerable   uint64 `json:"graft_unanswerable"`
	IHaveDropped        uint64 `json:"ihave_dropped"`
	IHaveSuppressed     uint64 `json:"ihave_suppressed"` // queued announcements not sent: the lazy peer announced the message to us first
	InvalidMessages     uint64 `json:"invalid_messages"`
	JoinSent            uint64 `json:"join_sent"`           // link requests sent
	JoinReceived        uint64 `json:"join_received"`       // link requests received
	JoinRejected        uint64 `json:"join_rejected"`       // link requests refused (active view full)
	DisconnectSent      uint64 `json:"disconnect_sent"`     // links dropped by this node (and stray links refused)
	DisconnectReceived  uint64 `json:"disconnect_received"` // links dropped by the peer
	GraftsDeferred      uint64 `json:"grafts_deferred"`     // due Grafts held back (max_grafts_per_interval, overload, a busy or late tree, a burst's onset)

	// Anti-entropy and the age rule.
	DigestSent        uint64 `json:"digest_sent"`
	DigestReceived    uint64 `json:"digest_received"`
	DigestRateLimited uint64 `json:"digest_rate_limited"` // digests left unanswered by the per-peer rate limit (digestAnswerBurst)
	RepairSent        uint64 `json:"repair_sent"`
	RepairReceived    uint64 `json:"repair_received"`
	RepairDuplicate   uint64 `json:"repair_duplicate"`   // repair copies of messages already delivered
	AgeRefused        uint64 `json:"age_refused"`        // copies refused by the age rule
	GapsLost          uint64 `json:"gaps_lost"`          // stream gaps given up (too old or over max_stream_gaps)
	StreamsForgotten  uint64 `json:"streams_forgotten"`  // streams forgotten because max_streams was reached
	StreamsNotLearnt  uint64 `json:"streams_not_learnt"` // origins a digest listed that were not tracked (the table full, or an eighth of it streams learnt so)
}

// Stats is a snapshot of a Protocol's state and counters.
type Stats struct {
	EagerPeers     int `json:"eager_peers"`
	LazyPeers      int `json:"lazy_peers"`
	TotalPeers     int `json:"total_peers"` // eager + lazy (the active view)
	PassivePeers   int `json:"passive_peers"`
	ProtectedPeers int `json:"protected_peers"`
	CacheSize      int `json:"cache_size"`
	CacheCapacity  int `json:"cache_capacity"`
	SeenSize       int `json:"seen_size"`
	SeenCapacity   int `json:"seen_capacity"`
	PendingGrafts  int `json:"pending_grafts"`
	IHaveQueueSize int `json:"ihave_queue_size"` // announcements queued over all lazy peers
	Streams        int `json:"streams"`          // origins with a stream summary
	Counters
}

// HealthStatus is the overall verdict of a health report.
type HealthStatus uint8

// Health statuses, best first.
const (
	Healthy HealthStatus = iota
	Degraded
	Unhealthy
)

// String returns "Healthy", "Degraded" or "Unhealthy".
func (s HealthStatus) String() string {
	switch s {
	case Healthy:
		return "Healthy"
	case Degraded:
		return "Degraded"
	}
	return "Unhealthy"
}

// MarshalJSON encodes the status as its name.
func (s HealthStatus) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// UnmarshalJSON decodes a status name.
func (s *HealthStatus) UnmarshalJSON(b []byte) error {
	var name string
	if err := json.Unmarshal(b, &name); err != nil {
		return err
	}
	switch name {
	case "Healthy":
		*s = Healthy
	case "Degraded":
		*s = Degraded
	default:
		*s = Unhealthy
	}
	return nil
}

// PeerHealth is the peer part of a health report.
type PeerHealth struct {
	TotalCount  int `json:"total_count"`
	EagerCount  int `json:"eager_count"`
	LazyCount   int `json:"lazy_count"`
	TargetEager int `json:"target_eager"`
}

// DeliveryHealth is the delivery part of a health report. The rate and the
// counts cover the last HealthConfig.Window only.
type DeliveryHealth struct {
	PendingGrafts    int     `json:"pending_grafts"`
	GraftFailureRate float64 `json:"graft_failure_rate"`
	SuccessfulGrafts uint64  `json:"successful_grafts"`
	FailedGrafts     uint64  `json:"failed_grafts"`
}

// CacheHealth is the payload-store part of a health report.
type CacheHealth struct {
	Size        int           `json:"size"`
	Capacity    int           `json:"capacity"`
	Utilization float64       `json:"utilization"`
	TTL         time.Duration `json:"ttl_ns"`
	// Retention is how far back the store holds messages
	// (RetentionStore.Retention), when it reports that (RetentionKnown).
	Retention      time.Duration `json:"retention_ns"`
	RetentionKnown bool          `json:"retention_known"`
}

// Health is the report the operations guide prints.
type Health struct {
	Status   HealthStatus   `json:"status"`
	Message  string         `json:"message"`
	Peers    PeerHealth     `json:"peer_health"`
	Delivery DeliveryHealth `json:"delivery_health"`
	Cache    CacheHealth    `json:"cache_health"`
}
