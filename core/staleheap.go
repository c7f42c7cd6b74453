package core

import "time"

// staleHeap finds the stream whose newest message is oldest, for the stream
// bound (streamTable.stream), without scanning every stream each time a new
// origin arrives at a full table: a min-heap of the streams by newest
// origin time, then by age (born), the order a scan of streamTable.order
// keeping the first of equal ones gives. Scanning 4,096 streams cost about
// 35 µs per message from an untracked origin
// (BenchmarkReceiveGossipNewOriginAtStreamCapacity).
//
// Each live stream has one entry, pushed when it is created. A stream's
// newest time only grows, so an entry's key is at most its stream's: the
// key is brought up to date only when the entry reaches the top (and sifted
// down), never on the per-message path. An entry at the top whose key is
// current is the stalest stream: every other stream's time is at least its
// entry's key. Entries of forgotten streams are dropped when they reach the
// top, and the heap is rebuilt when it holds more than about twice as many
// entries as there are streams.
//
// (The heap functions are in minheap.go.)
type staleHeap []staleEntry

type staleEntry struct {
	s      *streamSummary
	newest time.Time // s.newest when pushed or last brought up to date
	born   uint64
}

func (e staleEntry) before(o staleEntry) bool {
	return e.newest.Before(o.newest) || (!o.newest.Before(e.newest) && e.born < o.born)
}

// push adds s (a stream just created in t), rebuilding the heap when
// entries of forgotten streams outnumber the streams.
func (h *staleHeap) push(t *streamTable, s *streamSummary) {
	if heapNeedsRebuild(len(*h), len(t.order)) {
		h.rebuild(t) // s included: it is in t.order already
		return
	}
	*h = heapPush(*h, staleEntry{s: s, newest: s.newest, born: s.born})
}

// pop removes the top entry.
func (h *staleHeap) pop() { *h = heapPop(*h) }

// stalest returns the stream of t whose newest message is oldest (the
// first created of equal ones) and removes its entry; nil when t has no
// stream.
func (h *staleHeap) stalest(t *streamTable) *streamSummary {
	for len(*h) > 0 {
		e := &(*h)[0]
		switch s := e.s; {
		case t.byOrigin[s.origin] != s:
			h.pop() // forgotten
		case e.newest.Before(s.newest):
			e.newest = s.newest
			heapDown(*h, 0)
		default:
			h.pop()
			return s
		}
	}
	return nil
}

// rebuild replaces the entries with one per stream of t.
func (h *staleHeap) rebuild(t *streamTable) {
	clear(*h)
	q := (*h)[:0]
	for _, s := range t.order {
		q = append(q, staleEntry{s: s, newest: s.newest, born: s.born})
	}
	heapInit(q)
	*h = q
}
