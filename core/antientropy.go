package core

import "time"

// Anti-entropy: every maintenance round the node sends a digest of its
// stream summaries (bounded by AntiEntropyDigestBytes, rotating over the
// streams when they do not all fit) to one random known member. The
// receiver sends back, as MsgRepair, the stored messages the digest says
// the sender lacks — oldest first, at most AntiEntropyBatch messages and
// AntiEntropyBytes bytes — and answers with its own digest (marked Reply),
// to which the first node answers the same way. So one round is a push-pull
// exchange between two nodes, and every message a live node still stores
// reaches, within a few rounds of the network healing, every node that
// lacks it: there is no cursor and no time window in the selection, so
// nothing starves, and the digest's size depends on the number of streams
// and their gaps, never on the message rate.

// antiEntropy runs one round: expire the summaries and, every
// aeDigestRounds-th round (up to every 8th while nothing stirs), send a
// digest to one random known member.
//
// Cost. A digest goes every aeDigestRounds-th round, traffic or not, and
// every 4th, then every 8th while nothing stirs (aeQuietDoublings); every
// round while the node mends (it delivered a message by a pull or a
// Repair since its last round's digest: the tree lost something, so its
// peers may lack it too) and for aeJoinRounds rounds after a member
// joined. A round is skipped while the node waits for the answer to an
// earlier ask (see asking: then the next round sends). The
// digest's receiver answers with a digest only if the first one shows
// something it lacks (see onDigest), so an exchange between nodes in sync
// is one message. A new member gets a digest at once
// from a few members (AddPeer, aeJoinDigests), which is what repairs a
// healed partition first.
func (p *Protocol) antiEntropy() {
	p.expireStreams()
	if p.cfg.AntiEntropyBatch == 0 {
		return
	}
	known := len(p.eager) + len(p.lazy) + len(p.passive)
	if known == 0 {
		return
	}
	p.aeRounds++
	mended := p.mended()
	joined := p.aeJoinLeft > 0
	if joined {
		p.aeJoinLeft--
	}
	stir := p.stirred()
	if stir != p.aeStir {
		p.aeQuiet = 0
	}
	if (p.aeRounds < aeDigestRounds<<p.aeQuiet && mended == p.aeMended && !joined) || p.asking() {
		return
	}
	quiet := stir == p.aeStir && mended == p.aeMended && !joined
	if quiet && p.aeQuiet < aeQuietDoublings {
		p.aeQuiet++
	}
	p.aeRounds, p.aeMended, p.aeStir = 0, mended, stir
	var to *peer
	switch i := p.aeRng.IntN(known); {
	case i < len(p.eager):
		to = p.eager[i]
	case i < len(p.eager)+len(p.lazy):
		to = p.lazy[i-len(p.eager)]
	default:
		to = p.passive[i-len(p.eager)-len(p.lazy)]
	}
	p.ask(to.id, false)
}

// expireStreams applies the age bound to the stream summaries.
func (p *Protocol) expireStreams() {
	p.streams.expire(p.now, p.cfg.MessageCacheTTL, p.cfg.ageHorizon())
}

// ask sends peer "to" a digest. Every digest asks its receiver for what the
// sender lacks (onDigest sends it as repairs), so sending one opens the
// ask window (askWindow).
func (p *Protocol) ask(to PeerID, reply bool) {
	p.sendDigest(to, reply)
	p.aeAskedAt = p.now
	p.aeAskUntil = p.now.Add(p.askWindow())
}

// asking reports whether the node is in its ask window: it sends no
// digest (see askWindow).
func (p *Protocol) asking() bool { return p.now.Before(p.aeAskUntil) }

// aeMaxHold bounds how long Repairs keep a node from asking: at most this
// many ask windows after its last digest. Repairs answer a digest, so they
// come within that unless an answer crawls over a slow link (then the node
// may ask a second peer while the first still sends); without the bound, a
// member sending it a Repair, even a duplicate, every graft timeout kept it
// from sending any digest for as long as it kept on.
const aeMaxHold = 10

