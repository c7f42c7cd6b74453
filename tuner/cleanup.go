package tuner

import (
	"fmt"
	"math"
	"sync"
	"time"
)

// Level is a backpressure level. Its integer values are part of the contract
// with the message cache (which receives them as a plain int from
// CleanupTuner.Next): 0 none, 1 drop-some, 2 drop-most, 3 block-new. Each
// level includes the ones below it. A level is what the tuner asks for; what
// the cache module does at each is its own policy (its Config's ShedSomeTo,
// ShedMostTo and MinRetention: by default it sheds nothing and refuses only
// while it holds less than 30 s of traffic).
type Level int

// Backpressure levels, mildest first.
const (
	// LevelNone: utilization is normal.
	LevelNone Level = iota
	// LevelDropSome: the cache should shed some least recently used entries.
	LevelDropSome
	// LevelDropMost: the cache should shed most of its least recently used
	// entries.
	LevelDropMost
	// LevelBlockNew: shed as at LevelDropMost, and refuse new local
	// broadcasts until utilization falls.
	LevelBlockNew
)

// String returns "none", "drop-some", "drop-most" or "block-new".
func (l Level) String() string {
	switch l {
	case LevelNone:
		return "none"
	case LevelDropSome:
		return "drop-some"
	case LevelDropMost:
		return "drop-most"
	case LevelBlockNew:
		return "block-new"
	}
	return fmt.Sprintf("level(%d)", int(l))
}

// Regime is the utilization band the CleanupTuner is in.
type Regime int

// Utilization regimes, ordered by utilization.
const (
	// RegimeLow: utilization at or below LowUtilization; sweeps are rare
	// and small.
	RegimeLow Regime = iota
	// RegimeNormal: between the two thresholds.
	RegimeNormal
	// RegimeHigh: utilization at or above HighUtilization; sweeps are
	// frequent and large.
	RegimeHigh
)

// String returns "low", "normal" or "high".
func (r Regime) String() string {
	switch r {
	case RegimeLow:
		return "low"
	case RegimeNormal:
		return "normal"
	case RegimeHigh:
		return "high"
	}
	return fmt.Sprintf("regime(%d)", int(r))
}

// Factors applied to BaseInterval and to the smoothed batch size. They are
// fixed (not configuration) so that the presets differ only in the
// operator-visible numbers of the operations guide.
const (
	lowIntervalFactor  = 2.0     // low utilization: sweep half as often
	highIntervalFactor = 1.0 / 3 // high utilization: sweep three times as often
	loadIntervalFactor = 0.5     // message rate at or above HighLoadRate: twice as often
	lowBatchFactor     = 0.5
	highBatchFactor    = 2.0
	// minIntervalFloor is the shortest interval Next ever returns.
	minIntervalFloor = time.Millisecond
)

// CleanupConfig configures a CleanupTuner. Start from DefaultCleanupConfig
// or a preset; NewCleanupTuner copies it. Names in Validate errors are the
// snake_case names given on each field.
type CleanupConfig struct {
	// BaseInterval (base_interval) is the sweep interval at normal
	// utilization and load. Default 30 s.
	BaseInterval time.Duration
	// MinInterval (min_interval) and MaxInterval (max_interval) bound the
	// interval. Defaults 5 s and 120 s. The TTL bound (see TTLDivisor) is
	// applied after them and wins over MinInterval.
	MinInterval time.Duration
	MaxInterval time.Duration

	// HighUtilization (high_utilization) and LowUtilization
	// (low_utilization) delimit the regimes. Defaults 0.8 and 0.3.
	HighUtilization float64
	LowUtilization  float64
	// Hysteresis (hysteresis) is how far utilization must fall back past a
	// threshold before the regime or the backpressure level it entered is
	// left again. It is also the relative hysteresis of HighLoadRate.
	// Default 0.03.
	Hysteresis float64

	// DropSome (drop_some_threshold), DropMost (drop_most_threshold) and
	// BlockNew (block_new_threshold) are the utilizations at which the
	// backpressure levels start. Defaults 0.93, 0.96, 0.98.
	DropSome float64
	DropMost float64
	BlockNew float64

	// TargetSweepDuration (target_sweep_duration) is how long one sweep
	// should take; the batch size follows it. Default 50 ms.
	TargetSweepDuration time.Duration
	// HighLoadRate (high_load_rate) is the message rate (stored messages
	// per second) from which sweeps run twice as often. Default 1000.
	HighLoadRate float64
	// TTLDivisor (ttl_divisor): at least this many sweeps per TTL, that is
	// the interval is never above TTL/TTLDivisor. Default 4.
	TTLDivisor int

	// MinBatch (min_batch_size) and MaxBatch (max_batch_size) bound the
	// batch size. Defaults 10 and 500.
	MinBatch int
	MaxBatch int
	// InitialBatch (initial_batch_size) is the smoothed batch size before
	// the first sweep was observed. Default 100.
	InitialBatch int
	// Smoothing (batch_smoothing) is the weight of the newest sweep in the
	// exponentially smoothed batch size, in (0, 1]. Default 0.3.
	Smoothing float64
}

