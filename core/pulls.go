package core

import (
	"slices"
	"time"
)

// pullPolicy holds the state that keeps pulls from growing the tree.
//
// A Graft with ids only pulls copies: it changes no link. A slow eager path
// (queues under a burst) makes announcements overtake the tree's copies;
// if every such pull made the link eager, as the paper's Graft does, the
// tree would gain a link per late copy, every message would then travel
// several ways, the queues would grow further — positive feedback (a 2,000
// message burst used to take RMR from 0.01 to 1.44). So:
//
//   - a pull turns into a link (a link Graft to the lazy peer that
//     answered) at most once per graft timeout, never while the node is
//     overloaded: enough to re-attach a node or a group of nodes the tree
//     lost (they pull everything) while the load lasts, too slow to grow
//     the tree during a burst (once per MaintenanceInterval, 2 s by
//     default, left most seeded 50-node runs at 400 msg/s split: each
//     re-attachment needs a few links, and the first ones are pruned
//     again); the new link is not pruned for duplicates at first (see
//     graceLink);
//   - at most MaxGraftsPerInterval ids are pulled per graft-timeout
//     interval; due pulls beyond it wait for the next interval (counted as
//     GraftsDeferred): the tree's copy or anti-entropy usually makes them
//     unnecessary;
//   - a first pull waits while the tree is visibly busy with the message's
//     origin: when a tree copy from that origin arrived within the graft
//     timeout and none with a higher sequence (copies of one origin follow
//     one path, in order, so a later one overtaking means the copy was
//     lost), the pull is put off by one graft timeout, at most
//     maxPullDeferrals times. A burst that queues the tree then costs
//     waiting, not copies; a lost copy is still pulled at once when the
//     origin's next message arrives, or when it is overdue by its age (see
//     Protocol.treeOverdue: the usual age already follows a slow tree);
//   - a first pull also waits while the tree as a whole runs late: until
//     the message is a graft timeout older than its origin's base age
//     (the smallest age of its eager copies lately) plus the tree's
//     current lag (the smallest excess over their base of the last few
//     copies the eager peers pushed, whatever their origin). A queue
//     delays every copy through it, so the tree still bringing copies as
//     late as this one means it is queued, not missing; a loss delays only
//     the copies repaired behind it, so under loss the lag stays near 0
//     and pulls are as fast as before (see treelag.go). Not bounded in
//     count, but in time: each wait lasts until the due time at the lag
//     then measured, so a copy that was really lost is pulled once the
//     tree has caught up (or, traffic stopping, at the last lag seen);
//   - a first pull waits two graft timeouts after the announcement instead
//     of one while the node is busy (it delivers more than maxQuietRate
//     messages a second) and its tree is whole (no first pull went out
//     within wholePulls graft timeouts): the onset of a burst. Its queues
//     are uneven: copies of nearby origins keep coming on time, so the
//     tree's lag stays near 0, while the first copies of a distant origin
//     wait in the queues of a long path, and a lazy neighbour close to that
//     origin announces them long before they come. Pulled after one graft
//     timeout, each came twice, and the pulls' copies, pushed on, loaded
//     the queues further: one 2,000-message burst in three or four at
//     N = 32 (tools/bench, 2 cores) pulled 100-2,900 copies (RMR 0.07 to
//     0.33, down to 24k deliveries/s), its first pulls 200 ms into the
//     burst at ages of 205-230 ms, the lag 0.1-12 ms and the largest recent
//     excess 80-93 ms; with the wait, 1 burst in 24 pulled (7 of 24
//     without; that one was slow enough for copies to stay queued past two
//     graft timeouts).
//     Once a pull has gone out the tree is no longer taken as whole: a
//     sustained load that keeps pulls coming (a tree split by concurrent
//     prunes, loss) is served as before — waiting whenever busy settled
//     the 50-node many-senders runs in 17 of 30 seeds instead of 28 — and
//     a copy lost at a burst's onset is pulled one graft timeout later;
//   - duplicates of a pulled copy never count towards a prune.
type pullPolicy struct {
	lastPromote time.Time // last link Graft sent because of pulls
	lastPull    time.Time // last first pull (see whole)
	streak      int       // first copies pulled or late since the tree last pushed one in time (see cutOff)
	windowStart time.Time // start of the current pull budget interval
	windowPulls int       // ids pulled in it
	// origins: per origin, the last tree copy (bounded by maxTreeOrigins;
	// emptied when full).
	origins map[PeerID]originTrace
	lag     treeLag    // the tree's current lag over all origins (treelag.go)
	answers answerTime // how long Grafts wait for their answers (see graftBackoff)
}

