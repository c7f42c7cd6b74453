package core

import (
	"time"
)

type peerState uint8

const (
	statePassive peerState = iota
	stateLazy
	stateEager
	stateGone // removed; the struct may still be referenced by a stale list entry
)

// peer is everything the Protocol knows about one known member.
type peer struct {
	id        PeerID
	state     peerState
	idx       int       // index in the list of its state
	pruned    bool      // lazy because of a redundancy Prune (sent or received)
	protected bool      // protected ring neighbour: always eager
	ringOnly  bool      // eager only because it is a protected ring neighbour
	near      bool      // ring neighbour (preferred when promoting)
	dups      int       // duplicates received since the last Prune sent to it
	lastPush  uint64    // Protocol.pushes when it last sent us a Gossip (0 = never)
	dupEpoch  uint64    // Protocol.dupEpoch when dups was last counted
	pruneAt   time.Time // not pruned for duplicates before this ((threshold-1)-th duplicate + random part of PruneDelay)

	hasRTT bool
	srtt   time.Duration
	rttvar time.Duration

	tokens bucket // Graft rate limit

	q       []Announcement // IHave queue (lazy peers only)
	inDirty bool
}

// maxActive bounds the active view (eager + lazy). MaxPeers 0 means "no
// bound of its own": the active view is then bounded by MaxPassivePeers +
// EagerFanout + LazyFanout + MaxProtectedNeighbors, so that no structure
// grows without a configured bound.
func (p *Protocol) maxActive() int {
	if p.cfg.MaxPeers > 0 {
		return p.cfg.MaxPeers
	}
	return p.cfg.MaxPassivePeers + p.cfg.EagerFanout + p.cfg.LazyFanout + p.cfg.MaxProtectedNeighbors
}

func validPeerID(id PeerID) bool { return id != "" && len(id) <= MaxPeerIDLen }

func (p *Protocol) invalid(from PeerID, r Reason) {
	p.counters.InvalidMessages++
	p.emit(Event{Kind: EventInvalidMessage, Peer: from, Reason: r})
}

// list returns the slice that holds peers in state s.
func (p *Protocol) list(s peerState) *[]*peer {
	switch s {
	case stateEager:
		return &p.eager
	case stateLazy:
		return &p.lazy
	}
	return &p.passive
}

func (p *Protocol) unlink(pe *peer) {
	l := p.list(pe.state)
	last := len(*l) - 1
	(*l)[pe.idx] = (*l)[last]
	(*l)[pe.idx].idx = pe.idx
	(*l)[last] = nil
	*l = (*l)[:last]
	if pe.state == stateLazy {
		if pe.pruned {
			p.nPruned--
		}
		p.dropQueue(pe)
	}
}

func (p *Protocol) link(pe *peer, s peerState) {
	pe.state = s
	l := p.list(s)
	pe.idx = len(*l)
	*l = append(*l, pe)
	if s == stateLazy && pe.pruned {
		p.nPruned++
	}
}

// move puts pe into state s (pe must be linked). pruned applies to lazy.
// Announcements queued for a lazy peer that changes state are flushed first,
// not dropped: they name messages forwarded while the peer was lazy, which it
// will never get eagerly, and they may be the only announcement it gets (an
// origin whose lazy peers are promoted before the IHave flush would otherwise
// lose the message at every other node).
func (p *Protocol) move(pe *peer, s peerState, pruned bool) {
	if pe.state == stateLazy && len(pe.q) > 0 {
		p.flushPeer(pe)
	}
	p.unlink(pe)
	pe.pruned = s == stateLazy && pruned
	p.link(pe, s)
}

func (p *Protocol) setPruned(pe *peer, v bool) {
	if pe.state == stateLazy && pe.pruned != v {
		if v {
			p.nPruned++
		} else {
			p.nPruned--
		}
	}
	pe.pruned = v
}

