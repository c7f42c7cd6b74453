package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strconv"
	"time"
)

// CyclePoint is what one cycle measured: its broadcast, plus the messages
// of its membership step.
//
// A cycle has one broadcast, except the cycle of a massive failure, which
// has Params.Probes (from random live senders, the same for every
// protocol); its values are then means over them.
type CyclePoint struct {
	Cycle       int     `json:"cycle"`
	Broadcasts  int     `json:"broadcasts"`
	Alive       int     `json:"alive"`
	Delivered   float64 `json:"delivered"`
	Reliability float64 `json:"reliability"` // % of live nodes that delivered
	RMR         float64 `json:"rmr"`
	LDH         float64 `json:"ldh"`
	Payload     float64 `json:"payload_msgs"`
	Control     float64 `json:"control_msgs"` // per broadcast
	Membership  int     `json:"membership_msgs"`
	// Late counts deliveries after the broadcast's cycle ended (repairs by
	// later grafts or anti-entropy); they are not in Reliability.
	Late float64 `json:"late_deliveries"`
	// MinReliability is the lowest reliability among the cycle's
	// broadcasts.
	MinReliability float64 `json:"min_reliability"`
	// LastDeliveryMs is the virtual time from the broadcast to its last
	// delivery (event engine; rounds × RoundLength in the cycle engine).
	LastDeliveryMs float64 `json:"last_delivery_ms"`
}

// Result is one run's outcome. For stable and constant-failure runs the
// headline fields (Reliability … ControlMsgs) are means over the measured
// cycles (after the warm-up); for massive-failure runs they are the values
// of the first broadcast after the failure.
type Result struct {
	Engine   string `json:"engine"`
	Protocol string `json:"protocol"`
	Overlay  string `json:"overlay"`
	Scenario string `json:"scenario"`
	Nodes    int    `json:"nodes"`
	Seed     uint64 `json:"seed"`

	Reliability    float64 `json:"reliability"`
	RMR            float64 `json:"rmr"`
	LDH            float64 `json:"ldh"`
	PayloadMsgs    float64 `json:"payload_msgs"`
	ControlMsgs    float64 `json:"control_msgs"`
	LastDeliveryMs float64 `json:"last_delivery_ms"`
	MembershipMsgs float64 `json:"membership_msgs"`
	LateDeliveries float64 `json:"late_deliveries"`

	MinReliability float64 `json:"min_reliability"`
	MaxRMR         float64 `json:"max_rmr"`
	MaxLDH         float64 `json:"max_ldh"`
	// LowRMRShare is the share of measured broadcasts with RMR ≤ 0.01.
	LowRMRShare float64 `json:"low_rmr_share"`

	// Massive failure only.
	FailPct int `json:"fail_pct,omitempty"`
	// RegainCycles: cycles after the failure until a broadcast reaches
	// every live node (0 = the first broadcast already did; -1 = never
	// within the run).
	RegainCycles int `json:"regain_cycles,omitempty"`
	// RMRCycles: cycles after the failure from which RMR stays ≤ 0.01 to
	// the end of the run (-1 = never).
	RMRCycles int     `json:"rmr_cycles,omitempty"`
	PeakRMR   float64 `json:"peak_rmr,omitempty"`

	Broadcasts int `json:"broadcasts"`
	// Anomalies that point at a protocol bug; all must stay 0.
	DuplicateDeliveries int `json:"duplicate_deliveries"`
	BroadcastErrors     int `json:"broadcast_errors"`

	MeanDegree float64 `json:"mean_degree"` // live active-view size at the end

	Series []CyclePoint `json:"-"`
	// Wall is the run's wall-clock time (not part of deterministic output).
	Wall time.Duration `json:"-"`
}

// Progress is called after every cycle of a run.
type Progress func(cycle, cycles int)

// Run runs one simulation. It is deterministic: the same Spec gives the
// same Result (except Wall).
func Run(spec Spec, progress Progress) (*Result, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	start := time.Now()
	r, err := newRunner(spec)
	if err != nil {
		return nil, err
	}
	sc := spec.Scenario
	for k := 0; k < sc.Cycles; k++ {
		r.cycle(k)
		if progress != nil {
			progress(k+1, sc.Cycles)
		}
	}
	c := r.c
	// Let late repairs finish, so that what arrives late is counted.
	r.net.settle(c.now + int64(spec.Params.Drain))
	res := summarize(spec, c)
	res.MeanDegree = r.mem.stats().MeanDegree
	res.Wall = time.Since(start)
	return res, nil
}

// runner runs the cycles of one Spec.
type runner struct {
	spec     Spec
	c        *cluster
	mem      membership
	net      network
	failRng  *rand.Rand
	sendRng  *rand.Rand
	probeRng *rand.Rand
	cycleLen int64
	window   int64 // broadcast phase length within a cycle
	perFail  int
	start    int64 // virtual start time of the next cycle
}

