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
	// OriginTime is the origin's clock when it broadcast the message.
	OriginTime time.Time
}

// Store keeps payloads so that Grafts can be answered. The Protocol calls it
// from its own goroutine only; an implementation shared with other goroutines
// (a background sweeper, a metrics scrape) must do its own locking.
//
// Time is passed in so that expiry is deterministic. Payloads and headers are
// owned by the store after Put and must be treated as read-only by everyone.
//
// A message's age is its origin's: the Protocol passes the message's origin
// time (m.OriginTime) to Put, so the TTL counts from when the origin
// broadcast it, not from when this node received it, and the current time
// to Get. Origin times of successive Puts are not monotonic (a late copy is
// old when it is stored).
type Store interface {
	// Put stores m under id, stamped with time at (the message's origin
	// time): it expires when more than the TTL has passed since at. A full
	// store makes room by evicting (least recently used or oldest first);
	// Put never fails.
	Put(at time.Time, id MessageID, m StoredMessage)
	// Get returns the message stored under id, or false if it is unknown or
	// older than the store's TTL at time now.
	Get(now time.Time, id MessageID) (StoredMessage, bool)
	// Len is the number of stored messages.
	Len() int
	// Capacity is the largest number of messages the store keeps.
	Capacity() int
}

// RetentionStore is a Store that can say how far back it holds messages.
// A bounded store that receives more than its bounds hold for a TTL is full
// by its nature; what matters for repair is whether it still holds messages
// long enough for Grafts and anti-entropy to find them. The health report
// (Protocol.Health, rule 7) judges such a store by its retention instead
// of its utilization. MemStore and the cache module's Cache implement it.
type RetentionStore interface {
	Store
	// Retention returns how far back, by origin time, the store holds
	// messages at now: the TTL, unless within the last TTL it removed a
	// live message to make room; then the age of the message it would
	// remove next, capped at the TTL (never negative).
	Retention(now time.Time) time.Duration
}

// MemStore is the small reference Store: a FIFO ring bounded by count and,
// if made by NewMemStoreBytes, by the bytes of its payloads and headers,
// with a TTL. Expired entries are removed from the head as time passes (on
// Put and on Expire); a full store forgets its oldest entries. Memory grows
// with use, up to its bounds. It is not safe for concurrent use. The cache
// module provides the production store (LRU + TTL + byte bounds, swept on a
// tuned schedule).
type MemStore struct {
	ttl      time.Duration
	cap      int
	maxBytes int64              // 0: no byte bound
	bytes    int64              // payload and header bytes held
	ring     fifoRing[memEntry] // indexed by arrival number
	first    uint64             // arrival number of the oldest entry
	next     uint64             // arrival number of the next entry
	idx      fifoIndex
	// roomAt is the latest time given to a Put that removed a live entry
	// to make room (hasRoom: there was one), for Retention.
	roomAt  time.Time
	hasRoom bool
}

type memEntry struct {
	id   MessageID
	at   time.Time
	h    uint32
	size int64 // storedSize(m)
	m    StoredMessage
}

// NewMemStore returns a MemStore holding at most capacity messages for ttl.
// capacity below 1 is treated as 1.
func NewMemStore(capacity int, ttl time.Duration) *MemStore {
	return NewMemStoreBytes(capacity, 0, ttl)
}

// NewMemStoreBytes returns a MemStore holding at most capacity messages and
// at most maxBytes bytes of payloads and headers (0: no byte bound) for
// ttl. A message larger than maxBytes on its own is kept alone.
func NewMemStoreBytes(capacity int, maxBytes int64, ttl time.Duration) *MemStore {
	s := &MemStore{ttl: ttl, cap: max(capacity, 1), maxBytes: max(maxBytes, 0), first: 1, next: 1}
	s.idx.init()
	return s
}

