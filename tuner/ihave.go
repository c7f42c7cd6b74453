package tuner

import (
	"fmt"
	"math"
	"time"
)

// DefaultWireLimit is the largest number of announcements one IHave frame
// may carry on the wire (core.MaxIHaveBatch). The tuner does not import
// core; IHaveConfig.WireLimit carries the limit and defaults to this value.
const DefaultWireLimit = 1024

// IHaveConfig configures an IHaveTuner. Names in Validate errors are the
// snake_case names given on each field.
type IHaveConfig struct {
	// MinBatch (min_batch_size) and MaxBatch (max_batch_size) bound the
	// batch size (announcements per IHave frame at which a lazy peer's
	// queue is flushed early). MaxBatch is further capped by WireLimit.
	MinBatch int
	MaxBatch int
	// MinInterval (min_interval) and MaxInterval (max_interval) bound the
	// flush interval of the IHave queues.
	MinInterval time.Duration
	MaxInterval time.Duration
	// WireLimit (wire_limit) is the wire format's limit on announcements
	// per frame. Default DefaultWireLimit (core.MaxIHaveBatch).
	WireLimit int
	// RepairHigh (repair_high) is the share of delivered messages that
	// needed a Graft at which the interval reaches MinInterval. Below it
	// the interval moves linearly towards MaxInterval. Default 0.05.
	RepairHigh float64
	// Smoothing (smoothing) is the weight of the newest sample in the
	// exponentially smoothed message rate and repair share, in (0, 1].
	// Default 0.3.
	Smoothing float64
}

// boundsAround returns the IHave bounds around a configured flush interval
// and batch size: the interval within [interval/2 (at least 1 ms),
// 4 × interval] — 4× is core's upper bound (core.TuningBounds): a healthy
// tree needs IHaves only as insurance, and each IHave frame costs a write,
// a read and wake-ups on both sides (numbers in the README; 8× was tried
// and not kept: no CPU saved that a benchmark could see, and Grafts in
// runs that had none at 4×) — and the batch
// within [batch/4 (at least 1), 4 × batch, capped by the wire limit].
// NodeConfigFor and every preset use it.
func boundsAround(interval time.Duration, batch int) IHaveConfig {
	c := IHaveConfig{
		MinInterval: max(time.Millisecond, interval/2),
		MaxInterval: 4 * interval,
		MinBatch:    max(1, batch/4),
		WireLimit:   DefaultWireLimit,
		RepairHigh:  0.05,
		Smoothing:   0.3,
	}
	c.MaxBatch = max(c.MinBatch, min(c.WireLimit, 4*batch))
	return c
}

// The protocol presets' IHave settings (core.DefaultConfig, LANConfig,
// WANConfig, LargeClusterConfig: ihave_interval, ihave_batch_size), which
// the IHave presets bracket. Copied, so that the tuner does not import core;
// a test of the stack (examples/internal/stack) checks them against core.
const (
	defaultIHaveInterval, defaultIHaveBatch = 200 * time.Millisecond, 64
	lanIHaveInterval, lanIHaveBatch         = 100 * time.Millisecond, 32
	wanIHaveInterval, wanIHaveBatch         = 300 * time.Millisecond, 64
	largeIHaveInterval, largeIHaveBatch     = 250 * time.Millisecond, 128
)

// DefaultIHaveConfig returns bounds around core's default ihave_interval
// 200 ms and ihave_batch_size 64: interval 100–800 ms, batch 16–256.
func DefaultIHaveConfig() IHaveConfig { return boundsAround(defaultIHaveInterval, defaultIHaveBatch) }

// LANIHaveConfig returns bounds around core's LAN preset, 100 ms and 32:
// 50–400 ms, 8–128.
func LANIHaveConfig() IHaveConfig { return boundsAround(lanIHaveInterval, lanIHaveBatch) }

// WANIHaveConfig returns bounds around core's WAN preset, 300 ms and 64:
// 150 ms–1.2 s, 16–256.
func WANIHaveConfig() IHaveConfig { return boundsAround(wanIHaveInterval, wanIHaveBatch) }

// LargeClusterIHaveConfig returns bounds around core's large-cluster
// preset, 250 ms and 128: 125 ms–1 s, 32–512.
func LargeClusterIHaveConfig() IHaveConfig { return boundsAround(largeIHaveInterval, largeIHaveBatch) }

// IHavePreset returns the bounds for a protocol preset name: "default",
// "lan", "wan" or "large".
func IHavePreset(name string) (IHaveConfig, error) {
	switch name {
	case "", "default":
		return DefaultIHaveConfig(), nil
	case "lan":
		return LANIHaveConfig(), nil
	case "wan":
		return WANIHaveConfig(), nil
	case "large", "large-cluster", "large_cluster":
		return LargeClusterIHaveConfig(), nil
	}
	return IHaveConfig{}, fmt.Errorf("%w: unknown ihave preset %q (want default, lan, wan or large)", ErrInvalidConfig, name)
}