// originTrace is the last first copy of one origin the tree pushed to us,
// and how old the tree's recent copies of that origin were on arrival.
type originTrace struct {
	at  time.Time
	seq uint64 // highest sequence received through the tree
	// ages: the ages (arrival minus origin time) of the last treeAgeSamples
	// tree copies from this origin, a ring; n of them are set, next is
	// the slot the next sample goes to.
	ages [treeAgeSamples]time.Duration
	n    uint8
	next uint8
	base originBase // smallest recent age of its eager copies (treelag.go)
}

// treeAgeSamples is how many recent tree-copy ages are kept per origin.
// Their median is the origin's usual tree age: one copy in two may arrive
// late (behind a repair upstream) without moving it, and a queue that
// slows every copy moves it within three copies.
const treeAgeSamples = 5

// addAge records the age of a tree copy.
func (o *originTrace) addAge(age time.Duration) {
	o.ages[o.next] = age
	o.next = (o.next + 1) % treeAgeSamples
	if o.n < treeAgeSamples {
		o.n++
	}
}

// usualAge is the median of the recorded tree-copy ages (the upper one of
// the two middle ones when there is an even number of them).
func (o *originTrace) usualAge() (time.Duration, bool) {
	if o.n < treeAgeSamples {
		return 0, false
	}
	var s [treeAgeSamples]time.Duration
	v := s[:o.n]
	copy(v, o.ages[:o.n])
	slices.Sort(v)
	return v[len(v)/2], true
}

const (
	// maxTreeOrigins bounds pullPolicy.origins.
	maxTreeOrigins = 4096
	// maxPullDeferrals bounds how often one first pull is put off.
	maxPullDeferrals = 2
)

// trace returns a copy of origin's trace (the zero trace for a new one;
// the map is emptied when it holds maxTreeOrigins others). The caller
// stores it back.
func (l *pullPolicy) trace(origin PeerID) originTrace {
	if l.origins == nil {
		l.origins = make(map[PeerID]originTrace)
	}
	o, ok := l.origins[origin]
	if !ok && len(l.origins) >= maxTreeOrigins {
		clear(l.origins)
	}
	return o
}

// noteOrigin records a tree copy of id with origin time ot.
func (l *pullPolicy) noteOrigin(now time.Time, id MessageID, ot time.Time) {
	o := l.trace(id.Origin)
	o.at = now
	o.seq = max(o.seq, id.Seq)
	o.addAge(now.Sub(ot))
	l.origins[id.Origin] = o
}

// overdueAt is when the tree's copy of a message from origin with origin
// time ot is overdue: once the message is older than the usual age of the
// origin's tree copies here plus slack. ok is false while no tree copy of
// that origin has been seen.
//
// Ages are taken on two clocks (the origin's for ot, ours for the
// arrival), so the usual age holds the clock offset too and the
// difference is offset-free: a skewed clock moves both alike.
func (l *pullPolicy) overdueAt(origin PeerID, ot time.Time, slack time.Duration) (time.Time, bool) {
	o, ok := l.origins[origin]
	if !ok {
		return time.Time{}, false
	}
	age, ok := o.usualAge()
	if !ok {
		return time.Time{}, false
	}
	return ot.Add(age + slack), true
}

// treeBusy reports whether the tree is still delivering id's origin in
// order up to id: a tree copy from it within timeout, none past id.Seq.
func (l *pullPolicy) treeBusy(now time.Time, id MessageID, timeout time.Duration) bool {
	o, ok := l.origins[id.Origin]
	return ok && now.Sub(o.at) < timeout && o.seq < id.Seq
}

// wholePulls is how many graft timeouts without a first pull make the tree
// count as whole (see pullPolicy): the bench's steady phase, 20 messages a
// second from random origins over a formed tree, sends none for seconds;
// a tree split by concurrent prunes, or a lossy network, sends several a
// second.
const wholePulls = 10

// whole reports whether no first pull went out within wholePulls graft
// timeouts g.
func (l *pullPolicy) whole(now time.Time, g time.Duration) bool {
	return l.lastPull.IsZero() || now.Sub(l.lastPull) >= wholePulls*g
}

// notePulledCopy records a first copy we pulled (see cutOff).
func (l *pullPolicy) notePulledCopy() { l.streak++ }

// noteTreeCopy records a first copy (id, origin time ot) the tree pushed to
// us; late: it came more than the configured graft timeout after an
// announcement (see noteLate).
func (l *pullPolicy) noteTreeCopy(now time.Time, id MessageID, ot time.Time, late bool) {
	if late {
		l.streak++
	} else {
		l.streak = 0
	}
	l.noteOrigin(now, id, ot)
}

