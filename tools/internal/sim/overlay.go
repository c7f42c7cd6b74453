package sim

import (
	"math/rand/v2"
	"slices"
)

// membership is an overlay model: it builds the initial peer graph and
// reacts to failures at each cycle's membership step by calling AddPeer /
// RemovePeer on the cores, as the membership layer of a real node would.
type membership interface {
	// setup tells every core its initial peers.
	setup()
	// failed records the nodes that crashed at the start of cycle.
	failed(cycle int, nodes []int32)
	// step is the membership step at the end of cycle.
	step(cycle int)
	// stats summarises the live overlay.
	stats() overlayStats
}

type overlayStats struct {
	MeanDegree float64 `json:"mean_degree"`
	Isolated   int     `json:"isolated"`
}

// hyparview models the paper's overlay: HyParView with an active view of
// Degree (5) and a passive view of PassiveView (30) entries.
//
// What is modelled:
//   - Initial overlay: a random graph in which every node has Degree
//     neighbours (a few end with Degree-1: HyParView's active views are not
//     always full either), plus a random passive view. Links are symmetric.
//   - Failure detection: HyParView detects a failed neighbour through its
//     TCP connection. Here every live node notices its failed active
//     neighbours at the membership step of the cycle the failure happened
//     in, so the first broadcast after a failure runs on the unrepaired
//     overlay (what Fig. 6a of the paper measures). The core is told with
//     RemovePeer (the paper's NeighborDown).
//   - Repair: a node that lost a neighbour tries its passive view in random
//     order: failed entries are dropped; a live candidate accepts if its
//     active view has room, or always when the requester's active view is
//     empty (HyParView's high-priority NEIGHBOR request), in which case the
//     candidate drops a random neighbour of its own (DISCONNECT; both put
//     each other into their passive views and the dropped node repairs in
//     turn). New links are AddPeer'd on both cores (NeighborUp).
//   - Shuffle: every live node shuffles once per cycle: a random walk of
//     ShuffleWalk hops over live active links picks a partner; the node
//     sends itself, ShuffleActive active and ShufflePassive passive entries,
//     the partner answers with as many of its passive entries; both merge
//     them into their passive views, evicting what they sent first. Ids of
//     failed nodes spread until someone tries them, as in HyParView.
//
// Not modelled: joins (the overlay is built at once) and message loss on
// live links.
type hyparview struct {
	c          *cluster
	rng        *rand.Rand
	maxActive  int
	maxPassive int
	active     [][]int32
	passive    [][]int32
	repairing  []bool
	order      []int32
}

func newHyParView(c *cluster, seed uint64) *hyparview {
	p := c.spec.Params
	return &hyparview{
		c:          c,
		rng:        rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		maxActive:  p.Degree,
		maxPassive: p.PassiveView,
		active:     make([][]int32, c.n),
		passive:    make([][]int32, c.n),
		repairing:  make([]bool, c.n),
	}
}

// regularGraph returns a random graph on n nodes with degree d (a node may
// end with less when the last open stubs cannot be paired).
func regularGraph(n, d int, rng *rand.Rand) [][]int32 {
	adj := make([][]int32, n)
	for i := range adj {
		adj[i] = make([]int32, 0, d)
	}
	open := make([]int32, n)
	pos := make([]int, n)
	for i := range open {
		open[i] = int32(i)
		pos[i] = i
	}
	closeNode := func(v int32) {
		k := pos[v]
		last := open[len(open)-1]
		open[k] = last
		pos[last] = k
		open = open[:len(open)-1]
		pos[v] = -1
	}
	if d >= n {
		d = n - 1
	}
	fails := 0
	for len(open) > 1 && fails < 64*len(open)+1000 {
		a := open[rng.IntN(len(open))]
		b := open[rng.IntN(len(open))]
		if a == b || slices.Contains(adj[a], b) {
			fails++
			continue
		}
		fails = 0
		adj[a] = append(adj[a], b)
		adj[b] = append(adj[b], a)
		if len(adj[a]) == d {
			closeNode(a)
		}
		if len(adj[b]) == d {
			closeNode(b)
		}
	}
	// Nodes still short of two or more links take over a random edge (u, v)
	// they are not part of: drop it, link the node to both ends. Degrees of
	// u and v are unchanged.
	for _, v := range slices.Clone(open) {
		for tries := 0; d-len(adj[v]) >= 2 && tries < 1000; tries++ {
			u := int32(rng.IntN(n))
			if u == v || len(adj[u]) == 0 || slices.Contains(adj[v], u) {
				continue
			}
			w := adj[u][rng.IntN(len(adj[u]))]
			if w == v || slices.Contains(adj[v], w) {
				continue
			}
			adj[u] = slices.DeleteFunc(adj[u], func(x int32) bool { return x == w })
			adj[w] = slices.DeleteFunc(adj[w], func(x int32) bool { return x == u })
			adj[u] = append(adj[u], v)
			adj[w] = append(adj[w], v)
			adj[v] = append(adj[v], u, w)
		}
	}
	return adj
}

