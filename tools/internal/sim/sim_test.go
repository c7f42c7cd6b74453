package sim

import (
	"bytes"
	"math"
	"slices"
	"strings"
	"testing"
)

func testPlan(nodes, cycles int, scenarios []Scenario, engines []Engine, protos []Protocol) []Spec {
	for i := range scenarios {
		if scenarios[i].Kind == Stable {
			scenarios[i].Cycles = cycles
		}
	}
	return Plan{
		Engines:   engines,
		Overlays:  []Overlay{OverlayPaper, OverlayFull},
		Protocols: protos,
		Scenarios: scenarios,
		Nodes:     nodes,
		Seed:      42,
		Params:    DefaultParams(),
	}.Specs()
}

// TestDeterminism runs the same plan twice: the outputs must be
// byte-identical.
func TestDeterminism(t *testing.T) {
	specs := testPlan(150, 56, []Scenario{ScenarioStable(), ScenarioMassive(50, 3)},
		[]Engine{EngineCycle, EngineEvent}, []Protocol{ProtoFlood, ProtoPlumtreeManyOpt3})
	var out [2]bytes.Buffer
	for i := range out {
		rs, err := RunAll(specs, 2, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := WriteJSON(&out[i], 42, 150, rs); err != nil {
			t.Fatal(err)
		}
		if err := WriteTable(&out[i], rs); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(out[0].Bytes(), out[1].Bytes()) {
		t.Fatalf("two runs with the same seed differ:\n%s\n----\n%s", out[0].String()[:2000], out[1].String()[:2000])
	}
	// A different seed gives a different overlay.
	specs[0].Seed = 43
	a, _ := Run(specs[0], nil)
	var b bytes.Buffer
	WriteJSONLines(&b, Results{a})
	if strings.Contains(out[0].String(), b.String()) {
		t.Error("seed 43 gave the same first run as seed 42")
	}
}

// TestReproduction checks the paper's numbers at a reduced scale on the
// paper's overlay (cycle engine): flooding has RMR fanout − 1 = 3, Plumtree
// RMR ≤ 0.01 with exactly n − 1 payload messages, reliability 100 % when
// stable and under constant failures.
func TestReproduction(t *testing.T) {
	n, cycles := 1000, 100
	if testing.Short() {
		n, cycles = 400, 60
	}
	protos := []Protocol{ProtoFlood, ProtoPlumtree, ProtoPlumtreeMany, ProtoPlumtreeManyOpt}
	specs := testPlan(n, cycles, []Scenario{ScenarioStable()}, []Engine{EngineCycle}, protos)
	specs = slices.DeleteFunc(specs, func(s Spec) bool { return s.Overlay == OverlayFull && s.Protocol.Name != "plumtree" })
	cons := ScenarioConstant()
	cons.Cycles, cons.FailCycles = cons.Warmup+20, 20
	specs = append(specs, Spec{Engine: EngineCycle, Overlay: OverlayPaper, Protocol: ProtoPlumtree, Scenario: cons, Nodes: n, Seed: 42, Params: DefaultParams()})
	rs, err := RunAll(specs, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	var tab strings.Builder
	WriteTable(&tab, rs)
	t.Logf("\n%s", tab.String())
	for _, r := range rs {
		if r.DuplicateDeliveries != 0 || r.BroadcastErrors != 0 {
			t.Errorf("%s/%s/%s: %d duplicate deliveries, %d broadcast errors", r.Overlay, r.Protocol, r.Scenario, r.DuplicateDeliveries, r.BroadcastErrors)
		}
		if r.MinReliability != 100 {
			t.Errorf("%s/%s/%s: reliability %.2f %% (min %.2f %%), want 100 %%", r.Overlay, r.Protocol, r.Scenario, r.Reliability, r.MinReliability)
		}
		if r.Scenario != "stable" {
			continue
		}
		switch {
		case r.Protocol == "flood":
			if math.Abs(r.RMR-3) > 0.1 {
				t.Errorf("flood RMR %.3f, want fanout − 1 = 3 ± 0.1", r.RMR)
			}
			if math.Abs(r.PayloadMsgs-4*float64(n)) > 0.01*4*float64(n) {
				t.Errorf("flood payload %.1f, want ≈ 4n = %d", r.PayloadMsgs, 4*n)
			}
			if r.ControlMsgs != 0 {
				t.Errorf("flood control %.1f, want 0", r.ControlMsgs)
			}
		default:
			if r.RMR > 0.01 {
				t.Errorf("%s/%s RMR %.4f, want ≤ 0.01", r.Overlay, r.Protocol, r.RMR)
			}
			if r.PayloadMsgs != float64(n-1) {
				t.Errorf("%s/%s payload %.2f, want n − 1 = %d", r.Overlay, r.Protocol, r.PayloadMsgs, n-1)
			}
		}
	}
	fl, pt := rs.Find(EngineCycle, OverlayPaper, "flood", "stable"), rs.Find(EngineCycle, OverlayPaper, "plumtree", "stable")
	if pt.LDH < fl.LDH {
		t.Errorf("plumtree LDH %.2f below flood's %.2f: a tree cannot beat flooding", pt.LDH, fl.LDH)
	}
}

// TestFullMembershipHeals: on our overlay, once the failed members are
// removed, a broadcast reaches every live node again even after 90 % of the
// nodes failed, and the rebuilt tree is nearly redundancy-free: at most two
// redundant copies in the last cycle's broadcast. (Seeds decide whether
// one or two duplicates are still in flight four cycles after the failure:
// one seed in three, before and after any change to the random draws; so the
// test runs three seeds and bounds the copies, not RMR 0.)
func TestFullMembershipHeals(t *testing.T) {
	n := 600
	if testing.Short() {
		n = 300
	}
	for seed := uint64(42); seed <= 44; seed++ {
		sc := ScenarioMassive(90, 4)
		sc.Warmup, sc.Cycles = 10, 14
		r, err := Run(Spec{Engine: EngineCycle, Overlay: OverlayFull, Protocol: ProtoPlumtreeManyOpt3, Scenario: sc, Nodes: n, Seed: seed, Params: DefaultParams()}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.RegainCycles < 0 || r.RegainCycles > 2 {
			t.Errorf("seed %d: regained 100 %% after %d cycles, want ≤ 2 (series %+v)", seed, r.RegainCycles, r.Series[sc.Warmup:])
		}
		last := r.Series[len(r.Series)-1]
		if redundant := last.RMR * last.Delivered; last.Reliability != 100 || redundant > 2.5 {
			t.Errorf("seed %d: last cycle: reliability %.2f %%, %.1f redundant copies (RMR %.3f); want 100 %%, ≤ 2", seed, last.Reliability, redundant, last.RMR)
		}
	}
}

func TestRegularGraph(t *testing.T) {
	for _, n := range []int{10, 57, 1000} {
		adj := regularGraph(n, 5, newHyParView(&cluster{n: n, spec: Spec{Params: DefaultParams()}}, 7).rng)
		short := 0
		for i, nb := range adj {
			if len(nb) > 5 {
				t.Fatalf("n=%d: node %d has degree %d", n, i, len(nb))
			}
			short += 5 - len(nb)
			for _, j := range nb {
				if int(j) == i {
					t.Fatalf("n=%d: self-loop at %d", n, i)
				}
				if !slices.Contains(adj[j], int32(i)) {
					t.Fatalf("n=%d: link %d→%d not symmetric", n, i, j)
				}
			}
			s := slices.Clone(nb)
			slices.Sort(s)
			if len(slices.Compact(s)) != len(nb) {
				t.Fatalf("n=%d: node %d has a double link", n, i)
			}
		}
		if short > 2 {
			t.Errorf("n=%d: %d missing link ends, want ≤ 2", n, short)
		}
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		in    string
		names []string
		err   bool
	}{
		{"stable", []string{"stable"}, false},
		{"stable,massive-50", []string{"stable", "massive-50"}, false},
		{"massive", []string{"massive-10", "massive-20", "massive-30", "massive-40", "massive-50", "massive-60", "massive-70", "massive-80", "massive-90"}, false},
		{"all", []string{"stable", "constant", "massive-10", "massive-20", "massive-30", "massive-40", "massive-50", "massive-60", "massive-70", "massive-80", "massive-90"}, false},
		{"stable,stable", []string{"stable"}, false},
		{"massive-0", nil, true},
		{"massive-x", nil, true},
		{"bogus", nil, true},
		{"", nil, true},
	}
	for _, tt := range tests {
		scs, err := ParseScenarios(tt.in, 120, 5)
		if (err != nil) != tt.err {
			t.Errorf("%q: err %v", tt.in, err)
			continue
		}
		var names []string
		for _, s := range scs {
			names = append(names, s.Name)
			if s.Name == "stable" && s.Cycles != 120 {
				t.Errorf("stable cycles %d, want 120", s.Cycles)
			}
		}
		if !slices.Equal(names, tt.names) {
			t.Errorf("%q: %v, want %v", tt.in, names, tt.names)
		}
	}
	for _, tt := range []struct {
		name      string
		many      bool
		threshold int
		err       bool
	}{
		{"flood", true, 0, false},
		{"plumtree", false, 0, false},
		{"plumtree-opt3", false, 3, false},
		{"plumtree-many-opt7", true, 7, false},
		{"plumtree-many-opt12", true, 12, false},
		{"plumtree-opt0", false, 0, true},
		{"gossipsub", false, 0, true},
		{"plumtree-many-shape16", true, 0, false},
		{"plumtree-many-shape0", false, 0, true},
	} {
		p, err := ProtocolByName(tt.name)
		if (err != nil) != tt.err {
			t.Errorf("%q: err %v", tt.name, err)
			continue
		}
		if err == nil && tt.name == "plumtree-many-shape16" && p.Shortcut != 16 {
			t.Errorf("%q: shortcut %d, want 16", tt.name, p.Shortcut)
		}
		if err == nil && (p.ManySenders != tt.many || p.HopThreshold != tt.threshold) {
			t.Errorf("%q: %+v", tt.name, p)
		}
	}
}

func TestHeaps(t *testing.T) {
	var h timerHeap
	in := []int64{5, 3, 9, 1, 7, 3, 8}
	for i, v := range in {
		h.push(timerEntry{t: v, node: int32(i)})
	}
	var got []int64
	for len(h) > 0 {
		got = append(got, h.pop().t)
	}
	if !slices.IsSorted(got) {
		t.Errorf("timer heap order %v", got)
	}
	c := &cluster{spec: Spec{Params: DefaultParams()}}
	en := newEventNet(c, 1)
	for a := int32(0); a < 50; a++ {
		for b := int32(0); b < 50; b++ {
			l := en.linkLatency(a, b)
			if l != en.linkLatency(b, a) || l < int64(DefaultParams().LatencyMin) || l > int64(DefaultParams().LatencyMax) {
				t.Fatalf("latency %d–%d = %d", a, b, l)
			}
		}
	}
}

func TestValidate(t *testing.T) {
	ok := Spec{Engine: EngineCycle, Overlay: OverlayPaper, Protocol: ProtoPlumtree, Scenario: ScenarioStable(), Nodes: 100, Params: DefaultParams()}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mod := range map[string]func(*Spec){
		"few nodes": func(s *Spec) { s.Nodes = 3 },
		"engine":    func(s *Spec) { s.Engine = "x" },
		"overlay":   func(s *Spec) { s.Overlay = "x" },
		"cycles":    func(s *Spec) { s.Scenario.Cycles = 10 },
		"config":    func(s *Spec) { s.Params.CacheSize = 0 },
	} {
		s := ok
		mod(&s)
		if err := s.Validate(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