// noteRepairedCopy records a first copy an eager peer pushed on after it or
// a node before it pulled the message or got it repaired
// (Message.Repaired). late: it came late like any late copy and counts as
// a sign of being cut off (see noteLate); a timely one does not show the
// tree feeds us, so it does not reset the count. The origin's trace is not
// touched: the copy's timing is the repair's, and taken as the tree's it
// made the members of a group fed by one member's pulls put their own
// pulls off (treeBusy) for as long as the group kept delivering the origin
// that way.
func (l *pullPolicy) noteRepairedCopy(late bool) {
	if late {
		l.streak++
	}
}

// cutOffPulls is how many first copies in a row a node must pull (or get
// late, see noteLate), with no timely pushed copy between them, before it
// counts as cut off from the tree (see notePull). One or two are a lost
// copy or a slow link; a node still on the tree gets a timely copy between
// two losses.
const cutOffPulls = 3

// cutOff reports whether the tree has stopped feeding this node: its last
// cutOffPulls first copies were pulled or late.
func (l *pullPolicy) cutOff() bool { return l.streak >= cutOffPulls }

// mayPromote reports whether a pull may turn into a link now (at most one
// per every), and records it if so.
func (l *pullPolicy) mayPromote(now time.Time, every time.Duration) bool {
	if !l.lastPromote.IsZero() && now.Sub(l.lastPromote) < every {
		return false
	}
	l.lastPromote = now
	return true
}

// take reports whether one more id may be pulled in the interval of length
// width containing now (budget ids per interval); if not, it returns when
// the next interval starts.
func (l *pullPolicy) take(now time.Time, width time.Duration, budget int) (bool, time.Time) {
	if l.windowStart.IsZero() || !now.Before(l.windowStart.Add(width)) {
		l.windowStart, l.windowPulls = now, 0
	}
	if l.windowPulls >= budget {
		return false, l.windowStart.Add(width)
	}
	l.windowPulls++
	return true, time.Time{}
}

// notePull handles the answer to a pull from linked peer pe; ann are the
// peers that announced the message before it came. The pull may become a
// link (at most once per graft timeout, see pullPolicy):
//
//   - to pe, unless pe refused a link lately (its eager set is full: it
//     answers pulls but prunes a link Graft at once). Then to another lazy
//     announcer: the announcers had the copy before us, so they are on the
//     side of the tree that holds it. Linking pe again would be refused
//     again, for every pull: a group of nodes cut off from the tree kept
//     pulling every message (hundreds of milliseconds each) while its
//     first announcer, one hop from the origin and at its cap, answered
//     each link Graft with a Prune (tools/largebench, 16 nodes, LAN
//     preset).
//   - with our own eager set full, only when the node is cut off (cutOff:
//     its last cutOffPulls first copies were all pulled or late): then
//     its eager links all lead away from the tree, and the one that
//     pushed least recently is pruned to make room. Without it, a node at
//     its cap whose three eager links were its own group kept that group
//     pulling every message for as long as the traffic lasted (the same
//     benchmark).
func (p *Protocol) notePull(pe *peer, ann []PeerID) {
	if pe.state != stateLazy || p.overloaded {
		return
	}
	if !p.linkable(pe) {
		pe = nil
	}
	p.linkAnnouncer(pe, ann)
}

// noteLate handles a copy the tree pushed more than the configured graft
// timeout after a lazy peer announced it (ann: the announcers): a node's
// eager peers bring it copies that someone pulled. A group of nodes the
// tree lost is fed that way: whichever member pulls first pushes the copy
// to the others, and a member whose lazy peers have room for a link may
// never pull itself (the copy comes within its own graft timeout) while
// the one that pulls can link nowhere (every peer it asks is at its cap).
// Once cut off (cutOff), such a member links an announcer as a pull would.
//
// A late copy counts only while the tree as a whole does not run late (its
// lag, see treelag.go, under half a graft timeout), the node delivers at
// most maxQuietRate messages per second and is not overloaded: otherwise
// copies come late because queues hold them, and links made from them grew
// a 2,000-message burst's RMR (coretest's queued burst: 0.00 to 0.38-0.59
// without the lag guard; the shared-processor burst: 0.21-0.23 to
// 0.42-0.52 without the rate guard), and counting them towards cutOff
// moved the 50-node many-senders runs at 400 msg/s (53 of 60 seeds settled
// against 56).
func (p *Protocol) noteLate(ann []PeerID) {
	if p.pulls.cutOff() {
		p.linkAnnouncer(nil, ann)
	}
}

