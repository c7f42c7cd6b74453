package core

import (
	"fmt"
	"time"
)

// Health reports the node's health at now. Rules, first match wins (the
// operations guide's order; the failure rate covers HealthConfig.Window, not
// the time since start, and applies only with at least MinGraftSamples
// grafts ended in the window):
//
//  1. closed                              -> Unhealthy "Protocol is shutting down"
//  2. no active peers                     -> Unhealthy "No peers connected"
//  3. failure rate > FailureRateUnhealthy -> Unhealthy "High graft failure rate: 85.0%"
//  4. no eager peer                       -> Unhealthy "Node isolated: no eager peers (N lazy)"
//  5. failure rate > FailureRateDegraded  -> Degraded  "Elevated graft failure rate: 35.0%"
//  6. pending grafts > min(PendingGraftsDegraded, MaxPendingGrafts-1)
//     -> Degraded "Many pending grafts: N (threshold T)"
//  7. a store that reports its retention (RetentionStore) holds less than
//     min(CacheRetentionDegraded, MessageCacheTTL)
//     -> Degraded "Cache nearly full: holds 12.3s of messages (want 30s), 96.0% used";
//     any other store: utilization > CacheUtilizationDegraded
//     -> Degraded "Cache nearly full: 96.0% used"
//  8. active peers < min(MinPeersDegraded, cap, known)
//     -> Degraded "Few peers: 2 (want 3)"
//  9. otherwise                           -> Healthy   "Operating normally"
//
// The peer targets fit the cluster's size: known is the number of peers the
// membership layer gave the protocol (active and passive: the live members
// other than this node, up to MaxPassivePeers), the eager target
// (Peers.TargetEager) is min(EagerFanout, known), and rule 8 wants
// min(MinPeersDegraded, cap, known) — in a 3-node cluster, where every node
// has 2 peers, a node is Healthy, and so is one whose active view's cap (cap:
// MaxPeers, or EagerFanout + LazyFanout) is below MinPeersDegraded and full.
// Likewise rule 6 fires at the latest when the pending grafts reach their
// bound (MaxPendingGrafts; announcements beyond it are dropped), whatever
// the threshold. Rule 7 departs from the operations guide (utilization alone)
// for a store that reports its retention: a bounded store that receives more
// than its bounds hold for a TTL is full by its nature, which costs nothing
// while it still holds messages long enough to answer Grafts and digests;
// and a store full in bytes (one large message) can hold only seconds while
// few entries are used. With HealthConfig.Standalone, a node that knows no
// peer at all is Healthy "Standalone: no peers yet" (checked before rule 2).
func (p *Protocol) Health(now time.Time) Health {
	if now.Before(p.now) {
		now = p.now
	}
	hc := &p.cfg.Health
	ok, fail := p.window.sum(now)
	rate := 0.0
	if ok+fail > 0 {
		rate = float64(fail) / float64(ok+fail)
	}
	sampled := ok+fail >= uint64(hc.MinGraftSamples) && ok+fail > 0
	size, capacity := p.store.Len(), p.store.Capacity()
	util := 0.0
	if capacity > 0 {
		util = float64(size) / float64(capacity)
	}
	ret, hasRet := time.Duration(0), false
	if rs, ok := p.store.(RetentionStore); ok {
		ret, hasRet = rs.Retention(now), true
	}
	wantRet := min(hc.CacheRetentionDegraded, p.cfg.MessageCacheTTL)
	known := len(p.eager) + len(p.lazy) + len(p.passive)
	h := Health{
		Peers: PeerHealth{
			TotalCount:  len(p.eager) + len(p.lazy),
			EagerCount:  len(p.eager),
			LazyCount:   len(p.lazy),
			TargetEager: min(p.cfg.EagerFanout, known),
		},
		Delivery: DeliveryHealth{
			PendingGrafts:    len(p.pend.m),
			GraftFailureRate: rate,
			SuccessfulGrafts: ok,
			FailedGrafts:     fail,
		},
		Cache: CacheHealth{Size: size, Capacity: capacity, Utilization: util, TTL: p.cfg.MessageCacheTTL,
			Retention: ret, RetentionKnown: hasRet},
	}
	total := h.Peers.TotalCount
	pendLimit := min(hc.PendingGraftsDegraded, p.cfg.MaxPendingGrafts-1)
	wantPeers := min(hc.MinPeersDegraded, p.activeCap(), known)
	switch {
	case p.closed:
		h.Status, h.Message = Unhealthy, "Protocol is shutting down"
	case known == 0 && hc.Standalone:
		h.Status, h.Message = Healthy, "Standalone: no peers yet"
	case total == 0:
		h.Status, h.Message = Unhealthy, "No peers connected"
	case sampled && rate > hc.FailureRateUnhealthy:
		h.Status, h.Message = Unhealthy, fmt.Sprintf("High graft failure rate: %.1f%%", 100*rate)
	case len(p.eager) == 0:
		h.Status, h.Message = Unhealthy, fmt.Sprintf("Node isolated: no eager peers (%d lazy)", len(p.lazy))
	case sampled && rate > hc.FailureRateDegraded:
		h.Status, h.Message = Degraded, fmt.Sprintf("Elevated graft failure rate: %.1f%%", 100*rate)
	case len(p.pend.m) > pendLimit:
		h.Status, h.Message = Degraded, fmt.Sprintf("Many pending grafts: %d (threshold %d)", len(p.pend.m), pendLimit)
	case hasRet && ret < wantRet:
		h.Status, h.Message = Degraded, fmt.Sprintf("Cache nearly full: holds %v of messages (want %v), %.1f%% used",
			ret.Round(100*time.Millisecond), wantRet, 100*util)
	case !hasRet && util > hc.CacheUtilizationDegraded:
		h.Status, h.Message = Degraded, fmt.Sprintf("Cache nearly full: %.1f%% used", 100*util)
	case total < wantPeers:
		h.Status, h.Message = Degraded, fmt.Sprintf("Few peers: %d (want %d)", total, wantPeers)
	default:
		h.Status, h.Message = Healthy, "Operating normally"
	}
	return h
}
