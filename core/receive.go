package core

import (
	"fmt"
	"math"
	"slices"
	"time"
)

var timeZero time.Time

// CheckHeaders reports whether headers respect MaxHeaders and
// MaxHeaderBytes: the check Broadcast makes, with the same error (wrapping
// ErrInvalidHeaders, naming the count or size and the limit).
func CheckHeaders(hs []Header) error {
	if len(hs) > MaxHeaders {
		return fmt.Errorf("%w: %d headers, limit %d", ErrInvalidHeaders, len(hs), MaxHeaders)
	}
	n := 0
	for i := range hs {
		n += len(hs[i].Key) + len(hs[i].Value)
	}
	if n > MaxHeaderBytes {
		return fmt.Errorf("%w: %d header bytes, limit %d", ErrInvalidHeaders, n, MaxHeaderBytes)
	}
	return nil
}

func incHops(h uint16) uint16 {
	if h == math.MaxUint16 {
		return h
	}
	return h + 1
}

// Broadcast sends payload to the cluster. It is delivered locally at once
// (Delivery.From is the local node, Hops 0), stored to answer Grafts,
// pushed to the eager peers (hop 1) and announced to the lazy peers. The
// Protocol keeps payload and headers: the caller must not modify them
// afterwards. Errors: ErrClosed, ErrMessageTooLarge, ErrInvalidHeaders
// (wrapped, naming the size and the limit).
func (p *Protocol) Broadcast(now time.Time, payload []byte, headers []Header) (MessageID, error) {
	if p.closed {
		return MessageID{}, ErrClosed
	}
	if len(payload) > p.cfg.MaxMessageSize {
		return MessageID{}, fmt.Errorf("%w: %d bytes, limit %d", ErrMessageTooLarge, len(payload), p.cfg.MaxMessageSize)
	}
	if err := CheckHeaders(headers); err != nil {
		return MessageID{}, err
	}
	p.advance(now)
	id := MessageID{Origin: p.self, Seq: p.seq}
	p.seq++
	ot := p.originNow()
	p.streams.add(id, ot)
	p.evictSize += p.seen.add(p.now, id, 0, p.self)
	p.store.Put(ot, id, StoredMessage{Payload: payload, Headers: headers, OriginTime: ot})
	p.streams.hold(id, ot)
	p.counters.MessagesBroadcast++
	p.emit(Event{Kind: EventBroadcast, ID: id, Size: len(payload)})
	p.deliver(Delivery{ID: id, OriginTime: ot, From: p.self, Payload: payload, Headers: headers})
	p.push(id, "", 0, ot, payload, headers, false)
	p.finish()
	return id, nil
}

func (p *Protocol) deliver(d Delivery) {
	o := &p.out[p.cur]
	o.dels = append(o.dels, d)
	p.counters.MessagesDelivered++
	p.emit(Event{Kind: EventDelivered, Peer: d.From, ID: d.ID, Hops: d.Hops, Size: len(d.Payload)})
}

// push sends a first copy on: Gossip with hops+1 to every eager peer except
// from, and an announcement with hops to every lazy peer except from — or,
// with IHaveFanout > 0, to at most IHaveFanout of them, a random subset per
// message (see Config.IHaveFanout and the README, "IHave targets").
// repaired: the copy left the tree on its way here (Message.Repaired); the
// Gossip carries the mark on.
func (p *Protocol) push(id MessageID, from PeerID, hops uint16, ot time.Time, payload []byte, headers []Header, repaired bool) {
	next := incHops(hops)
	hold, hold2 := p.swapHolds(from)
	for _, pe := range p.eager {
		if pe.id == from || pe.id == hold || pe.id == hold2 {
			continue
		}
		p.send(pe.id, Message{Type: MsgGossip, ID: id, OriginTime: ot, Hops: next, Payload: payload, Headers: headers, Repaired: repaired})
		p.counters.GossipSent++
		p.emit(Event{Kind: EventGossipSent, Peer: pe.id, ID: id, Hops: next})
	}
	p.announceLazy(from, Announcement{ID: id, Hops: hops, OriginTime: ot})
}