func (h *hyparview) setup() {
	c := h.c
	h.active = regularGraph(c.n, h.maxActive, h.rng)
	for i := 0; i < c.n; i++ {
		pv := make([]int32, 0, h.maxPassive)
		for tries := 0; len(pv) < h.maxPassive && tries < 10*h.maxPassive; tries++ {
			j := int32(h.rng.IntN(c.n))
			if j == int32(i) || slices.Contains(h.active[i], j) || slices.Contains(pv, j) {
				continue
			}
			pv = append(pv, j)
		}
		h.passive[i] = pv
	}
	for i := 0; i < c.n; i++ {
		for _, j := range h.active[i] {
			c.addPeer(int32(i), j)
		}
	}
}

func (h *hyparview) failed(int, []int32) {}

func (h *hyparview) shuffleOrder() []int32 {
	c := h.c
	h.order = h.order[:0]
	for i := 0; i < c.n; i++ {
		if c.alive[i] {
			h.order = append(h.order, int32(i))
		}
	}
	h.rng.Shuffle(len(h.order), func(i, j int) { h.order[i], h.order[j] = h.order[j], h.order[i] })
	return h.order
}

func (h *hyparview) step(int) {
	c := h.c
	order := h.shuffleOrder()
	// Failure detection: NeighborDown for every failed active neighbour.
	for _, i := range order {
		act := h.active[i]
		for k := 0; k < len(act); {
			j := act[k]
			if c.alive[j] {
				k++
				continue
			}
			act = slices.Delete(act, k, k+1)
			c.removePeer(i, j)
			h.repairing[i] = true
		}
		h.active[i] = act
	}
	// Repair from the passive view.
	for _, i := range order {
		if c.alive[i] && h.repairing[i] {
			h.repair(i)
		}
	}
	// Shuffle.
	for _, i := range order {
		if c.alive[i] {
			h.shuffle(i)
		}
	}
}

func (h *hyparview) repair(i int32) {
	c := h.c
	tried := 0
	for len(h.active[i]) < h.maxActive && len(h.passive[i]) > 0 && tried < h.maxPassive {
		tried++
		k := h.rng.IntN(len(h.passive[i]))
		p := h.passive[i][k]
		if !c.alive[p] {
			h.passive[i] = slices.Delete(h.passive[i], k, k+1)
			continue
		}
		high := len(h.active[i]) == 0
		if len(h.active[p]) >= h.maxActive {
			if !high {
				continue
			}
			d := h.active[p][h.rng.IntN(len(h.active[p]))]
			h.disconnect(p, d)
		}
		h.passive[i] = slices.Delete(h.passive[i], k, k+1)
		h.passive[p] = slices.DeleteFunc(h.passive[p], func(x int32) bool { return x == i })
		h.active[i] = append(h.active[i], p)
		h.active[p] = append(h.active[p], i)
		c.addPeer(i, p)
		c.addPeer(p, i)
	}
	if len(h.active[i]) >= h.maxActive {
		h.repairing[i] = false
	}
}

// disconnect drops the link a–b (HyParView DISCONNECT): both move the other
// to their passive view; b has to repair.
func (h *hyparview) disconnect(a, b int32) {
	c := h.c
	h.active[a] = slices.DeleteFunc(h.active[a], func(x int32) bool { return x == b })
	h.active[b] = slices.DeleteFunc(h.active[b], func(x int32) bool { return x == a })
	c.removePeer(a, b)
	c.removePeer(b, a)
	h.addPassive(a, b, nil)
	h.addPassive(b, a, nil)
	h.repairing[b] = true
}

// addPassive adds e to x's passive view, evicting an entry of sent (what x
// just gave away) first, else a random one.
func (h *hyparview) addPassive(x, e int32, sent []int32) {
	if e == x || slices.Contains(h.active[x], e) || slices.Contains(h.passive[x], e) {
		return
	}
	pv := h.passive[x]
	if len(pv) >= h.maxPassive {
		k := -1
		for _, s := range sent {
			if k = slices.Index(pv, s); k >= 0 {
				break
			}
		}
		if k < 0 {
			k = h.rng.IntN(len(pv))
		}
		pv = slices.Delete(pv, k, k+1)
	}
	h.passive[x] = append(pv, e)
}