// AddPeer tells the protocol that peer joined (membership). Self, empty and
// over-long ids are ignored and counted as invalid. A known peer is left as
// it is. A new peer becomes eager while the node lacks eager links, else lazy
// while the lazy set is below LazyFanout, else a passive repair candidate; it
// is told with a link Graft (eager) or a Prune (lazy) so the link is
// symmetric.
func (p *Protocol) AddPeer(now time.Time, id PeerID) {
	if p.closed {
		return
	}
	p.advance(now)
	defer p.finish()
	if !validPeerID(id) {
		p.invalid(id, ReasonMalformed)
		return
	}
	if id == p.self {
		p.invalid(id, ReasonFromSelf)
		return
	}
	asked := p.tomb.remove(id)
	if p.peers[id] != nil {
		return
	}
	pe := p.addKnown(id)
	if p.cfg.AntiEntropyBatch > 0 && p.streams.len() > 0 {
		// A new member (maybe a restarted node): exchange digests at once
		// so that it catches up without waiting for a round.
		p.sendDigest(id, false)
	}
	if pe.state == statePassive {
		switch {
		case asked == stateEager:
			// It asked for an eager link while removed (restarted): grant it
			// as a Graft received would.
			if !p.toEager(pe, ReasonGraftReceived) {
				p.toLazy(pe, ReasonCapacity, true)
				p.sendPrune(pe)
			}
		case asked == stateLazy:
			p.toLazy(pe, ReasonPruneReceived, true)
		case p.eagerDeficit():
			if p.toEager(pe, ReasonNewPeer) {
				p.sendLinkGraft(pe)
			}
		case len(p.lazy) < p.cfg.LazyFanout && p.lazyRoom():
			p.move(pe, stateLazy, false)
			p.sendPrune(pe)
		}
	}
}

// addKnown adds id as a passive peer and updates the ring. The passive view
// may exceed MaxPassivePeers until the input finishes (see trimPassive), so
// that a newcomer can be placed into the active view first.
func (p *Protocol) addKnown(id PeerID) *peer {
	pe := &peer{id: id}
	p.peers[id] = pe
	p.link(pe, statePassive)
	p.counters.PeerAdded++
	p.emit(Event{Kind: EventPeerAdded, Peer: id})
	if p.cfg.UseHashRing {
		p.ring.insert(id)
		p.applyRing()
	}
	return pe
}

// trimPassive forgets random passive peers while the passive view is above
// MaxPassivePeers (random replacement keeps the sample uniform enough).
func (p *Protocol) trimPassive() {
	changed := false
	for len(p.passive) > p.cfg.MaxPassivePeers {
		p.forget(p.passive[p.rng.IntN(len(p.passive))])
		changed = true
	}
	if changed && p.cfg.UseHashRing {
		p.applyRing()
	}
}

// forget drops a peer from the views and the ring without telling anyone.
func (p *Protocol) forget(pe *peer) {
	p.unlink(pe)
	pe.state = stateGone
	pe.protected = false
	delete(p.peers, pe.id)
	if p.cfg.UseHashRing {
		p.ring.remove(pe.id)
	}
}

// peerFor returns the state of a message sender, adding an unknown sender
// (that was not removed) as a passive peer when add is set.
func (p *Protocol) peerFor(id PeerID, add bool) *peer {
	if pe := p.peers[id]; pe != nil {
		return pe
	}
	if !add || p.tomb.has(id) {
		return nil
	}
	return p.addKnown(id)
}

// RemovePeer tells the protocol that peer left or failed. It is dropped from
// every set, from the announcers of pending grafts (a message that loses its
// last announcer is reported as partitioned) and from the IHave queues; then
// the active view is repaired. A removed peer is remembered (bounded by
// MaxPassivePeers) so that its late messages do not bring it back; AddPeer
// clears that.
func (p *Protocol) RemovePeer(now time.Time, id PeerID) {
	if p.closed {
		return
	}
	p.advance(now)
	defer p.finish()
	if !validPeerID(id) || id == p.self {
		return
	}
	p.tomb.add(id)
	pe := p.peers[id]
	if pe == nil {
		return
	}
	if pe.state == stateEager {
		p.dupEpoch++ // see duplicate
	}
	p.forget(pe)
	p.pend.dropAnnouncer(p, id)
	p.counters.PeerRemoved++
	p.emit(Event{Kind: EventPeerRemoved, Peer: id})
	if p.cfg.UseHashRing {
		p.applyRing()
	}
	p.repair(ReasonMaintenance)
}

