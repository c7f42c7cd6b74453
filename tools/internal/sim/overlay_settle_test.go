package sim

import (
	"slices"
	"testing"

	"github.com/plumtree-go/plumtree/core"
)

// TestOurOverlaySettles: on our overlay (full membership, the core's own
// bounded views), one sender, stable: after the warm-up every broadcast
// costs exactly n − 1 payload messages (RMR 0, not just ≤ 0.01), and every
// link is held by both of its ends.
//
// It caught one-sided links that nothing closed: a member pushing first
// copies over a link the receiver did not hold (crossed handshakes at
// start-up) was never told, because only duplicates were answered with a
// Disconnect; the receiver, counting no eager parent of its own, promoted
// a lazy link each round, whose other end pruned it again — a duplicate per
// broadcast, for ever (RMR 0.002 at 1,000 nodes, 0.008 at 10,000).
func TestOurOverlaySettles(t *testing.T) {
	const n, cycles = 1000, 100
	scs, err := ParseScenarios("stable", cycles, 20)
	if err != nil {
		t.Fatal(err)
	}
	spec := Spec{Engine: EngineCycle, Overlay: OverlayFull, Protocol: ProtoPlumtree, Scenario: scs[0], Nodes: n, Seed: 1, Params: DefaultParams()}
	r, err := newRunner(spec)
	if err != nil {
		t.Fatal(err)
	}
	for k := 0; k < cycles; k++ {
		r.cycle(k)
	}
	res := summarize(spec, r.c)
	for _, pt := range res.Series[scs[0].Warmup:] {
		if pt.Payload != n-1 || pt.Reliability != 100 {
			t.Errorf("seed %d cycle %d: %.0f payload messages (want n − 1 = %d), RMR %.4f, reliability %.2f %%",
				spec.Seed, pt.Cycle, pt.Payload, n-1, pt.RMR, pt.Reliability)
		}
	}
	c := r.c
	oneSided := 0
	for i, p := range c.procs {
		for _, q := range slices.Concat(p.EagerPeers(), p.LazyPeers()) {
			back := c.procs[c.index[q]]
			if !slices.Contains(back.EagerPeers(), p.Self()) && !slices.Contains(back.LazyPeers(), p.Self()) {
				oneSided++
				if oneSided <= 5 {
					t.Errorf("node %d holds a link to %s that %s does not hold (it holds it %s)", i, q, q, heldAs(back, p.Self()))
				}
			}
		}
	}
	if oneSided > 0 {
		t.Errorf("seed %d: %d one-sided links after %d cycles", spec.Seed, oneSided, cycles)
	}
}

func heldAs(p *core.Protocol, id core.PeerID) string {
	switch {
	case slices.Contains(p.JoiningPeers(), id):
		return "joining"
	case slices.Contains(p.PassivePeers(), id):
		return "passive"
	}
	return "unknown"
}
