package core

import (
	"slices"
	"strings"
	"time"
)

// pending is a message announced by IHave but not received yet.
type pending struct {
	id         MessageID
	ann        []PeerID   // announcers, in arrival order, at most MaxAnnouncers
	next       int        // index in ann of the next Graft target
	target     PeerID     // the peer the outstanding Graft went to
	target2    PeerID     // a retry's second peer asked at once ("" if none)
	asked      []graftAsk // every Graft sent for id: to whom and when (answer times, see answerTime)
	grafts     int        // Grafts sent so far
	deferred   int        // times the first Graft was put off (see pullPolicy)
	deadline   time.Time
	firstGraft time.Time
	announced  time.Time // when the first announcement arrived
	originTime time.Time // the message's origin time, as announced (age rule)
	order      uint64    // insertion order: ties on deadline are broken by it
	hi         int       // heap index
	// offer: an eager peer announced the message, older than
	// AntiEntropyMinAge — a copy it got by Repair and announces instead
	// of pushing (announceRepaired). No tree copy is coming, so the first
	// Graft goes to it at once, outside the pull budget (see fireGrafts).
	offer bool
	// stray: every announcer so far is no link of this node (see
	// maxStrayPending).
	stray bool
}

// pendingSet holds the pending messages in a map and a min-heap ordered by
// (deadline, order). Both are bounded by MaxPendingGrafts.
type pendingSet struct {
	m      map[MessageID]*pending
	h      []*pending
	free   []*pending
	order  uint64
	strays int // entries with stray set
}

func (s *pendingSet) init() { s.m = make(map[MessageID]*pending) }

func (s *pendingSet) top() (time.Time, bool) {
	if len(s.h) == 0 {
		return time.Time{}, false
	}
	return s.h[0].deadline, true
}

func (s *pendingSet) less(i, j int) bool {
	a, b := s.h[i], s.h[j]
	if !a.deadline.Equal(b.deadline) {
		return a.deadline.Before(b.deadline)
	}
	return a.order < b.order
}

func (s *pendingSet) swap(i, j int) {
	s.h[i], s.h[j] = s.h[j], s.h[i]
	s.h[i].hi = i
	s.h[j].hi = j
}

func (s *pendingSet) up(i int) {
	for i > 0 {
		parent := (i - 1) / 2
		if !s.less(i, parent) {
			break
		}
		s.swap(i, parent)
		i = parent
	}
}

func (s *pendingSet) down(i int) {
	n := len(s.h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		c := l
		if r := l + 1; r < n && s.less(r, l) {
			c = r
		}
		if !s.less(c, i) {
			return
		}
		s.swap(i, c)
		i = c
	}
}

// add makes id pending with first as its first announcer and returns it.
func (s *pendingSet) add(id MessageID, first PeerID, now, deadline, originTime time.Time) *pending {
	var pd *pending
	if n := len(s.free); n > 0 {
		pd = s.free[n-1]
		s.free[n-1] = nil
		s.free = s.free[:n-1]
	} else {
		pd = &pending{}
	}
	s.order++
	*pd = pending{id: id, ann: append(pd.ann[:0], first), asked: pd.asked[:0], announced: now, deadline: deadline, originTime: originTime, order: s.order, hi: len(s.h)}
	s.h = append(s.h, pd)
	s.up(pd.hi)
	s.m[id] = pd
	return pd
}

// reschedule moves pd (in the heap) to a new deadline.
func (s *pendingSet) reschedule(pd *pending, d time.Time) {
	pd.deadline = d
	s.down(pd.hi)
	s.up(pd.hi)
}

func (s *pendingSet) remove(pd *pending) {
	i, last := pd.hi, len(s.h)-1
	if i != last {
		s.swap(i, last)
	}
	s.h[last] = nil
	s.h = s.h[:last]
	if i != last {
		s.down(i)
		s.up(i)
	}
	delete(s.m, pd.id)
	if pd.stray {
		s.strays--
	}
	clear(pd.ann)
	pd.ann = pd.ann[:0]
	clear(pd.asked)
	pd.asked = pd.asked[:0]
	pd.id = MessageID{}
	if len(s.free) < 64 {
		s.free = append(s.free, pd)
	}
}

func (s *pendingSet) clearAll() {
	for len(s.h) > 0 {
		s.remove(s.h[len(s.h)-1])
	}
}