// DefaultCleanupConfig returns the defaults of the operations guide.
func DefaultCleanupConfig() CleanupConfig {
	return CleanupConfig{
		BaseInterval:        30 * time.Second,
		MinInterval:         5 * time.Second,
		MaxInterval:         120 * time.Second,
		HighUtilization:     0.8,
		LowUtilization:      0.3,
		Hysteresis:          0.03,
		DropSome:            0.93,
		DropMost:            0.96,
		BlockNew:            0.98,
		TargetSweepDuration: 50 * time.Millisecond,
		HighLoadRate:        1000,
		TTLDivisor:          4,
		MinBatch:            10,
		MaxBatch:            500,
		InitialBatch:        100,
		Smoothing:           0.3,
	}
}

// HighThroughputCleanupConfig sweeps more often and in larger batches, and
// reacts to utilization earlier: for nodes storing thousands of messages per
// second.
func HighThroughputCleanupConfig() CleanupConfig {
	c := DefaultCleanupConfig()
	c.BaseInterval = 15 * time.Second
	c.MinInterval = 2 * time.Second
	c.MaxInterval = 60 * time.Second
	c.HighUtilization = 0.7
	c.LowUtilization = 0.2
	c.TargetSweepDuration = 100 * time.Millisecond
	c.HighLoadRate = 10000
	c.MinBatch = 50
	c.MaxBatch = 2000
	c.InitialBatch = 500
	return c
}

// LowLatencyCleanupConfig keeps every sweep short (it holds the cache lock
// that the protocol goroutine needs) and sweeps more often to compensate.
func LowLatencyCleanupConfig() CleanupConfig {
	c := DefaultCleanupConfig()
	c.BaseInterval = 10 * time.Second
	c.MinInterval = time.Second
	c.MaxInterval = 60 * time.Second
	c.TargetSweepDuration = 10 * time.Millisecond
	c.HighLoadRate = 500
	c.MinBatch = 10
	c.MaxBatch = 100
	c.InitialBatch = 50
	return c
}

// CleanupPreset returns the named preset: "default", "high_throughput" or
// "low_latency" (hyphens are accepted for underscores).
func CleanupPreset(name string) (CleanupConfig, error) {
	switch name {
	case "", "default":
		return DefaultCleanupConfig(), nil
	case "high_throughput", "high-throughput":
		return HighThroughputCleanupConfig(), nil
	case "low_latency", "low-latency":
		return LowLatencyCleanupConfig(), nil
	}
	return CleanupConfig{}, fmt.Errorf("%w: unknown cleanup preset %q (want default, high_throughput or low_latency)", ErrInvalidConfig, name)
}

