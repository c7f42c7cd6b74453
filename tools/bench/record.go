package main

import (
	"encoding/binary"
	"math/rand/v2"
	"sync/atomic"
	"time"
)

// headerSize is the part of every payload the harness reads: the message
// number and the publish time. The rest is seeded random bytes, the same for
// every system.
const headerSize = 16

// recorder counts the deliveries of every benchmark message at every node.
// It is shared by the N nodes of one process (all on one clock), so the
// publish→delivery times need no clock synchronisation.
type recorder struct {
	n     int
	t0    time.Time
	msgs  []msgState
	seen  []atomic.Uint32 // [msg*n+node]: delivered there
	dups  atomic.Int64    // a node got the same message twice from the system
	total atomic.Int64    // deliveries to non-origin nodes
	alien atomic.Int64    // payloads that are not benchmark messages
	last  atomic.Int64    // time of the last delivery (ns since t0)
}

type msgState struct {
	origin int
	pub    atomic.Int64 // publish time, ns since t0 (0: not yet published)
	count  atomic.Int32 // non-origin nodes that delivered it
	last   atomic.Int64 // time of its last delivery, ns since t0
	hops   atomic.Int32 // most hops of a delivery (systems that tell)
}

func newRecorder(n, msgs int) *recorder {
	return &recorder{n: n, t0: time.Now(), msgs: make([]msgState, msgs), seen: make([]atomic.Uint32, msgs*n)}
}

func (r *recorder) now() int64 { return int64(time.Since(r.t0)) }

// payload builds message id's payload of size bytes from origin, stamped
// with the publish time now. The body is derived from seed and id only.
func (r *recorder) payload(seed int64, id, origin, size int) []byte {
	p := make([]byte, size)
	rng := rand.New(rand.NewPCG(uint64(seed), uint64(id)))
	for i := headerSize; i < size; i += 8 {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], rng.Uint64())
		copy(p[i:], b[:])
	}
	binary.LittleEndian.PutUint64(p[0:8], uint64(id))
	r.msgs[id].origin = origin
	t := r.now()
	binary.LittleEndian.PutUint64(p[8:16], uint64(t))
	r.msgs[id].pub.Store(t)
	return p
}

// deliver records that node got payload. It reports whether this is the
// first time node has the message (false at the origin, for a duplicate or
// for a payload that is not a benchmark message).
func (r *recorder) deliver(node int, payload []byte) bool {
	if len(payload) < headerSize {
		r.alien.Add(1)
		return false
	}
	id := binary.LittleEndian.Uint64(payload[0:8])
	if id >= uint64(len(r.msgs)) {
		r.alien.Add(1)
		return false
	}
	m := &r.msgs[id]
	if m.pub.Load() == 0 || node == m.origin {
		return false
	}
	if !r.seen[int(id)*r.n+node].CompareAndSwap(0, 1) {
		r.dups.Add(1)
		return false
	}
	t := r.now()
	m.count.Add(1)
	for {
		old := m.last.Load()
		if t <= old || m.last.CompareAndSwap(old, t) {
			break
		}
	}
	r.total.Add(1)
	r.last.Store(t)
	return true
}

// has reports whether node already delivered payload's message (true for
// its origin and for payloads that are not benchmark messages).
func (r *recorder) has(node int, payload []byte) bool {
	if len(payload) < headerSize {
		return true
	}
	id := binary.LittleEndian.Uint64(payload[0:8])
	if id >= uint64(len(r.msgs)) || node == r.msgs[id].origin {
		return true
	}
	return r.seen[int(id)*r.n+node].Load() != 0
}

// complete reports whether message id reached every other node.
func (r *recorder) complete(id int) bool { return int(r.msgs[id].count.Load()) == r.n-1 }

// hop records that a delivery of payload's message took h hops.
func (r *recorder) hop(payload []byte, h int) {
	if len(payload) < headerSize {
		return
	}
	id := binary.LittleEndian.Uint64(payload[0:8])
	if id >= uint64(len(r.msgs)) {
		return
	}
	m := &r.msgs[id]
	for {
		old := m.hops.Load()
		if int32(h) <= old || m.hops.CompareAndSwap(old, int32(h)) {
			return
		}
	}
}
