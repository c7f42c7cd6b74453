package core

import "time"

// Tree shaping for many senders (Config.ShortcutSamples).
//
// Many senders share one tree, and which edge of each cycle the duplicates
// prune is a matter of timing: the tree ends up a random spanning tree of
// the overlay, whose paths are long (at 32 nodes the last delivery of a
// message was a median 10-15 hops from its origin). Algorithm 4 re-parents
// on one message's hop counts, and with many senders a shorter path for one
// origin is a longer one for another.
//
// Here a node v looks at one eager link E = (v, e) at a time. Removing E
// would split the tree into v's side A and e's side B; the messages whose
// first copy came through E are those of the origins in B. A lazy peer l
// that announces such a message with hop count h(l) while v's copy came
// with h(v) = d(b, e) + 1 shows d(b, e) - d(b, l) = h(v) - 1 - h(l). If l
// is in B, the link (v, l) can replace E, and every path between A and B
// changes by the average of that difference over B's origins (weighted by
// how often each sends): replacing E by L shortens the tree's total path
// length iff the mean of h(v) - 1 - h(l) over the messages through E is
// positive. If l is in A, its copies went through v and the difference is
// at most -2. So v keeps, per pair (E, L), the sum and count of those
// differences, and after ShortcutSamples announcements grafts L and prunes
// E when the mean is at least 1.5 hops (hysteresis against noise). Each
// swap lowers the total (up to the noise of the sample), so the swaps stop:
// at 32 nodes within about 10 s of traffic at 20 msg/s
// (TestShortcutsShortenTheTree), at 100 within a few minutes (docs/design.md).
//
// A swap loses no copy in flight: it makes before it breaks, in one
// direction only. The link Graft makes L eager at both ends, so l pushes
// to v at once, while v keeps E and pushes to e alone (not to l): the far
// side B still gets A's messages through E only, so no node but v sees the
// transient cycle, and v takes its duplicates (on E and on L) without
// pruning either. The copies that passed l before the Graft still come
// through E, which is why E stays: for at least a graft timeout, and until
// E has brought, for each origin whose copy L brought first meanwhile, that
// copy too (copies of one origin follow one path in order, so nothing of
// that origin is left behind on E's path), up to four graft timeouts
// (swapOverlap, noteSwapCopy). Then v prunes E and pushes to l. Cutting E
// at once (as first built) lost every copy that had passed l but not e,
// and v pulled each of them a graft timeout later; a plain overlap in both
// directions let B's nodes see the cycle's duplicates and prune other edges
// of it, and the tree split. Samples are dropped whenever the eager set
// changes (resetShortcuts): the sides they compare are gone.
//
// Guards: no swap while the node delivers more than maxQuietRate or is
// overloaded (the overlap's duplicates are one per message); a peer that
// refuses the new link is dropped from the swap, E having never been cut
// (shortcutRefused).
// Hops are not milliseconds: on links of very different latency a path of
// fewer hops can be slower: use it where links have similar latency.
//
// The samples are the announcements v receives; a lazy peer drops its
// announcement when v's reaches it first (unqueueIHave), which depends on
// the two IHave timers, not on hop counts, so the sample is not biased.

// pendingSwap is the swap in progress: the overlap, then the time the new
// peer has to refuse the link (its eager set full: it answers the link
// Graft with a Prune).
type pendingSwap struct {
	via, to PeerID
	// switchAt is the earliest end of the overlap, lastAt the latest:
	// until it ends both links are eager and to is not pushed to (see
	// swapHolds). Zero once the old link is cut.
	switchAt, lastAt time.Time
	// behind holds, per origin, the first sequence number the new link
	// brought during the overlap, until the old link brings a copy of
	// that origin as new (caughtUp): copies of one origin follow one path
	// in order, so the old path may still hold older ones until then.
	// pending counts the origins not caught up.
	behind  map[PeerID]uint64
	pending int
	until   time.Time
}

// caughtUp marks an origin of pendingSwap.behind the old link caught up on.
const caughtUp = ^uint64(0)