// Validate reports the first field out of bounds, naming it and the bound.
func (c *CleanupConfig) Validate() error {
	switch {
	case c.MinInterval < minIntervalFloor:
		return fieldErr("min_interval", "is %v, must be at least %v", c.MinInterval, minIntervalFloor)
	case c.MaxInterval < c.MinInterval:
		return fieldErr("max_interval", "is %v, must be at least min_interval (%v)", c.MaxInterval, c.MinInterval)
	case c.BaseInterval < c.MinInterval || c.BaseInterval > c.MaxInterval:
		return fieldErr("base_interval", "is %v, must be in [min_interval, max_interval] = [%v, %v]", c.BaseInterval, c.MinInterval, c.MaxInterval)
	case !(c.LowUtilization >= 0 && c.LowUtilization < 1):
		return fieldErr("low_utilization", "is %v, must be in [0, 1)", c.LowUtilization)
	case !(c.HighUtilization > c.LowUtilization && c.HighUtilization <= 1):
		return fieldErr("high_utilization", "is %v, must be in (low_utilization, 1] = (%v, 1]", c.HighUtilization, c.LowUtilization)
	case !(c.Hysteresis >= 0 && c.Hysteresis < (c.HighUtilization-c.LowUtilization)/2):
		return fieldErr("hysteresis", "is %v, must be in [0, (high_utilization-low_utilization)/2) = [0, %v)", c.Hysteresis, (c.HighUtilization-c.LowUtilization)/2)
	case !(c.DropSome >= c.HighUtilization && c.DropSome <= 1):
		return fieldErr("drop_some_threshold", "is %v, must be in [high_utilization, 1] = [%v, 1]", c.DropSome, c.HighUtilization)
	case !(c.DropMost > c.DropSome && c.DropMost <= 1):
		return fieldErr("drop_most_threshold", "is %v, must be in (drop_some_threshold, 1] = (%v, 1]", c.DropMost, c.DropSome)
	case !(c.BlockNew > c.DropMost && c.BlockNew <= 1):
		return fieldErr("block_new_threshold", "is %v, must be in (drop_most_threshold, 1] = (%v, 1]", c.BlockNew, c.DropMost)
	case c.TargetSweepDuration <= 0:
		return fieldErr("target_sweep_duration", "is %v, must be positive", c.TargetSweepDuration)
	case !(c.HighLoadRate > 0) || math.IsInf(c.HighLoadRate, 0):
		return fieldErr("high_load_rate", "is %v, must be positive and finite", c.HighLoadRate)
	case c.TTLDivisor < 1 || c.TTLDivisor > 1000:
		return fieldErr("ttl_divisor", "is %d, must be in [1, 1000]", c.TTLDivisor)
	case c.MinBatch < 1:
		return fieldErr("min_batch_size", "is %d, must be at least 1", c.MinBatch)
	case c.MaxBatch < c.MinBatch || c.MaxBatch > 1<<24:
		return fieldErr("max_batch_size", "is %d, must be in [min_batch_size, 2^24] = [%d, %d]", c.MaxBatch, c.MinBatch, 1<<24)
	case c.InitialBatch < c.MinBatch || c.InitialBatch > c.MaxBatch:
		return fieldErr("initial_batch_size", "is %d, must be in [min_batch_size, max_batch_size] = [%d, %d]", c.InitialBatch, c.MinBatch, c.MaxBatch)
	case !(c.Smoothing > 0 && c.Smoothing <= 1):
		return fieldErr("batch_smoothing", "is %v, must be in (0, 1]", c.Smoothing)
	}
	return nil
}

// CleanupStats is a snapshot of a CleanupTuner's state, for metrics.
type CleanupStats struct {
	Interval     time.Duration // last interval returned by Next
	Batch        int           // last batch size returned by Next
	Level        Level         // current backpressure level
	Regime       Regime        // current utilization regime
	Utilization  float64       // last utilization passed to Next
	Rate         float64       // message rate (per second) measured by the last Next
	HighLoad     bool          // Rate is in the high-load band
	Backlog      bool          // the last observed sweep used its whole batch
	Calls        uint64        // calls of Next
	Sweeps       uint64        // calls of Observe
	LevelChanges uint64        // backpressure level changes
}

