package main

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"runtime/trace"
	"slices"
	"sync/atomic"
	"time"

	"github.com/plumtree-go/plumtree/tools/internal/tracecmd"
)

// headerSize is the part of every payload the harness reads: the message
// number and the publish time. The rest is seeded random bytes, the same for
// every system.
const headerSize = 16

// recorder counts the deliveries of every benchmark message at every node.
// It is shared by the N nodes of one process (all on one clock), so the
// publish→delivery times need no clock synchronisation.
type recorder struct {
	n    int
	t0   time.Time
	msgs []msgState
	// at[msg*n+node] is when node delivered msg (ns since t0, at least 1;
	// 0: not delivered there).
	at    []atomic.Int64
	dups  atomic.Int64 // a node got the same message twice from the system
	total atomic.Int64 // deliveries to non-origin nodes
	alien atomic.Int64 // payloads that are not benchmark messages
	last  atomic.Int64 // time of the last delivery (ns since t0)
}

type msgState struct {
	origin int
	pub    atomic.Int64 // publish time, ns since t0 (0: not yet published)
	count  atomic.Int32 // non-origin nodes that delivered it
	last   atomic.Int64 // time of its last delivery, ns since t0
	hops   atomic.Int32 // most hops of a delivery (systems that tell)
}

func newRecorder(n, msgs int) *recorder {
	return &recorder{n: n, t0: time.Now(), msgs: make([]msgState, msgs), at: make([]atomic.Int64, msgs*n)}
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
	if trace.IsEnabled() {
		trace.Log(context.Background(), tracecmd.MarkCategory, tracecmd.PublishMark(id))
	}
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
	t := max(r.now(), 1)
	if !r.at[int(id)*r.n+node].CompareAndSwap(0, t) {
		r.dups.Add(1)
		return false
	}
	m.count.Add(1)
	for {
		old := m.last.Load()
		if t <= old || m.last.CompareAndSwap(old, t) {
			break
		}
	}
	r.total.Add(1)
	r.last.Store(t)
	if trace.IsEnabled() {
		trace.Log(context.Background(), tracecmd.MarkCategory, tracecmd.DeliverMark(id, node))
	}
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
	return r.at[int(id)*r.n+node].Load() != 0
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

// msgTail describes one slow message: where its time to the last node went.
type msgTail struct {
	ID        int     `json:"id"`
	Origin    int     `json:"origin"`
	LatencyMs float64 `json:"latency_ms"`
	Hops      int     `json:"hops,omitempty"`
	// MaxGapMs is the longest wait between two consecutive events of the
	// message (its publish, then each node's delivery in time order), and
	// GapAfter how many deliveries came before that wait (0: it began at
	// the publish, the origin had not sent yet or its copies were slow to
	// arrive). One long gap is one stalled hop (a thread not run, a
	// garbage collection's pause); many short ones, a slow path.
	MaxGapMs float64 `json:"max_gap_ms"`
	GapAfter int     `json:"gap_after"`
}

// latency is message id's publish→last-node time (ns).
func (r *recorder) latency(id int) int64 {
	m := &r.msgs[id]
	return m.last.Load() - m.pub.Load()
}

// tail describes message id (complete) for the slowest-message list.
func (r *recorder) tail(id int) msgTail {
	m := &r.msgs[id]
	pub := m.pub.Load()
	times := make([]int64, 0, r.n)
	for node := range r.n {
		if t := r.at[id*r.n+node].Load(); t != 0 {
			times = append(times, t)
		}
	}
	slices.Sort(times)
	tl := msgTail{ID: id, Origin: m.origin, LatencyMs: float64(r.latency(id)) / 1e6, Hops: int(m.hops.Load())}
	prev := pub
	for i, t := range times {
		if g := float64(t-prev) / 1e6; g > tl.MaxGapMs {
			tl.MaxGapMs, tl.GapAfter = g, i
		}
		prev = t
	}
	return tl
}
