package core

import (
	"fmt"
	"slices"
)

// checkInvariants verifies the internal consistency of p: the views are
// disjoint, indexed correctly and bounded, counters agree with the lists,
// self is nowhere, protected peers are eager, queues and pending grafts are
// within their bounds.
func (p *Protocol) checkInvariants() error {
	seen := make(map[PeerID]peerState)
	pruned := 0
	for _, st := range []peerState{stateEager, stateLazy, statePassive} {
		for i, pe := range *p.list(st) {
			if pe.id == p.self {
				return fmt.Errorf("self in state %d", st)
			}
			if prev, dup := seen[pe.id]; dup {
				return fmt.Errorf("peer %s in states %d and %d", pe.id, prev, st)
			}
			seen[pe.id] = st
			if pe.state != st || pe.idx != i {
				return fmt.Errorf("peer %s: state %d idx %d, listed in %d at %d", pe.id, pe.state, pe.idx, st, i)
			}
			if p.peers[pe.id] != pe {
				return fmt.Errorf("peer %s listed but not in map", pe.id)
			}
			if st == stateLazy && pe.pruned {
				pruned++
			}
			// Lazy peers queue announcements, and eager ones those of
			// copies that came by Repair (announceRepaired); a peer
			// leaving both has its queue flushed or dropped.
			if st == statePassive && len(pe.q) > 0 {
				return fmt.Errorf("peer %s in state %d has %d queued announcements", pe.id, st, len(pe.q))
			}
			if len(pe.q) > p.tun.IHaveBatchSize {
				return fmt.Errorf("peer %s queue %d > batch %d", pe.id, len(pe.q), p.tun.IHaveBatchSize)
			}
			if pe.joining && st != statePassive {
				return fmt.Errorf("peer %s joining in state %d", pe.id, st)
			}
		}
	}
	if len(seen) != len(p.peers) {
		return fmt.Errorf("%d peers in map, %d listed", len(p.peers), len(seen))
	}
	if pruned != p.nPruned {
		return fmt.Errorf("nPruned %d, counted %d", p.nPruned, pruned)
	}
	joins, joinsEager := 0, 0
	for _, pe := range p.passive {
		if pe.joining {
			joins++
			if pe.joinEager {
				joinsEager++
			}
		}
	}
	if joins != p.joins || joinsEager != p.joinsEager {
		return fmt.Errorf("joins %d/%d eager, counted %d/%d", p.joins, p.joinsEager, joins, joinsEager)
	}
	for _, pe := range p.prot {
		if pe.state == stateGone || !pe.protected {
			return fmt.Errorf("protected peer %s in state %d", pe.id, pe.state)
		}
	}
	if len(p.prot) > p.cfg.MaxProtectedNeighbors {
		return fmt.Errorf("%d protected > %d", len(p.prot), p.cfg.MaxProtectedNeighbors)
	}
	c := &p.cfg
	if c.MaxEagerPeers > 0 && len(p.eager) > c.MaxEagerPeers {
		return fmt.Errorf("eager %d > max_eager_peers %d", len(p.eager), c.MaxEagerPeers)
	}
	if len(p.lazy) > c.LazyFanout {
		unprotected := 0
		for _, pe := range p.lazy {
			if !pe.protected {
				unprotected++
			}
		}
		if unprotected > 0 {
			return fmt.Errorf("lazy %d > lazy_fanout %d with %d unprotected", len(p.lazy), c.LazyFanout, unprotected)
		}
	}
	if p.activeLen()+p.joins > p.activeCap() {
		return fmt.Errorf("active %d + joining %d > %d", p.activeLen(), p.joins, p.activeCap())
	}
	if len(p.passive) > c.MaxPassivePeers {
		return fmt.Errorf("passive %d > max_passive_peers %d", len(p.passive), c.MaxPassivePeers)
	}
	if len(p.pend.m) > c.MaxPendingGrafts || len(p.pend.m) != len(p.pend.h) {
		return fmt.Errorf("pending map %d heap %d max %d", len(p.pend.m), len(p.pend.h), c.MaxPendingGrafts)
	}
	strays := 0
	for i, pd := range p.pend.h {
		if pd.hi != i || p.pend.m[pd.id] != pd {
			return fmt.Errorf("pending heap index broken at %d", i)
		}
		if pd.stray {
			strays++
		}
		if len(pd.ann) == 0 || len(pd.ann) > c.MaxAnnouncers {
			return fmt.Errorf("pending %s has %d announcers", pd.id, len(pd.ann))
		}
		if i > 0 && p.pend.less(i, (i-1)/2) {
			return fmt.Errorf("pending heap order broken at %d", i)
		}
		if p.seen.has(pd.id) {
			return fmt.Errorf("pending %s already seen", pd.id)
		}
	}
	if strays != p.pend.strays || strays > p.maxStrayPending() {
		return fmt.Errorf("pending: %d stray entries, counted %d, max %d", strays, p.pend.strays, p.maxStrayPending())
	}
	if p.seen.len() > c.SeenMaxSize || p.seen.len() != p.seen.idx.count {
		return fmt.Errorf("seen ring %d index %d max %d", p.seen.len(), p.seen.idx.count, c.SeenMaxSize)
	}
	for n := p.seen.first; n < p.seen.next; n++ {
		e := p.seen.slot(n)
		if got, ok := p.seen.get(e.id); !ok || got.n != n {
			return fmt.Errorf("seen %s at %d not indexed", e.id, n)
		}
	}
	q := 0
	for _, pe := range p.peers {
		q += len(pe.q)
	}
	if q != p.queued {
		return fmt.Errorf("queued %d, counted %d", p.queued, q)
	}
	if p.store.Len() > p.store.Capacity() {
		return fmt.Errorf("store %d > capacity %d", p.store.Len(), p.store.Capacity())
	}
	if !slices.IsSortedFunc(p.ring.e, ringLess) {
		return fmt.Errorf("ring not sorted")
	}
	return p.streams.checkInvariants()
}
