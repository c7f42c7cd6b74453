package tuner

import (
	"time"
)

// NodeConfig configures a NodeTuner.
type NodeConfig struct {
	// Graft configures the estimator of the graft timeout. Its MinTimeout
	// is the floor (set it to the protocol's GraftTimeout: the protocol
	// never goes below it anyway), its MaxTimeout the ceiling (the
	// protocol allows at most 8 × GraftTimeout), its InitialTimeout the
	// timeout before any sample (the floor).
	Graft RTTConfig
	// IHave bounds the IHave batch size and flush interval.
	IHave IHaveConfig
	// Idle (idle) forgets the delay samples when none arrived for this
	// long, so that the graft timeout returns to the floor after a burst
	// of load. Default 30 s.
	Idle time.Duration
}

// NodeConfigFor returns the NodeConfig for a protocol configured with
// graftTimeout, ihaveInterval and ihaveBatch (core.Config's GraftTimeout,
// IHaveInterval, IHaveBatchSize): the graft timeout within [graftTimeout,
// 3 × graftTimeout], the IHave interval within [ihaveInterval/2,
// 4 × ihaveInterval] and the batch within [ihaveBatch/4, 4 × ihaveBatch]
// (the IHave presets follow this rule). Non-positive inputs fall back to
// the default preset's values.
func NodeConfigFor(graftTimeout, ihaveInterval time.Duration, ihaveBatch int) NodeConfig {
	if graftTimeout <= 0 {
		graftTimeout = 500 * time.Millisecond
	}
	if ihaveInterval <= 0 {
		ihaveInterval = defaultIHaveInterval
	}
	if ihaveBatch <= 0 {
		ihaveBatch = defaultIHaveBatch
	}
	g := DefaultRTTConfig()
	g.MinTimeout, g.InitialTimeout = graftTimeout, graftTimeout
	// 3×, not the protocol's 8× bound: under loss the IHave→copy lags
	// include copies that were themselves repaired upstream, so the
	// estimate feeds on its own delay; at 8× the cluster job with 5 %
	// frame loss reached the ceiling and its p99 to the last node doubled
	// (4.2 s against 2.0 s at 3×).
	g.MaxTimeout = 3 * graftTimeout
	return NodeConfig{Graft: g, IHave: boundsAround(ihaveInterval, ihaveBatch), Idle: 30 * time.Second}
}

// Validate reports the first field out of bounds.
func (c *NodeConfig) Validate() error {
	if err := c.Graft.Validate(); err != nil {
		return err
	}
	if err := c.IHave.Validate(); err != nil {
		return err
	}
	if c.Idle <= 0 {
		return fieldErr("idle", "is %v, must be positive", c.Idle)
	}
	return nil
}

// NodeTuner is the runtime's tuner: an RTTEstimator over the delays the
// protocol measures sets the graft timeout, and an IHaveTuner sets the
// IHave batch size and flush interval. It satisfies core/node's Tuner
// interface structurally (node.WithTuner); the runtime feeds it and applies
// what it returns, so nobody has to call it by hand.
//
// Graft timeout. The samples are (a) how late a message's first copy came
// after its first IHave, when it was not the answer to a Graft (the eager
// copy lagging its announcement: exactly what the timeout must wait for;
// a Graft sent before it is a spurious repair, and under load those
// grafts add eager links and copies, which add load), and (b) Graft round
// trips without retry (Karn's rule). The timeout is SRTT + max(G,
// 4·RTTVAR) over all samples, as TCP's RTO, clamped to [Graft.MinTimeout,
// Graft.MaxTimeout]. The floor is the configured GraftTimeout: the samples
// of a healthy tree are far below it (loopback pings take 0.1 ms), and a
// timeout that low would graft every message whose eager copy is merely
// queued. When no sample arrived for Idle, the estimate is forgotten and
// the timeout returns to the floor.
//
// It is not safe for concurrent use: the protocol goroutine owns it.
type NodeTuner struct {
	cfg   NodeConfig
	rtt   *RTTEstimator[string]
	ihave *IHaveTuner
	last  time.Time // last delay sample
}

// NewNodeTuner returns a NodeTuner with a copy of cfg.
func NewNodeTuner(cfg NodeConfig) (*NodeTuner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r, err := NewRTTEstimator[string](cfg.Graft)
	if err != nil {
		return nil, err
	}
	ih, err := NewIHaveTuner(cfg.IHave)
	if err != nil {
		return nil, err
	}
	return &NodeTuner{cfg: cfg, rtt: r, ihave: ih}, nil
}

// ObserveDelay records one delay sample (see NodeTuner): graft false for
// an announcement's lag, true for a Graft's round trip. Both feed the graft
// timeout.
func (t *NodeTuner) ObserveDelay(now time.Time, peer string, d time.Duration, graft bool) {
	if t.rtt.Observe(now, peer, d) {
		t.last = now
	}
}

// Tune returns the graft timeout, IHave flush interval and IHave batch size
// to use from now on, given the protocol's cumulative counters of delivered
// messages and of successful and failed Grafts.
func (t *NodeTuner) Tune(now time.Time, delivered, graftsOK, graftsFailed uint64) (graftTimeout, ihaveInterval time.Duration, ihaveBatch int) {
	if !t.last.IsZero() && now.Sub(t.last) >= t.cfg.Idle {
		t.rtt, _ = NewRTTEstimator[string](t.cfg.Graft) // validated in NewNodeTuner
		t.last = time.Time{}
	}
	b, iv := t.ihave.Update(now, delivered, graftsOK, graftsFailed)
	return t.rtt.OverallTimeout(), iv, b
}

// GraftTimeout returns the current graft timeout.
func (t *NodeTuner) GraftTimeout() time.Duration { return t.rtt.OverallTimeout() }

// Delay returns the smoothed delay estimate over all samples.
func (t *NodeTuner) Delay() RTTEstimate { return t.rtt.Overall() }

// IHave returns the IHave tuner (for its Rate and RepairShare).
func (t *NodeTuner) IHave() *IHaveTuner { return t.ihave }
