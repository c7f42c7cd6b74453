package core

// fifoRing holds the entries of a FIFO indexed by arrival number (the seen
// set's and MemStore's): a ring whose size is a power of two, grown on
// demand up to the owner's bound. The owner keeps the live arrival numbers
// [first, next) and grows the ring when next−first reaches its size.
//
// Growing copies nothing at once. The entries already queued stay in the
// old ring and move to the new one a few per insert (step), and lookups
// read whichever ring an entry is in. Copying them all in one insert, with
// the index's rehash (fifoIndex grows the same way), cost milliseconds on
// the protocol goroutine at thousands of entries, and every node of a
// cluster that carries the same traffic reaches the same count at about
// the same moment: with 16 nodes in one process those doublings were the
// slowest moments of a run (docs/design.md, decision 9).
type fifoRing[T any] struct {
	cur []T
	// old is the ring before the last growth while it still holds entries
	// to move: arrival numbers in [moved, oldEnd) are there.
	old           []T
	moved, oldEnd uint64
}

// ringStep is how many entries each insert moves after a growth: the move
// is over after oldSize/ringStep inserts, long before the ring (twice the
// old size) can fill up and grow again.
const ringStep = 8

// size is the ring's capacity.
func (r *fifoRing[T]) size() int { return len(r.cur) }

// at returns the slot of arrival number n (n must be live, or the slot
// the owner is about to fill: next).
func (r *fifoRing[T]) at(n uint64) *T {
	if r.old != nil && n >= r.moved && n < r.oldEnd {
		return &r.old[n&uint64(len(r.old)-1)]
	}
	return &r.cur[n&uint64(len(r.cur)-1)]
}

// room makes room for arrival number next, the live ones being
// [first, next): it grows the ring when full and moves a step of an
// earlier growth's entries. The owners call it before each insert.
func (r *fifoRing[T]) room(first, next uint64, minSize int) {
	if int(next-first) == len(r.cur) {
		r.grow(first, next, minSize)
	}
	r.step(first, ringStep)
}

// grow doubles the ring (to at least minSize) for the live arrival
// numbers [first, next).
func (r *fifoRing[T]) grow(first, next uint64, minSize int) {
	r.finish(first)
	old := r.cur
	r.cur = make([]T, max(2*len(old), minSize))
	if next > first && len(old) > 0 {
		r.old, r.moved, r.oldEnd = old, first, next
	}
}

// step moves up to k entries of the old ring into the current one; first
// is the oldest live arrival number (those below it are gone and are not
// moved).
func (r *fifoRing[T]) step(first uint64, k int) {
	if r.old == nil {
		return
	}
	r.moved = max(r.moved, first)
	for ; k > 0 && r.moved < r.oldEnd; k-- {
		r.cur[r.moved&uint64(len(r.cur)-1)] = r.old[r.moved&uint64(len(r.old)-1)]
		r.moved++
	}
	if r.moved >= r.oldEnd {
		r.old = nil
	}
}

// finish moves whatever the old ring still holds.
func (r *fifoRing[T]) finish(first uint64) {
	if r.old != nil {
		r.step(first, len(r.old)) // no more than that many are left
	}
}
