package coretest_test

import (
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
)

// fanoutRun measures what announcements cost and what they buy: nodes
// nodes (full membership, so links are symmetric and each lazy set holds
// about LazyFanout plus the pruned links plus the peers that chose this
// node), msgs broadcasts from random origins gap apart, every message lost
// with probability drop. It returns the control messages (IHave, Graft,
// Prune) received, and the IHaves and announcements sent (anti-entropy
// excluded), per node per broadcast, the p50, p99 and max
// time from broadcast to the last delivery, and the deliveries that needed
// a Graft. With the default (announce to every lazy peer) every message
// must reach every node.
type fanoutResult struct {
	control, ihaves   float64
	anns              float64
	p50, p99, maxLast time.Duration
	grafted           int
	undelivered       error // not everything delivered within 2 min after the loss stopped
}

func (r fanoutResult) String() string {
	s := fmt.Sprintf("control %.2f (IHave %.2f, announcements %.2f) per node per broadcast; last delivery p50 %v p99 %v max %v; deliveries by Graft %d",
		r.control, r.ihaves, r.anns, r.p50.Round(time.Millisecond), r.p99.Round(time.Millisecond), r.maxLast.Round(time.Millisecond), r.grafted)
	if r.undelivered != nil {
		s += "; NOT ALL DELIVERED: " + r.undelivered.Error()
	}
	return s
}

func fanoutRun(t testing.TB, nodes, msgs int, gap time.Duration, drop float64, c core.Config, seed int64) fanoutResult {
	t.Helper()
	var ihaves, anns uint64
	counting := false
	r := newLoadRunObs(t, nodes, c, seed, time.Millisecond, 2*time.Millisecond, func(node int, e core.Event) {
		if counting && e.Kind == core.EventIHaveSent && e.Reason != core.ReasonAntiEntropy {
			ihaves++
			anns += uint64(e.Count)
		}
	})
	r.n.RunFor(5 * time.Second)
	// Warm-up: the tree forms and prunes its redundant links.
	for k := 0; k < 50; k++ {
		r.broadcast(t, k%nodes)
		r.n.RunFor(gap)
	}
	r.n.RunFor(5 * time.Second)
	r.n.ResetCounters()
	r.order = r.order[:0]
	counting = true
	r.n.SetDropRate(drop)
	for k := 0; k < msgs; k++ {
		r.broadcast(t, (k*7+3)%nodes)
		r.n.RunFor(gap)
	}
	r.n.SetDropRate(0)
	var res fanoutResult
	if !r.n.RunUntil(r.n.AllDelivered, 2*time.Minute) {
		res.undelivered = r.n.CheckDelivery(true)
	}
	counting = false
	cs := r.n.Counters()
	per := float64(msgs) * float64(nodes)
	res.control = float64(cs.ControlReceived) / per
	res.ihaves = float64(ihaves) / per
	res.anns = float64(anns) / per
	var lasts []time.Duration
	for _, id := range r.order {
		s := r.stats[id]
		lasts = append(lasts, s.last)
		res.grafted += s.grafted
	}
	slices.Sort(lasts)
	res.p50 = lasts[len(lasts)/2]
	res.p99 = lasts[len(lasts)*99/100]
	res.maxLast = lasts[len(lasts)-1]
	return res
}

// TestIHaveFanoutCost reports the announcement traffic and the repair
// times, with and without message loss, for IHaveFanout 0 (every lazy
// peer, the default) and LazyFanout. A measurement (about 6 s), run with
// MEASURE=1 go test -run IHaveFanout -v ./coretest.
func TestIHaveFanoutCost(t *testing.T) {
	if os.Getenv("MEASURE") == "" {
		t.Skip("a measurement: set MEASURE=1")
	}
	for _, tc := range []struct {
		name  string
		nodes int
		cfg   core.Config
		drop  float64
	}{
		{"30 nodes LAN, no loss", 30, core.LANConfig(), 0},
		{"30 nodes LAN, 5% loss", 30, core.LANConfig(), 0.05},
		{"30 nodes LAN, 20% loss", 30, core.LANConfig(), 0.20},
		{"30 nodes default, 5% loss", 30, core.DefaultConfig(), 0.05},
	} {
		for _, fan := range []int{0, tc.cfg.LazyFanout} {
			var agg fanoutResult
			for seed := int64(1); seed <= 3; seed++ {
				c := tc.cfg
				c.Seed = seed
				c.IHaveFanout = fan
				r := fanoutRun(t, tc.nodes, 200, 20*time.Millisecond, tc.drop, c, seed)
				t.Logf("%s ihave_fanout %d seed %d: %v", tc.name, fan, seed, r)
				if r.undelivered != nil && fan == 0 {
					t.Errorf("default (every lazy peer): %v", r.undelivered)
				}
				agg.control += r.control / 3
				agg.ihaves += r.ihaves / 3
				agg.anns += r.anns / 3
				agg.p50 = max(agg.p50, r.p50)
				agg.p99 = max(agg.p99, r.p99)
				agg.maxLast = max(agg.maxLast, r.maxLast)
				agg.grafted += r.grafted
			}
			t.Logf("%s, ihave_fanout %d (3 seeds; mean control, worst times, total grafted): %v", tc.name, fan, agg)
		}
	}
}