// RecordRTT feeds a round-trip sample for a known peer into a smoothed
// estimate (TCP's SRTT/RTTVAR, gains 1/8 and 1/4) used to rank peers for
// promotion and demotion. Unknown peers and non-positive samples are ignored.
func (p *Protocol) RecordRTT(now time.Time, id PeerID, rtt time.Duration) {
	if p.closed {
		return
	}
	p.advance(now)
	defer p.finish()
	pe := p.peers[id]
	if pe == nil || rtt <= 0 || rtt > time.Hour {
		return
	}
	if !pe.hasRTT {
		pe.hasRTT, pe.srtt, pe.rttvar = true, rtt, rtt/2
		return
	}
	diff := pe.srtt - rtt
	if diff < 0 {
		diff = -diff
	}
	pe.rttvar += (diff - pe.rttvar) / 4
	pe.srtt += (rtt - pe.srtt) / 8
}

func (p *Protocol) eagerDeficit() bool {
	return len(p.eager) == 0 || len(p.eager)+p.nPruned < p.cfg.EagerFanout
}

func (p *Protocol) lazyRoom() bool {
	if p.cfg.MaxLazyPeers > 0 && len(p.lazy) >= p.cfg.MaxLazyPeers {
		return false
	}
	return len(p.eager)+len(p.lazy) < p.maxActive()
}

// toEager promotes pe (lazy or passive) to eager. It makes room when the
// active view or the eager set is full: a lazy peer goes back to passive, or
// (for protected peers and peers we graft) the worst unprotected eager peer
// is demoted. It reports false when there is no room.
func (p *Protocol) toEager(pe *peer, r Reason) bool {
	if pe.state == stateEager {
		return true
	}
	if pe.state == stateGone {
		return false
	}
	force := pe.protected || r == ReasonGraftSent || r == ReasonRing
	if max := p.cfg.MaxEagerPeers; max > 0 && len(p.eager) >= max {
		if !force {
			return false
		}
		w := p.worstEager(pe)
		if w == nil {
			return false
		}
		p.demote(w, ReasonCapacity)
	}
	if pe.state == statePassive && len(p.eager)+len(p.lazy) >= p.maxActive() {
		switch {
		case len(p.lazy) > 0:
			p.move(p.lazy[p.rng.IntN(len(p.lazy))], statePassive, false)
		case force:
			w := p.worstEager(pe)
			if w == nil {
				return false
			}
			p.demote(w, ReasonCapacity)
			p.move(w, statePassive, false)
		default:
			return false
		}
	}
	p.move(pe, stateEager, false)
	pe.dups = 0
	pe.ringOnly = r == ReasonRing
	p.counters.PeerPromotions++
	p.emit(Event{Kind: EventPeerPromoted, Peer: pe.id, Reason: r})
	return true
}

// demote moves an eager peer to lazy (marked pruned) and tells it with a
// Prune. Protected peers are never demoted.
func (p *Protocol) demote(pe *peer, r Reason) {
	if pe.state != stateEager || pe.protected {
		return
	}
	p.makeLazyRoom()
	p.move(pe, stateLazy, true)
	pe.dups = 0
	p.counters.PeerDemotions++
	p.emit(Event{Kind: EventPeerDemoted, Peer: pe.id, Reason: r})
	p.sendPrune(pe)
}

// toLazy makes pe lazy because the peer asked (Prune received) or because it
// cannot be eager. Eager peers are demoted (no Prune is sent: the caller
// decides), passive ones join the lazy set if there is room.
func (p *Protocol) toLazy(pe *peer, r Reason, pruned bool) bool {
	switch pe.state {
	case stateEager:
		if pe.protected {
			return false
		}
		p.makeLazyRoom()
		p.move(pe, stateLazy, pruned)
		pe.dups = 0
		p.counters.PeerDemotions++
		p.emit(Event{Kind: EventPeerDemoted, Peer: pe.id, Reason: r})
		return true
	case stateLazy:
		if pruned {
			p.setPruned(pe, true)
		}
		return true
	case statePassive:
		if !p.lazyRoom() {
			return false
		}
		p.move(pe, stateLazy, pruned)
		return true
	}
	return false
}

