package sim

import (
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/plumtree-go/plumtree/core"
)

// Engine selects how time and message delivery are simulated.
type Engine string

const (
	// EngineCycle is the paper's PeerSim-style cycle engine: per cycle,
	// failures, one broadcast run until nothing is in flight (messages are
	// delivered in FIFO rounds of one RoundLength each; timers fire in
	// virtual time when they fall due), then a membership step.
	EngineCycle Engine = "cycle"
	// EngineEvent is a discrete-event engine: every link has its own
	// latency plus per-message jitter, and the protocol's real timers (graft
	// timeout, IHave flush interval, maintenance) fire in virtual time.
	EngineEvent Engine = "event"
)

// Overlay selects the peer graph the protocol runs on.
type Overlay string

const (
	// OverlayPaper is the paper's overlay: a symmetric random partial view
	// of degree 5 (HyParView with an active view of 5, hence fanout 4), kept
	// by a HyParView model (passive view, repair, shuffles).
	OverlayPaper Overlay = "paper"
	// OverlayFull is ours: full membership (every node adds every other
	// node) with the core's own bounded active view and passive candidates;
	// failed members are removed after a detection delay.
	OverlayFull Overlay = "full"
)

// Protocol is one broadcast protocol variant. Every variant runs the real
// core.Protocol; they differ in configuration and in who broadcasts.
type Protocol struct {
	Name string `json:"name"`
	// Flood turns the lazy path off: nothing is ever pruned and every
	// overlay link carries the payload (the paper's eager baseline).
	Flood bool `json:"flood"`
	// ManySenders picks a random live origin per broadcast (shared trees);
	// otherwise one fixed sender broadcasts every message.
	ManySenders bool `json:"many_senders"`
	// HopThreshold is Config.HopOptimizationThreshold (Algorithm 4);
	// 0 disables it.
	HopThreshold int `json:"hop_threshold"`
	// Shortcut is Config.ShortcutSamples (tree shaping for many senders);
	// 0 disables it.
	Shortcut int `json:"shortcut,omitempty"`
}

// The protocol variants of the paper's evaluation.
var (
	ProtoFlood           = Protocol{Name: "flood", Flood: true, ManySenders: true}
	ProtoPlumtree        = Protocol{Name: "plumtree"}
	ProtoPlumtreeOpt     = Protocol{Name: "plumtree-opt3", HopThreshold: 3}
	ProtoPlumtreeMany    = Protocol{Name: "plumtree-many", ManySenders: true}
	ProtoPlumtreeManyOpt = Protocol{Name: "plumtree-many-opt7", ManySenders: true, HopThreshold: 7}
	// ProtoPlumtreeManyOpt3 is not in the paper: many senders with the
	// single-sender threshold, our choice for shared trees.
	ProtoPlumtreeManyOpt3 = Protocol{Name: "plumtree-many-opt3", ManySenders: true, HopThreshold: 3}
)

// Protocols lists every variant in report order.
func Protocols() []Protocol {
	return []Protocol{ProtoFlood, ProtoPlumtree, ProtoPlumtreeOpt, ProtoPlumtreeMany, ProtoPlumtreeManyOpt3, ProtoPlumtreeManyOpt}
}

// ProtocolByName returns the named variant: flood, plumtree,
// plumtree-optN (single sender, Algorithm 4 with threshold N),
// plumtree-many, plumtree-many-optN or plumtree-many-shapeN (many senders,
// tree shaping after N samples; not in the paper).
func ProtocolByName(name string) (Protocol, error) {
	for _, p := range Protocols() {
		if p.Name == name {
			return p, nil
		}
	}
	if rest, ok := strings.CutPrefix(name, "plumtree-many-shape"); ok {
		if n, err := strconv.Atoi(rest); err == nil && n >= 1 && n <= 1024 {
			return Protocol{Name: name, ManySenders: true, Shortcut: n}, nil
		}
	}
	for _, pre := range []string{"plumtree-many-opt", "plumtree-opt"} {
		if rest, ok := strings.CutPrefix(name, pre); ok {
			n, err := strconv.Atoi(rest)
			if err != nil || n < 1 || n > 64 {
				break
			}
			return Protocol{Name: name, ManySenders: pre == "plumtree-many-opt", HopThreshold: n}, nil
		}
	}
	return Protocol{}, fmt.Errorf("sim: unknown protocol %q (want flood, plumtree, plumtree-optN, plumtree-many, plumtree-many-optN, plumtree-many-shapeN)", name)
}

