package sim_test

import (
	"fmt"

	"github.com/plumtree-go/plumtree/tools/internal/sim"
)

// Flooding a degree-5 overlay costs about four payload messages per node
// (RMR 3); Plumtree's tree delivers with exactly n − 1.
func ExampleRun() {
	sc := sim.ScenarioStable()
	sc.Cycles = 60 // 50 warm-up + 10 measured
	for _, p := range []sim.Protocol{sim.ProtoFlood, sim.ProtoPlumtree} {
		r, err := sim.Run(sim.Spec{
			Engine: sim.EngineCycle, Overlay: sim.OverlayPaper, Protocol: p,
			Scenario: sc, Nodes: 200, Seed: 1, Params: sim.DefaultParams(),
		}, nil)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%s: reliability %.0f %%, %.0f payload messages, RMR %.2f\n", r.Protocol, r.Reliability, r.PayloadMsgs, r.RMR)
	}
	// Output:
	// flood: reliability 100 %, 801 payload messages, RMR 3.03
	// plumtree: reliability 100 %, 199 payload messages, RMR 0.00
}