// swapOverlap is how long, in graft timeouts, a swap keeps the old link at
// least after making the new one: the copies that passed the new peer
// before its link was made arrive through the old one meanwhile (they lag
// by the difference of two paths through the tree, far less than a graft
// timeout). It keeps it longer while the old link has not caught up on an
// origin the new one brought first (a stalled path), up to swapOverlapMax.
// A copy later than that is announced and pulled, as any late copy is.
// Each message in the overlap is one duplicate here: a fixed two graft
// timeouts doubled them against one (the RMR of
// TestShortcutsShortenTheTree's last 200 broadcasts 0-0.0066 against
// 0-0.0026).
const (
	swapOverlap    = 1
	swapOverlapMax = 4
)

// shortcut is the running comparison of lazy peer to against eager peer via.
type shortcut struct {
	via, to PeerID
	sum, n  int
}

// maxShortcuts bounds the pairs tracked (eager × lazy links fit many times).
const maxShortcuts = 64

// noteShortcut counts the announcement a (from lazy peer from) of a message
// we have, whose first copy s came from an eager peer, and swaps the links
// when the samples say so.
func (p *Protocol) noteShortcut(from PeerID, a *Announcement, s seenEntry) {
	k := p.cfg.ShortcutSamples
	if k <= 0 || s.from == from || s.from == p.self || s.pulled || s.hops == 0 || p.overloaded || p.busy() || !p.swap.switchAt.IsZero() {
		return
	}
	via := p.peers[s.from]
	to := p.peers[from]
	if via == nil || via.state != stateEager || to == nil || to.state != stateLazy || p.now.Before(to.noLinkTill) {
		return
	}
	i := p.shortcutIndex(s.from, from)
	if i < 0 {
		return
	}
	sc := &p.shortcuts[i]
	sc.sum += int(s.hops) - 1 - int(a.Hops)
	sc.n++
	if sc.n < k {
		return
	}
	// At least 1.5 hops on average: a mean of one hop was within the
	// noise of 16 samples often enough to keep a 64-node tree swapping
	// (and pulling the copies a swap loses) for a minute.
	gain := 2*sc.sum >= 3*sc.n
	p.shortcuts[i] = p.shortcuts[len(p.shortcuts)-1]
	p.shortcuts = p.shortcuts[:len(p.shortcuts)-1]
	if !gain {
		return
	}
	// to joins the eager set beside via (the eager set is bounded by the
	// active view only, which holds both: see Config.ShortcutSamples), and
	// via is pruned when the overlap ends (finishSwap); the lazy set keeps
	// its size. Neither link's duplicates count until a graft timeout
	// after that: they are the overlap's.
	p.promote(to, ReasonShortcut)
	p.sendLinkGraft(to)
	w := swapOverlapMax * p.tun.GraftTimeout
	p.swap = pendingSwap{via: via.id, to: to.id, switchAt: p.now.Add(swapOverlap * p.tun.GraftTimeout), lastAt: p.now.Add(w),
		behind: map[PeerID]uint64{}}
	grace := p.now.Add(w + p.tun.GraftTimeout)
	for _, pe := range [2]*peer{via, to} {
		if pe.graceTo.Before(grace) {
			pe.graceTo = grace
		}
	}
}

// resetShortcuts drops the samples of tree shaping: the eager set changed,
// so the sides of the tree around this node did, and samples taken before
// compare paths that are gone. Kept, they made a node swap for a peer that
// had just pruned it, on its side of the tree now: the tree split and the
// far side pulled (coretest, seed 8, 10 deliveries by Graft).
func (p *Protocol) resetShortcuts() {
	clear(p.shortcuts)
	p.shortcuts = p.shortcuts[:0]
}

// swapHolds returns the peers a swap's overlap keeps a copy from (from is
// the peer the copy came from): the new link, and for a copy that came
// through the new link the old one too — both lead to the far side, and a
// copy from one pushed to the other is a duplicate there (the far side's
// nodes would prune an edge of the cycle). Empty without an overlap, or
// once the old link is gone: the new one then carries everything.
func (p *Protocol) swapHolds(from PeerID) (to, via PeerID) {
	sw := &p.swap
	if sw.switchAt.IsZero() {
		if from != "" && from == sw.via {
			if pv := p.peers[from]; pv != nil && p.leftover(pv) {
				// A copy the old link pushed before it read our
				// Prune: the far side's too, so not for the new link.
				return sw.to, ""
			}
		}
		return "", ""
	}
	if pv := p.peers[sw.via]; pv == nil || pv.state != stateEager {
		return "", ""
	}
	if from == sw.to {
		return sw.to, sw.via
	}
	return sw.to, ""
}

