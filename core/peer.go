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
//
// A peer is in exactly one state: eager or lazy (the active view: a link
// both sides hold, opened by a Join and closed by a Disconnect), passive (a
// member without a link: a candidate for the active view and a target of
// pulls) or gone. A passive peer may have a Join outstanding (joining).
type peer struct {
	id         PeerID
	state      peerState
	idx        int       // index in the list of its state
	pruned     bool      // lazy because of a redundancy Prune (sent or received)
	leftovers  time.Time // until then, its copies may be ones it queued before it read our last Prune (see leftover)
	protected  bool      // protected ring neighbour: kept in the active view (eager or lazy)
	near       bool      // ring neighbour (preferred when promoting)
	dups       int       // duplicates received since the last Prune sent to it
	lastPush   uint64    // Protocol.pushes when it last sent us a Gossip (0 = never)
	dupEpoch   uint64    // Protocol.dupEpoch when dups was last counted
	prunedAt   time.Time // when we last sent it a Prune
	pruneAt    time.Time // not pruned for duplicates before this ((threshold-1)-th duplicate + random part of PruneDelay)
	linkAsked  time.Time // when we last sent it a link Graft
	noLinkTill time.Time // not asked for a link before this, when another will do: it refused one (see linkRefused)
	graceTo    time.Time // a link that re-attached pulling nodes: its duplicates do not count before this (see notePull)

	// Link protocol (passive peers only).
	joining     bool      // a Join we sent is unanswered
	joinEager   bool      // the link that Join asked for
	joinAt      time.Time // when the Join was sent (given up by the first maintenance round a GraftTimeout later)
	strayAt     time.Time // last Disconnect sent because it acted as if linked
	strayIHaves int       // IHaves received while passive since the link closed (or the last stray Disconnect)

	hasRTT bool
	srtt   time.Duration
	rttvar time.Duration

	tokens  bucket // Graft rate limit
	digests bucket // digest answer limit (see digestAnswerRate)

	q       []Announcement // IHave queue (lazy peers only)
	qDead   int            // blanked announcements in q (unqueueIHave)
	qFront  int            // blanks at the front of q
	inDirty bool
}

// activeCap bounds the active view (eager + lazy links): MaxPeers, or
// EagerFanout + LazyFanout when MaxPeers is 0.
func (p *Protocol) activeCap() int { return p.cfg.activeCapacity() }

// eagerCap bounds the eager links: MaxEagerPeers, or the active view's cap.
func (p *Protocol) eagerCap() int {
	if m := p.cfg.MaxEagerPeers; m > 0 && m < p.activeCap() {
		return m
	}
	return p.activeCap()
}

// activeLen is the number of links (eager + lazy).
func (p *Protocol) activeLen() int { return len(p.eager) + len(p.lazy) }

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
	p.linksVer++
	if pe.state == stateEager {
		p.resetShortcuts()
	}
	l := p.list(pe.state)
	last := len(*l) - 1
	(*l)[pe.idx] = (*l)[last]
	(*l)[pe.idx].idx = pe.idx
	(*l)[last] = nil
	*l = (*l)[:last]
	if pe.state == stateLazy && pe.pruned {
		p.nPruned--
	}
	if len(pe.q) > 0 {
		p.dropQueue(pe)
	}
}

func (p *Protocol) link(pe *peer, s peerState) {
	p.linksVer++
	if s == stateEager {
		p.resetShortcuts()
	}
	pe.state = s
	l := p.list(s)
	pe.idx = len(*l)
	*l = append(*l, pe)
	if s == stateLazy && pe.pruned {
		p.nPruned++
	}
}

// move puts pe into state s (pe must be linked). pruned applies to lazy.
// Announcements queued for a peer that changes state are flushed first,
// not dropped: they name messages forwarded while the peer was lazy (or
// repaired here while it was eager), which it will never get eagerly, and
// they may be the only announcement it gets (an origin whose lazy peers are
// promoted before the IHave flush would otherwise lose the message at every
// other node).
func (p *Protocol) move(pe *peer, s peerState, pruned bool) {
	if len(pe.q) > 0 {
		p.flushPeer(pe)
	}
	p.unlink(pe)
	pe.pruned = s == stateLazy && pruned
	p.link(pe, s)
}

// leftover reports whether a copy pushed by pe now may be one it queued
// before it read the Prune we last sent it. The window opens when that
// Prune goes out over a link with a backlog (SetBacklog) and closes when pe
// shows it holds the link lazy (its next IHave, which it sends behind every
// copy it queued before; see core/node's BulkSender), when it asks for the
// link again (a link Graft), when we link it, or after AntiEntropyMinAge.
// Such a copy, a first copy included, says nothing about the link: pe
// pushed it while the link was eager. Taken as evidence, behind a queue of
// large-message parts, a first copy linked back the peer the node had just
// pruned — both ends then pushed every part for as long as their queues
// lasted — and each few duplicates sent another Prune: 20 messages of
// 4 MiB sent at once by 16 nodes over links of 4 MB/s (tools/largebench)
// made 540 of their 731 promotions from such copies, and 7,500 Prunes.
//
// Only behind a backlog: where copies wait a round trip, not seconds,
// linking back the peer whose copy came first is how a tree shared by
// many senders under load keeps its fastest paths: with the window after
// every Prune, the simulator's burst on shared cores
// (TestBurstOnSharedCoresDoesNotPullTheBacklog, seeds 1 and 2) pulled
// 10,141 and 6,604 copies instead of 2,719 and 1,157.
//
// The bound: a copy queued longer than AntiEntropyMinAge is one
// anti-entropy would already repair, so the repair plane takes such a queue
// for a loss anyway; and a Prune that was lost (the connection dropped) is
// sent again once the window has closed.
func (p *Protocol) leftover(pe *peer) bool { return p.now.Before(pe.leftovers) }

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