// announceRepaired is push for a first copy that came by anti-entropy (a
// Repair): an announcement to every peer, eager ones included, and no
// copy. A Repair brings what the tree lost; after a healed cut every node
// of a side lacks the same messages and asks for them itself, within a
// round or two of the heal, so copies pushed down the tree met the
// children's own Repairs: 2.4-2.6 payload copies per delivery needed
// across a healed cut of 60 nodes (coretest, TestHealedPartitionRepairCost),
// against 1.1-1.3 with announcements. A child that still lacks the message
// pulls it from this node at once (an eager peer's announcement of a
// message older than AntiEntropyMinAge: pending.offer), and a child being
// repaired already has it or soon will.
func (p *Protocol) announceRepaired(id MessageID, from PeerID, hops uint16, ot time.Time) {
	a := Announcement{ID: id, Hops: hops, OriginTime: ot}
	for _, pe := range p.eager {
		if pe.id != from {
			p.queueIHave(pe, a)
		}
	}
	p.announceLazy(from, a)
}

// announceLazy queues announcement a for every lazy peer except from — or,
// with IHaveFanout > 0, for at most IHaveFanout of them, a random subset per
// message (see Config.IHaveFanout and the README, "IHave targets").
func (p *Protocol) announceLazy(from PeerID, a Announcement) {
	n, fan := len(p.lazy), p.cfg.IHaveFanout
	if fan == 0 || n <= fan {
		for _, pe := range p.lazy {
			if pe.id != from {
				p.queueIHave(pe, a)
			}
		}
		return
	}
	// Partial Fisher-Yates over the lazy list itself (its order carries no
	// meaning; indices are kept up to date): no allocation.
	for i, sent := 0, 0; i < n && sent < fan; i++ {
		if j := i + p.rng.IntN(n-i); j != i {
			p.lazy[i], p.lazy[j] = p.lazy[j], p.lazy[i]
			p.lazy[i].idx, p.lazy[j].idx = i, j
		}
		if pe := p.lazy[i]; pe.id != from {
			p.queueIHave(pe, a)
			sent++
		}
	}
}

// Receive handles a message from a peer. The Protocol takes ownership of the
// message's slices (the payload may be stored and forwarded). Invalid input
// (empty or over-long ids, a message claiming to come from the local node,
// hop count 0, a payload above MaxMessageSize, headers or batches above the
// wire limits, an unknown type) is dropped and reported as
// EventInvalidMessage; it changes nothing else. Receive never panics.
func (p *Protocol) Receive(now time.Time, from PeerID, msg Message) {
	if p.closed {
		return
	}
	p.advance(now)
	defer p.finish()
	if !validPeerID(from) {
		p.invalid(from, ReasonMalformed)
		return
	}
	if from == p.self {
		p.invalid(from, ReasonFromSelf)
		return
	}
	switch msg.Type {
	case MsgGossip:
		p.onGossip(from, &msg)
	case MsgIHave:
		p.onIHave(from, &msg)
	case MsgGraft:
		p.onGraft(from, &msg)
	case MsgPrune:
		p.onPrune(from)
	case MsgJoin:
		p.onJoin(from, &msg)
	case MsgJoinReply:
		p.onJoinReply(from, &msg)
	case MsgDisconnect:
		p.onDisconnect(from)
	case MsgDigest:
		p.onDigest(from, &msg)
	case MsgRepair:
		p.onRepair(from, &msg)
	default:
		p.invalid(from, ReasonMalformed)
	}
}

// ownID classifies an id with the local node as origin: ok=false if it was
// never issued by this incarnation (a forgery or garbage); mine=true if this
// incarnation issued it.
func (p *Protocol) ownID(id MessageID) (mine, ok bool) {
	if id.Origin != p.self {
		return false, true
	}
	if id.Seq >= p.seq {
		return true, false
	}
	return id.Seq >= p.seqStart, true
}

