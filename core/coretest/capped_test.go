package coretest_test

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/core/coretest"
)

// After a warm-up from every node, the eager graph sometimes leaves a few
// nodes out, and the first messages of a new origin are pulled until they
// link back. The tree must take them back within a few messages. With the
// eager cap (max_eager_peers 3) and per-node tunings like the node tuner's
// (graft timeouts 200-600 ms, IHave intervals 50-200 ms), seed 11 of 1-300
// of a warm-up used to pull all 200 messages (p50 257 ms) for as long as
// the traffic lasted: two nodes linked only to each other, every lazy peer
// of the one that pulled at its cap (each link it asked for refused), and
// its partner, which had a lazy peer with room, got every copy from it
// within its own graft timeout and never pulled (see noteLate).
// tools/largebench showed the same in about one run in two with a warm-up
// from every node.
//
// The warm-up leaves that state by chance, and which seed does moves with
// any change to the overlay's timing (seed 1235 was the first of 1-1235
// after an IHave flush's delay came to follow the message). So the test
// builds it after the warm-up: strand cuts two eager neighbours off the
// tree and fills every other lazy peer of the first to the cap, with the
// Prunes and link Grafts their peers would have sent. With noteLate taken
// out, 7 of the 20 groups it builds (seeds 1-30) pulled 109-200 of the 200
// messages; with it, at most 22.
func TestGroupBehindCappedNodesRejoins(t *testing.T) {
	const nodes, msgs, every, origin = 16, 200, 50 * time.Millisecond, 15
	// A stranded node asks for a link once per maintenance round, so the
	// group takes a link back at its next round: until then every message
	// is pulled, up to a round and its jitter. Before the fix above, all
	// 200.
	maxPulled := int((core.LANConfig().MaintenanceInterval+core.LANConfig().MaintenanceJitter)/every) + 2
	// Seeds run until want groups are built (27 of seeds 1-40 allowed one
	// on 2026-12-07), so that a change to the warm-up's overlay changes
	// which seeds serve, not whether the test runs.
	const want, maxSeeds = 20, 200
	built, partnerWaits, worst, worstSeed := 0, 0, 0, int64(0)
	seed := int64(0)
	for built < want && seed < maxSeeds {
		seed++
		var r *loadRun
		a, b, ok := 0, 0, false
		// strand's choices are final, so each of its choices starts from
		// the same warm-up again.
		for k, more := 0, true; !ok && more; k++ {
			r = warmUpCapped(t, nodes, seed)
			a, b, ok, more = strand(r.n, origin, core.LANConfig().MaxEagerPeers, k)
		}
		if !ok {
			continue
		}
		built++
		if r.n.Node(b).Tuning().GraftTimeout > r.n.Node(a).Tuning().GraftTimeout {
			partnerWaits++ // b gets a's pulled copies before it would pull
		}
		start := len(r.order)
		for k := 0; k < msgs; k++ {
			r.broadcast(t, origin)
			r.n.RunFor(every)
		}
		r.n.RunUntilQuiescent(time.Minute)
		if err := r.n.CheckDelivery(true); err != nil {
			t.Errorf("seed %d: %v", seed, err)
		}
		pulled := 0
		for _, id := range r.order[start:] {
			if r.stats[id].grafted > 0 {
				pulled++
			}
		}
		if pulled > worst {
			worst, worstSeed = pulled, seed
		}
		switch {
		case pulled == 0:
			t.Errorf("seed %d: nodes %d and %d were cut off, yet no message was pulled", seed, a, b)
		case pulled > maxPulled:
			t.Errorf("seed %d: nodes %d and %d cut off: %d of %d messages pulled by some node, want at most %d", seed, a, b, pulled, msgs, maxPulled)
		}
	}
	t.Logf("%d of seeds 1-%d built the cut-off group (in %d the partner's graft timeout was the longer); most messages pulled: %d (seed %d)", built, seed, partnerWaits, worst, worstSeed)
	if built < want || partnerWaits == 0 {
		t.Errorf("the cut-off group was built in %d of seeds 1-%d, %d with the partner waiting longer, want %d and at least 1: the test no longer exercises the repair", built, seed, partnerWaits, want)
	}
}

