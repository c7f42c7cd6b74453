package core

import "time"

// The overlay: a bounded, symmetric active view (HyParView's, with the
// membership as the passive view).
//
// A link is opened by a handshake: the node sends Join (eager or lazy) and
// holds the peer as "joining" (counted against the cap) until the JoinReply;
// the receiver accepts only while its own active view has room, so neither
// side ever holds more than activeCap links. A Join marked Urgent (the
// requester has no link) and a Join from a protected ring neighbour are
// accepted by evicting a link (a lazy one first), as HyParView's
// high-priority neighbour request. A node that drops a link (eviction,
// trimming, leaving) tells the peer with Disconnect, so both sides agree.
// A peer that acts as if linked while we hold it passive (a Prune, a link
// Graft, eager duplicates: a lost Disconnect, a restart) is sent a
// Disconnect again. Eager/lazy changes on an open link keep using Plumtree's
// Prune and link Graft.

// AddPeer tells the protocol that peer joined (membership). Self, empty and
// over-long ids are ignored and counted as invalid. A known peer is left as
// it is. A new peer is a passive member; while the active view has room the
// node asks it for a link (Join: eager while the node lacks eager links,
// else lazy while the lazy set is below LazyFanout). A Join the peer sent
// while it was removed (a restart seen before the membership re-added it)
// is answered now.
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
		// so that it catches up without waiting for a round; a few members
		// do, not all (sendJoinDigest). Then every round for a few rounds
		// (aeJoinRounds).
		p.sendJoinDigest(id)
		p.aeJoinLeft = aeJoinRounds
	}
	if pe.state != statePassive || pe.joining {
		return // a ring neighbour already asked for (applyRing)
	}
	switch asked {
	case stateEager, stateLazy:
		// Treated as urgent: a restarted node asks before it has links.
		p.answerJoin(pe, asked == stateEager, true)
	default:
		p.refill(ReasonNewPeer)
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
		p.forget(p.passive[p.passiveVictim()])
		changed = true
	}
	if changed && p.cfg.UseHashRing {
		p.applyRing()
	}
}

// passiveVictim picks the passive peer trimPassive forgets: a random one,
// passing over a Join in flight or a ring neighbour to the next that is
// neither (only if every passive peer is one of those is it forgotten).
func (p *Protocol) passiveVictim() int {
	n := len(p.passive)
	start := p.rng.IntN(n)
	for k := range n {
		i := (start + k) % n
		if pe := p.passive[i]; !pe.joining && !pe.protected {
			return i
		}
	}
	return start
}

