package core

import "time"

// StoredMessage is what a Store keeps for one message: enough to answer a
// Graft with the same payload, headers and hop count.
type StoredMessage struct {
	Payload []byte
	Headers []Header
	// Hops is the hop count with which the local node received the message
	// (0 at the origin). A Graft answer is sent with Hops+1.
	Hops uint16
}

// Store keeps payloads so that Grafts can be answered. The Protocol calls it
// from its own goroutine only; an implementation shared with other goroutines
// (a background sweeper, a metrics scrape) must do its own locking.
//
// Time is passed in so that expiry is deterministic. Payloads and headers are
// owned by the store after Put and must be treated as read-only by everyone.
type Store interface {
	// Put stores m under id at time now. A full store makes room by evicting
	// (least recently used or oldest first); Put never fails.
	Put(now time.Time, id MessageID, m StoredMessage)
	// Get returns the message stored under id, or false if it is unknown or
	// older than the store's TTL at time now.
	Get(now time.Time, id MessageID) (StoredMessage, bool)
	// Len is the number of stored messages.
	Len() int
	// Capacity is the largest number of messages the store keeps.
	Capacity() int
}

// MemStore is the small reference Store: a FIFO ring bounded by count, with a
// TTL. Expired entries are removed from the head as time passes (on Put and on
// Expire). It is not safe for concurrent use. The cache module provides the
// production store (LRU + TTL + byte bound, swept on a tuned schedule).
type MemStore struct {
	ttl   time.Duration
	cap   int
	ring  []memEntry // ring buffer in insertion (= time) order
	head  int
	n     int
	index map[MessageID]int // id -> position in ring
}

type memEntry struct {
	id MessageID
	at time.Time
	m  StoredMessage
}

// NewMemStore returns a MemStore holding at most capacity messages for ttl.
// capacity below 1 is treated as 1.
func NewMemStore(capacity int, ttl time.Duration) *MemStore {
	if capacity < 1 {
		capacity = 1
	}
	return &MemStore{ttl: ttl, cap: capacity, ring: make([]memEntry, capacity), index: make(map[MessageID]int, capacity)}
}

// Put implements Store.
func (s *MemStore) Put(now time.Time, id MessageID, m StoredMessage) {
	s.Expire(now)
	if i, ok := s.index[id]; ok {
		s.ring[i].m = m
		return
	}
	if s.n == s.cap {
		s.popHead()
	}
	i := (s.head + s.n) % s.cap
	s.ring[i] = memEntry{id: id, at: now, m: m}
	s.index[id] = i
	s.n++
}

// Get implements Store.
func (s *MemStore) Get(now time.Time, id MessageID) (StoredMessage, bool) {
	i, ok := s.index[id]
	if !ok {
		return StoredMessage{}, false
	}
	e := &s.ring[i]
	if now.Sub(e.at) > s.ttl {
		return StoredMessage{}, false
	}
	return e.m, true
}

// Expire removes the entries older than the TTL at now and returns how many
// it removed.
func (s *MemStore) Expire(now time.Time) int {
	removed := 0
	for s.n > 0 && now.Sub(s.ring[s.head].at) > s.ttl {
		s.popHead()
		removed++
	}
	return removed
}

func (s *MemStore) popHead() {
	e := &s.ring[s.head]
	delete(s.index, e.id)
	*e = memEntry{}
	s.head = (s.head + 1) % s.cap
	s.n--
}

// Len implements Store.
func (s *MemStore) Len() int { return s.n }

// Capacity implements Store.
func (s *MemStore) Capacity() int { return s.cap }

var _ Store = (*MemStore)(nil)