func newRunner(spec Spec) (*runner, error) {
	c, mem, net, err := build(spec)
	if err != nil {
		return nil, err
	}
	sc, p := spec.Scenario, spec.Params
	r := &runner{
		spec:     spec,
		c:        c,
		mem:      mem,
		net:      net,
		failRng:  rand.New(rand.NewPCG(subSeed(spec.Seed, "fail", sc.Name, strconv.Itoa(spec.Nodes)), 1)),
		sendRng:  rand.New(rand.NewPCG(subSeed(spec.Seed, "senders", string(spec.Overlay), sc.Name, strconv.Itoa(spec.Nodes)), 2)),
		probeRng: rand.New(rand.NewPCG(subSeed(spec.Seed, "probes", string(spec.Overlay), sc.Name, strconv.Itoa(spec.Nodes)), 3)),
		cycleLen: int64(p.CycleLength),
		window:   int64(p.CycleLength) * 2 / 3,
		perFail:  int(math.Round(sc.FailPerCycle * float64(spec.Nodes))),
	}
	if spec.Engine == EngineEvent {
		r.cycleLen = int64(p.Interval)
		r.window = r.cycleLen - int64(time.Millisecond)
	}
	r.start = r.cycleLen
	if sc.Kind == Constant && r.perFail < 1 {
		r.perFail = 1
	}
	return r, nil
}

// cycle runs cycle k: failures, one broadcast (Probes in the cycle of a
// massive failure, one after the other, each run to its end), the
// membership step.
func (r *runner) cycle(k int) {
	c, sc := r.c, r.spec.Scenario
	T := r.start
	r.net.settle(T - 1)
	if c.now < T {
		c.now = T
	}
	var failed []int32
	probes := 1
	switch {
	case sc.Kind == Constant && k >= sc.Warmup && k < sc.Warmup+sc.FailCycles:
		failed = c.pickFailures(r.failRng, r.perFail)
	case sc.Kind == Massive && k == sc.Warmup:
		failed = c.pickFailures(r.failRng, int(math.Round(float64(sc.FailPct)/100*float64(r.spec.Nodes))))
		probes = max(1, r.spec.Params.Probes)
	}
	for _, i := range failed {
		c.fail(i)
	}
	r.mem.failed(k, failed)
	for len(c.control) <= k {
		c.control = append(c.control, 0)
		c.member = append(c.member, 0)
	}
	c.cycle = k
	// Interval between the broadcasts of one cycle (event engine: one
	// Interval, so that each is measured as long as a normal one).
	step := r.window
	if r.spec.Engine == EngineEvent {
		step = r.cycleLen
	}
	end := T
	for i := 0; i < probes; i++ {
		bt := T + int64(i)*step
		if i > 0 {
			r.net.settle(bt - 1)
			if c.now < bt {
				c.now = bt
			}
		}
		var origin int32 // the single sender (never failed)
		switch {
		case probes > 1:
			origin = c.randomAlive(r.probeRng)
		case r.spec.Protocol.ManySenders:
			origin = c.randomAlive(r.sendRng)
		}
		c.phase = tagBroadcast
		c.broadcast(origin, k)
		end = bt + r.window
		r.net.settle(end)
		if c.now < end {
			c.now = end
		}
		if r.spec.Engine == EngineCycle {
			c.order[len(c.order)-1].frozen = true
		}
	}
	c.phase = tagMembership
	r.mem.step(k)
	if r.spec.Engine == EngineCycle {
		// Deliver the membership step's messages; timers that fire until
		// the next cycle count as membership traffic too.
		r.net.settle(c.now)
	} else {
		// In the event engine the IHave flushes and repairs of the
		// broadcast go on until the next one: count them with it.
		c.phase = tagBroadcast
	}
	r.start = end - r.window + r.cycleLen
}

func build(spec Spec) (*cluster, membership, network, error) {
	c, err := newCluster(spec)
	if err != nil {
		return nil, nil, nil, err
	}
	var mem membership
	oseed := subSeed(spec.Seed, "overlay", string(spec.Overlay), strconv.Itoa(spec.Nodes))
	switch spec.Overlay {
	case OverlayPaper:
		mem = newHyParView(c, oseed)
	default:
		mem = newFullMembership(c, oseed)
	}
	var net network
	if spec.Engine == EngineEvent {
		en := newEventNet(c, subSeed(spec.Seed, "latency", strconv.Itoa(spec.Nodes)))
		c.send = en.send
		net = en
	} else {
		cn := newCycleNet(c)
		c.send = cn.send
		net = cn
	}
	c.phase = tagMembership
	mem.setup()
	net.settle(0)
	return c, mem, net, nil
}

