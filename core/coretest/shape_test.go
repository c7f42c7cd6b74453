package coretest_test

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
)

// shapeRun sends msgs broadcasts from random origins, 50 ms apart (20
// msg/s), over nodes nodes with cfg, and returns the median and largest
// last-delivery hop count, the mean RMR and the deliveries by Graft of the
// last 200 broadcasts, and the deliveries by Graft of every broadcast sent
// after the first 2 s (allGrafted: the swaps included, most of which come
// in the first 10 s).
func shapeRun(t *testing.T, nodes int, cfg core.Config, seed int64, msgs int) (ldhMedian, ldhMax int, rmr float64, grafted, allGrafted int) {
	t.Helper()
	r := newLoadRun(t, nodes, cfg, seed, time.Millisecond, 200*time.Microsecond)
	r.n.RunFor(2 * time.Second)
	rng := rand.New(rand.NewPCG(7, uint64(seed)))
	for k := 0; k < msgs; k++ {
		r.broadcast(t, rng.IntN(nodes))
		r.n.RunFor(50 * time.Millisecond)
	}
	r.n.RunUntilQuiescent(time.Minute)
	for _, id := range r.order[40:] {
		allGrafted += r.stats[id].grafted
	}
	var ldhs []int
	for _, id := range r.order[len(r.order)-200:] {
		s := r.stats[id]
		ldhs = append(ldhs, s.ldh)
		rmr += r.n.RMR(id)
		grafted += s.grafted
	}
	slices.Sort(ldhs)
	return ldhs[len(ldhs)/2], ldhs[len(ldhs)-1], rmr / 200, grafted, allGrafted
}

// Tree shaping (ShortcutSamples 16, MaxEagerPeers 0, on the LAN preset):
// 32 nodes, 20 msg/s from random origins, one tree shared by all. Without
// it (the LAN preset as it is) the tree is whatever spanning tree the
// duplicates left, and the last delivery of a message is a median 11-16
// hops from its origin; with it, after 60 s (most swaps happen in the first
// 10), at most 7 and at most 0.6 of that, and the tree is as quiet
// as before: RMR about 0 — and no swap loses a copy: not one delivery by
// Graft after the first 2 s, swaps included (a swap that cut the old link
// at once made 1-8 per run, seeds 1-12, each a copy that had passed the new
// peer before its link was made). Seeds 1-3; SHAPE_SEED=k runs only k.
func TestShortcutsShortenTheTree(t *testing.T) {
	seeds := []int64{1, 2, 3}
	if k := envInt("SHAPE_SEED", 0); k > 0 {
		seeds = []int64{int64(k)}
	}
	for _, seed := range seeds {
		off := core.LANConfig()
		on := core.LANConfig()
		on.ShortcutSamples, on.MaxEagerPeers = 16, 0
		offMed, offMax, _, _, offAll := shapeRun(t, 32, off, seed, 1200)
		med, mx, rmr, grafted, all := shapeRun(t, 32, on, seed, 1200)
		t.Logf("seed %d: last delivery hops p50 / max %d / %d without shaping, %d / %d with; RMR %.4f, %d deliveries by Graft; after the first 2 s %d by Graft without shaping, %d with",
			seed, offMed, offMax, med, mx, rmr, grafted, offAll, all)
		if med > 7 || mx > 9 || 10*med > 6*offMed {
			t.Errorf("seed %d: last delivery hops p50 %d, max %d (without shaping %d, %d); want p50 <= 7 and <= 0.6 × unshaped, max <= 9",
				seed, med, mx, offMed, offMax)
		}
		if all != 0 {
			t.Errorf("seed %d: %d deliveries by Graft after the first 2 s with shaping; want 0 (a swap must lose no copy)", seed, all)
		}
		if rmr > 0.01 || grafted > 5 {
			t.Errorf("seed %d: RMR %.4f, %d deliveries by Graft over the last 200 broadcasts; want <= 0.01 and <= 5", seed, rmr, grafted)
		}
	}
}