// holdAsks extends the ask window because a Repair came: to an ask window
// from now, but not beyond aeMaxHold windows after the last digest sent.
func (p *Protocol) holdAsks() {
	w := p.askWindow()
	until := p.now.Add(w)
	if limit := p.aeAskedAt.Add(aeMaxHold * w); until.After(limit) {
		until = limit
	}
	if until.After(p.aeAskUntil) {
		p.aeAskUntil = until
	}
}

func (p *Protocol) sendDigest(to PeerID, reply bool) {
	d := p.streams.digest(p.cfg.AntiEntropyDigestBytes)
	d.Reply = reply
	p.send(to, Message{Type: MsgDigest, Digest: &d})
	p.counters.DigestSent++
	p.emit(Event{Kind: EventDigestSent, Peer: to, Count: len(d.Streams)})
}

// validDigest checks what Receive cannot trust: bounds, ids, run order.
func validDigest(d *Digest) bool {
	if d == nil || len(d.Streams) > MaxDigestStreams {
		return false
	}
	for i := range d.Streams {
		e := &d.Streams[i]
		if !validPeerID(e.Origin) || len(e.Runs) > MaxDigestRuns {
			return false
		}
		prev := e.Floor
		for _, r := range e.Runs {
			if r.First <= prev || r.Last < r.First {
				return false
			}
			prev = r.Last
		}
	}
	return true
}

// repairCandidate is a held message a peer lacks.
type repairCandidate struct {
	id         MessageID
	originTime int64
	n          int // position in the list of candidates (ties, see oldestRepairs)
}

// oldestRepairs is a min-heap of repair candidates by origin time, then by
// position in the list they were gathered in (a digest's streams in its
// order, then the node's others, each in sequence order): that of a stable
// sort. Messages with the same origin time (in milliseconds) were left in
// whatever order an unstable sort put them before; everything else comes
// out in the same order. Building it is linear, and each message taken
// costs a logarithm: a digest answers with at most AntiEntropyBatch
// messages, however many candidates it has. (The heap functions are in
// minheap.go.)
type oldestRepairs []repairCandidate

func (a repairCandidate) before(b repairCandidate) bool {
	return a.originTime < b.originTime || (a.originTime == b.originTime && a.n < b.n)
}

func (h oldestRepairs) init() { heapInit(h) }

// pop removes and returns the oldest candidate (h is not empty).
func (h *oldestRepairs) pop() repairCandidate {
	c := (*h)[0]
	*h = heapPop(*h)
	return c
}

