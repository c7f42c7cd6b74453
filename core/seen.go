package core

import (
	"sort"
	"time"
)

// seenEntry is what the seen set remembers about a delivered message.
type seenEntry struct {
	hops uint16    // hop count of the first copy (0 for our own broadcasts)
	from PeerID    // sender of the first copy (self for our own broadcasts)
	n    uint64    // arrival number (position in the FIFO)
	at   time.Time // arrival of the first copy
	// pulled: the first copy answered our Graft (see Protocol.duplicate).
	pulled bool
}

type seenSlot struct {
	id     MessageID
	from   PeerID
	at     time.Time
	h      uint32
	hops   uint16
	pulled bool
}

// seenSet remembers delivered ids in arrival order: a ring indexed by
// arrival number (fifoRing: a power of two that grows on demand up to the
// bound, so an idle node does not pay for it) and a fifoIndex for lookups.
// It is bounded by max entries (the oldest is forgotten first) and by ttl.
type seenSet struct {
	ring  fifoRing[seenSlot]
	first uint64 // arrival number of the oldest entry
	next  uint64 // arrival number of the next entry
	idx   fifoIndex
	max   int
	ttl   time.Duration
}

func (s *seenSet) init(max int, ttl time.Duration) {
	s.max, s.ttl = max, ttl
	s.first, s.next = 1, 1
	s.idx.init()
}

func (s *seenSet) len() int { return int(s.next - s.first) }

func (s *seenSet) slot(n uint64) *seenSlot { return s.ring.at(n) }

func (s *seenSet) get(id MessageID) (seenEntry, bool) {
	h := s.idx.hash(&id)
	n, ok := s.idx.find(h, s.first, func(n uint64) bool { return s.slot(n).id == id })
	if !ok {
		return seenEntry{}, false
	}
	e := s.slot(n)
	return seenEntry{hops: e.hops, from: e.from, n: n, at: e.at, pulled: e.pulled}, true
}

func (s *seenSet) has(id MessageID) bool {
	_, ok := s.get(id)
	return ok
}

// add remembers id (the caller checked it is absent); it reports how many
// old entries the size bound evicted (0 or 1).
func (s *seenSet) add(now time.Time, id MessageID, hops uint16, from PeerID) int {
	evicted := 0
	if s.len() >= s.max {
		s.pop()
		evicted = 1
	}
	s.ring.room(s.first, s.next, 64)
	n := s.next
	s.next++
	h := s.idx.hash(&id)
	*s.slot(n) = seenSlot{id: id, from: from, at: now, h: h, hops: hops}
	s.idx.insert(h, n)
	return evicted
}

func (s *seenSet) pop() {
	e := s.slot(s.first)
	s.idx.remove(e.h, s.first)
	*e = seenSlot{}
	s.first++
}

// expire forgets the entries older than ttl and reports how many.
func (s *seenSet) expire(now time.Time) int {
	n := 0
	for s.first < s.next && now.Sub(s.slot(s.first).at) > s.ttl {
		s.pop()
		n++
	}
	return n
}

// since returns the arrival number of the oldest entry received at or after
// t.
func (s *seenSet) since(t time.Time) uint64 {
	i := sort.Search(s.len(), func(i int) bool {
		return !s.slot(s.first + uint64(i)).at.Before(t)
	})
	return s.first + uint64(i)
}

// markPulled records that id's first copy answered a Graft.
func (s *seenSet) markPulled(id MessageID) {
	h := s.idx.hash(&id)
	if n, ok := s.idx.find(h, s.first, func(n uint64) bool { return s.slot(n).id == id }); ok {
		s.slot(n).pulled = true
	}
}