// checkPayload validates a message that carries a payload (Gossip or
// Repair): a bad one is counted and reported as invalid, and ok is false.
// mine reports whether this incarnation issued it.
func (p *Protocol) checkPayload(from PeerID, m *Message) (mine, ok bool) {
	switch {
	case !validPeerID(m.ID.Origin) || m.Hops == 0:
		p.invalid(from, ReasonMalformed)
		return false, false
	case len(m.Payload) > p.cfg.MaxMessageSize:
		p.invalid(from, ReasonTooLarge)
		return false, false
	case CheckHeaders(m.Headers) != nil:
		p.invalid(from, ReasonMalformed)
		return false, false
	}
	mine, ok = p.ownID(m.ID)
	if !ok {
		p.invalid(from, ReasonMalformed)
	}
	return mine, ok
}

func (p *Protocol) onGossip(from PeerID, m *Message) {
	id := m.ID
	mine, ok := p.checkPayload(from, m)
	if !ok {
		return
	}
	p.counters.GossipReceived++
	pe := p.peerFor(from, true)
	// repaired: the copy left the tree before us (Message.Repaired), so its
	// delay is a pull's or a repair's, not the tree's — while this node is
	// quiet. Under load, queues delay every copy, marked ones too, and a
	// marked copy is taken as the tree's, as before the mark existed (the
	// guard lateMeansCutOff uses). Measured, the mark costs bytes under
	// load with or without this guard: 20 large messages sent at once by
	// 16 nodes (tools/largebench) moved 2.07-2.10 wire bytes per delivered
	// byte against 1.93-1.99 without the mark (medians of 16-26 runs).
	repaired := m.Repaired && p.quiet()
	if pe != nil {
		p.pushes++
		pe.lastPush = p.pushes
		if pe.state == stateEager && !repaired && p.ageOK(m.OriginTime) {
			// Pushed over an eager link (a Graft's answer comes from
			// a peer we hold lazy or passive) by the tree itself, not
			// pushed on from a pull or a repair (whose delay is the
			// repair's): how late the tree runs.
			p.pulls.noteEagerCopy(p.now, id.Origin, m.OriginTime)
		}
	}
	if !p.ageOK(m.OriginTime) {
		// Too old or too far in the future: not delivered, stored or
		// forwarded, and no evidence about the link either.
		p.refuseAge(from, id)
		return
	}
	p.noteSwapCopy(from, id)
	if mine || p.known(id) {
		// A copy of our own broadcast, or of a message known (see
		// known), is never delivered again.
		p.duplicate(pe, from, id, m.Hops, repaired)
		return
	}
	headers := m.Headers
	if p.hook != nil {
		headers = p.hook(Delivery{ID: id, OriginTime: m.OriginTime, From: from, Hops: m.Hops, Payload: m.Payload, Headers: m.Headers})
	}
	pd := p.pend.m[id]
	p.acceptFirstCopy(id, m.OriginTime, m.Hops, from, m.Payload, headers, pd != nil && pd.grafts > 0)
	// late: a copy a lazy peer announced more than the configured graft
	// timeout before (someone upstream pulled it): a sign of being cut off
	// (see noteLate). A Repaired mark alone is not: counted as late however
	// soon the copy came, the copies repaired while a cluster healed from
	// losing 90 % of its nodes made links that left RMR at 0.034 instead of
	// at most 0.01 (tools/internal/sim, TestFullMembershipHeals, 600 nodes).
	pulled, late := false, false
	if pd != nil {
		pulled = pd.grafts > 0 && (from == pd.target || from == pd.target2)
		late = !pulled && p.now.Sub(pd.announced) > p.cfg.GraftTimeout && p.lateMeansCutOff()
		if pulled || late {
			// Who else had it before us: where a link may go if the
			// peer that answered refuses links (notePull), or for a
			// late copy (noteLate).
			p.announcers = append(p.announcers[:0], pd.ann...)
		}
		if !pulled && !repaired {
			// The announcement came first, and the tree pushed this
			// copy: how late the tree's copy was. It is what an
			// adaptive graft timeout must cover (a Graft sent earlier
			// would have been spurious). Censored at the graft timeout,
			// except for copies that beat the Graft's answer: those
			// show the timeout was too short. A Repaired copy's delay
			// is a pull's or a repair's before us: counted, it raised
			// the tuned timeout of a group fed by one member's pulls to
			// its bound, and every pull there waited that long.
			p.emit(Event{Kind: EventIHaveLag, ID: id, Peer: from, Latency: p.now.Sub(pd.announced), Retries: pd.grafts})
		}
		if i := slices.IndexFunc(pd.asked, func(a graftAsk) bool { return a.peer == from }); i >= 0 {
			// An answer to one of our Grafts, whichever: how long
			// answers take (see graftBackoff).
			p.pulls.answers.add(p.now, p.now.Sub(pd.asked[i].at))
		}
		if pd.grafts > 0 {
			p.counters.GraftSuccess++
			p.window.record(p.now, true)
			p.emit(Event{Kind: EventGraftSuccess, ID: id, Peer: from, Latency: p.now.Sub(pd.firstGraft), Retries: pd.grafts - 1})
		}
		p.pend.remove(pd)
	}
	if pulled {
		// A pulled copy: duplicates of it that the tree delivers late are
		// not evidence of a redundant link (see duplicate).
		p.seen.markPulled(id)
		p.pulls.notePulledCopy()
	}
	p.push(id, from, m.Hops, m.OriginTime, m.Payload, headers, m.Repaired || pulled)
	if pe == nil || pe.state == statePassive {
		// A copy from a member we hold no link with: a pull's answer, or a
		// peer that still believes in a link we dropped or never held (a
		// lost Disconnect, a restart, crossed handshakes). Nothing changes
		// in the views, but a pusher that is not answering our Graft is
		// told the link is gone (stray): its copies may all come first, so
		// duplicate would never tell it, and a node whose fastest parent
		// is such a one-sided link counts no eager parent: it keeps
		// promoting lazy links that its children then prune, one
		// duplicate per broadcast for as long as the link lasts (seen at
		// 2,000 nodes in tools/sim: about 1 % of nodes, every cycle).
		if pe != nil && !pulled {
			p.stray(pe)
		}
		return
	}
	if pulled {
		p.notePull(pe, p.announcers)
		return
	}
	if repaired {
		// Not the tree's timing: the origin's trace is left as it was.
		p.pulls.noteRepairedCopy(late)
	} else {
		p.pulls.noteTreeCopy(p.now, id, m.OriginTime, late)
	}
	if late {
		p.noteLate(p.announcers)
	}
	// The sender of a first copy becomes eager (the paper's Algorithm 1).
	// The original Algorithm 1 adds it to eagerPushPeers without taking it
	// out of lazyPushPeers, so a peer could sit in both sets (the 2019
	// revision of the report fixes this). Here a peer has exactly one state,
	// so moving it to eager removes it from lazy and drops its IHave queue:
	// the sets stay disjoint, and delivery stays at most once because the id
	// was recorded in the seen set above before anything was forwarded.
	if pe.state == stateEager {
		return
	}
	if p.leftover(pe) {
		// Pushed before it read our Prune: not a link it keeps.
		return
	}
	if !p.toEager(pe, ReasonFirstCopy) {
		// No room (eager cap): tell it to treat us as lazy.
		p.toLazy(pe, ReasonCapacity, true)
		p.sendPrune(pe)
	}
}