// strand cuts the k-th leaf a of the eager graph and its one eager peer b
// (neither the origin) off the tree, and fills every other lazy peer of a
// to the eager cap. With the Prunes and link Grafts their peers would
// send, it cuts b's other eager links, links the rest of the nodes into
// one tree again, then adds links to a's lazy peers, each with a Prune on
// the eager path it closes (so the rest stays a tree). Every lazy link of
// a and b is marked pruned at both ends, so no node's maintenance refills
// its eager set from them (it counts pruned links, see repair). ok is
// false when this network's links do not allow it; more is false when
// there is no k-th leaf.
func strand(n *coretest.Network, origin, eagerCap, k int) (a, b int, ok, more bool) {
	a, b = -1, -1
	for i := range n.Len() {
		if e := eagerOf(n, i); i != origin && len(e) == 1 && e[0] != origin {
			if k == 0 {
				a, b = i, e[0]
				break
			}
			k--
		}
	}
	if a < 0 {
		return a, b, false, false
	}
	for _, x := range eagerOf(n, b) {
		if x != a {
			relink(n, b, x, core.MsgPrune)
		}
	}
	for _, x := range append(lazyOf(n, a), lazyOf(n, b)...) {
		if x != a && x != b {
			relink(n, a, x, core.MsgPrune) // a no-op on a link of b only: a does not hold it
			relink(n, b, x, core.MsgPrune)
		}
	}
	room := func(i int) bool { return len(eagerOf(n, i)) < eagerCap }
	// The rest into one tree: a link from the origin's part to another
	// part, until there is none.
	for {
		in := eagerPart(n, origin)
		x, y := -1, -1
		for i := range n.Len() {
			if !in[i] || !room(i) {
				continue
			}
			for _, j := range lazyOf(n, i) {
				if !in[j] && j != a && j != b && room(j) {
					x, y = i, j
					break
				}
			}
			if x >= 0 {
				break
			}
		}
		if x < 0 {
			break
		}
		relink(n, x, y, core.MsgGraft)
	}
	capped := lazyOf(n, a)
	for _, l := range capped {
		for room(l) {
			y, z := -1, -1
			for _, c := range lazyOf(n, l) {
				if c == a || c == b {
					continue
				}
				p := eagerPath(n, l, c)
				if p == nil || slices.Contains(capped, p[len(p)-2]) {
					continue
				}
				y, z = c, p[len(p)-2]
				break
			}
			if y < 0 {
				return a, b, false, true
			}
			relink(n, z, y, core.MsgPrune)
			relink(n, l, y, core.MsgGraft)
		}
	}
	if !slices.Equal(eagerOf(n, a), []int{b}) || !slices.Equal(eagerOf(n, b), []int{a}) || len(eagerPart(n, origin)) != n.Len()-2 {
		return a, b, false, true
	}
	for _, l := range lazyOf(n, a) {
		if l != b && room(l) {
			return a, b, false, true
		}
	}
	return a, b, true, true
}

// warmUpCapped runs the warm-up of TestGroupBehindCappedNodesRejoins: 16
// nodes of the LAN preset, per-node tunings like the node tuner's, 60
// messages from every node in turn.
func warmUpCapped(t *testing.T, nodes int, seed int64) *loadRun {
	cfg := core.LANConfig()
	r := newLoadRun(t, nodes, cfg, seed, time.Millisecond, 200*time.Microsecond)
	r.n.RunFor(2 * time.Second)
	rng := rand.New(rand.NewPCG(uint64(seed), 99))
	for i := 0; i < nodes; i++ {
		tun := core.Tuning{
			GraftTimeout:   time.Duration(200+rng.IntN(401)) * time.Millisecond,
			IHaveInterval:  time.Duration(50+rng.IntN(151)) * time.Millisecond,
			IHaveBatchSize: cfg.IHaveBatchSize,
		}
		if _, err := r.n.Node(i).SetTuning(r.n.Now(), tun); err != nil {
			t.Fatal(err)
		}
	}
	for k := 0; k < 60; k++ {
		r.broadcast(t, k%nodes)
		r.n.RunFor(20 * time.Millisecond)
	}
	r.n.RunFor(time.Second)
	return r
}

// relink hands i and j each the message t (a Prune or a link Graft) from
// the other, as if both had sent it: the link becomes lazy and pruned, or
// eager where there is room, at both ends.
func relink(n *coretest.Network, i, j int, t core.MessageType) {
	if slices.Contains(lazyOf(n, i), j) || slices.Contains(eagerOf(n, i), j) {
		n.Node(i).Receive(n.Now(), n.ID(j), core.Message{Type: t})
		n.Flush(i)
	}
	if slices.Contains(lazyOf(n, j), i) || slices.Contains(eagerOf(n, j), i) {
		n.Node(j).Receive(n.Now(), n.ID(i), core.Message{Type: t})
		n.Flush(j)
	}
}

func eagerOf(n *coretest.Network, i int) []int { return indices(n, n.Node(i).EagerPeers()) }
func lazyOf(n *coretest.Network, i int) []int  { return indices(n, n.Node(i).LazyPeers()) }

func indices(n *coretest.Network, ids []core.PeerID) []int {
	out := make([]int, 0, len(ids))
	for _, id := range ids {
		if j := n.Index(id); j >= 0 {
			out = append(out, j)
		}
	}
	return out
}

// eagerPath returns a shortest path from a to b over eager links (a first,
// b last), or nil if there is none.
func eagerPath(n *coretest.Network, a, b int) []int {
	prev := map[int]int{a: a}
	for queue := []int{a}; len(queue) > 0; queue = queue[1:] {
		i := queue[0]
		if i == b {
			path := []int{b}
			for i != a {
				i = prev[i]
				path = append(path, i)
			}
			slices.Reverse(path)
			return path
		}
		for _, j := range eagerOf(n, i) {
			if _, ok := prev[j]; !ok {
				prev[j] = i
				queue = append(queue, j)
			}
		}
	}
	return nil
}

// reach returns how many nodes an eager push from node o reaches.
func reach(n *coretest.Network, o int) int { return len(eagerPart(n, o)) }

// eagerPart returns the nodes an eager push from node o reaches.
func eagerPart(n *coretest.Network, o int) map[int]bool {
	seen := map[int]bool{o: true}
	for stack := []int{o}; len(stack) > 0; {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, j := range eagerOf(n, i) {
			if !seen[j] {
				seen[j] = true
				stack = append(stack, j)
			}
		}
	}
	return seen
}