// lateMeansCutOff reports whether a late tree copy may count as a sign of
// being cut off (see noteLate): not while queues are the likelier cause.
func (p *Protocol) lateMeansCutOff() bool {
	return p.quiet() && p.pulls.lag.get() < p.cfg.GraftTimeout/2
}

// linkAnnouncer turns a pull or a late copy into a link: to pe (nil: none)
// or else the first lazy announcer in ann that may be asked (see notePull).
func (p *Protocol) linkAnnouncer(pe *peer, ann []PeerID) {
	to := pe
	if to == nil {
		for _, id := range ann {
			if c := p.peers[id]; c != nil && c.state == stateLazy && p.linkable(c) {
				to = c
				break
			}
		}
		if to == nil {
			return
		}
	}
	full := len(p.eager) >= p.eagerCap()
	if full && !p.pulls.cutOff() {
		return
	}
	if !p.pulls.mayPromote(p.now, p.tun.GraftTimeout) {
		return
	}
	if full {
		// Every eager link leads away from the tree: they feed nothing
		// to us, we feed them. One of them makes room for the link that
		// re-attaches the group; the peer dropped finds its own way back
		// (it pulls, and links like this).
		w := p.stalestEager()
		if w == nil {
			return
		}
		p.promote(to, ReasonGraftSent)
		p.demote(w, ReasonCapacity)
	} else if !p.toEager(to, ReasonGraftSent) {
		return
	}
	p.graceLink(to)
	p.sendLinkGraft(to)
}

// stalestEager returns the unprotected eager peer that pushed us a Gossip
// least recently (never first), ties to the first in the set.
func (p *Protocol) stalestEager() *peer {
	var w *peer
	for _, e := range p.eager {
		if !e.protected && (w == nil || e.lastPush < w.lastPush) {
			w = e
		}
	}
	return w
}

// linkRetry is how long a peer that refused a link is not asked for one
// again while another peer will do.
const linkRetry = 30 * time.Second

// linkable reports whether pe may be asked for a link: it has not refused
// one within linkRetry.
func (p *Protocol) linkable(pe *peer) bool { return !p.now.Before(pe.noLinkTill) }

// linkRefused handles a Prune from pe, which was eager: when it comes within
// two graft timeouts of the link Graft we sent it, pe refused the link (its
// eager set was full, see onGraft; the link's own duplicates do not prune
// it that soon, see graceLink), and it is not asked again for linkRetry
// while other peers will do.
func (p *Protocol) linkRefused(pe *peer) {
	if !pe.linkAsked.IsZero() && p.now.Sub(pe.linkAsked) <= 2*p.tun.GraftTimeout {
		pe.noLinkTill = p.now.Add(linkRetry)
	}
}

// graceLink keeps the duplicates that arrive over a freshly linked pe from
// counting towards a prune for one graft timeout plus PruneDelay. A pull
// turns into a link when a group of nodes gets an origin's messages only
// through pulls: the link joins that group to the rest of the tree. Until
// the pulls already sent are answered, every node of the group gets those
// messages twice — the pulled copy a neighbour pushed on, then the tree's
// copy over the new link — and counted as redundancy those duplicates
// pruned the new link within a PruneDelay, on both of its ends: the group
// fell off the tree again and kept pulling (the 50-node many-senders test
// at 400 msg/s ended split in three). The grace covers the answers in
// flight; a link that really closes a cycle is still pruned after it.
func (p *Protocol) graceLink(pe *peer) {
	pe.graceTo = p.now.Add(p.tun.GraftTimeout + p.cfg.PruneDelay)
}

// SetOverloaded tells the protocol whether the runtime is behind on its
// input (core/node: the oldest queued inbound frame waited more than half
// the graft timeout). While overloaded the node pulls nothing: the copies
// it would pull are likely already queued here, and pulling more would add
// to the backlog. Due Grafts wait one graft timeout and are counted as
// GraftsDeferred.
func (p *Protocol) SetOverloaded(now time.Time, v bool) {
	if p.closed {
		return
	}
	p.advance(now)
	p.overloaded = v
	p.finish()
}

// passed reports whether the tree brought a copy from id's origin with a
// higher sequence already: copies of one origin follow one path in order,
// so id's copy was lost on it.
func (l *pullPolicy) passed(id MessageID) bool {
	o, ok := l.origins[id.Origin]
	return ok && o.seq > id.Seq
}
