package core

import "time"

// queueIHave queues an announcement for a lazy peer, or for an eager one
// (a first copy that came by Repair: see announceRepaired). Announcements are
// coalesced per peer: the queue is flushed as one IHave frame when the
// IHave interval expires (one timer for all queues), or at once when it
// reaches the batch size — so a queue never holds more than the batch size,
// and under steady load below batch/interval a lazy link carries one frame
// per interval.
func (p *Protocol) queueIHave(pe *peer, a Announcement) {
	p.compactQueue(pe)
	if pe.q == nil {
		c := p.tun.IHaveBatchSize
		pe.q = make([]Announcement, 0, c)
	}
	pe.q = append(pe.q, a)
	p.queued++
	if len(pe.q) >= p.tun.IHaveBatchSize {
		p.flushPeer(pe)
		return
	}
	if !pe.inDirty {
		pe.inDirty = true
		p.dirty = append(p.dirty, pe)
	}
	if p.flushAt.IsZero() {
		p.flushAt = p.now.Add(p.flushDelay(a.ID))
	}
	if pe.state == stateEager {
		// A repaired copy's announcement (announceRepaired): the peer
		// pulls it at once, where the tree would have pushed it, so it
		// waits a quarter of the interval, enough to gather a Repair
		// answer's announcements into a few frames. Held for the whole
		// interval, a healed cut's subtrees completed up to 0.5 s later
		// (coretest, TestPartitionHealsWithTraffic; docs/design.md).
		if soon := p.now.Add(p.tun.IHaveInterval / 4); soon.Before(p.flushAt) {
			p.flushAt = soon
		}
	}
}

// flushDelay is how long the first announcement queued after a flush, a,
// waits for the others: the IHave interval, give or take a quarter, by a
// hash of a's message id. A broadcast reaches every node within a few
// milliseconds, so every node of a cluster queues its announcement first
// and flushes one delay after it, together. With the interval alone that
// delay was the same for every broadcast, and a flush landed on whatever
// broadcast was travelling one interval later: with broadcasts paced at a
// divisor of the interval (20 msg/s against the LAN preset's 100 ms, or
// the tuner's 400 ms), on the same ones every time, whose copies then
// waited behind every node's IHave frames. Drawn from the id, the delay
// still makes the nodes that got a broadcast together flush together
// (where they share a machine, one thread's wake-up serves many of them;
// drawn per node, the spread flushes cost an eighth to a fifth more CPU
// per delivery in one process of 32 nodes), and it moves with every
// broadcast, so that which later broadcast a flush lands on is a matter of
// chance. The mean delay is the interval's.
func (p *Protocol) flushDelay(a MessageID) time.Duration {
	iv := p.tun.IHaveInterval
	if iv < 4 {
		return iv
	}
	h := fnv64(string(a.Origin)) ^ a.Seq*0x9e3779b97f4a7c15
	h ^= h >> 31
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 29
	return iv - iv/4 + time.Duration(h%uint64(iv/2+1))
}

// unqueueIHave drops a queued announcement of a.ID for pe, which has just
// announced that message to us: it has the message. Both ends of a lazy link
// receive most messages within a few milliseconds of each other and each
// queued an announcement for the other; whichever flushes first now spares
// the other's (the cluster job at N = 32: a fifth fewer control bytes, a
// tenth fewer IHave frames). The announcement is kept when it would show pe
// a path HopOptimizationThreshold hops shorter than its own copy's (a.Hops):
// that is what Algorithm 4 re-parents on.
//
// The announcement is not cut out of the queue at once but blanked (a zero
// Announcement, which no valid id equals), and the queue is compacted once
// the IHave is handled (onIHave), or before it is flushed or added to
// (compactQueue). The search starts after the blanks at its front. Both
// ends queue the same messages in about the same order, so an IHave
// usually names the front of the queue in turn: cutting each out moved the
// rest of the queue every time, and with the tuner's largest batch (1,024)
// an IHave cost about 0.3 ms (BenchmarkReceiveIHaveQueued).
func (p *Protocol) unqueueIHave(pe *peer, a *Announcement) {
	t := p.cfg.HopOptimizationThreshold
	for i := pe.qFront; i < len(pe.q); i++ {
		q := &pe.q[i]
		if q.ID != a.ID {
			continue
		}
		if t > 0 && int(q.Hops)+1+t <= int(a.Hops) {
			return
		}
		*q = Announcement{}
		pe.qDead++
		for pe.qFront < len(pe.q) && pe.q[pe.qFront].ID.Origin == "" {
			pe.qFront++
		}
		p.queued--
		p.counters.IHaveSuppressed++
		return
	}
}

// compactQueue takes the announcements blanked by unqueueIHave out of pe's
// queue, keeping the order of the others.
func (p *Protocol) compactQueue(pe *peer) {
	if pe.qDead == 0 {
		return
	}
	w := 0
	for _, a := range pe.q {
		if a.ID.Origin != "" {
			pe.q[w] = a
			w++
		}
	}
	clear(pe.q[w:]) // no stale reference past the end
	pe.q = pe.q[:w]
	pe.qDead, pe.qFront = 0, 0
}

// flushPeer sends a peer's queue as IHave messages of at most
// IHaveBatchSize announcements.
func (p *Protocol) flushPeer(pe *peer) {
	p.compactQueue(pe)
	for len(pe.q) > 0 {
		n := min(len(pe.q), p.tun.IHaveBatchSize)
		p.sendIHave(pe.id, pe.q[:n])
		pe.q = pe.q[:copy(pe.q, pe.q[n:])]
		p.queued -= n
	}
}

// sendIHave copies anns into the output arena and sends one IHave.
func (p *Protocol) sendIHave(to PeerID, anns []Announcement) {
	o := &p.out[p.cur]
	start := len(o.anns)
	o.anns = append(o.anns, anns...)
	batch := o.anns[start:len(o.anns):len(o.anns)]
	p.send(to, Message{Type: MsgIHave, IHaves: batch})
	p.counters.IHaveSent++
	p.emit(Event{Kind: EventIHaveSent, Peer: to, Count: len(batch)})
}

// flushAll flushes every queued announcement (the IHave interval expired).
func (p *Protocol) flushAll() {
	for i, pe := range p.dirty {
		pe.inDirty = false
		if pe.state != statePassive {
			p.flushPeer(pe)
		}
		p.dirty[i] = nil
	}
	p.dirty = p.dirty[:0]
	p.flushAt = timeZero
}

// dropQueue discards a peer's queued announcements (it left the views; a peer
// that only changes state has its queue flushed by move instead).
func (p *Protocol) dropQueue(pe *peer) {
	p.queued -= len(pe.q) - pe.qDead
	clear(pe.q)
	pe.q = pe.q[:0]
	pe.qDead, pe.qFront = 0, 0
}