// Validate reports the first field out of bounds, naming it and the bound.
func (c *IHaveConfig) Validate() error {
	switch {
	case c.WireLimit < 1:
		return fieldErr("wire_limit", "is %d, must be at least 1", c.WireLimit)
	case c.MinBatch < 1:
		return fieldErr("min_batch_size", "is %d, must be at least 1", c.MinBatch)
	case c.MaxBatch < c.MinBatch || c.MaxBatch > c.WireLimit:
		return fieldErr("max_batch_size", "is %d, must be in [min_batch_size, wire_limit] = [%d, %d]", c.MaxBatch, c.MinBatch, c.WireLimit)
	case c.MinInterval < time.Millisecond:
		return fieldErr("min_interval", "is %v, must be at least 1ms", c.MinInterval)
	case c.MaxInterval < c.MinInterval:
		return fieldErr("max_interval", "is %v, must be at least min_interval (%v)", c.MaxInterval, c.MinInterval)
	case !(c.RepairHigh > 0 && c.RepairHigh <= 1):
		return fieldErr("repair_high", "is %v, must be in (0, 1]", c.RepairHigh)
	case !(c.Smoothing > 0 && c.Smoothing <= 1):
		return fieldErr("smoothing", "is %v, must be in (0, 1]", c.Smoothing)
	}
	return nil
}

// IHaveTuner chooses the IHave batch size and flush interval from the
// message rate and the Grafts the node had to send.
//
// Reasoning: a Graft (answered or not) means the eager tree failed to deliver
// a message in time and lazy push had to repair it. When that is frequent,
// announcements should go out sooner (shorter interval) so repairs are fast
// and a pending Graft learns more announcers to rotate through. When the
// tree is healthy, IHaves are only insurance and may wait longer. The batch
// size is the number of announcements expected per interval at the current
// rate, so frames are full but a burst still flushes early; it stays within
// [MinBatch, min(MaxBatch, WireLimit)].
//
// It is not safe for concurrent use: the protocol goroutine owns it.
type IHaveTuner struct {
	cfg      IHaveConfig
	started  bool
	lastNow  time.Time
	lastMsgs uint64
	lastGr   uint64
	rate     float64 // smoothed messages per second
	repair   float64 // smoothed grafts per message
	batch    int
	interval time.Duration
}

// NewIHaveTuner returns an IHaveTuner with a copy of cfg. Before the first
// Update it suggests MinBatch and MaxInterval (a quiet, healthy node).
func NewIHaveTuner(cfg IHaveConfig) (*IHaveTuner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &IHaveTuner{cfg: cfg, batch: cfg.MinBatch, interval: cfg.MaxInterval}, nil
}

// Config returns the tuner's configuration.
func (t *IHaveTuner) Config() IHaveConfig { return t.cfg }

// Update feeds cumulative counters at time now and returns the batch size and
// flush interval to use from now on. messages is the number of messages
// delivered (announced to lazy peers) so far; graftsOK and graftsFailed are
// the Grafts that succeeded and failed so far (core.Counters.GraftSuccess and
// GraftFailed). Counters that went down reset the baseline; calls without
// time passing change nothing. The interval is in whole milliseconds.
func (t *IHaveTuner) Update(now time.Time, messages, graftsOK, graftsFailed uint64) (batch int, interval time.Duration) {
	grafts := graftsOK + graftsFailed
	if !t.started || messages < t.lastMsgs || grafts < t.lastGr {
		t.started = true
		t.lastNow, t.lastMsgs, t.lastGr = now, messages, grafts
		return t.batch, t.interval
	}
	dt := now.Sub(t.lastNow)
	if dt <= 0 {
		return t.batch, t.interval
	}
	dm, dg := messages-t.lastMsgs, grafts-t.lastGr
	rate := float64(dm) / dt.Seconds()
	repair := 0.0
	if dm > 0 {
		repair = min(float64(dg)/float64(dm), 1)
	} else if dg > 0 {
		repair = 1
	}
	a := t.cfg.Smoothing
	t.rate += a * (rate - t.rate)
	t.repair += a * (repair - t.repair)
	t.lastNow, t.lastMsgs, t.lastGr = now, messages, grafts

	urgency := min(t.repair/t.cfg.RepairHigh, 1)
	span := float64(t.cfg.MaxInterval - t.cfg.MinInterval)
	// Whole milliseconds, so that a smoothed share converging on its
	// input settles on one interval instead of creeping by nanoseconds.
	t.interval = (t.cfg.MaxInterval - time.Duration(span*urgency)).Round(time.Millisecond)
	t.interval = max(t.cfg.MinInterval, min(t.cfg.MaxInterval, t.interval))

	hi := min(t.cfg.MaxBatch, t.cfg.WireLimit)
	b := math.Round(t.rate * t.interval.Seconds())
	t.batch = int(clampFloat(b, float64(t.cfg.MinBatch), float64(hi)))
	return t.batch, t.interval
}

// Batch returns the current batch size.
func (t *IHaveTuner) Batch() int { return t.batch }

// Interval returns the current flush interval.
func (t *IHaveTuner) Interval() time.Duration { return t.interval }

// Rate returns the smoothed message rate (messages per second).
func (t *IHaveTuner) Rate() float64 { return t.rate }

// RepairShare returns the smoothed share of messages that needed a Graft.
func (t *IHaveTuner) RepairShare() float64 { return t.repair }