// noteSwapCopy follows, during a swap's overlap, a copy of id that came
// from peer from (first or not): which origins the new link brought, and
// whether the old one caught up on them since.
func (p *Protocol) noteSwapCopy(from PeerID, id MessageID) {
	sw := &p.swap
	if sw.switchAt.IsZero() {
		return
	}
	switch from {
	case sw.to:
		if _, ok := sw.behind[id.Origin]; ok {
			return
		}
		// Only a first copy: the new link is ahead on its origin, and
		// the old one must bring this copy too before it can go. (A copy
		// the old link brought first shows it is not behind; one whose
		// first came from this side went around through the old link,
		// which will never bring it back.)
		if p.known(id) {
			return
		}
		sw.behind[id.Origin] = id.Seq
		sw.pending++
	case sw.via:
		if s, ok := sw.behind[id.Origin]; ok && s != caughtUp && id.Seq >= s {
			sw.behind[id.Origin] = caughtUp
			sw.pending--
		}
	}
}

// swapDue returns when the swap's overlap ends, given what the old link
// caught up on so far (zero without an overlap).
func (p *Protocol) swapDue() time.Time {
	sw := &p.swap
	if sw.switchAt.IsZero() || sw.pending == 0 {
		return sw.switchAt
	}
	if via := p.peers[sw.via]; via == nil || via.state != stateEager {
		return sw.switchAt // nothing more comes through it
	}
	return sw.lastAt
}

// finishSwap ends a swap's overlap once due (swapDue): the old link is
// pruned and the new one carries both directions. A new link that was
// refused or dropped meanwhile leaves the old one as it was.
func (p *Protocol) finishSwap() {
	sw := &p.swap
	if sw.switchAt.IsZero() || p.now.Before(p.swapDue()) {
		return
	}
	sw.switchAt, sw.lastAt, sw.behind, sw.pending = time.Time{}, time.Time{}, nil, 0
	to, via := p.peers[sw.to], p.peers[sw.via]
	if to == nil || to.state != stateEager {
		*sw = pendingSwap{}
		return
	}
	if via != nil && via.state == stateEager {
		p.demote(via, ReasonShortcut)
		// Copies it pushed before it reads the Prune are no reason to
		// link it again (see leftover): the swap replaced it.
		if t := p.now.Add(p.cfg.AntiEntropyMinAge); via.leftovers.Before(t) {
			via.leftovers = t
		}
	}
	sw.until = p.now.Add(2 * p.tun.GraftTimeout)
}

// shortcutIndex returns the index of the pair (via, to), adding it; -1 when
// the table is full.
func (p *Protocol) shortcutIndex(via, to PeerID) int {
	for i := range p.shortcuts {
		if p.shortcuts[i].via == via && p.shortcuts[i].to == to {
			return i
		}
	}
	if len(p.shortcuts) >= maxShortcuts {
		// Pairs whose links changed since are dropped first.
		live := p.shortcuts[:0]
		for _, sc := range p.shortcuts {
			v, t := p.peers[sc.via], p.peers[sc.to]
			if v != nil && v.state == stateEager && t != nil && t.state == stateLazy {
				live = append(live, sc)
			}
		}
		clear(p.shortcuts[len(live):])
		p.shortcuts = live
		if len(p.shortcuts) >= maxShortcuts {
			return -1
		}
	}
	p.shortcuts = append(p.shortcuts, shortcut{via: via, to: to})
	return len(p.shortcuts) - 1
}

// shortcutRefused undoes the last swap when pe, the peer it made eager,
// refuses the link with a Prune soon after: the eager peer it replaced is
// linked again (else the two sides of the tree it joined would be apart
// until pulls relink them); linkRefused keeps pe from being asked again.
func (p *Protocol) shortcutRefused(pe *peer) bool {
	sw := p.swap
	if sw.to != pe.id {
		return false
	}
	if !sw.switchAt.IsZero() {
		// Refused during the overlap: the old link was never cut.
		p.swap = pendingSwap{}
		return true
	}
	if p.now.After(sw.until) {
		return false
	}
	p.swap = pendingSwap{}
	via := p.peers[sw.via]
	if via == nil || via.state != stateLazy || !p.toEager(via, ReasonShortcut) {
		return false
	}
	p.sendLinkGraft(via)
	return true
}
