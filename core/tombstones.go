package core

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