func (p *Protocol) onDigest(from PeerID, m *Message) {
	d := m.Digest
	if !validDigest(d) {
		p.invalid(from, ReasonMalformed)
		return
	}
	p.counters.DigestReceived++
	batch := p.cfg.AntiEntropyBatch
	if batch == 0 {
		p.expireStreams()
		return
	}
	b := &p.digestStrangers
	if pe := p.peers[from]; pe != nil {
		b = &pe.digests
	}
	if !b.take(p.now, p.digestAnswerRate(), digestAnswerBurst) {
		p.counters.DigestRateLimited++
		p.emit(Event{Kind: EventDigestRateLimited, Peer: from})
		return
	}
	p.expireStreams()
	cands := p.aeScratch[:0]
	var scratch []heldMsg
	// The streams the digest lists are marked with this digest's number
	// (streamSummary.listed) for the AllStreams pass below, instead of a
	// set of origins built per digest (a map of up to 4,096 entries
	// allocated and filled for every digest received).
	p.aeListed++
	for i := range d.Streams {
		e := &d.Streams[i]
		s := p.streams.byOrigin[e.Origin]
		if s == nil {
			// A stream we do not know: track it (empty), so that our own
			// digests ask for it, within the bound on such streams
			// (streamTable.learn).
			if e.Origin != p.self && p.ageOK(e.Newest) {
				if s = p.streams.learn(e.Origin, e.Newest); s != nil {
					s.listed = p.aeListed
				}
			}
			continue
		}
		s.listed = p.aeListed
		scratch = s.missingFor(e, batch, scratch[:0])
		for _, h := range scratch {
			cands = append(cands, repairCandidate{id: MessageID{Origin: s.origin, Seq: h.seq}, originTime: h.originTime, n: len(cands)})
		}
	}
	if d.AllStreams {
		for _, s := range p.streams.order {
			if s.listed == p.aeListed {
				continue
			}
			scratch = s.missingFor(nil, batch, scratch[:0])
			for _, h := range scratch {
				cands = append(cands, repairCandidate{id: MessageID{Origin: s.origin, Seq: h.seq}, originTime: h.originTime, n: len(cands)})
			}
		}
	}
	// Oldest first: they are the first to age out. Taken one at a time from
	// a heap (oldestRepairs) rather than by sorting them all: a digest from
	// a node that lacks everything lists up to the store's capacity of
	// candidates, and sorting 65,536 of them to send AntiEntropyBatch cost
	// 8 ms per digest (BenchmarkReceiveDigestAtCapacity, empty).
	h := oldestRepairs(cands)
	h.init()
	sent, bytes := 0, 0
	youngest := p.now.Add(-p.cfg.AntiEntropyMinAge).UnixMilli()
	for len(h) > 0 {
		c := h.pop()
		if sent >= batch || bytes >= p.cfg.AntiEntropyBytes || c.originTime > youngest {
			break
		}
		sm, ok := p.store.Get(p.now, c.id)
		if !ok || !p.ageOK(sm.OriginTime) {
			continue
		}
		hops := incHops(sm.Hops)
		p.send(from, Message{Type: MsgRepair, ID: c.id, OriginTime: sm.OriginTime, Hops: hops, Payload: sm.Payload, Headers: sm.Headers, Repaired: true})
		p.counters.RepairSent++
		p.emit(Event{Kind: EventRepairSent, Peer: from, ID: c.id, Hops: hops})
		sent++
		bytes += len(sm.Payload)
	}
	clear(cands)
	p.aeScratch = cands[:0]
	if !d.Reply && !p.asking() && p.lacksFrom(d) {
		p.ask(from, true)
	}
}

// A digest costs its receiver a pass over the streams it lists and an
// answer of up to AntiEntropyBatch messages and AntiEntropyBytes bytes
// (1 MiB by default) — for a frame of a few bytes: an empty digest asks for
// everything stored. So digests are answered per sender within a token
// bucket, as Grafts are: digestAnswerBurst at once, then digestAnswerRate.
// A node that follows the protocol sends at most one digest per ask window
// (askWindow: its GraftTimeout) to all of its members together, so a peer
// with this node's GraftTimeout stays at half the rate; the burst covers
// a round's digest, an answer and a catch-up's next ask meeting. Senders
// the protocol does not track (no AddPeer yet, or removed) share one
// bucket. A digest over the limit is counted (DigestRateLimited,
// EventDigestRateLimited) and otherwise ignored: nothing is scanned,
// repaired or asked back, and the stream summaries are not touched.
const digestAnswerBurst = 4

// digestAnswerRate is the steady rate of digests answered per sender: two
// per ask window.
func (p *Protocol) digestAnswerRate() float64 { return 2 / p.askWindow().Seconds() }

// askWindow is how long a node that sent a digest sends no other (no
// round's, no new member's, no answer), and how long after the last repair
// it received: every digest asks its receiver for what the sender lacks,
// so this is one peer's repairs at a time. Without it a node that lacked
// what every member had (a restarted or new node, whom every member sent a
// digest when it joined; either side of a healed partition) asked all of
// them at once and got every stored message from each: at 500 nodes,
// 99,800 repairs for the 200 messages a restarted node lacked. Answers
// alone were held back at first; a healed 50/50 partition of 60 nodes
// still sent 2.8 repairs per message a node lacked, because the digests
// each node sent its new members at the merge (sendJoinDigest) asked too.
// With GraftTimeout above MaintenanceInterval, a node sends a round's
// digest every other round.
func (p *Protocol) askWindow() time.Duration { return p.cfg.GraftTimeout }

