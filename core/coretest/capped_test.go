package coretest_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/core/coretest"
)

// After a warm-up from every node, the eager graph often leaves a few
// nodes out, and the first messages of a new origin are pulled until they
// link back. The tree must take them back within a few messages for every
// seed. With the eager cap (max_eager_peers 3) and per-node tunings like
// the node tuner's (graft timeouts 200-600 ms, IHave intervals 50-200 ms),
// seed 11 of 1-300 used to pull all 200 messages (p50 257 ms) for as long
// as the traffic lasted: two nodes linked only to each other, every lazy
// peer of the one that pulled at its cap (each link it asked for refused),
// and its partner, which had a lazy peer with room, got every copy from
// it within its own graft timeout and never pulled (see noteLate).
// tools/largebench showed the same in about one run in two with a warm-up
// from every node.
func TestGroupBehindCappedNodesRejoins(t *testing.T) {
	const nodes, msgs, every = 16, 200, 50 * time.Millisecond
	// A stranded node asks for a link once per maintenance round, so the
	// group takes a link back at its next round: until then every message
	// is pulled, up to a round and its jitter (once seeds 11 and 336 of
	// 1-1500 exercised it: 22 and 14 messages, as the round fell; 6 in seed 11
	// when digests still went every round with news, which drew other
	// random numbers). Before the fix above, all 200.
	maxPulled := int((core.LANConfig().MaintenanceInterval+core.LANConfig().MaintenanceJitter)/every) + 2
	split, worst, worstSeed := 0, 0, int64(0)
	// The split is rare: seed 261 was the one of 1-300 before an IHave
	// flush's delay followed the message (TestIHaveFlushDelayFollowsTheMessage),
	// and seed 1235 is the first since. So the seeds run on past 300 until
	// one splits.
	seeds := int64(0)
	for seed := int64(1); seed <= 3000 && (seed <= 300 || split == 0); seed++ {
		seeds = seed
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
		if reach(r.n, nodes-1) < nodes {
			split++
		}
		start := len(r.order)
		for k := 0; k < msgs; k++ {
			r.broadcast(t, nodes-1)
			r.n.RunFor(every)
		}
		r.n.RunUntilQuiescent(time.Minute)
		pulled := 0
		for _, id := range r.order[start:] {
			if r.stats[id].grafted > 0 {
				pulled++
			}
		}
		if pulled > worst {
			worst, worstSeed = pulled, seed
		}
		if pulled > maxPulled {
			t.Errorf("seed %d: %d of %d messages pulled by some node, want at most %d", seed, pulled, msgs, maxPulled)
		}
	}
	t.Logf("%d seeds: the eager graph missed nodes after the warm-up in %d; most messages pulled: %d (seed %d)", seeds, split, worst, worstSeed)
	if split == 0 {
		t.Errorf("no seed left nodes outside the eager graph after the warm-up: the test no longer exercises the repair")
	}
}

// reach returns how many nodes an eager push from node o reaches.
func reach(n *coretest.Network, o int) int {
	seen := map[int]bool{o: true}
	for stack := []int{o}; len(stack) > 0; {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, e := range n.Node(i).EagerPeers() {
			if j := n.Index(e); j >= 0 && !seen[j] {
				seen[j] = true
				stack = append(stack, j)
			}
		}
	}
	return len(seen)
}