func (h *hyparview) sample(src []int32, k int, dst []int32) []int32 {
	if k >= len(src) {
		return append(dst, src...)
	}
	base := len(dst)
	for len(dst)-base < k {
		v := src[h.rng.IntN(len(src))]
		if !slices.Contains(dst[base:], v) {
			dst = append(dst, v)
		}
	}
	return dst
}

func (h *hyparview) shuffle(i int32) {
	c := h.c
	p := c.spec.Params
	cur, prev := i, int32(-1)
	for s := 0; s < p.ShuffleWalk; s++ {
		act := h.active[cur]
		if len(act) == 0 {
			break
		}
		next := act[h.rng.IntN(len(act))]
		if (next == prev && len(act) > 1) || !c.alive[next] {
			next = act[h.rng.IntN(len(act))]
		}
		if !c.alive[next] {
			break
		}
		prev, cur = cur, next
	}
	if cur == i {
		return
	}
	q := cur
	si := append(make([]int32, 0, 1+p.ShuffleActive+p.ShufflePassive), i)
	si = h.sample(h.active[i], p.ShuffleActive, si)
	si = h.sample(h.passive[i], p.ShufflePassive, si)
	sq := h.sample(h.passive[q], len(si), nil)
	for _, e := range si {
		h.addPassive(q, e, sq)
	}
	for _, e := range sq {
		h.addPassive(i, e, si)
	}
}

func (h *hyparview) stats() overlayStats {
	c := h.c
	var sum, live, iso int
	for i := 0; i < c.n; i++ {
		if !c.alive[i] {
			continue
		}
		live++
		d := 0
		for _, j := range h.active[i] {
			if c.alive[j] {
				d++
			}
		}
		sum += d
		if d == 0 {
			iso++
		}
	}
	if live == 0 {
		return overlayStats{}
	}
	return overlayStats{MeanDegree: float64(sum) / float64(live), Isolated: iso}
}

// fullMembership is our overlay: every node knows every member (memberlist's
// full membership) and AddPeer's all of them; the core keeps its own bounded
// active view and passive candidates. Failed members are RemovePeer'd by
// every live node DetectionDelay cycles after they failed (1: at the
// membership step of the failure cycle, as SWIM's failure detection within
// one cycle would).
type fullMembership struct {
	c       *cluster
	rng     *rand.Rand
	pending []pendingFailure
}

type pendingFailure struct {
	cycle int
	nodes []int32
}

func newFullMembership(c *cluster, seed uint64) *fullMembership {
	return &fullMembership{c: c, rng: rand.New(rand.NewPCG(seed, seed^0x6a09e667f3bcc909))}
}

func (f *fullMembership) setup() {
	c := f.c
	perm := make([]int32, c.n)
	for i := range perm {
		perm[i] = int32(i)
	}
	for i := 0; i < c.n; i++ {
		// Every node learns the members in its own random order (as a
		// join's push/pull would deliver them), so that no member is
		// everyone's first pick.
		f.rng.Shuffle(len(perm), func(a, b int) { perm[a], perm[b] = perm[b], perm[a] })
		p := c.procs[i]
		now := c.t()
		for k, j := range perm {
			if int(j) != i {
				p.AddPeer(now, c.ids[j])
			}
			if k&63 == 63 {
				// Drain often: the output buffers (one event per
				// AddPeer) stay small.
				c.emit(int32(i), p.Drain())
			}
		}
		c.emit(int32(i), p.Drain())
		c.touch(int32(i))
	}
}

func (f *fullMembership) failed(cycle int, nodes []int32) {
	if len(nodes) > 0 {
		f.pending = append(f.pending, pendingFailure{cycle: cycle, nodes: slices.Clone(nodes)})
	}
}

func (f *fullMembership) step(cycle int) {
	c := f.c
	delay := c.spec.Params.DetectionDelay
	if delay < 1 {
		delay = 1
	}
	k := 0
	for k < len(f.pending) && f.pending[k].cycle+delay-1 <= cycle {
		k++
	}
	if k == 0 {
		return
	}
	for _, pf := range f.pending[:k] {
		for i := 0; i < c.n; i++ {
			if !c.alive[i] {
				continue
			}
			p := c.procs[i]
			now := c.t()
			for _, j := range pf.nodes {
				p.RemovePeer(now, c.ids[j])
			}
			c.emit(int32(i), p.Drain())
			c.touch(int32(i))
		}
	}
	f.pending = f.pending[k:]
}

func (f *fullMembership) stats() overlayStats {
	c := f.c
	var sum, live, iso int
	for i := 0; i < c.n; i++ {
		if !c.alive[i] {
			continue
		}
		live++
		d := c.procs[i].PeerCount()
		sum += d
		if d == 0 {
			iso++
		}
	}
	if live == 0 {
		return overlayStats{}
	}
	return overlayStats{MeanDegree: float64(sum) / float64(live), Isolated: iso}
}
