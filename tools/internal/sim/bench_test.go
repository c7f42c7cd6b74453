package sim

import (
	"testing"
)

// BenchmarkCycle10000 measures one cycle (a broadcast run to completion and
// the membership step) of Plumtree on the paper's overlay at the paper's
// scale: 10,000 nodes, after a 3-cycle warm-up.
func BenchmarkCycle10000(b *testing.B) {
	spec := Spec{Engine: EngineCycle, Overlay: OverlayPaper, Protocol: ProtoPlumtree, Scenario: ScenarioStable(), Nodes: 10000, Seed: 1, Params: DefaultParams()}
	r, err := newRunner(spec)
	if err != nil {
		b.Fatal(err)
	}
	k := 0
	for ; k < 3; k++ {
		r.cycle(k)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r.cycle(k)
		k++
	}
	b.StopTimer()
	st := r.c.order[len(r.c.order)-1]
	if st.delivered != spec.Nodes {
		b.Fatalf("last broadcast reached %d of %d nodes", st.delivered, spec.Nodes)
	}
	b.ReportMetric(float64(st.payload+r.c.control[k-1]), "msgs/cycle")
}