// ScenarioKind is the failure pattern of a scenario.
type ScenarioKind int

// Scenario kinds.
const (
	Stable   ScenarioKind = iota // no failures
	Constant                     // a fixed share of nodes fails every cycle
	Massive                      // a share of nodes fails at once after the warm-up
)

// Scenario is a failure pattern over cycles.
type Scenario struct {
	Name string
	Kind ScenarioKind
	// Cycles is the total number of cycles (one broadcast each),
	// including Warmup.
	Cycles int
	// Warmup cycles are run but not measured.
	Warmup int
	// FailPerCycle (Constant) is the share of the initial nodes that fails
	// in every failure cycle: 0.005 = 50 of 10,000.
	FailPerCycle float64
	// FailCycles (Constant) is how many cycles after the warm-up fail nodes.
	FailCycles int
	// FailPct (Massive) is the percentage of nodes that fails at once at
	// cycle Warmup.
	FailPct int
}

// ScenarioStable is the paper's stable run: 250 cycles, the first 50 to
// stabilise.
func ScenarioStable() Scenario {
	return Scenario{Name: "stable", Kind: Stable, Cycles: 250, Warmup: 50}
}

// ScenarioConstant is the paper's constant failure run: 50 of 10,000 nodes
// (0.5 %) fail in each of 100 cycles after a 50-cycle warm-up.
func ScenarioConstant() Scenario {
	return Scenario{Name: "constant", Kind: Constant, Cycles: 150, Warmup: 50, FailPerCycle: 0.005, FailCycles: 100}
}

// ScenarioMassive fails pct % of the nodes at once after a 50-cycle warm-up
// and then keeps broadcasting for after cycles.
func ScenarioMassive(pct, after int) Scenario {
	return Scenario{Name: "massive-" + strconv.Itoa(pct), Kind: Massive, Cycles: 50 + after, Warmup: 50, FailPct: pct}
}

// ParseScenarios parses a comma-separated list: stable, constant, massive
// (every level 10..90), massive-N, all. stableCycles (if > 0) replaces the
// stable scenario's 250 cycles; after is the number of cycles simulated
// after a massive failure.
func ParseScenarios(list string, stableCycles, after int) ([]Scenario, error) {
	stable := ScenarioStable()
	if stableCycles > 0 {
		stable.Cycles = stableCycles
	}
	var out []Scenario
	seen := map[string]bool{}
	add := func(s Scenario) {
		if !seen[s.Name] {
			seen[s.Name] = true
			out = append(out, s)
		}
	}
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		switch {
		case name == "":
		case name == "stable":
			add(stable)
		case name == "constant":
			add(ScenarioConstant())
		case name == "massive":
			for p := 10; p <= 90; p += 10 {
				add(ScenarioMassive(p, after))
			}
		case name == "all":
			add(stable)
			add(ScenarioConstant())
			for p := 10; p <= 90; p += 10 {
				add(ScenarioMassive(p, after))
			}
		case strings.HasPrefix(name, "massive-"):
			p, err := strconv.Atoi(strings.TrimPrefix(name, "massive-"))
			if err != nil || p < 1 || p > 99 {
				return nil, fmt.Errorf("sim: bad scenario %q (massive-N wants 1 ≤ N ≤ 99)", name)
			}
			add(ScenarioMassive(p, after))
		default:
			return nil, fmt.Errorf("sim: unknown scenario %q (want stable, constant, massive, massive-N or all)", name)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("sim: no scenario")
	}
	return out, nil
}