// CleanupTuner chooses when the message cache is swept, how many expired
// entries one sweep may remove, and the backpressure level. It is a pure
// controller: every input (time included) comes in through Next and Observe,
// and the same inputs give the same outputs.
//
// It satisfies the message cache's Scheduler interface structurally: the
// cache calls Next before each sweep and Observe after it, using only
// builtin and time types, so neither module imports the other.
//
// Use one CleanupTuner per cache: the message rate is measured from the
// puts counter of the cache that calls Next. The methods are safe for
// concurrent use (the cache's sweeper calls Next and Observe while a metrics
// scrape may call Stats).
type CleanupTuner struct {
	mu  sync.Mutex
	cfg CleanupConfig

	started   bool // Next was called at least once
	regime    Regime
	level     Level
	highLoad  bool
	rate      float64
	lastNow   time.Time
	lastPuts  uint64
	smoothed  float64 // smoothed batch size (before the regime factor)
	lastBatch int
	observed  bool // Observe was called since the last Next
	backlog   bool
	util      float64
	interval  time.Duration
	calls     uint64
	sweeps    uint64
	changes   uint64
}

// NewCleanupTuner returns a CleanupTuner with a copy of cfg, or an error
// wrapping ErrInvalidConfig.
func NewCleanupTuner(cfg CleanupConfig) (*CleanupTuner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &CleanupTuner{cfg: cfg, smoothed: float64(cfg.InitialBatch), regime: RegimeNormal}, nil
}

// Config returns the tuner's configuration.
func (t *CleanupTuner) Config() CleanupConfig { return t.cfg }

// Next returns the schedule of the next sweep:
//
//   - interval: how long to wait before the sweep after this one. It is
//     BaseInterval scaled by the utilization regime (×2 low, ×1/3 high) and
//     by the message rate (×1/2 at or above HighLoadRate), MinInterval under
//     backpressure or when the last sweep used its whole batch (a backlog of
//     expired entries), clamped to [MinInterval, MaxInterval], and then
//     never above ttl/TTLDivisor (when ttl > 0), so that there are at least
//     TTLDivisor sweeps per TTL. It is never below 1 ms.
//   - batch: the most expired entries the sweep may remove, in
//     [MinBatch, MaxBatch]: the number that fits TargetSweepDuration at the
//     per-entry cost of past sweeps (smoothed), ×1/2 at low and ×2 at high
//     utilization.
//   - level: the backpressure level as an int (see Level).
//
// utilization is the cache's fill ratio in [0, 1] (values outside are
// clamped; NaN counts as 0). ttl is the cache's TTL (0 = unknown: no TTL
// bound). puts is the cumulative number of messages the cache stored; the
// message rate is its increase per second since the previous call (a
// decrease resets the baseline).
//
// Entering a regime or a level happens at its threshold; leaving it needs
// utilization to fall Hysteresis below that threshold, so a utilization that
// hovers around a threshold does not make the schedule oscillate.
func (t *CleanupTuner) Next(now time.Time, utilization float64, ttl time.Duration, puts uint64) (interval time.Duration, batch int, level int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	u := clampUnit(utilization)
	t.util = u
	t.updateRate(now, puts)
	t.regime = nextRegime(&t.cfg, t.regime, u, !t.started)
	if l := nextLevel(&t.cfg, t.level, u); l != t.level {
		t.level = l
		t.changes++
	}
	t.highLoad = nextHighLoad(&t.cfg, t.highLoad, t.rate)
	t.started = true
	t.calls++

	t.backlog = t.observed && t.backlog
	t.observed = false
	t.interval = t.computeInterval(ttl)
	t.lastBatch = t.computeBatch()
	return t.interval, t.lastBatch, int(t.level)
}

// Observe records a finished sweep: how long it took and how many expired
// entries it removed. A sweep that removed its whole batch signals a backlog
// (the next interval is MinInterval); took/removed is the per-entry cost
// from which the batch size is smoothed. Sweeps that removed nothing carry
// no cost information and leave the batch size alone.
func (t *CleanupTuner) Observe(now time.Time, took time.Duration, removed int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sweeps++
	t.observed = true
	t.backlog = t.lastBatch > 0 && removed >= t.lastBatch
	if removed <= 0 || took <= 0 {
		return
	}
	sample := float64(t.cfg.TargetSweepDuration) * float64(removed) / float64(took)
	sample = clampFloat(sample, float64(t.cfg.MinBatch), float64(t.cfg.MaxBatch))
	t.smoothed += t.cfg.Smoothing * (sample - t.smoothed)
	if math.Abs(sample-t.smoothed) < 0.5 {
		t.smoothed = sample
	}
}

// Level returns the current backpressure level.
func (t *CleanupTuner) Level() Level {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.level
}