// dropAnnouncer removes a departed peer from every pending message's
// announcers. A message left without announcers cannot be grafted any more:
// it is reported as partitioned and forgotten (a later IHave brings it back).
func (s *pendingSet) dropAnnouncer(p *Protocol, id PeerID) {
	var lost []*pending
	var retry []*pending
	for _, pd := range s.h { // heap order: deterministic
		i := slices.Index(pd.ann, id)
		if i < 0 {
			continue
		}
		pd.ann = slices.Delete(pd.ann, i, i+1)
		if i < pd.next {
			pd.next--
		}
		switch {
		case len(pd.ann) == 0:
			lost = append(lost, pd)
		case pd.grafts > 0 && pd.target2 == id:
			pd.target2 = "" // the other peer asked may still answer
		case pd.grafts > 0 && pd.target == id && pd.target2 != "":
			pd.target, pd.target2 = pd.target2, ""
		case pd.grafts > 0 && pd.target == id:
			// The outstanding Graft went to the departed peer: it will
			// never be answered. Rotate to the next announcer now
			// instead of waiting out the backoff (up to 8 × GraftTimeout);
			// still one outstanding Graft per id.
			retry = append(retry, pd)
		}
	}
	for _, pd := range retry {
		s.reschedule(pd, p.now)
	}
	for _, pd := range lost {
		p.counters.MessagesPartitioned++
		p.emit(Event{Kind: EventMessagePartitioned, ID: pd.id, Retries: pd.grafts})
		s.remove(pd)
	}
}

// noteAnnouncement records that from announced id (not seen yet). It reports
// false when the pending-graft bound is reached.
func (p *Protocol) noteAnnouncement(id MessageID, from PeerID, originTime time.Time, link bool) bool {
	offer := p.offered(from, originTime)
	if pd := p.pend.m[id]; pd != nil {
		if link && pd.stray {
			pd.stray = false
			p.pend.strays--
		}
		i := slices.Index(pd.ann, from)
		if i < 0 && len(pd.ann) < p.cfg.MaxAnnouncers {
			pd.ann = append(pd.ann, from)
			i = len(pd.ann) - 1
		}
		if offer && i >= 0 && pd.grafts == 0 && !pd.offer {
			// Pull from the repaired parent first, now.
			pd.offer = true
			pd.ann[0], pd.ann[i] = pd.ann[i], pd.ann[0]
			pd.next = 0
			p.pend.reschedule(pd, p.now)
		}
		return true
	}
	if len(p.pend.m) >= p.cfg.MaxPendingGrafts || (!link && p.pend.strays >= p.maxStrayPending()) {
		return false
	}
	deadline := p.graftDeadline(id, originTime)
	if offer {
		deadline = p.now
	}
	pd := p.pend.add(id, from, p.now, deadline, originTime)
	pd.offer, pd.stray = offer, !link
	if !link {
		p.pend.strays++
	}
	return true
}

// maxStrayPending bounds the pending messages that only senders which are
// no link of this node announced: claimShare of MaxPendingGrafts. Such
// announcements are routine and few (a link that closed while its IHave
// was on its way, a one-sided lazy link not yet found); without the bound,
// anyone who reached the port could fill the table with ids that do not
// exist (1,024 per IHave), and every announcement of the node's links was
// then dropped until those ids had been grafted in vain for the whole
// retry schedule.
func (p *Protocol) maxStrayPending() int { return claimShare(p.cfg.MaxPendingGrafts) }

// claimShare is the share of a table of capacity n that entries made on an
// unchecked claim may take: announcements of senders that are no link
// (maxStrayPending), origins named only in a peer's digest
// (streamTable.maxLearnt). An eighth, at least one: such entries are
// routine but few when every node follows the protocol, and the rest of
// the table stays for what the node's links and its own deliveries need.
func claimShare(n int) int { return max(n/8, 1) }

// offered reports whether an announcement from peer "from" of a message of
// origin time ot is an offer (see pending.offer): from is an eager peer
// and the message is older than AntiEntropyMinAge, so no tree copy of it
// is on the way.
func (p *Protocol) offered(from PeerID, ot time.Time) bool {
	if p.now.Before(ot.Add(p.cfg.AntiEntropyMinAge)) {
		return false // the usual case, a young message: no peer lookup
	}
	pe := p.peers[from]
	return pe != nil && pe.state == stateEager
}