// Params are the model parameters shared by all runs. DefaultParams gives
// the values the report uses.
type Params struct {
	// Paper overlay (HyParView model).
	Degree         int // active view size (5 ⇒ fanout 4)
	PassiveView    int // HyParView passive view size (30)
	ShuffleActive  int // active entries sent in a shuffle (3)
	ShufflePassive int // passive entries sent in a shuffle (4)
	ShuffleWalk    int // random-walk length of a shuffle (6)

	// Full-membership overlay (the core's own views).
	FullEager   int  // Config.EagerFanout (4)
	FullLazy    int  // Config.LazyFanout (6)
	FullPassive int  // Config.MaxPassivePeers (128)
	FullRing    bool // Config.UseHashRing (off, the core's default)
	// FullMaxPeers is Config.MaxPeers (0 = the core's default bound,
	// EagerFanout + LazyFanout).
	FullMaxPeers int
	// DetectionDelay is how many cycles after a failure the live members
	// RemovePeer the failed ones (1: at the membership step of the failure
	// cycle, so the next broadcast no longer sees them).
	DetectionDelay int

	// Cycle engine.
	RoundLength time.Duration // virtual time per delivery round (1 ms)
	CycleLength time.Duration // virtual time per cycle (30 s)
	// CyclePruneDelay is Config.PruneDelay in the cycle engine (0: prune
	// on the spot, as the paper).
	CyclePruneDelay time.Duration
	// CycleIHaveBatch, if > 0, replaces Config.IHaveBatchSize in the cycle
	// engine (1 = every IHave leaves at once, before the eager push is
	// over).
	CycleIHaveBatch int

	// Event engine.
	// Interval is the time between broadcasts (5 s). A broadcast's
	// deliveries count until the membership step at the end of its cycle,
	// 1 ms before the next broadcast; later ones are reported as late.
	Interval   time.Duration
	LatencyMin time.Duration // per-link base latency, uniform in [min, max]
	LatencyMax time.Duration
	Jitter     time.Duration // per-message extra delay, uniform in [0, jitter)
	// Drain is the virtual time run after the last broadcast, so that
	// late deliveries are counted.
	Drain time.Duration

	// Probes is the number of broadcasts in the cycle of a massive failure,
	// from random live senders (the same for every protocol), each run to
	// its end before the next and before the membership step: the
	// reliability "of the first broadcast after the failure" is their
	// mean. One broadcast would only tell whether its sender happens to be
	// in the largest surviving component.
	Probes int

	// Core bounds that matter for memory at 10,000 nodes.
	CacheSize int // Config.MessageCacheMaxSize
	SeenSize  int // Config.SeenMaxSize
}

// DefaultParams returns the parameters of the report.
func DefaultParams() Params {
	return Params{
		Degree:         5,
		PassiveView:    30,
		ShuffleActive:  3,
		ShufflePassive: 4,
		ShuffleWalk:    6,
		FullEager:      4,
		FullLazy:       6,
		FullPassive:    128,
		FullRing:       false,
		DetectionDelay: 1,
		RoundLength:    time.Millisecond,
		CycleLength:    30 * time.Second,
		Interval:       5 * time.Second,
		LatencyMin:     5 * time.Millisecond,
		LatencyMax:     50 * time.Millisecond,
		Jitter:         5 * time.Millisecond,
		Drain:          30 * time.Second,
		Probes:         10,
		CacheSize:      128,
		SeenSize:       2048,
	}
}

// Spec is one simulation run.
type Spec struct {
	Engine   Engine
	Overlay  Overlay
	Protocol Protocol
	Scenario Scenario
	Nodes    int
	Seed     uint64
	Params   Params
}

// Key names the run: engine/overlay/protocol/scenario.
func (s Spec) Key() string {
	return string(s.Engine) + "/" + string(s.Overlay) + "/" + s.Protocol.Name + "/" + s.Scenario.Name
}

// Validate checks the spec.
func (s Spec) Validate() error {
	if s.Nodes < 10 {
		return fmt.Errorf("sim: %d nodes: need at least 10", s.Nodes)
	}
	if s.Nodes > 1_000_000 {
		return fmt.Errorf("sim: %d nodes: at most 1,000,000", s.Nodes)
	}
	if s.Engine != EngineCycle && s.Engine != EngineEvent {
		return fmt.Errorf("sim: unknown engine %q", s.Engine)
	}
	if s.Overlay != OverlayPaper && s.Overlay != OverlayFull {
		return fmt.Errorf("sim: unknown overlay %q", s.Overlay)
	}
	if s.Scenario.Cycles <= s.Scenario.Warmup || s.Scenario.Warmup < 0 {
		return fmt.Errorf("sim: scenario %s: cycles %d must exceed warm-up %d", s.Scenario.Name, s.Scenario.Cycles, s.Scenario.Warmup)
	}
	_, err := s.NodeConfig(0)
	return err
}

// subSeed derives an independent seed from the run seed and labels, so that
// runs do not depend on each other or on the order they run in.
func subSeed(seed uint64, labels ...string) uint64 {
	h := fnv.New64a()
	var b [8]byte
	for i := range b {
		b[i] = byte(seed >> (8 * i))
	}
	h.Write(b[:])
	for _, l := range labels {
		h.Write([]byte{0})
		h.Write([]byte(l))
	}
	return h.Sum64()
}