// makeLazyRoom moves one lazy peer to passive when the lazy set is at
// MaxLazyPeers, preferring one that is not pruned (pruned links are the
// evidence that the node receives enough; see repair).
func (p *Protocol) makeLazyRoom() {
	if p.cfg.MaxLazyPeers == 0 || len(p.lazy) < p.cfg.MaxLazyPeers {
		return
	}
	var pick *peer
	n := 0
	for _, c := range p.lazy {
		if !c.pruned {
			n++
			if p.rng.IntN(n) == 0 {
				pick = c
			}
		}
	}
	if pick == nil {
		pick = p.lazy[p.rng.IntN(len(p.lazy))]
	}
	p.move(pick, statePassive, false)
}

// worstEager returns the unprotected eager peer (other than keep) with the
// highest smoothed RTT; peers without a sample rank worst; ties go to a
// random one.
func (p *Protocol) worstEager(keep *peer) *peer {
	var best *peer
	n := 0
	for _, e := range p.eager {
		if e == keep || e.protected {
			continue
		}
		switch {
		case best == nil || worse(e, best):
			best, n = e, 1
		case !worse(best, e):
			n++
			if p.rng.IntN(n) == 0 {
				best = e
			}
		}
	}
	return best
}

// worse reports whether a ranks strictly worse than b for staying eager.
func worse(a, b *peer) bool {
	if a.hasRTT != b.hasRTT {
		return !a.hasRTT
	}
	return a.hasRTT && a.srtt > b.srtt
}

// bestCandidate picks the peer to promote: ring neighbours first, then the
// lowest RTT, then a random one. Candidates are non-pruned lazy peers and
// passive peers; pruned lazy peers only when the node has no eager peer.
func (p *Protocol) bestCandidate(except *peer) *peer {
	var best *peer
	bestTier, n := 99, 0
	consider := func(c *peer, tier int) {
		if c == except {
			return
		}
		if c.near {
			tier = 0
		} else if c.hasRTT {
			tier = 1
		}
		switch {
		case tier < bestTier:
			best, bestTier, n = c, tier, 1
		case tier > bestTier:
		case tier == 1 && c.srtt < best.srtt:
			best, n = c, 1
		case tier == 1 && c.srtt > best.srtt:
		default:
			n++
			if p.rng.IntN(n) == 0 {
				best = c
			}
		}
	}
	for _, c := range p.lazy {
		if !c.pruned {
			consider(c, 2)
		}
	}
	for _, c := range p.passive {
		consider(c, 2)
	}
	if best == nil && len(p.eager) == 0 {
		for _, c := range p.lazy {
			consider(c, 3)
		}
	}
	return best
}

// relink gives a node that just lost its last eager peer a new one at once
// (with a link Graft), instead of waiting for the next maintenance round:
// until then every message would reach it only through an IHave and a Graft
// (GraftTimeout later), and nobody would forward anything through it.
//
// With many senders sharing one tree this happens routinely: two edges of
// one cycle are pruned at the same time by different nodes (each saw the
// duplicates of a different origin), and a node between them loses both.
// Re-linking is safe: with a single eager peer the node is a leaf of the
// eager graph, it forwards nothing it receives from that peer, so the new
// link closes no cycle and creates no duplicates; the tree does not start
// oscillating again.
//
// Which peer: the one that most recently pushed a Gossip to us (except the
// peer whose Prune left us without eager links, if there is another). A
// recent pusher was receiving messages eagerly itself, so it is on the tree;
// a random pick may be another node that was just cut off, and the two would
// form an island that again hears of everything only through IHaves. Without
// any such evidence, fall back to the usual ranking (ring neighbours, RTT,
// random), pruned peers included.
//
// At most one relink per GraftTimeout: a peer at MaxEagerPeers answers the
// link Graft with a Prune, which would otherwise start another relink, and
// so on, in a loop of Grafts and Prunes. Maintenance repairs what the limit
// leaves (a node without eager peers always promotes one there).
func (p *Protocol) relink(except *peer) {
	if len(p.eager) > 0 || p.now.Before(p.relinkAt) {
		return
	}
	p.relinkAt = p.now.Add(p.cfg.GraftTimeout)
	best := p.relinkCandidate(except)
	if best == nil && except != nil && except.state == stateLazy {
		best = except
	}
	if best != nil && p.toEager(best, ReasonMaintenance) {
		p.sendLinkGraft(best)
	}
}

