package core

import (
	"strconv"
	"time"
)

// EventKind is the kind of an observer Event. There is one kind per counter
// the operations guide names, plus the protocol's own drop counters.
type EventKind uint8

// Event kinds. The comment names the metric each one feeds.
const (
	EventBroadcast          EventKind = iota + 1 // plumtree_messages_broadcast_total; Size
	EventDelivered                               // plumtree_messages_delivered_total; Peer, ID, Hops, Size
	EventDuplicate                               // plumtree_messages_duplicate_total; Peer, ID, Hops
	EventGossipSent                              // plumtree_gossip_sent_total; Peer, ID
	EventIHaveSent                               // plumtree_ihave_sent_total (one IHave frame); Peer, Count = batch size
	EventGraftSent                               // plumtree_graft_sent_total; Peer, ID (zero for a link-only Graft), Retries
	EventPruneSent                               // plumtree_prune_sent_total; Peer
	EventPeerPromoted                            // plumtree_peer_promotions_total (lazy/passive -> eager); Peer, Reason
	EventPeerDemoted                             // plumtree_peer_demotions_total (eager -> lazy); Peer, Reason
	EventPeerAdded                               // plumtree_peer_added_total; Peer
	EventPeerRemoved                             // plumtree_peer_removed_total; Peer
	EventGraftSuccess                            // plumtree_graft_success_total; ID, Peer (who delivered), Latency (first Graft to arrival), Retries
	EventGraftFailed                             // plumtree_graft_failed_total; ID, Retries
	EventGraftRetry                              // plumtree_graft_retries_total; ID, Peer, Retries
	EventSeenEviction                            // plumtree_seen_map_evictions_total; Count
	EventMessagePartitioned                      // plumtree_messages_partitioned_total; ID (every announcer removed or unreachable)
	EventGraftRateLimited                        // plumtree_graft_rate_limited_total: a Graft dropped by its token bucket, or cut short (a sender that is no link: AntiEntropyBytes); Peer, Count = ids not answered
	EventGraftUnanswerable                       // a Graft for a payload no longer stored; Peer, ID
	EventIHaveDropped                            // announcements dropped (full IHave queue or pending-graft bound); Peer, Count
	EventInvalidMessage                          // a message the protocol rejected; Peer, Reason
	EventIHaveLag                                // a first copy the tree pushed after its announcement (not a Graft's answer, not marked Repaired); ID, Peer (who delivered), Latency (first IHave to arrival), Retries (Grafts sent)
	EventDigestSent                              // plumtree_digest_sent_total; Peer, Count = streams listed
	EventRepairSent                              // plumtree_repair_sent_total (an anti-entropy copy); Peer, ID, Hops
	EventAgeRefused                              // plumtree_age_refused_total (a copy outside the age window); Peer, ID
	EventDigestRateLimited                       // plumtree_digest_rate_limited_total (a digest left unanswered by the per-peer limit); Peer
	eventKindEnd
)

var eventNames = [...]string{
	EventBroadcast:          "broadcast",
	EventDelivered:          "delivered",
	EventDuplicate:          "duplicate",
	EventGossipSent:         "gossip_sent",
	EventIHaveSent:          "ihave_sent",
	EventGraftSent:          "graft_sent",
	EventPruneSent:          "prune_sent",
	EventPeerPromoted:       "peer_promoted",
	EventPeerDemoted:        "peer_demoted",
	EventPeerAdded:          "peer_added",
	EventPeerRemoved:        "peer_removed",
	EventGraftSuccess:       "graft_success",
	EventGraftFailed:        "graft_failed",
	EventGraftRetry:         "graft_retry",
	EventSeenEviction:       "seen_eviction",
	EventMessagePartitioned: "message_partitioned",
	EventGraftRateLimited:   "graft_rate_limited",
	EventGraftUnanswerable:  "graft_unanswerable",
	EventIHaveDropped:       "ihave_dropped",
	EventInvalidMessage:     "invalid_message",
	EventIHaveLag:           "ihave_lag",
	EventDigestSent:         "digest_sent",
	EventRepairSent:         "repair_sent",
	EventAgeRefused:         "age_refused",
	EventDigestRateLimited:  "digest_rate_limited",
}

// String returns the event kind's snake_case name.
func (k EventKind) String() string {
	if k > 0 && k < eventKindEnd {
		return eventNames[k]
	}
	return "event(" + strconv.Itoa(int(k)) + ")"
}

// Reason says why a peer changed state or a message was rejected.
type Reason uint8

// Reasons.
const (
	ReasonNone            Reason = iota
	ReasonOptimization           // duplicates reached optimization_threshold (log: "Demoting peer {peer} to lazy (optimization threshold reached)")
	ReasonHopOptimization        // Algorithm 4: a shorter path was announced
	ReasonPruneReceived          // the peer sent us a Prune
	ReasonGraftReceived          // the peer sent us a Graft
	ReasonGraftSent              // we grafted the peer to obtain a message
	ReasonMaintenance            // maintenance refilled or trimmed the eager set
	ReasonFirstCopy              // the peer sent us the first copy of a message
	ReasonRing                   // ring neighbour protection
	ReasonCapacity               // max_eager_peers / max_lazy_peers / max_peers
	ReasonMalformed              // invalid message from a peer
	ReasonTooLarge               // payload above max_message_size
	ReasonFromSelf               // a message claiming to come from the local node
	ReasonExpired                // an entry outlived its TTL (seen-set eviction)
	ReasonNewPeer                // a peer added by AddPeer placed straight into the eager set
	ReasonAntiEntropy            // an IHave sent by the periodic anti-entropy round
	ReasonShortcut               // tree shaping: a lazy link shortens the paths through an eager one (shortcut_samples)
)

var reasonNames = [...]string{
	ReasonNone:            "none",
	ReasonOptimization:    "optimization threshold reached",
	ReasonHopOptimization: "shorter path announced",
	ReasonPruneReceived:   "prune received",
	ReasonGraftReceived:   "graft received",
	ReasonGraftSent:       "graft sent",
	ReasonMaintenance:     "maintenance",
	ReasonFirstCopy:       "first copy received",
	ReasonRing:            "ring neighbour",
	ReasonCapacity:        "capacity",
	ReasonMalformed:       "malformed message",
	ReasonTooLarge:        "message too large",
	ReasonFromSelf:        "message from self",
	ReasonExpired:         "expired",
	ReasonNewPeer:         "new peer",
	ReasonAntiEntropy:     "anti-entropy",
	ReasonShortcut:        "shorter paths for many senders",
}

// String returns the reason in words.
func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "reason(" + strconv.Itoa(int(r)) + ")"
}

// Event is one observer event. Which fields are set depends on Kind (see the
// EventKind constants). Events are plain values; the Protocol never calls an
// observer itself.
type Event struct {
	Kind    EventKind
	Reason  Reason
	Peer    PeerID
	ID      MessageID
	Hops    uint16
	Retries int
	Count   int
	Size    int
	Latency time.Duration
}
