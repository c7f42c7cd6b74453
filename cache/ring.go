package cache

import "github.com/plumtree-go/plumtree/core"

// record is the expiry queue's note of one Put: which id, when (clamped so
// the queue stays in time order) and which Put (seq), so that a record whose
// entry was since removed or replaced is recognised as stale.
type record struct {
	id  core.MessageID
	at  int64
	seq uint64
}

// ring is a FIFO of records in a growable circular buffer.
type ring struct {
	buf  []record
	head int
	n    int
}

func (r *ring) len() int { return r.n }

func (r *ring) full() bool { return r.n == len(r.buf) }

// front returns the oldest record, or nil.
func (r *ring) front() *record {
	if r.n == 0 {
		return nil
	}
	return &r.buf[r.head]
}

// at returns the k-th oldest record; 0 <= k < len().
func (r *ring) at(k int) *record {
	i := r.head + k
	if i >= len(r.buf) {
		i -= len(r.buf)
	}
	return &r.buf[i]
}

// search returns the smallest k in [0, len()] for which f(at(k)) is true,
// assuming f is false and then true along the ring (binary search).
func (r *ring) search(f func(*record) bool) int {
	lo, hi := 0, r.n
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if f(r.at(m)) {
			hi = m
		} else {
			lo = m + 1
		}
	}
	return lo
}

// pop drops the oldest record (clearing it, so its id's string is not kept
// alive).
func (r *ring) pop() {
	r.buf[r.head] = record{}
	r.head++
	if r.head == len(r.buf) {
		r.head = 0
	}
	r.n--
}

// push appends x; the caller makes sure the ring is not full.
func (r *ring) push(x record) {
	i := r.head + r.n
	if i >= len(r.buf) {
		i -= len(r.buf)
	}
	r.buf[i] = x
	r.n++
}

// grow doubles the buffer (at least 16), keeping the order.
func (r *ring) grow() {
	nb := make([]record, max(16, 2*len(r.buf)))
	for k := 0; k < r.n; k++ {
		nb[k] = r.buf[(r.head+k)%len(r.buf)]
	}
	r.buf, r.head = nb, 0
}

// compact keeps only the records for which keep is true, in order, and
// returns how many it dropped.
func (r *ring) compact(keep func(*record) bool) int {
	w := 0
	for k := 0; k < r.n; k++ {
		src := &r.buf[(r.head+k)%len(r.buf)]
		if !keep(src) {
			continue
		}
		if w != k {
			r.buf[(r.head+w)%len(r.buf)] = *src
		}
		w++
	}
	for k := w; k < r.n; k++ {
		r.buf[(r.head+k)%len(r.buf)] = record{}
	}
	dropped := r.n - w
	r.n = w
	return dropped
}