// graftDeadline is when a message first announced now is pulled if the
// tree's copy has not come: one graft timeout after the announcement, or
// earlier, as soon as the copy is overdue by its age (treeOverdue). The
// graft timeout counts from the announcement, so it cannot tell a copy
// lost a moment ago from one lost long before: an announcement that comes
// late — queued at the announcer for up to an IHave interval, or sent by a
// node that itself got the message late, by a pull — would make the copy
// wait a whole timeout more. Under loss that is what made the tail: a lost
// copy pulled one graft timeout after its announcement, pushed on, lost
// again one hop further, and announced there only after that first pull,
// waited out a second full timeout (p99 to the last node about two graft
// timeouts plus the announcement delays).
func (p *Protocol) graftDeadline(id MessageID, originTime time.Time) time.Time {
	d := p.now.Add(p.tun.GraftTimeout)
	if due, ok := p.treeOverdue(id, originTime); ok && due.Before(d) {
		d = due
		if d.Before(p.now) {
			d = p.now
		}
	}
	return d
}

// treeOverdue reports when the tree's copy of id (origin time ot) is
// overdue: when the message is older than the usual age on arrival of the
// tree's copies of its origin here (the median of the last few, see
// originTrace) plus the configured GraftTimeout, plus a quarter of it for
// a pull one hop upstream to be answered and pushed on (a node below a
// lost link computes nearly the same due time as the node at the link,
// whose pull then comes one round trip later). ok is false until the tree
// has brought a copy from that origin. The usual age tracks the eager
// path's current delay: a queue that slows the tree's copies raises it
// within a few copies, so a slow tree is waited for rather than pulled
// around (what the tuned graft timeout does from the announcement's
// side); a late copy behind a repair upstream does not raise it, while
// under loss such copies raise the tuned timeout.
func (p *Protocol) treeOverdue(id MessageID, ot time.Time) (time.Time, bool) {
	g := p.cfg.GraftTimeout
	return p.pulls.overdueAt(id.Origin, ot, g+g/4)
}

// graftBackoff is the wait after the k-th Graft (k >= 1): Config.GraftTimeout
// doubling per retry, capped at 8 × GraftTimeout, and never less than the
// answer timeout measured lately (answerTime), itself capped at
// 8 × GraftTimeout. It stays on the configured value when SetTuning raises
// the graft timeout: that one waits for the tree's eager copy (how late it
// runs under load), while a retry waits for the answer to a Graft, one
// round trip to one peer; backing off from a raised timeout made a lost
// Graft wait up to 8 × 8 × GraftTimeout. But that round trip is not always
// short: over links that carry large messages the answer waits behind
// seconds of queued chunks, and a retry after one graft timeout asked two
// more peers each time, every answer but the first a duplicate chunk.
func (p *Protocol) graftBackoff(k int) time.Duration {
	if k > 4 {
		k = 4
	}
	d := p.cfg.GraftTimeout << (k - 1)
	if t := min(p.pulls.answers.timeout(p.now), p.cfg.GraftTimeout<<3); t > d {
		d = t
	}
	return d
}

// overdue reports whether pd's tree copy is overdue by its age
// (treeOverdue): then the tree is not waited for any longer, even when it
// is busy with the origin.
func (p *Protocol) overdue(pd *pending) bool {
	due, ok := p.treeOverdue(pd.id, pd.originTime)
	return ok && !p.now.Before(due)
}

// firstPullWait reports whether the first pull of pd waits, and until when
// (see pullPolicy), unless the tree already brought a later copy of its
// origin (the copy was lost): at a burst's onset on a whole tree, until two
// graft timeouts after the announcement — a burst's queues, not a loss;
// while the tree still brings copies as old as this one, until its due time
// at the current lag — queued, not missing (treeLate).
func (p *Protocol) firstPullWait(pd *pending) (time.Time, bool) {
	if p.pulls.passed(pd.id) {
		return time.Time{}, false
	}
	if due := pd.announced.Add(2 * p.tun.GraftTimeout); p.now.Before(due) && p.busy() && p.pulls.whole(p.now, p.tun.GraftTimeout) {
		return due, true
	}
	return p.treeLate(pd)
}

type graftReq struct {
	to PeerID
	id MessageID
}