// askAgain continues a catch-up: when the ask window ends after repairs
// that delivered something, the peer that sent the last of them is asked
// again at once, since an answer is bounded (AntiEntropyBatch,
// AntiEntropyBytes) and it may hold more. Waiting for the next round
// instead made a node that lacked several answers' worth wait up to a
// MaintenanceInterval between them. A peer with nothing more sends nothing,
// and the catch-up ends there.
func (p *Protocol) askAgain() {
	if !p.aeMore || p.asking() {
		return
	}
	p.aeMore = false
	if p.peers[p.aeMoreFrom] != nil { // not removed meanwhile
		p.ask(p.aeMoreFrom, false)
	}
}

// aeJoinDigests is the number of members expected to send a new member a
// digest at once (AddPeer): each does with probability aeJoinDigests over
// the members it knows, so that a node joining N members gets a few
// digests, not N − 1 (each up to AntiEntropyDigestBytes), and a healed
// partition of N nodes sends about aeJoinDigests × N of them, not N²/2.
const aeJoinDigests = 3

// sendJoinDigest decides whether AddPeer sends the new member id a digest
// at once (see aeJoinDigests).
func (p *Protocol) sendJoinDigest(id PeerID) {
	known := len(p.eager) + len(p.lazy) + len(p.passive)
	if known > aeJoinDigests && p.aeRng.IntN(known) >= aeJoinDigests {
		return
	}
	if !p.asking() {
		p.ask(id, false)
	}
}

// aeDigestRounds: a node that is not mending sends a digest every this many
// maintenance rounds.
//
// Until 2026-12-06 every round with news (a delivery since the last
// digest) sent one, so under traffic every node sent one every round. A
// digest cannot repair news younger than AntiEntropyMinAge (5 s against
// rounds of 1-2 s), and on the benchmark's cluster (tools/bench, N = 32,
// 20 msg/s, a healthy tree) turning anti-entropy off took the CPU per
// delivery from 142 to 115 µs, every 2nd round to 127
// (docs/design.md, "Anti-entropy"). Every 2nd round even while mending
// left the simulator's 90 % massive failure with late duplicates
// (TestFullMembershipHeals, 4.1 in its last cycle). 4 rounds for quiet nodes
// halved the quiet cost again but let the 10,000-node simulator's
// massive-failure run end with late repairs (RMR 0.03 in its last cycle
// instead of ≤ 0.01).
const aeDigestRounds = 2

// aeQuietDoublings: every digest period in which nothing stirred (see
// stirred) doubles a node's period, up to aeDigestRounds << this many
// rounds; anything that stirs returns it to aeDigestRounds at once.
//
// A healthy cluster's digests find nothing: in tools/bench's idle 32-node
// cluster they were half its CPU (tools/bench/README.md, "What an idle
// plumtree cluster does"). What a node or its members may lack comes with
// something that stirs: a member failing or joining (a partition and its
// heal are both), a pull (the tree lost a copy), a Repair either way, a
// delivery that leaves a gap below it in its origin's stream (what was
// lost in a cut the membership did not see shows so once traffic crosses
// it again). A period of 4 rounds for nodes that were only "not mending"
// let the 10,000-node simulator's massive failure end with late repairs
// (aeDigestRounds); a failure stirs every node that sees it, so there the
// period is 2 as before. What is left to the longer period is a loss that
// nothing reveals, such as a cut the membership did not see and no traffic
// after it: it waits up to 8 rounds for a digest instead of 2
// (docs/design.md, "Rarer digests while nothing stirs").
const aeQuietDoublings = 2

// stirred sums the counters whose change ends a quiet spell of digests
// (aeQuietDoublings): members added and removed, Grafts sent (pulls, and a
// swap's link), Repairs sent and received, links dropped by a peer, gaps
// opened in the stream summaries.
func (p *Protocol) stirred() uint64 {
	c := &p.counters
	return c.PeerAdded + c.PeerRemoved + c.GraftSent + c.RepairSent + c.RepairReceived + c.DisconnectReceived + p.streams.gapsOpened
}