// forget drops a peer from the views and the ring without telling anyone.
func (p *Protocol) forget(pe *peer) {
	p.clearJoin(pe)
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

// eagerDeficit: the node lacks eager links. Counting pruned lazy links is
// what lets the tree settle (see repair); Joins in flight count as links.
func (p *Protocol) eagerDeficit() bool {
	e := len(p.eager) + p.joinsEager
	return e == 0 || e+p.nPruned < p.cfg.EagerFanout
}

// room reports whether one more link fits (Joins in flight included).
func (p *Protocol) room() bool { return p.activeLen()+p.joins < p.activeCap() }

// requestJoin asks passive peer pe for a link; urgent when the node has no
// link at all.
func (p *Protocol) requestJoin(pe *peer, eager bool) {
	p.requestJoinAs(pe, eager, p.activeLen() == 0 && p.joins == 0)
}

// requestJoinAs is requestJoin with the urgency given: an urgent Join is
// accepted by a full view, which drops one of its links for it.
func (p *Protocol) requestJoinAs(pe *peer, eager, urgent bool) {
	if pe.state != statePassive || pe.joining {
		return
	}
	pe.joining, pe.joinEager, pe.joinAt = true, eager, p.now
	p.joins++
	if eager {
		p.joinsEager++
	}
	p.send(pe.id, Message{Type: MsgJoin, Eager: eager, Urgent: urgent})
	p.counters.JoinSent++
}

// clearJoin forgets pe's outstanding Join.
func (p *Protocol) clearJoin(pe *peer) {
	if !pe.joining {
		return
	}
	pe.joining = false
	p.joins--
	if pe.joinEager {
		p.joinsEager--
	}
}

// openLink makes pe (passive) a link: eager if asked and there is eager
// room, else lazy. It reports the kind opened.
func (p *Protocol) openLink(pe *peer, eager bool, r Reason) bool {
	p.clearJoin(pe)
	pe.dups, pe.pruneAt = 0, timeZero
	if eager && len(p.eager) < p.eagerCap() {
		p.move(pe, stateEager, false)
		p.counters.PeerPromotions++
		p.emit(Event{Kind: EventPeerPromoted, Peer: pe.id, Reason: r})
		return true
	}
	p.move(pe, stateLazy, false)
	return false
}

// disconnect drops the link to pe (or a Join in flight) and tells it.
func (p *Protocol) disconnect(pe *peer, r Reason) {
	p.clearJoin(pe)
	if pe.state == stateEager || pe.state == stateLazy {
		p.dropLink(pe, r)
	}
	p.send(pe.id, Message{Type: MsgDisconnect})
	p.counters.DisconnectSent++
}

// dropLink moves a linked peer to passive (no message).
func (p *Protocol) dropLink(pe *peer, r Reason) {
	if pe.state == stateEager {
		p.dupEpoch++ // see duplicate
		p.counters.PeerDemotions++
		p.emit(Event{Kind: EventPeerDemoted, Peer: pe.id, Reason: r})
	}
	p.move(pe, statePassive, false)
	pe.strayIHaves = 0
}

// stray answers a peer that acts as if linked while we hold it passive: it
// is sent a Disconnect, at most once per GraftTimeout.
func (p *Protocol) stray(pe *peer) {
	if pe == nil || pe.state != statePassive || pe.joining {
		return
	}
	if !pe.strayAt.IsZero() && p.now.Before(pe.strayAt.Add(p.cfg.GraftTimeout)) {
		return
	}
	pe.strayAt = p.now
	p.send(pe.id, Message{Type: MsgDisconnect})
	p.counters.DisconnectSent++
}

// evict frees one slot of the active view for keep: a random unprotected
// lazy link first (non-pruned ones first: pruned links are the tree's
// evidence that it receives enough), else the worst unprotected eager
// link. It reports false when every link is protected.
func (p *Protocol) evict(keep *peer) bool {
	var pick *peer
	n, bestTier := 0, 3
	for _, c := range p.lazy {
		if c == keep || c.protected {
			continue
		}
		tier := 1
		if c.pruned {
			tier = 2
		}
		switch {
		case tier < bestTier:
			pick, bestTier, n = c, tier, 1
		case tier == bestTier:
			n++
			if p.rng.IntN(n) == 0 {
				pick = c
			}
		}
	}
	if pick == nil {
		pick = p.worstEager(keep)
	}
	if pick == nil {
		return false
	}
	p.disconnect(pick, ReasonCapacity)
	return true
}

// onJoin answers a link request.
func (p *Protocol) onJoin(from PeerID, m *Message) {
	p.counters.JoinReceived++
	pe := p.peerFor(from, true)
	if pe == nil {
		// Removed: remember the request; AddPeer answers it.
		s := stateLazy
		if m.Eager {
			s = stateEager
		}
		p.tomb.noteLink(from, s)
		return
	}
	p.answerJoin(pe, m.Eager, m.Urgent)
}

func (p *Protocol) answerJoin(pe *peer, eager, urgent bool) {
	reply := func(ok bool) {
		p.send(pe.id, Message{Type: MsgJoinReply, Accepted: ok, Eager: ok && pe.state == stateEager})
		if !ok {
			p.counters.JoinRejected++
		}
	}
	switch pe.state {
	case stateEager:
		reply(true)
		return
	case stateLazy:
		// It lost the link (restart) and asks again: keep ours.
		if eager && !pe.pruned {
			p.toEager(pe, ReasonGraftReceived)
		}
		reply(true)
		return
	}
	if pe.joining {
		// Both asked at once: the link is open.
		eager = eager || pe.joinEager
		p.openLink(pe, eager, ReasonNewPeer)
		reply(true)
		return
	}
	if !p.room() || (!eager && len(p.lazy) >= p.cfg.LazyFanout) {
		if !urgent && !pe.protected {
			reply(false)
			return
		}
		if !eager && len(p.lazy) >= p.cfg.LazyFanout && !p.evictLazyFor(pe) && !pe.protected {
			reply(false) // the lazy set holds only protected links
			return
		}
		if !p.room() && !p.evict(pe) {
			reply(false)
			return
		}
	}
	if !p.openLink(pe, eager, ReasonNewPeer) {
		p.trimLazy(pe)
	}
	// (trimLazy may have dropped pe itself, with a Disconnect.)
	reply(pe.state == stateEager || pe.state == stateLazy)
}

// evictLazyFor makes room in a full lazy set for a new lazy link: it
// disconnects an unprotected lazy peer. Reports false if all are protected.
func (p *Protocol) evictLazyFor(keep *peer) bool {
	for _, c := range p.lazy {
		if c != keep && !c.protected && !c.pruned {
			p.disconnect(c, ReasonCapacity)
			return true
		}
	}
	for _, c := range p.lazy {
		if c != keep && !c.protected {
			p.disconnect(c, ReasonCapacity)
			return true
		}
	}
	return false
}

// onJoinReply completes (or gives up) a Join.
func (p *Protocol) onJoinReply(from PeerID, m *Message) {
	pe := p.peers[from]
	if pe == nil {
		return
	}
	switch {
	case pe.joining && m.Accepted:
		if p.openLink(pe, m.Eager, ReasonNewPeer) != m.Eager {
			p.sendPrune(pe) // no eager room left: it must treat us as lazy
		}
	case pe.joining:
		p.clearJoin(pe)
	case !m.Accepted:
		if pe.state == stateEager || pe.state == stateLazy {
			// It does not hold the link: neither do we.
			p.dropLink(pe, ReasonCapacity)
		}
	case pe.state == statePassive:
		// An acceptance of a Join we gave up, or that crossed our
		// Disconnect: the peer holds a link we do not.
		p.disconnect(pe, ReasonCapacity)
	}
}

// onDisconnect drops the link (or the Join in flight) the peer dropped.
func (p *Protocol) onDisconnect(from PeerID) {
	p.counters.DisconnectReceived++
	pe := p.peers[from]
	if pe == nil {
		return
	}
	p.clearJoin(pe)
	if pe.state != stateEager && pe.state != stateLazy {
		return
	}
	wasEager := pe.state == stateEager
	p.dropLink(pe, ReasonPruneReceived)
	if wasEager && len(p.eager) == 0 {
		p.relink(nil)
	}
}

// toEager promotes lazy peer pe to eager if the eager set has room. It
// reports whether pe is eager afterwards. Passive peers need a Join.
func (p *Protocol) toEager(pe *peer, r Reason) bool {
	if pe.state == stateEager {
		return true
	}
	if pe.state != stateLazy || len(p.eager) >= p.eagerCap() {
		return false
	}
	p.promote(pe, r)
	return true
}

// promote moves lazy peer pe to eager (the caller checked the room).
func (p *Protocol) promote(pe *peer, r Reason) {
	p.move(pe, stateEager, false)
	pe.dups, pe.pruneAt, pe.leftovers = 0, timeZero, timeZero
	p.counters.PeerPromotions++
	p.emit(Event{Kind: EventPeerPromoted, Peer: pe.id, Reason: r})
}

// demote moves an eager peer to lazy (marked pruned) and tells it with a
// Prune. A full lazy set loses another link (see trimLazy).
func (p *Protocol) demote(pe *peer, r Reason) {
	if pe.state != stateEager {
		return
	}
	p.move(pe, stateLazy, true)
	pe.dups = 0
	p.counters.PeerDemotions++
	p.emit(Event{Kind: EventPeerDemoted, Peer: pe.id, Reason: r})
	p.sendPrune(pe)
	p.trimLazy(pe)
}

// toLazy makes a linked pe lazy because the peer asked (Prune received).
// Passive peers are not linked by it.
func (p *Protocol) toLazy(pe *peer, r Reason, pruned bool) bool {
	switch pe.state {
	case stateEager:
		p.move(pe, stateLazy, pruned)
		pe.dups = 0
		p.counters.PeerDemotions++
		p.emit(Event{Kind: EventPeerDemoted, Peer: pe.id, Reason: r})
		p.trimLazy(pe)
		return true
	case stateLazy:
		if pruned {
			p.setPruned(pe, true)
		}
		return true
	}
	return false
}

// trimLazy keeps the lazy set within LazyFanout: it disconnects lazy links
// other than keep (non-pruned, unprotected ones first), then keep itself
// unless it is protected. Only protected links may stay above the bound.
func (p *Protocol) trimLazy(keep *peer) {
	for len(p.lazy) > p.cfg.LazyFanout {
		if !p.evictLazyFor(keep) {
			if keep != nil && keep.state == stateLazy && !keep.protected {
				p.disconnect(keep, ReasonCapacity)
			}
			return
		}
	}
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

// rank orders promotion candidates: ring neighbours first, then the lowest
// RTT, then random among equals (n counts the ties seen so far).
type ranker struct {
	p        *Protocol
	best     *peer
	bestTier int
	n        int
}

func (r *ranker) consider(c *peer, tier int) {
	if c.near {
		tier = 0
	} else if c.hasRTT {
		tier = 1
	}
	switch {
	case r.best == nil || tier < r.bestTier:
		r.best, r.bestTier, r.n = c, tier, 1
	case tier > r.bestTier:
	case tier == 1 && c.srtt < r.best.srtt:
		r.best, r.n = c, 1
	case tier == 1 && c.srtt > r.best.srtt:
	default:
		r.n++
		if r.p.rng.IntN(r.n) == 0 {
			r.best = c
		}
	}
}

// lazyCandidate picks the lazy link to promote: non-pruned ones that have
// not refused a link lately (linkable), any lazy one only when the node has
// no eager peer.
func (p *Protocol) lazyCandidate(except *peer) *peer {
	r := ranker{p: p}
	for _, c := range p.lazy {
		if c != except && !c.pruned && p.linkable(c) {
			r.consider(c, 2)
		}
	}
	if r.best == nil && len(p.eager) == 0 {
		for _, c := range p.lazy {
			if c != except {
				r.consider(c, 3)
			}
		}
	}
	return r.best
}

// passiveCandidate picks a passive member to ask for a link: a uniformly
// random one without a Join in flight (ring neighbours first).
func (p *Protocol) passiveCandidate() *peer {
	n := len(p.passive)
	if n == 0 {
		return nil
	}
	for _, c := range p.near {
		if c.state == statePassive && !c.joining {
			return c
		}
	}
	// A few random probes, then a scan from a random start: O(1) in the
	// common case, never misses a candidate.
	for k := 0; k < 4; k++ {
		if c := p.passive[p.rng.IntN(n)]; !c.joining {
			return c
		}
	}
	start := p.rng.IntN(n)
	for k := 0; k < n; k++ {
		if c := p.passive[(start+k)%n]; !c.joining {
			return c
		}
	}
	return nil
}

// relink gives a node that just lost its last eager peer a new one at once
// (with a link Graft), instead of waiting for the next maintenance round:
// until then every message would reach it only through an IHave and a pull,
// and nobody would forward anything through it.
//
// With many senders sharing one tree this happens routinely: two edges of
// one cycle are pruned at the same time by different nodes (each saw the
// duplicates of a different origin), and a node between them loses both.
// Re-linking is safe: with a single eager peer the node is a leaf of the
// eager graph, it forwards nothing it receives from that peer, so the new
// link closes no cycle and creates no duplicates.
//
// Which peer: the lazy peer that most recently pushed a Gossip to us
// (except the peer whose Prune left us without eager links, if there is
// another): a recent pusher was receiving messages eagerly itself, so it is
// on the tree. Without such evidence, the usual ranking. Without any lazy
// link, an eager Join to a passive member.
//
// At most one relink per GraftTimeout: a peer at its eager cap answers the
// link Graft with a Prune, which would otherwise start another relink, and
// so on. Maintenance repairs what the limit leaves.
func (p *Protocol) relink(except *peer) {
	if len(p.eager) > 0 || p.now.Before(p.relinkAt) {
		return
	}
	p.relinkAt = p.now.Add(p.cfg.GraftTimeout)
	best := p.relinkCandidate(except)
	if best == nil && except != nil && except.state == stateLazy && p.linkable(except) {
		best = except
	}
	if best != nil && p.toEager(best, ReasonMaintenance) {
		p.sendLinkGraft(best)
		return
	}
	if p.joinsEager == 0 && p.room() {
		if c := p.passiveCandidate(); c != nil {
			p.requestJoin(c, true)
		}
	}
}

// relinkCandidate picks the lazy link a node without eager peers promotes:
// the one that most recently pushed us a Gossip (a pull's answer counts)
// and has not refused a link lately, else the usual ranking.
func (p *Protocol) relinkCandidate(except *peer) *peer {
	var best *peer
	for _, c := range p.lazy {
		if c.lastPush == 0 || c == except || !p.linkable(c) {
			continue
		}
		if best == nil || c.lastPush > best.lastPush {
			best = c
		}
	}
	if best == nil {
		best = p.lazyCandidate(except)
	}
	return best
}

// repair restores the active view's shape: trims sets above their caps,
// promotes while the node lacks eager links, and refills the view from the
// passive members.
//
// The eager deficit is eager + prunedLazy < EagerFanout (or no eager peer at
// all). Counting pruned lazy peers is what lets the tree settle: a leaf with
// one eager parent and pruned redundant links has evidence that it receives
// enough; refilling its eager set to EagerFanout would re-create redundant
// links, duplicates and prunes forever, and RMR would never reach 0.
func (p *Protocol) repair(r Reason) {
	stranded := p.stranded()
	for len(p.eager) > p.eagerCap() {
		w := p.worstEager(nil)
		if w == nil {
			break
		}
		p.demote(w, ReasonCapacity)
	}
	p.trimLazy(nil)
	for p.activeLen() > p.activeCap() && p.evict(nil) {
	}
	if len(p.eager) == 0 {
		// No eager peer left (the last one left, or relink was refused):
		// prefer a peer known to be on the tree, as relink does.
		if c := p.relinkCandidate(nil); c != nil && p.toEager(c, r) {
			p.sendLinkGraft(c)
		}
	}
	for p.eagerDeficit() {
		c := p.lazyCandidate(nil)
		if c == nil || !p.toEager(c, r) {
			break
		}
		p.sendLinkGraft(c)
	}
	if stranded {
		p.joinUrgently()
	}
	p.refill(r)
}

// stranded reports whether the node has no eager link and every lazy link
// refused one lately (linkable): its lazy peers are at their eager cap, so
// promoting them gets a Prune each round, and while they stay there the
// node reaches the tree only through pulls.
func (p *Protocol) stranded() bool {
	if len(p.eager) > 0 || len(p.lazy) == 0 {
		return false
	}
	for _, c := range p.lazy {
		if p.linkable(c) {
			return false
		}
	}
	return true
}

// joinUrgently asks a passive member for an eager link with an urgent
// Join, one at a time, for a stranded node (see stranded). A full view
// makes room for an urgent Join (a plain one it refuses), and a member
// with eager room makes the link eager; one at its cap makes it lazy, the
// node asks it for the link once, and after its refusal the next round
// asks another member. Without it a node that joined after the others had
// filled their views held three lazy links to capped peers, its Joins to
// everyone else refused, and pulled every message (tools/bench, N = 32, 2
// runs of 34, p99 550-600 ms). With a full view the node first drops one
// of the refusing links.
func (p *Protocol) joinUrgently() {
	if p.joinsEager > 0 {
		return
	}
	c := p.passiveCandidate()
	if c == nil {
		return
	}
	if !p.room() && !p.evict(nil) {
		return
	}
	p.requestJoinAs(c, true, true)
}

// refill asks passive members for links while the active view has room:
// eager while the node lacks eager links, lazy while the lazy set is below
// LazyFanout. Ring neighbours come first.
func (p *Protocol) refill(r Reason) {
	for p.room() {
		eager := p.eagerDeficit()
		if !eager && len(p.lazy)+p.joins-p.joinsEager >= p.cfg.LazyFanout {
			return
		}
		c := p.passiveCandidate()
		if c == nil {
			return
		}
		p.requestJoin(c, eager)
	}
}

// expireJoins gives up Joins unanswered for a GraftTimeout or more (the
// reply was lost, or the peer is gone): maintenance then asks another
// member.
func (p *Protocol) expireJoins() {
	if p.joins == 0 {
		return
	}
	for _, pe := range p.passive {
		if pe.joining && !p.now.Before(pe.joinAt.Add(p.cfg.GraftTimeout)) {
			p.clearJoin(pe)
		}
	}
}
