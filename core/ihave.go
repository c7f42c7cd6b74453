package core

// queueIHave queues an announcement for a lazy peer. Announcements are
// coalesced per peer: the queue is flushed as one IHave frame when the
// IHave interval expires (one timer for all queues), or at once when it
// reaches the batch size — so a queue never holds more than the batch size,
// and under steady load below batch/interval a lazy link carries one frame
// per interval.
func (p *Protocol) queueIHave(pe *peer, a Announcement) {
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
		p.flushAt = p.now.Add(p.tun.IHaveInterval)
	}
}

// flushPeer sends a lazy peer's queue as IHave messages of at most
// IHaveBatchSize announcements.
func (p *Protocol) flushPeer(pe *peer) {
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
		if pe.state == stateLazy {
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
	p.queued -= len(pe.q)
	clear(pe.q)
	pe.q = pe.q[:0]
}

// antiEntropy announces recently received ids to one random known peer
// (active or passive). Plumtree alone cannot recover a message whose every
// announcement was lost (a partition, a burst of drops, a crash between
// delivery and flush), nor reach a node whose active view is cut off from
// the rest (small fanouts without the hash ring); this periodic digest,
// spread over the whole membership, makes every live node converge once the
// network heals, and the Grafts it triggers add the missing links. A round
// sends one IHave with at most AntiEntropyBatch ids received within
// AntiEntropyWindow and still stored, continuing where the previous round
// stopped (wrapping around), so a window holding at most AntiEntropyBatch
// ids is announced in full by every round that sends.
//
// Cost. Sending every round while the window is not empty made a quiet
// cluster re-announce the same ids every round: with one broadcast per
// window, every node sent window/interval IHaves per broadcast (15 with the
// defaults), several times Plumtree's own control traffic. So a round sends
// only when ids arrived since the previous round, and otherwise only every
// 8th quiet round (counted since the last new id or new member). A busy
// node still sends at most one IHave per round (at most one per broadcast
// once broadcasts are more frequent than rounds); a quiet one sends 2 per
// broadcast within the default window (was 15), and a partition that heals
// without new traffic is still repaired within 8 rounds. A new member
// counts as news, so a node that joins or restarts receives the window at
// the next round.
func (p *Protocol) antiEntropy() {
	batch := p.cfg.AntiEntropyBatch
	known := len(p.eager) + len(p.lazy) + len(p.passive)
	if batch == 0 || known == 0 || p.seen.len() == 0 {
		return
	}
	lo := p.seen.since(p.now.Add(-p.cfg.antiEntropyWindow()))
	end := p.seen.next
	if lo >= end {
		return
	}
	if end != p.aeEnd {
		p.aeEnd, p.aeQuiet = end, 0
	} else if p.aeNewLink == nil {
		p.aeQuiet++
		if p.aeQuiet%8 != 0 {
			return
		}
	}
	var to *peer
	if pe := p.aeNewLink; pe != nil && (pe.state == stateEager || pe.state == stateLazy) {
		// A link opened since the last round (a node that joined or
		// restarted): it gets the window first.
		to = pe
		p.aeNewLink = nil
		p.aeCursor = lo
	} else {
		to = p.antiEntropyTarget(known)
	}
	n := max(p.aeCursor, lo)
	if n >= end {
		n = lo
	}
	o := &p.out[p.cur]
	start := len(o.anns)
	for ; n < end && len(o.anns)-start < batch; n++ {
		e := p.seen.slot(n)
		if _, ok := p.store.Get(p.now, e.id); !ok {
			continue
		}
		o.anns = append(o.anns, Announcement{ID: e.id, Hops: e.hops})
	}
	p.aeCursor = n
	if len(o.anns) == start {
		return
	}
	anns := o.anns[start:len(o.anns):len(o.anns)]
	p.send(to.id, Message{Type: MsgIHave, IHaves: anns})
	p.counters.IHaveSent++
	p.emit(Event{Kind: EventIHaveSent, Peer: to.id, Count: len(anns), Reason: ReasonAntiEntropy})
}

// antiEntropyTarget picks a random known member (active or passive).
func (p *Protocol) antiEntropyTarget(known int) *peer {
	switch i := p.rng.IntN(known); {
	case i < len(p.eager):
		return p.eager[i]
	case i < len(p.eager)+len(p.lazy):
		return p.lazy[i-len(p.eager)]
	default:
		return p.passive[i-len(p.eager)-len(p.lazy)]
	}
}