// fireGrafts handles every pending message whose timer expired: the first
// expiry grafts the first announcer; each later one rotates to the next
// announcer with a doubled wait; after GraftMaxRetries retries the message is
// given up (EventGraftFailed). Grafts due at the same time for the same peer
// travel in one Graft message. At most one Graft per id is outstanding.
func (p *Protocol) fireGrafts() {
	reqs := p.scratch[:0]
	for len(p.pend.h) > 0 && !p.pend.h[0].deadline.After(p.now) {
		pd := p.pend.h[0]
		if pd.grafts > p.cfg.GraftMaxRetries || len(pd.ann) == 0 {
			p.counters.GraftFailed++
			p.window.record(p.now, false)
			p.emit(Event{Kind: EventGraftFailed, ID: pd.id, Retries: max(pd.grafts-1, 0)})
			p.pend.remove(pd)
			continue
		}
		if !p.ageOK(pd.originTime) {
			// Aged out while pending (the age rule): never grafted.
			p.refuseAge(pd.target, pd.id)
			p.pend.remove(pd)
			continue
		}
		if p.overloaded {
			// Behind on our own input: the copy is likely queued here
			// already. Pulling more would add to the backlog.
			p.counters.GraftsDeferred++
			p.pend.reschedule(pd, p.now.Add(p.tun.GraftTimeout))
			continue
		}
		// An offer's first Graft goes at once: the pull budget and its
		// waits are for a slow or busy tree, and no tree copy of an offer
		// is on the way.
		offerNow := pd.grafts == 0 && pd.offer
		first := pd.grafts == 0 && !pd.offer // a first pull of a tree copy
		if first && pd.deferred < maxPullDeferrals && p.pulls.treeBusy(p.now, pd.id, p.tun.GraftTimeout) && !p.overdue(pd) {
			pd.deferred++
			p.counters.GraftsDeferred++
			p.pend.reschedule(pd, p.now.Add(p.tun.GraftTimeout))
			continue
		}
		if first {
			if due, wait := p.firstPullWait(pd); wait {
				pd.deferred++
				p.counters.GraftsDeferred++
				p.pend.reschedule(pd, due)
				continue
			}
		}
		if !offerNow {
			if ok, next := p.pulls.take(p.now, p.tun.GraftTimeout, p.cfg.MaxGraftsPerInterval); !ok {
				p.counters.GraftsDeferred++
				p.pend.reschedule(pd, next)
				continue
			}
		}
		to := pd.ann[pd.next%len(pd.ann)]
		pd.next = (pd.next + 1) % len(pd.ann)
		pd.target, pd.target2 = to, ""
		pd.asked = append(pd.asked, graftAsk{to, p.now})
		if pd.grafts == 0 {
			pd.firstGraft = p.now
			p.pulls.lastPull = p.now
		} else {
			p.counters.GraftRetries++
			p.emit(Event{Kind: EventGraftRetry, ID: pd.id, Peer: to, Retries: pd.grafts})
		}
		p.counters.GraftSent++
		p.emit(Event{Kind: EventGraftSent, ID: pd.id, Peer: to, Retries: pd.grafts})
		reqs = append(reqs, graftReq{to: to, id: pd.id})
		if pd.grafts > 0 && len(pd.ann) > 1 {
			// A retry: the last pull got no answer (it or its answer was
			// lost, or the peer is slow or gone). Ask two announcers at
			// once, so that one more loss does not cost another, doubled,
			// wait: under 5 % loss about one pull in ten needs a retry,
			// and one retry in ten failed again, which made the tail to
			// the last node (p99 about 1.25 + 1 + 2 graft timeouts). Both
			// count as pulls (no link changes); the later answer is a
			// duplicate of a pulled copy, which prunes nothing.
			if ok, _ := p.pulls.take(p.now, p.tun.GraftTimeout, p.cfg.MaxGraftsPerInterval); ok {
				to2 := pd.ann[pd.next%len(pd.ann)]
				pd.next = (pd.next + 1) % len(pd.ann)
				pd.target2 = to2
				pd.asked = append(pd.asked, graftAsk{to2, p.now})
				p.counters.GraftSent++
				p.emit(Event{Kind: EventGraftSent, ID: pd.id, Peer: to2, Retries: pd.grafts})
				reqs = append(reqs, graftReq{to: to2, id: pd.id})
			}
		}
		pd.grafts++
		p.pend.reschedule(pd, p.now.Add(p.graftBackoff(pd.grafts)))
	}
	if len(reqs) == 0 {
		p.scratch = reqs
		return
	}
	slices.SortStableFunc(reqs, func(a, b graftReq) int { return strings.Compare(string(a.to), string(b.to)) })
	o := &p.out[p.cur]
	for i := 0; i < len(reqs); {
		j := i
		start := len(o.ids)
		for j < len(reqs) && reqs[j].to == reqs[i].to && j-i < MaxGraftIDs {
			o.ids = append(o.ids, reqs[j].id)
			j++
		}
		ids := o.ids[start:len(o.ids):len(o.ids)]
		to := reqs[i].to
		// A pull: no link changes (see pullPolicy).
		p.send(to, Message{Type: MsgGraft, IDs: ids})
		i = j
	}
	clear(reqs)
	p.scratch = reqs[:0]
}
