package coretest_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/core/coretest"
)

// overlayShape checks the active views of every live node: each within
// eager_fanout + lazy_fanout, lazy within lazy_fanout, every link held by
// both sides with the same kind, no eager degree above 2× the mean. It
// returns the mean and maximum eager degree.
func overlayShape(t *testing.T, n *coretest.Network, c core.Config) (mean float64, maxEager int) {
	t.Helper()
	total := 0
	for i := 0; i < n.Len(); i++ {
		p := n.Node(i)
		eager, lazy := p.EagerPeers(), p.LazyPeers()
		if got, cap := len(eager)+len(lazy), c.EagerFanout+c.LazyFanout; got > cap {
			t.Errorf("node %d: active view %d > %d", i, got, cap)
		}
		if len(lazy) > c.LazyFanout {
			t.Errorf("node %d: %d lazy peers > lazy_fanout %d", i, len(lazy), c.LazyFanout)
		}
		for _, e := range eager {
			if !slices.Contains(n.Node(n.Index(e)).EagerPeers(), p.Self()) {
				t.Errorf("node %d holds %s eager, %s holds it %s", i, e, e, kind(n.Node(n.Index(e)), p.Self()))
			}
		}
		for _, l := range lazy {
			if !slices.Contains(n.Node(n.Index(l)).LazyPeers(), p.Self()) {
				t.Errorf("node %d holds %s lazy, %s holds it %s", i, l, l, kind(n.Node(n.Index(l)), p.Self()))
			}
		}
		total += len(eager)
		maxEager = max(maxEager, len(eager))
	}
	mean = float64(total) / float64(n.Len())
	if float64(maxEager) > 2*mean {
		t.Errorf("eager degree %d > 2 × mean %.2f", maxEager, mean)
	}
	return mean, maxEager
}

func kind(p *core.Protocol, id core.PeerID) string {
	switch {
	case slices.Contains(p.EagerPeers(), id):
		return "eager"
	case slices.Contains(p.LazyPeers(), id):
		return "lazy"
	}
	return "passive"
}

// The overlay at N = 64 with the default config: every active view within
// eager_fanout + lazy_fanout, lazy peers within lazy_fanout, every link
// symmetric (same kind on both sides), no eager degree above 2× the mean;
// and the tree it carries delivers every broadcast with RMR 0 once settled.
func TestOverlayBoundedSymmetric(t *testing.T) {
	for seed := int64(1); seed <= 3; seed++ {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			c := core.DefaultConfig()
			n, err := coretest.New(coretest.Config{Nodes: 64, Protocol: c, Seed: seed, LinkSpread: 5 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			n.RunFor(10 * time.Second)
			for k := 0; k < 30; k++ {
				if _, err := n.Broadcast(k%64, []byte("x")); err != nil {
					t.Fatal(err)
				}
				n.RunFor(c.PruneDelay)
			}
			n.RunFor(5 * time.Second)
			if err := n.CheckDelivery(true); err != nil {
				t.Fatalf("seed %d: %v", seed, err)
			}
			mean, maxE := overlayShape(t, n, c)
			n.ResetCounters()
			id, _ := n.Broadcast(5, []byte("settled"))
			n.RunFor(5 * time.Second)
			cs := n.Counters()
			t.Logf("seed %d: eager degree mean %.2f max %d; settled broadcast RMR %.3f, control received per node %.2f", seed, mean, maxE, n.RMR(id), float64(cs.ControlReceived)/64)
			if got := n.Deliveries(id); got != 64 {
				t.Errorf("settled broadcast delivered by %d of 64", got)
			}
		})
	}
}