func summarize(spec Spec, c *cluster) *Result {
	sc := spec.Scenario
	r := &Result{
		Engine:          string(spec.Engine),
		Protocol:        spec.Protocol.Name,
		Overlay:         string(spec.Overlay),
		Scenario:        sc.Name,
		Nodes:           spec.Nodes,
		Seed:            spec.Seed,
		MinReliability:  100,
		Broadcasts:      len(c.order),
		BroadcastErrors: c.protoErrs,
	}
	series := make([]CyclePoint, sc.Cycles)
	for k := range series {
		series[k] = CyclePoint{Cycle: k, Membership: c.member[k], MinReliability: 100}
	}
	for _, st := range c.order {
		pt := &series[st.cycle]
		pt.Broadcasts++
		pt.Alive = st.alive
		pt.Delivered += float64(st.delivered)
		rel := 0.0
		if st.alive > 0 {
			rel = 100 * float64(st.delivered) / float64(st.alive)
		}
		pt.Reliability += rel
		pt.MinReliability = math.Min(pt.MinReliability, rel)
		if st.delivered > 1 {
			pt.RMR += float64(st.payload)/float64(st.delivered-1) - 1
		}
		pt.LDH += float64(st.ldh)
		pt.Payload += float64(st.payload)
		pt.Late += float64(st.lateDeliv)
		if st.last > st.at {
			pt.LastDeliveryMs += float64(st.last-st.at) / 1e6
		}
		r.DuplicateDeliveries += st.dupDeliv
	}
	for k := range series {
		pt := &series[k]
		if pt.Broadcasts == 0 {
			continue
		}
		b := float64(pt.Broadcasts)
		pt.Delivered /= b
		pt.Reliability /= b
		pt.RMR /= b
		pt.LDH /= b
		pt.Payload /= b
		pt.Late /= b
		pt.LastDeliveryMs /= b
		pt.Control = float64(c.control[k]) / b
	}
	r.Series = series
	measured := series[sc.Warmup:]
	if sc.Kind == Massive {
		measured = series[sc.Warmup : sc.Warmup+1]
		r.FailPct = sc.FailPct
		after := series[sc.Warmup:]
		r.RegainCycles = -1
		for i, pt := range after {
			if pt.Reliability == 100 && pt.MinReliability == 100 {
				r.RegainCycles = i
				break
			}
		}
		r.RMRCycles = -1
		for i := len(after) - 1; i >= 0; i-- {
			if after[i].RMR > 0.01 {
				if i+1 < len(after) {
					r.RMRCycles = i + 1
				}
				break
			}
			if i == 0 {
				r.RMRCycles = 0
			}
		}
		for _, pt := range after {
			r.PeakRMR = math.Max(r.PeakRMR, pt.RMR)
		}
	}
	var low int
	for _, pt := range measured {
		r.Reliability += pt.Reliability
		r.RMR += pt.RMR
		r.LDH += pt.LDH
		r.PayloadMsgs += pt.Payload
		r.ControlMsgs += pt.Control
		r.MembershipMsgs += float64(pt.Membership)
		r.LateDeliveries += pt.Late
		r.LastDeliveryMs += pt.LastDeliveryMs
		r.MinReliability = math.Min(r.MinReliability, pt.MinReliability)
		r.MaxRMR = math.Max(r.MaxRMR, pt.RMR)
		r.MaxLDH = math.Max(r.MaxLDH, pt.LDH)
		if pt.RMR <= 0.01 {
			low++
		}
	}
	m := float64(len(measured))
	r.Reliability /= m
	r.RMR /= m
	r.LDH /= m
	r.PayloadMsgs /= m
	r.ControlMsgs /= m
	r.MembershipMsgs /= m
	r.LateDeliveries /= m
	r.LastDeliveryMs /= m
	r.LowRMRShare = float64(low) / m
	return r
}

// MemoryPerNode builds the spec's cluster, runs warmup stable cycles and
// returns the live heap per node in bytes. Run it alone: other goroutines'
// allocations count too.
func MemoryPerNode(spec Spec, warmup int) (float64, error) {
	spec.Scenario = Scenario{Name: "memory", Kind: Stable, Cycles: warmup + 1, Warmup: warmup}
	if err := spec.Validate(); err != nil {
		return 0, err
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	r, err := newRunner(spec)
	if err != nil {
		return 0, err
	}
	for k := 0; k < warmup; k++ {
		r.cycle(k)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(r)
	if after.HeapAlloc < before.HeapAlloc {
		return 0, fmt.Errorf("sim: heap shrank while measuring")
	}
	return float64(after.HeapAlloc-before.HeapAlloc) / float64(spec.Nodes), nil
}