// Stats returns a snapshot of the tuner's state.
func (t *CleanupTuner) Stats() CleanupStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	return CleanupStats{
		Interval:     t.interval,
		Batch:        t.lastBatch,
		Level:        t.level,
		Regime:       t.regime,
		Utilization:  t.util,
		Rate:         t.rate,
		HighLoad:     t.highLoad,
		Backlog:      t.backlog,
		Calls:        t.calls,
		Sweeps:       t.sweeps,
		LevelChanges: t.changes,
	}
}

func (t *CleanupTuner) updateRate(now time.Time, puts uint64) {
	if !t.started {
		t.lastNow, t.lastPuts = now, puts
		return
	}
	if puts < t.lastPuts { // a different or reset counter: new baseline
		t.lastNow, t.lastPuts = now, puts
		return
	}
	dt := now.Sub(t.lastNow)
	if dt <= 0 {
		return // no time passed: count these puts at the next call
	}
	t.rate = float64(puts-t.lastPuts) / dt.Seconds()
	t.lastNow, t.lastPuts = now, puts
}

func (t *CleanupTuner) computeInterval(ttl time.Duration) time.Duration {
	c := &t.cfg
	var d time.Duration
	if t.level >= LevelDropSome || t.backlog {
		d = c.MinInterval
	} else {
		f := 1.0
		switch t.regime {
		case RegimeLow:
			f = lowIntervalFactor
		case RegimeHigh:
			f = highIntervalFactor
		}
		if t.highLoad {
			f *= loadIntervalFactor
		}
		d = time.Duration(float64(c.BaseInterval) * f)
	}
	d = max(c.MinInterval, min(c.MaxInterval, d))
	if ttl > 0 {
		d = min(d, ttl/time.Duration(c.TTLDivisor))
	}
	return max(d, minIntervalFloor)
}

func (t *CleanupTuner) computeBatch() int {
	f := 1.0
	switch t.regime {
	case RegimeLow:
		f = lowBatchFactor
	case RegimeHigh:
		f = highBatchFactor
	}
	b := math.Round(t.smoothed * f)
	return int(clampFloat(b, float64(t.cfg.MinBatch), float64(t.cfg.MaxBatch)))
}

// nextRegime applies the regime thresholds with hysteresis. fresh computes
// the regime without history.
func nextRegime(c *CleanupConfig, cur Regime, u float64, fresh bool) Regime {
	raw := RegimeNormal
	switch {
	case u >= c.HighUtilization:
		raw = RegimeHigh
	case u <= c.LowUtilization:
		raw = RegimeLow
	}
	if fresh || raw == cur {
		return raw
	}
	switch cur {
	case RegimeHigh: // leave only below High-Hysteresis
		if u >= c.HighUtilization-c.Hysteresis {
			return RegimeHigh
		}
	case RegimeLow: // leave only above Low+Hysteresis
		if u <= c.LowUtilization+c.Hysteresis {
			return RegimeLow
		}
	}
	return raw
}

// nextLevel raises the level as soon as its threshold is reached and lowers
// it one step at a time only while utilization is Hysteresis below the
// threshold of the level being left.
func nextLevel(c *CleanupConfig, cur Level, u float64) Level {
	thr := [...]float64{LevelDropSome: c.DropSome, LevelDropMost: c.DropMost, LevelBlockNew: c.BlockNew}
	raw := LevelNone
	for l := LevelBlockNew; l > LevelNone; l-- {
		if u >= thr[l] {
			raw = l
			break
		}
	}
	if raw >= cur {
		return raw
	}
	l := cur
	for l > raw && u < thr[l]-c.Hysteresis {
		l--
	}
	return l
}

func nextHighLoad(c *CleanupConfig, cur bool, rate float64) bool {
	if rate >= c.HighLoadRate {
		return true
	}
	return cur && rate >= c.HighLoadRate*(1-c.Hysteresis)
}

func clampUnit(u float64) float64 {
	if !(u > 0) { // NaN and negatives
		return 0
	}
	return min(u, 1)
}

func clampFloat(v, lo, hi float64) float64 {
	if !(v >= lo) { // NaN too
		return lo
	}
	return min(v, hi)
}
