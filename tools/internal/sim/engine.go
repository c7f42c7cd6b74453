package sim

import (
	"math/rand/v2"

	"github.com/plumtree-go/plumtree/core"
)

// network is how an engine moves messages and time.
type network interface {
	send(from, to int32, tag uint8, msg core.Message)
	// settle delivers everything in flight and fires every timer due at or
	// before limit; it returns when nothing is in flight and the next
	// deadline is after limit. The cycle engine may pass limit while
	// messages are still in flight (a round takes RoundLength); the event
	// engine stops at limit.
	settle(limit int64)
	// inFlight is the number of messages on their way.
	inFlight() int
}

// cycleNet delivers messages in FIFO rounds: everything sent during round r
// arrives in round r+1, in the order it was sent. A round takes RoundLength
// of virtual time; between rounds, and when nothing is in flight, timers
// fire when they fall due.
type cycleNet struct {
	c         *cluster
	cur, next []inflight
	round     int64
}

func newCycleNet(c *cluster) *cycleNet {
	return &cycleNet{c: c, round: int64(c.spec.Params.RoundLength)}
}

func (n *cycleNet) send(from, to int32, tag uint8, msg core.Message) {
	n.next = append(n.next, inflight{from: from, to: to, tag: tag, msg: msg})
}

func (n *cycleNet) inFlight() int { return len(n.next) }

func (n *cycleNet) settle(limit int64) {
	c := n.c
	for {
		if len(n.next) == 0 {
			t, ok := c.nextTimer()
			if !ok || t > limit {
				return
			}
			if t > c.now {
				c.now = t
			}
			c.fireDue()
			continue
		}
		c.now += n.round
		n.cur, n.next = n.next, n.cur[:0]
		for i := range n.cur {
			c.receive(&n.cur[i])
		}
		clear(n.cur) // drop payload references
		c.fireDue()
	}
}

// eventNet is a discrete-event network: each link has a fixed latency drawn
// uniformly from [LatencyMin, LatencyMax] (the same both ways), and every
// message gets an extra uniform jitter in [0, Jitter); messages may overtake
// each other. Message arrivals and node deadlines are processed in time
// order (arrivals first on ties, then by sequence).
type eventNet struct {
	c       *cluster
	rng     *rand.Rand
	seed    uint64
	latMin  int64
	latSpan int64
	jitter  int64

	heap  []evEntry
	slots []inflight
	free  []int32
	seq   uint64
}

type evEntry struct {
	t    int64
	seq  uint64
	slot int32
}

func newEventNet(c *cluster, seed uint64) *eventNet {
	p := c.spec.Params
	span := int64(p.LatencyMax - p.LatencyMin)
	if span < 1 {
		span = 1
	}
	return &eventNet{
		c:       c,
		rng:     rand.New(rand.NewPCG(seed, seed^0xbb67ae8584caa73b)),
		seed:    seed,
		latMin:  int64(p.LatencyMin),
		latSpan: span,
		jitter:  int64(p.Jitter),
	}
}

// linkLatency is the base latency of the link a–b.
func (n *eventNet) linkLatency(a, b int32) int64 {
	if a > b {
		a, b = b, a
	}
	x := n.seed ^ (uint64(uint32(a))<<32 | uint64(uint32(b)))
	// splitmix64 finaliser
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	x ^= x >> 31
	return n.latMin + int64(x%uint64(n.latSpan))
}

func (n *eventNet) send(from, to int32, tag uint8, msg core.Message) {
	d := n.linkLatency(from, to)
	if n.jitter > 0 {
		d += n.rng.Int64N(n.jitter)
	}
	var slot int32
	if k := len(n.free); k > 0 {
		slot = n.free[k-1]
		n.free = n.free[:k-1]
	} else {
		slot = int32(len(n.slots))
		n.slots = append(n.slots, inflight{})
	}
	t := n.c.now + d
	n.slots[slot] = inflight{at: t, from: from, to: to, tag: tag, msg: msg}
	n.seq++
	n.push(evEntry{t: t, seq: n.seq, slot: slot})
}

func (n *eventNet) inFlight() int { return len(n.heap) }

func (n *eventNet) less(i, j int) bool {
	if n.heap[i].t != n.heap[j].t {
		return n.heap[i].t < n.heap[j].t
	}
	return n.heap[i].seq < n.heap[j].seq
}

func (n *eventNet) push(e evEntry) {
	n.heap = append(n.heap, e)
	i := len(n.heap) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !n.less(i, p) {
			break
		}
		n.heap[i], n.heap[p] = n.heap[p], n.heap[i]
		i = p
	}
}

func (n *eventNet) pop() evEntry {
	top := n.heap[0]
	last := len(n.heap) - 1
	n.heap[0] = n.heap[last]
	n.heap = n.heap[:last]
	i := 0
	for {
		l := 2*i + 1
		if l >= last {
			break
		}
		m := l
		if r := l + 1; r < last && n.less(r, l) {
			m = r
		}
		if !n.less(m, i) {
			break
		}
		n.heap[i], n.heap[m] = n.heap[m], n.heap[i]
		i = m
	}
	return top
}

func (n *eventNet) settle(limit int64) {
	c := n.c
	for {
		tt, okT := c.nextTimer()
		okM := len(n.heap) > 0
		if okM && n.heap[0].t <= limit && (!okT || n.heap[0].t <= tt) {
			e := n.pop()
			m := n.slots[e.slot]
			n.slots[e.slot] = inflight{}
			n.free = append(n.free, e.slot)
			if e.t > c.now {
				c.now = e.t
			}
			c.receive(&m)
			continue
		}
		if okT && tt <= limit {
			if tt > c.now {
				c.now = tt
			}
			c.fireDue()
			continue
		}
		break
	}
	if limit > c.now {
		c.now = limit
	}
}