// lateDuplicate is how many graft timeouts after our first copy a
// duplicate marked Repaired stops counting towards a prune (see
// duplicate): a pull answered after one retry comes within three.
const lateDuplicate = 4

// duplicate counts a redundant copy. After OptimizationThreshold duplicates
// from the same peer, an eager sender is demoted to lazy and pruned (the
// paper prunes on the first: threshold 1); a sender that is already lazy is
// sent the Prune again so that its view agrees, a passive one a
// Disconnect. Duplicates of a pulled copy do not count: they are the tree's
// late copy, not a redundant path. Nor, while the node is quiet, does a
// duplicate marked Repaired (repaired: see onGossip) that comes more than
// lateDuplicate graft timeouts after our first copy: a node upstream got
// it long after the tree was done with it — by anti-entropy repair, or a
// pull after retries — and pushed it on, which says nothing about the
// links the tree uses now. Counted, a node that had missed a message and
// got it by repair 6 s later pushed it on to its child in the tree, which
// took it as the threshold-th duplicate and pruned its only path to the
// rest of the tree: the child's subtree pulled the next broadcasts, the
// first 600 ms late (tools/bench at N = 32, rare: one run of 44). A marked
// copy that comes sooner still counts: after a massive failure the pulls
// that relink the survivors push on copies that run along the cycles the
// new links make, and counting them prunes those cycles sooner (with every
// marked copy ignored, the simulator's RMR in the cycle after losing half
// the nodes rose by about half: 0.006-0.012 to 0.008-0.017 over seeds 1-4;
// with the gate it is as before). Under load a marked copy
// counts as any other (as in onGossip: queues make the tree's copies late,
// pulls follow, and the copies they push on travel the tree's links).
//
// Three refinements keep a tree shared by many senders from tearing itself
// apart (found with coretest; see the README, "Many senders, one tree"):
//
//   - The last eager peer is never pruned for redundancy (see below).
//   - PruneDelay: the threshold-th duplicate prunes only if it comes at
//     least a random delay in [0, PruneDelay) after the (threshold-1)-th;
//     otherwise it only counts and the first duplicate after the delay
//     prunes. (Threshold 1 has no earlier duplicate: it stays the paper's
//     prune on the first duplicate.) On a cycle of the eager graph every
//     origin's copies meet at a different edge, so with many senders every
//     edge of the cycle collects duplicates at once; pruning on the spot,
//     the nodes on the cycle prune two or more of its edges within one
//     round trip and split the tree; every message then needs an IHave and
//     a Graft to cross, the Grafts of several nodes add several links at
//     once, which form new cycles, which are pruned concurrently again: the
//     tree oscillates for as long as the load lasts. The random delay
//     (randomised backoff) serialises those decisions: the first prune due
//     breaks the cycle, the duplicates stop once the copies in flight have
//     drained, and the other candidates never get the confirming duplicate.
//     With PruneDelay 0 the prune is immediate.
//   - Counts restart when this node loses an eager link it did not choose to
//     lose (Prune received, peer removed): they were evidence that the other
//     links are redundant given the lost one.
func (p *Protocol) duplicate(pe *peer, from PeerID, id MessageID, hops uint16, repaired bool) {
	p.counters.MessagesDuplicate++
	p.emit(Event{Kind: EventDuplicate, Peer: from, ID: id, Hops: hops})
	if pe == nil {
		return
	}
	s, ok := p.seen.get(id)
	if ok && s.pulled {
		// We pulled the first copy because the tree's copy was late: this
		// is that copy, not a redundant path.
		return
	}
	if repaired && pe.state == stateEager && (!ok || p.now.Sub(s.at) > lateDuplicate*p.tun.GraftTimeout) {
		return
	}
	t := p.cfg.OptimizationThreshold
	if pe.state == statePassive {
		// It pushes to us as if linked (a Disconnect was lost, or it
		// restarted): tell it again, once per threshold.
		pe.dups++
		if pe.dups >= t {
			pe.dups = 0
			p.stray(pe)
		}
		return
	}
	if pe.state != stateEager {
		// It treats us as eager, we do not: tell it again, once per
		// threshold (no connectivity is at stake, so no delay).
		if p.leftover(pe) {
			return // our Prune is on its way (see leftover)
		}
		pe.dups++
		if pe.dups >= t {
			pe.dups, pe.pruneAt = 0, timeZero
			p.setPruned(pe, true)
			p.sendPrune(pe)
		}
		return
	}
	if p.now.Before(pe.graceTo) {
		return // a link that re-attached pulling nodes (see graceLink)
	}
	if pe.dupEpoch != p.dupEpoch {
		pe.dups, pe.dupEpoch, pe.pruneAt = 0, p.dupEpoch, timeZero
	}
	pe.dups++
	if t > 1 && pe.dups == t-1 && pe.pruneAt.IsZero() {
		pe.pruneAt = p.now
		if d := p.cfg.PruneDelay; d > 0 {
			pe.pruneAt = p.now.Add(time.Duration(p.rng.Int64N(int64(d))))
		}
	}
	if pe.dups < t || p.now.Before(pe.pruneAt) {
		return
	}
	pe.dups, pe.pruneAt = 0, timeZero
	// Never prune the last eager link for redundancy. A node with one eager
	// peer is a leaf of the eager graph: it forwards nothing it receives
	// from that peer, so the link is on no cycle and its duplicates are
	// transient (copies that crossed a Graft answer or a Prune in flight).
	// Pruning it would cut the node off the tree: every later message would
	// then need an IHave and a Graft.
	if len(p.eager) > 1 {
		p.demote(pe, ReasonOptimization)
	}
}

