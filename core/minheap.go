package core

// The min-heaps of core (heldFronts, staleHeap, oldestRepairs) are slices
// of small structs ordered by their before method, kept with these
// functions. Hand-written rather than container/heap: its Push and Pop pass
// elements as interface values, an allocation per operation on paths that
// allocate nothing (BenchmarkReceiveGossipNewAtCapacity). Instantiated for
// struct types, each compiles to direct calls.

// heapElem is an element of a min-heap: a.before(b) when a comes first.
type heapElem[T any] interface{ before(T) bool }

// heapUp moves q[i] up to its place.
func heapUp[T heapElem[T]](q []T, i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !q[i].before(q[p]) {
			return
		}
		q[i], q[p] = q[p], q[i]
		i = p
	}
}

// heapDown moves q[i] down to its place.
func heapDown[T heapElem[T]](q []T, i int) {
	n := len(q)
	for {
		l, m := 2*i+1, i
		if l < n && q[l].before(q[m]) {
			m = l
		}
		if r := l + 1; r < n && q[r].before(q[m]) {
			m = r
		}
		if m == i {
			return
		}
		q[i], q[m] = q[m], q[i]
		i = m
	}
}

// heapInit orders q as a heap (linear).
func heapInit[T heapElem[T]](q []T) {
	for i := len(q)/2 - 1; i >= 0; i-- {
		heapDown(q, i)
	}
}

// heapPush appends e to the heap q.
func heapPush[T heapElem[T]](q []T, e T) []T {
	q = append(q, e)
	heapUp(q, len(q)-1)
	return q
}

// heapPop removes the first element of q (not empty), clearing its slot.
func heapPop[T heapElem[T]](q []T) []T {
	n := len(q) - 1
	q[0] = q[n]
	var zero T
	q[n] = zero
	q = q[:n]
	heapDown(q, 0)
	return q
}

// heapNeedsRebuild reports whether a heap of entries, one per stream plus
// the stale ones left behind (heldFronts, staleHeap), should be rebuilt
// from its streams before it grows: when it holds more than about twice as
// many entries as there are streams.
func heapNeedsRebuild(entries, streams int) bool { return entries >= 2*streams+64 }