// DefaultMemStoreBytes is the byte bound of the MemStore that New makes
// when it is given no store: 64 MiB of messages (the cache module's
// default), and with large messages on (MaxLargeMessageSize) room for
// every part of the largest one as well, that size and an eighth (the
// cache module's list of parts: 288 MiB with the defaults). Without it a
// node held up to MessageCacheMaxSize payloads of any size: 4 GiB of
// 64 KiB messages, which anyone who can send the node frames could fill.
func DefaultMemStoreBytes(c Config) int64 {
	n := int64(64 << 20)
	if c.MaxLargeMessageSize > 0 {
		n += int64(c.MaxLargeMessageSize) + int64(c.MaxLargeMessageSize)/8
	}
	return n
}

// storedSize is what a stored message counts against a byte bound: its
// payload and its headers' keys and values.
func storedSize(m *StoredMessage) int64 {
	n := int64(len(m.Payload))
	for _, h := range m.Headers {
		n += int64(len(h.Key) + len(h.Value))
	}
	return n
}

func (s *MemStore) slot(n uint64) *memEntry { return s.ring.at(n) }

func (s *MemStore) find(id *MessageID) (uint32, uint64, bool) {
	h := s.idx.hash(id)
	n, ok := s.idx.find(h, s.first, func(n uint64) bool { return s.slot(n).id == *id })
	return h, n, ok
}

// Put implements Store. Putting an id again replaces its message.
func (s *MemStore) Put(now time.Time, id MessageID, m StoredMessage) {
	s.Expire(now)
	size := storedSize(&m)
	h, n, ok := s.find(&id)
	if ok {
		e := s.slot(n)
		s.bytes += size - e.size
		e.m, e.size = m, size // over the byte bound until the next Put, if larger
		return
	}
	s.makeRoom(now, size)
	s.ring.room(s.first, s.next, 16)
	n = s.next
	s.next++
	*s.slot(n) = memEntry{id: id, at: now, h: h, size: size, m: m}
	s.bytes += size
	s.idx.insert(h, n)
}

// makeRoom forgets the oldest entries until one more entry of size bytes
// fits (into an empty store any entry fits).
func (s *MemStore) makeRoom(now time.Time, size int64) {
	for s.Len() > 0 && (s.Len() >= s.cap || s.maxBytes > 0 && s.bytes+size > s.maxBytes) {
		s.popHead()
		if !s.hasRoom || now.After(s.roomAt) {
			s.roomAt, s.hasRoom = now, true
		}
	}
}

// Get implements Store.
func (s *MemStore) Get(now time.Time, id MessageID) (StoredMessage, bool) {
	_, n, ok := s.find(&id)
	if !ok {
		return StoredMessage{}, false
	}
	e := s.slot(n)
	if now.Sub(e.at) > s.ttl {
		return StoredMessage{}, false
	}
	return e.m, true
}

// Expire removes the entries older than the TTL at now and returns how many
// it removed.
func (s *MemStore) Expire(now time.Time) int {
	removed := 0
	for s.first < s.next && now.Sub(s.slot(s.first).at) > s.ttl {
		s.popHead()
		removed++
	}
	return removed
}

func (s *MemStore) popHead() {
	e := s.slot(s.first)
	s.bytes -= e.size
	s.idx.remove(e.h, s.first)
	*e = memEntry{}
	s.first++
}

// Retention implements RetentionStore: the TTL, unless a Put removed a live
// entry to make room within the last TTL before now; then the age of the
// oldest arrival, the next to go, capped at the TTL.
func (s *MemStore) Retention(now time.Time) time.Duration {
	if !s.hasRoom || now.Sub(s.roomAt) > s.ttl || s.Len() == 0 {
		return s.ttl
	}
	return min(max(now.Sub(s.slot(s.first).at), 0), s.ttl)
}

// Len implements Store.
func (s *MemStore) Len() int { return int(s.next - s.first) }

// Capacity implements Store.
func (s *MemStore) Capacity() int { return s.cap }

// Bytes returns the payload and header bytes held.
func (s *MemStore) Bytes() int64 { return s.bytes }

var _ RetentionStore = (*MemStore)(nil)