// aeJoinRounds: after a member joins (one this node did not know, while it
// has streams: the condition of the join digests), the node sends a digest
// every round for this many rounds, as a node that mends does. A healed
// partition is such a join on every node of both sides; the join digests
// (aeJoinDigests) start the exchange, and without these rounds a node that
// no join digest reached and that no Repair reached yet waited every 2nd
// round for its own. TestPartitionHealsWithTraffic (coretest, 100 runs per
// rapid seed, seeds 7-18), heal to complete: the max fell in 7 seeds of 12
// (10.3 to 8.8 s, 8.8 to 7.3 s, 8.5 to 6.6 s, ...) and rose in none, the
// p90 fell in 7 and rose in none. A stable cluster pays 4 rounds of digests
// per join.
const aeJoinRounds = 4

// mended counts the deliveries that did not come by the tree's eager push:
// by a pull (Graft) or by anti-entropy (Repair).
func (p *Protocol) mended() uint64 {
	c := &p.counters
	return c.GraftSuccess + c.RepairReceived - c.RepairDuplicate
}

// lacksFrom reports whether digest d lists something this node has not
// delivered: a stream it does not track, or delivered sequences its summary
// lacks. Only then is the digest answered with one (so that its sender
// sends what is missing).
func (p *Protocol) lacksFrom(d *Digest) bool {
	for i := range d.Streams {
		e := &d.Streams[i]
		if e.Origin == p.self {
			continue
		}
		s := p.streams.byOrigin[e.Origin]
		if s == nil {
			if p.ageOK(e.Newest) {
				return true
			}
			continue
		}
		if e.Floor > s.floor && !s.covers(s.floor+1, e.Floor) {
			return true
		}
		for _, r := range e.Runs {
			if !s.covers(r.First, r.Last) {
				return true
			}
		}
	}
	return false
}

// onRepair handles a payload sent by anti-entropy: delivered, stored and
// pushed on like a first copy, but it changes no link and a copy already
// delivered is not a duplicate of the tree.
func (p *Protocol) onRepair(from PeerID, m *Message) {
	id := m.ID
	mine, ok := p.checkPayload(from, m)
	if !ok {
		return
	}
	p.counters.RepairReceived++
	// Repairs are coming: ask nobody else until they stop (askWindow).
	p.holdAsks()
	if !p.ageOK(m.OriginTime) {
		p.refuseAge(from, id)
		return
	}
	if mine || p.known(id) {
		p.counters.RepairDuplicate++
		return
	}
	headers := m.Headers
	if p.hook != nil {
		headers = p.hook(Delivery{ID: id, OriginTime: m.OriginTime, From: from, Hops: m.Hops, Payload: m.Payload, Headers: m.Headers})
	}
	p.acceptFirstCopy(id, m.OriginTime, m.Hops, from, m.Payload, headers, true)
	// A repair copy is no evidence about the tree: copies of it the tree
	// delivers late do not count towards a prune (see duplicate).
	p.seen.markPulled(id)
	if pd := p.pend.m[id]; pd != nil {
		p.pend.remove(pd)
	}
	p.aeMore, p.aeMoreFrom = true, from
	p.announceRepaired(id, from, m.Hops, m.OriginTime)
}

// acceptFirstCopy records, stores and delivers the first copy of a message
// received from a peer; repaired: the copy was pulled or came by repair.
func (p *Protocol) acceptFirstCopy(id MessageID, ot time.Time, hops uint16, from PeerID, payload []byte, headers []Header, repaired bool) {
	p.streams.add(id, ot)
	p.evictSize += p.seen.add(p.now, id, hops, from)
	p.store.Put(ot, id, StoredMessage{Payload: payload, Headers: headers, Hops: hops, OriginTime: ot})
	p.streams.hold(id, ot)
	p.deliver(Delivery{ID: id, OriginTime: ot, From: from, Hops: hops, Payload: payload, Headers: headers, Repaired: repaired})
}