// NodeConfig returns the core configuration of node i for this run.
//
// Common to all variants: prune on the first duplicate
// (OptimizationThreshold 1, as the paper); small payload cache and seen set
// (one broadcast per cycle needs little), which is what keeps 10,000 nodes in
// memory. The cycle engine keeps the core's IHave flush timer (200 ms) and
// batch size unless Params.CycleIHaveBatch is set (1: every IHave at once,
// as in the paper, which has no batching) and runs maintenance about once
// per cycle; the event engine keeps the core's default timers.
func (s Spec) NodeConfig(i int) (core.Config, error) {
	p := s.Params
	c := core.DefaultConfig()
	c.OptimizationThreshold = 1
	c.HopOptimizationThreshold = s.Protocol.HopThreshold
	c.ShortcutSamples = s.Protocol.Shortcut
	c.MessageCacheMaxSize = p.CacheSize
	c.SeenMaxSize = p.SeenSize
	c.MaxPendingGrafts = 256
	// The overlays below choose their own fanouts; no eager cap beyond the
	// active view's.
	c.MaxEagerPeers = 0
	c.UseHashRing = false
	c.ProtectRingNeighbors = false
	c.Health.MinPeersDegraded = 0
	switch s.Overlay {
	case OverlayPaper:
		// Every overlay neighbour is in the active view: EagerFanout of
		// them start eager, the others lazy (LazyFanout = degree leaves
		// room for all of them, so none is ever passive).
		c.EagerFanout = p.Degree - 1
		c.LazyFanout = p.Degree
		c.MaxPassivePeers = 1
		// The paper has no anti-entropy (every repair goes through IHave)
		// and prunes on the spot.
		c.AntiEntropyBatch = 0
		c.PruneDelay = 0
	case OverlayFull:
		c.EagerFanout = p.FullEager
		c.LazyFanout = p.FullLazy
		c.MaxPassivePeers = p.FullPassive
		c.UseHashRing = p.FullRing
		c.MaxPeers = p.FullMaxPeers
	}
	if s.Protocol.Flood {
		// The lazy path off: nothing is ever pruned, no lazy peers.
		c.OptimizationThreshold = 1 << 20
		c.HopOptimizationThreshold = 0
		c.ShortcutSamples = 0
		c.LazyFanout = 0
		c.AntiEntropyBatch = 0
		if s.Overlay == OverlayPaper {
			c.EagerFanout = p.Degree
		}
	}
	if s.Engine == EngineCycle {
		// IHaves keep the core's flush interval (200 ms = 200 rounds): with
		// one broadcast per cycle every IHave still carries one id, as in
		// the paper, but it arrives after the eager push is over, which is
		// when the core applies Algorithm 4 (see the package doc).
		// One broadcast at a time, in compressed time: the prune delay
		// (which keeps concurrent senders from pruning one cycle's edges
		// all at once) is not needed, and with a delay the first
		// duplicate only arms it, so every prune would wait for the next
		// broadcast.
		c.PruneDelay = p.CyclePruneDelay
		if p.CycleIHaveBatch > 0 {
			c.IHaveBatchSize = p.CycleIHaveBatch
		}
		c.MaintenanceInterval = p.CycleLength
		c.MaintenanceJitter = p.CycleLength / 4
	}
	c.Seed = int64(subSeed(s.Seed, s.Key(), "node", strconv.Itoa(i)) >> 1)
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("sim: %s: %w", s.Key(), err)
	}
	return c, nil
}

// Plan is a set of runs.
type Plan struct {
	Engines   []Engine
	Overlays  []Overlay
	Protocols []Protocol // for the stable scenario
	// FailureProtocols are run in the failure scenarios (constant,
	// massive); nil means Protocols.
	FailureProtocols []Protocol
	Scenarios        []Scenario
	// EventScenarios names the scenarios the event engine runs; nil means
	// every one.
	EventScenarios []string
	Nodes          int
	Seed           uint64
	Params         Params
}

// Specs expands the plan into runs, in a fixed order: scenario, engine,
// overlay, protocol.
func (pl Plan) Specs() []Spec {
	var out []Spec
	for _, sc := range pl.Scenarios {
		for _, e := range pl.Engines {
			if e == EngineEvent && pl.EventScenarios != nil && !slices.Contains(pl.EventScenarios, sc.Name) {
				continue
			}
			for _, o := range pl.Overlays {
				protos := pl.Protocols
				if sc.Kind != Stable && pl.FailureProtocols != nil {
					protos = pl.FailureProtocols
				}
				for _, pr := range protos {
					out = append(out, Spec{Engine: e, Overlay: o, Protocol: pr, Scenario: sc, Nodes: pl.Nodes, Seed: pl.Seed, Params: pl.Params})
				}
			}
		}
	}
	return out
}
