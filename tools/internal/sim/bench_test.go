package sim

import (
	"flag"
	"testing"
	"time"
)

// benchNodes sets the node count of BenchmarkEventCycle
// (go test -bench EventCycle -args -sim.nodes 10000).
var benchNodes = flag.Int("sim.nodes", 2000, "nodes of BenchmarkEventCycle")

// BenchmarkCycle10000 measures one cycle (a broadcast run to completion and
// the membership step) of Plumtree on the paper's overlay at the paper's
// scale: 10,000 nodes, after a 3-cycle warm-up.
func BenchmarkCycle10000(b *testing.B) {
	spec := Spec{Engine: EngineCycle, Overlay: OverlayPaper, Protocol: ProtoPlumtree, Scenario: ScenarioStable(), Nodes: 10000, Seed: 1, Params: DefaultParams()}
	r, k, _ := benchCycles(b, spec, 3)
	st := r.c.order[len(r.c.order)-1]
	if st.delivered != spec.Nodes {
		b.Fatalf("last broadcast reached %d of %d nodes", st.delivered, spec.Nodes)
	}
	b.ReportMetric(float64(st.payload+r.c.control[k-1]), "msgs/cycle")
}

// BenchmarkEventCycle measures one cycle (one broadcast interval of 5 s of
// virtual time: the broadcast, the core's timers — IHave flushes,
// maintenance, anti-entropy — and the membership step) of the event engine
// at 2,000 nodes (-sim.nodes), on the paper's overlay and on ours, after a
// 5-cycle warm-up; the set-up and warm-up time is reported as setup-s.
func BenchmarkEventCycle(b *testing.B) {
	for _, ov := range []Overlay{OverlayPaper, OverlayFull} {
		b.Run(string(ov), func(b *testing.B) {
			spec := Spec{Engine: EngineEvent, Overlay: ov, Protocol: ProtoPlumtree, Scenario: ScenarioStable(), Nodes: *benchNodes, Seed: 1, Params: DefaultParams()}
			r, _, setup := benchCycles(b, spec, 5)
			st := r.c.order[len(r.c.order)-2]
			if st.delivered != spec.Nodes {
				b.Fatalf("broadcast of cycle %d reached %d of %d nodes", st.cycle, st.delivered, spec.Nodes)
			}
			b.ReportMetric(setup.Seconds(), "setup-s")
		})
	}
}

// benchCycles builds spec's runner, runs warm cycles, then times one cycle
// per benchmark iteration. It returns the runner, the next cycle number and
// the set-up and warm-up time.
func benchCycles(b *testing.B, spec Spec, warm int) (*runner, int, time.Duration) {
	b.Helper()
	start := time.Now()
	r, err := newRunner(spec)
	if err != nil {
		b.Fatal(err)
	}
	k := 0
	for ; k < warm; k++ {
		r.cycle(k)
	}
	setup := time.Since(start)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r.cycle(k)
		k++
	}
	b.StopTimer()
	return r, k, setup
}