func (p *Protocol) onIHave(from PeerID, m *Message) {
	if len(m.IHaves) > MaxIHaveBatch {
		p.invalid(from, ReasonMalformed)
		return
	}
	p.counters.IHaveReceived++
	// IHave does not add the sender to the active view; a removed sender is
	// never grafted. A passive member that keeps announcing as a lazy link
	// would (more than two IHaves since the link closed: one may be the
	// queue flushed as the link closed, another cross our Disconnect) is
	// told the link is gone. The count is not reset by time: a one-sided
	// lazy link under light traffic (one IHave per maintenance round) must
	// be found too. An unknown sender (not removed: a member the passive
	// view forgot) is added as Gossip and Prune do, so that its one-sided
	// link is found as well.
	pe := p.peerFor(from, true)
	if pe != nil {
		pe.leftovers = timeZero // it holds the link lazy (see leftover)
	}
	canGraft := pe != nil
	// A link: the node holds it lazy or eager, or asked for it (Join).
	link := pe != nil && (pe.state != statePassive || pe.joining)
	if pe != nil && pe.state == statePassive && !pe.joining {
		pe.strayIHaves++
		if pe.strayIHaves > 2 {
			pe.strayIHaves = 0
			p.stray(pe)
		}
	}
	dropped, bad := 0, false
	for i := range m.IHaves {
		a := &m.IHaves[i]
		if !validPeerID(a.ID.Origin) {
			bad = true
			continue
		}
		if s, ok := p.seen.get(a.ID); ok {
			p.hopOptimization(from, a, s)
			p.noteShortcut(from, a, s)
			if pe != nil && len(pe.q) > 0 {
				p.unqueueIHave(pe, a)
			}
			continue
		}
		if p.streams.delivered(a.ID) || !p.ageOK(a.OriginTime) {
			continue // delivered (or given up), or outside the age window
		}
		if mine, ok := p.ownID(a.ID); mine || !ok || !canGraft {
			bad = bad || !ok
			continue
		}
		if !p.noteAnnouncement(a.ID, from, a.OriginTime, link) {
			dropped++
		}
	}
	if pe != nil {
		p.compactQueue(pe) // see unqueueIHave
	}
	if bad {
		p.invalid(from, ReasonMalformed)
	}
	if dropped > 0 {
		p.counters.IHaveDropped += uint64(dropped)
		p.emit(Event{Kind: EventIHaveDropped, Peer: from, Count: dropped})
	}
}

