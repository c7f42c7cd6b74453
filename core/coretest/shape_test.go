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
// last 200 broadcasts.
func shapeRun(t *testing.T, nodes int, cfg core.Config, seed int64, msgs int) (ldhMedian, ldhMax int, rmr float64, grafted int) {
	t.Helper()
	r := newLoadRun(t, nodes, cfg, seed, time.Millisecond, 200*time.Microsecond)
	r.n.RunFor(2 * time.Second)
	rng := rand.New(rand.NewPCG(7, uint64(seed)))
	for k := 0; k < msgs; k++ {
		r.broadcast(t, rng.IntN(nodes))
		r.n.RunFor(50 * time.Millisecond)
	}
	r.n.RunUntilQuiescent(time.Minute)
	var ldhs []int
	for _, id := range r.order[len(r.order)-200:] {
		s := r.stats[id]
		ldhs = append(ldhs, s.ldh)
		rmr += r.n.RMR(id)
		grafted += s.grafted
	}
	slices.Sort(ldhs)
	return ldhs[len(ldhs)/2], ldhs[len(ldhs)-1], rmr / 200, grafted
}

// Tree shaping (ShortcutSamples 16, MaxEagerPeers 0, on the LAN preset):
// 32 nodes, 20 msg/s from random origins, one tree shared by all. Without
// it (the LAN preset as it is) the tree is whatever spanning tree the
// duplicates left, and the last delivery of a message is a median 11-16
// hops from its origin; with it, after 60 s (most swaps happen in the first
// 10), at most 7, and the tree is as quiet as before: no pulls, RMR about 0.
// Seeds 1-3; SHAPE_SEED=k runs only k.
func TestShortcutsShortenTheTree(t *testing.T) {
	seeds := []int64{1, 2, 3}
	if k := envInt("SHAPE_SEED", 0); k > 0 {
		seeds = []int64{int64(k)}
	}
	for _, seed := range seeds {
		off := core.LANConfig()
		on := core.LANConfig()
		on.ShortcutSamples, on.MaxEagerPeers = 16, 0
		offMed, offMax, _, _ := shapeRun(t, 32, off, seed, 1200)
		med, mx, rmr, grafted := shapeRun(t, 32, on, seed, 1200)
		t.Logf("seed %d: last delivery hops p50 / max %d / %d without shaping, %d / %d with; RMR %.4f, %d deliveries by Graft",
			seed, offMed, offMax, med, mx, rmr, grafted)
		if med > 7 || mx > 9 || 10*med > 6*offMed {
			t.Errorf("seed %d: last delivery hops p50 %d, max %d (without shaping %d, %d); want p50 <= 7 and <= 0.6 × unshaped, max <= 9",
				seed, med, mx, offMed, offMax)
		}
		if rmr > 0.01 || grafted > 5 {
			t.Errorf("seed %d: RMR %.4f, %d deliveries by Graft over the last 200 broadcasts; want <= 0.01 and <= 5", seed, rmr, grafted)
		}
	}
}