// relinkCandidate picks the peer a node without eager peers links to: the
// lazy peer that most recently pushed us a Gossip, else the usual ranking.
func (p *Protocol) relinkCandidate(except *peer) *peer {
	var best *peer
	for _, c := range p.lazy {
		if c.lastPush == 0 || c == except {
			continue
		}
		if best == nil || c.lastPush > best.lastPush {
			best = c
		}
	}
	if best == nil {
		best = p.bestCandidate(except)
	}
	return best
}

// repair restores the active view's shape: trims sets above their caps,
// promotes while the node lacks eager links, and refills the lazy set from
// the passive view.
//
// The eager deficit is eager + prunedLazy < EagerFanout (or no eager peer at
// all). Counting pruned lazy peers is what lets the tree settle: a leaf with
// one eager parent and pruned redundant links has evidence that it receives
// enough; refilling its eager set to EagerFanout would re-create redundant
// links, duplicates and prunes forever, and RMR would never reach 0.
func (p *Protocol) repair(r Reason) {
	if max := p.cfg.MaxEagerPeers; max > 0 {
		for len(p.eager) > max {
			w := p.worstEager(nil)
			if w == nil {
				break
			}
			p.demote(w, ReasonCapacity)
		}
	}
	for len(p.lazy) > 0 && ((p.cfg.MaxLazyPeers > 0 && len(p.lazy) > p.cfg.MaxLazyPeers) || len(p.eager)+len(p.lazy) > p.maxActive()) {
		p.move(p.lazy[p.rng.IntN(len(p.lazy))], statePassive, false)
	}
	if len(p.eager) == 0 {
		// No eager peer left (the last one left, or relink was refused):
		// prefer a peer known to be on the tree, as relink does.
		if c := p.relinkCandidate(nil); c != nil && p.toEager(c, r) {
			p.sendLinkGraft(c)
		}
	}
	for p.eagerDeficit() {
		c := p.bestCandidate(nil)
		if c == nil || !p.toEager(c, r) {
			break
		}
		p.sendLinkGraft(c)
	}
	for len(p.lazy) < p.cfg.LazyFanout && len(p.passive) > 0 && p.lazyRoom() {
		c := p.passive[p.rng.IntN(len(p.passive))]
		p.move(c, stateLazy, false)
		p.sendPrune(c)
	}
}

// tombstones remembers recently removed peers (FIFO, bounded by
// MaxPassivePeers) so that their late messages do not re-add them. Each
// entry carries a generation so that a stale ring slot (the peer was
// re-added, then removed again) does not forget the newer tombstone, and the
// link the peer asked for while it was tombstoned (see noteLink).
type tombstones struct {
	m    map[PeerID]tombEntry
	ring []tombSlot
	head int
	max  int
	gen  uint64
}

type tombEntry struct {
	gen  uint64
	link peerState // statePassive: no link asked for
}

type tombSlot struct {
	id  PeerID
	gen uint64
}

func (t *tombstones) init(max int) {
	t.m = make(map[PeerID]tombEntry)
	t.max = max
}

func (t *tombstones) has(id PeerID) bool { _, ok := t.m[id]; return ok }

func (t *tombstones) add(id PeerID) {
	if t.has(id) {
		return
	}
	t.gen++
	slot := tombSlot{id: id, gen: t.gen}
	if len(t.ring) < t.max {
		t.ring = append(t.ring, slot)
	} else {
		old := t.ring[t.head]
		if e, ok := t.m[old.id]; ok && e.gen == old.gen {
			delete(t.m, old.id)
		}
		t.ring[t.head] = slot
		t.head = (t.head + 1) % t.max
	}
	t.m[id] = tombEntry{gen: t.gen, link: statePassive}
}

// noteLink remembers that a tombstoned peer asked for a link (stateEager
// for a link Graft, stateLazy for a Prune). A restarted node often learns of
// its members — and sends them link requests — before their membership has
// seen it alive again; dropping those requests left the restarted node with
// nobody pushing or announcing to it. AddPeer honours the request.
func (t *tombstones) noteLink(id PeerID, s peerState) {
	if e, ok := t.m[id]; ok {
		e.link = s
		t.m[id] = e
	}
}

// remove forgets a tombstone (its ring slot is recycled in turn) and returns
// the link the peer asked for while tombstoned (statePassive: none).
func (t *tombstones) remove(id PeerID) peerState {
	e, ok := t.m[id]
	if !ok {
		return statePassive
	}
	delete(t.m, id)
	return e.link
}