// hopOptimization is the paper's Algorithm 4: an IHave announcing a message
// we already have reveals a path at least HopOptimizationThreshold hops
// shorter than the copy we received eagerly. Graft the announcer (link only)
// and prune the eager sender.
//
// The path through the announcer is a.Hops+1 long (an announcement carries
// the hop count the announcer received the message with; the paper's IHAVE
// carries round+1, the hop count the copy would have here). Comparing
// a.Hops itself, as a first version did, re-parented for a gain of t-1
// hops: with threshold 1, for paths of equal length, back and forth.
func (p *Protocol) hopOptimization(from PeerID, a *Announcement, s seenEntry) {
	t := p.cfg.HopOptimizationThreshold
	if t <= 0 || int(a.Hops)+1+t > int(s.hops) || s.from == from {
		return
	}
	old := p.peers[s.from]
	if old == nil || old.state != stateEager {
		return
	}
	q := p.peerFor(from, false)
	if q == nil || q.state != stateLazy {
		return
	}
	if !p.toEager(q, ReasonHopOptimization) {
		return
	}
	p.sendLinkGraft(q)
	p.demote(old, ReasonHopOptimization)
}

func (p *Protocol) onGraft(from PeerID, m *Message) {
	if len(m.IDs) > MaxGraftIDs {
		p.invalid(from, ReasonMalformed)
		return
	}
	p.counters.GraftReceived++
	pe := p.peerFor(from, true)
	if len(m.IDs) == 0 && pe != nil {
		pe.leftovers = timeZero // it wants the link (see leftover)
		// A link Graft: make the link eager. From a member we hold no
		// link with it is a stray (the link is gone): say so.
		switch {
		case pe.state == statePassive && pe.joining:
			p.openLink(pe, true, ReasonGraftReceived) // it accepted our Join
		case pe.state == statePassive:
			p.stray(pe)
		case pe.state != stateEager && !p.toEager(pe, ReasonGraftReceived):
			// No room for another eager peer: tell it to treat us as lazy.
			p.toLazy(pe, ReasonCapacity, true)
			p.sendPrune(pe)
		case pe.state == stateEager:
			p.graceLink(pe) // its end of the link (see graceLink)
		}
	}
	// A Graft with ids only pulls: it changes no link (a slow tree must
	// not turn lazy links eager; see docs/design.md, "Grafts").
	if len(m.IDs) == 0 {
		return
	}
	// A Graft with ids comes from a peer this node announced the messages
	// to: a link. A Graft of 1,024 ids is some 20 KB and asks for up to
	// 64 MiB. So from anyone else (a member that is no link here: a link
	// that just closed, or a flood; a sender the protocol does not track)
	// it is answered from one bucket they share, and with at most
	// AntiEntropyBytes of payload (the rest counts as rate-limited; the
	// requester pulls it again from another announcer or later).
	link := pe != nil && pe.state != statePassive
	b, budget := &p.strangers, p.cfg.AntiEntropyBytes
	if link {
		b, budget = &pe.tokens, math.MaxInt
	}
	if !b.take(p.now, p.cfg.GraftRateLimitPerSecond, p.cfg.GraftRateLimitBurst) {
		p.counters.GraftRateLimited++
		p.emit(Event{Kind: EventGraftRateLimited, Peer: from, Count: len(m.IDs)})
		return
	}
	bytes := 0
	for i, id := range m.IDs {
		if bytes >= budget {
			p.counters.GraftRateLimited++
			p.emit(Event{Kind: EventGraftRateLimited, Peer: from, Count: len(m.IDs) - i})
			break
		}
		sm, ok := p.store.Get(p.now, id)
		if !ok || !p.ageOK(sm.OriginTime) {
			p.counters.GraftUnanswerable++
			p.emit(Event{Kind: EventGraftUnanswerable, Peer: from, ID: id})
			continue
		}
		hops := incHops(sm.Hops)
		p.send(from, Message{Type: MsgGossip, ID: id, OriginTime: sm.OriginTime, Hops: hops, Payload: sm.Payload, Headers: sm.Headers, Repaired: true})
		p.counters.GossipSent++
		p.emit(Event{Kind: EventGossipSent, Peer: from, ID: id, Hops: hops})
		bytes += len(sm.Payload)
	}
}

func (p *Protocol) onPrune(from PeerID) {
	p.counters.PruneReceived++
	pe := p.peerFor(from, true)
	if pe == nil {
		p.tomb.noteLink(from, stateLazy)
		return
	}
	switch {
	case pe.state == statePassive && pe.joining:
		// It accepted our Join as a lazy link.
		p.openLink(pe, false, ReasonPruneReceived)
		p.setPruned(pe, true)
		p.trimLazy(pe)
		return
	case pe.state == statePassive:
		p.stray(pe)
		return
	}
	wasEager := pe.state == stateEager
	p.toLazy(pe, ReasonPruneReceived, true)
	if wasEager {
		p.linkRefused(pe)
	}
	if wasEager && p.shortcutRefused(pe) {
		return
	}
	if wasEager {
		p.dupEpoch++ // duplicate counts restart (see duplicate)
		if len(p.eager) == 0 {
			p.relink(pe) // see relink
		}
	}
}

// maintenance is the periodic round: repair the active view, run
// anti-entropy.
func (p *Protocol) maintenance() {
	p.rateRound()
	p.expireJoins()
	p.repair(ReasonMaintenance)
	p.antiEntropy()
}
