package tuner

import (
	"testing"
	"time"

	"pgregory.net/rapid"
)

// genCleanupConfig draws a valid CleanupConfig: a preset with its numbers
// varied.
func genCleanupConfig(t *rapid.T) CleanupConfig {
	c := rapid.SampledFrom([]CleanupConfig{DefaultCleanupConfig(), HighThroughputCleanupConfig(), LowLatencyCleanupConfig()}).Draw(t, "preset")
	c.MinInterval = time.Duration(rapid.Int64Range(int64(time.Millisecond), int64(10*time.Second)).Draw(t, "min_interval"))
	c.MaxInterval = c.MinInterval * time.Duration(rapid.Int64Range(1, 100).Draw(t, "max_factor"))
	c.BaseInterval = c.MinInterval + time.Duration(rapid.Float64Range(0, 1).Draw(t, "base_pos")*float64(c.MaxInterval-c.MinInterval))
	c.LowUtilization = rapid.Float64Range(0, 0.5).Draw(t, "low")
	c.HighUtilization = rapid.Float64Range(c.LowUtilization+0.1, 0.9).Draw(t, "high")
	c.Hysteresis = rapid.Float64Range(0, 0.99*(c.HighUtilization-c.LowUtilization)/2).Draw(t, "hysteresis")
	c.DropSome = rapid.Float64Range(c.HighUtilization, 0.95).Draw(t, "drop_some")
	c.DropMost = c.DropSome + rapid.Float64Range(0.001, 0.02).Draw(t, "drop_most_gap")
	c.BlockNew = c.DropMost + rapid.Float64Range(0.001, 1-c.DropMost).Draw(t, "block_new_gap")
	c.TTLDivisor = rapid.IntRange(1, 16).Draw(t, "ttl_divisor")
	c.MinBatch = rapid.IntRange(1, 100).Draw(t, "min_batch")
	c.MaxBatch = c.MinBatch + rapid.IntRange(0, 5000).Draw(t, "batch_span")
	c.InitialBatch = rapid.IntRange(c.MinBatch, c.MaxBatch).Draw(t, "initial_batch")
	c.Smoothing = rapid.Float64Range(0.01, 1).Draw(t, "smoothing")
	if err := c.Validate(); err != nil {
		t.Fatalf("generated invalid config: %v", err)
	}
	return c
}

// cleanupStep is one Next (and optionally Observe) call.
type cleanupStep struct {
	dt       time.Duration
	util     float64
	ttl      time.Duration
	putDelta uint64
	reset    bool
	observe  bool
	took     time.Duration
	removed  int
}

func genStep(t *rapid.T, label string) cleanupStep {
	s := cleanupStep{
		dt:       time.Duration(rapid.Int64Range(0, int64(2*time.Minute)).Draw(t, label+".dt")),
		util:     rapid.Float64Range(-0.1, 1.1).Draw(t, label+".util"),
		putDelta: rapid.Uint64Range(0, 1_000_000).Draw(t, label+".puts"),
		reset:    rapid.IntRange(0, 20).Draw(t, label+".reset") == 0,
		observe:  rapid.Bool().Draw(t, label+".observe"),
		took:     time.Duration(rapid.Int64Range(-1, int64(time.Second)).Draw(t, label+".took")),
		removed:  rapid.IntRange(-1, 3000).Draw(t, label+".removed"),
	}
	if rapid.Bool().Draw(t, label+".hasTTL") {
		s.ttl = time.Duration(rapid.Int64Range(int64(time.Millisecond), int64(10*time.Minute)).Draw(t, label+".ttl"))
	}
	return s
}

// driver replays steps on a tuner with its own clock and put counter.
type driver struct {
	tu   *CleanupTuner
	now  time.Time
	puts uint64
}

func (d *driver) step(s cleanupStep) (time.Duration, int, int) {
	d.now = d.now.Add(s.dt)
	if s.reset {
		d.puts = 0
	}
	d.puts += s.putDelta
	iv, b, l := d.tu.Next(d.now, s.util, s.ttl, d.puts)
	if s.observe {
		d.tu.Observe(d.now, s.took, s.removed)
	}
	return iv, b, l
}

func replay(t *rapid.T, cfg CleanupConfig, hist []cleanupStep) *driver {
	tu, err := NewCleanupTuner(cfg)
	if err != nil {
		t.Fatal(err)
	}
	d := &driver{tu: tu, now: t0}
	for _, s := range hist {
		d.step(s)
	}
	return d
}

func genHistory(t *rapid.T) []cleanupStep {
	n := rapid.IntRange(0, 30).Draw(t, "history")
	h := make([]cleanupStep, n)
	for i := range h {
		h[i] = genStep(t, "h")
	}
	return h
}

// Outputs always lie within the configured bounds.
func TestPropCleanupBounds(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cfg := genCleanupConfig(t)
		d := replay(t, cfg, nil)
		n := rapid.IntRange(1, 100).Draw(t, "steps")
		for i := 0; i < n; i++ {
			s := genStep(t, "s")
			iv, b, l := d.step(s)
			if b < cfg.MinBatch || b > cfg.MaxBatch {
				t.Fatalf("batch %d outside [%d, %d]", b, cfg.MinBatch, cfg.MaxBatch)
			}
			if l < int(LevelNone) || l > int(LevelBlockNew) {
				t.Fatalf("level %d", l)
			}
			if iv < time.Millisecond || iv > cfg.MaxInterval {
				t.Fatalf("interval %v outside [1ms, %v]", iv, cfg.MaxInterval)
			}
			bound := time.Duration(0)
			if s.ttl > 0 {
				bound = s.ttl / time.Duration(cfg.TTLDivisor)
				if iv > max(bound, time.Millisecond) {
					t.Fatalf("interval %v above ttl/%d = %v", iv, cfg.TTLDivisor, bound)
				}
			}
			if (s.ttl == 0 || bound >= cfg.MinInterval) && iv < cfg.MinInterval {
				t.Fatalf("interval %v below min_interval %v", iv, cfg.MinInterval)
			}
		}
	})
}

// From the same state, more utilization never means a longer interval, a
// smaller batch or a milder backpressure level.
func TestPropCleanupMonotoneInUtilization(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cfg := genCleanupConfig(t)
		hist := genHistory(t)
		last := genStep(t, "last")
		u1 := rapid.Float64Range(0, 1).Draw(t, "u1")
		u2 := rapid.Float64Range(u1, 1).Draw(t, "u2")
		a, b := replay(t, cfg, hist), replay(t, cfg, hist)
		s1, s2 := last, last
		s1.util, s2.util = u1, u2
		i1, b1, l1 := a.step(s1)
		i2, b2, l2 := b.step(s2)
		if i2 > i1 || b2 < b1 || l2 < l1 {
			t.Fatalf("u %v -> (%v, %d, %d); u %v -> (%v, %d, %d)", u1, i1, b1, l1, u2, i2, b2, l2)
		}
	})
}

// monotone reports whether xs never changes direction.
func monotone[T int | time.Duration](xs []T) bool {
	dir := 0
	for i := 1; i < len(xs); i++ {
		d := 0
		switch {
		case xs[i] > xs[i-1]:
			d = 1
		case xs[i] < xs[i-1]:
			d = -1
		}
		if d != 0 {
			if dir != 0 && d != dir {
				return false
			}
			dir = d
		}
	}
	return true
}

// Under constant input (utilization, TTL, message rate, sweep cost) the
// schedule never goes back and forth, and it settles.
func TestPropCleanupNoOscillationUnderConstantInput(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cfg := rapid.SampledFrom([]CleanupConfig{DefaultCleanupConfig(), HighThroughputCleanupConfig(), LowLatencyCleanupConfig()}).Draw(t, "preset")
		d := replay(t, cfg, genHistory(t))
		in := genStep(t, "constant")
		in.reset = false
		in.dt = max(in.dt, time.Millisecond)
		var bs, ls []int
		var ds []time.Duration
		// The first output still reflects the last sweep observed before
		// the constant phase (a backlog, say); judge the ones after it.
		d.step(in)
		for i := 0; i < 80; i++ {
			iv, b, l := d.step(in)
			ds = append(ds, iv)
			bs = append(bs, b)
			ls = append(ls, l)
		}
		if !monotone(ds) || !monotone(bs) || !monotone(ls) {
			t.Fatalf("oscillation: intervals %v batches %v levels %v", ds, bs, ls)
		}
		n := len(ds)
		for i := n - 5; i < n; i++ {
			if ds[i] != ds[n-1] || bs[i] != bs[n-1] || ls[i] != ls[n-1] {
				t.Fatalf("not settled: intervals %v batches %v levels %v", ds[n-5:], bs[n-5:], ls[n-5:])
			}
		}
	})
}

// Utilization that wanders within less than Hysteresis never flips the
// regime or the level back: each changes in one direction at most.
func TestPropCleanupHysteresisNoFlapping(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cfg := genCleanupConfig(t)
		d := replay(t, cfg, genHistory(t))
		w := rapid.Float64Range(0, 0.999).Draw(t, "width") * cfg.Hysteresis
		lo := rapid.Float64Range(0, 1-w).Draw(t, "lo")
		var regimes, levels []int
		for i := 0; i < 40; i++ {
			s := genStep(t, "s")
			s.util = lo + rapid.Float64Range(0, 1).Draw(t, "pos")*w
			_, _, l := d.step(s)
			regimes = append(regimes, int(d.tu.Stats().Regime))
			levels = append(levels, l)
		}
		if !monotone(regimes) || !monotone(levels) {
			t.Fatalf("flapping within [%v, %v] (hysteresis %v): regimes %v levels %v", lo, lo+w, cfg.Hysteresis, regimes, levels)
		}
	})
}

// Following the schedule, every window of one TTL that starts at a sweep
// holds at least TTLDivisor more sweeps: ttl_divisor is a lower bound on the
// sweep frequency (the crate made it an upper bound).
func TestPropCleanupAtLeastDivisorSweepsPerTTL(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cfg := genCleanupConfig(t)
		ttl := time.Duration(rapid.Int64Range(int64(cfg.TTLDivisor)*int64(time.Millisecond), int64(10*time.Minute)).Draw(t, "ttl"))
		d := replay(t, cfg, nil)
		var sweeps []time.Time
		for i := 0; i < 200; i++ {
			s := genStep(t, "s")
			s.ttl = ttl
			s.dt = 0
			iv, _, _ := d.step(s)
			d.now = d.now.Add(iv) // the next sweep happens when asked
			sweeps = append(sweeps, d.now)
		}
		for i, s := range sweeps {
			end := s.Add(ttl)
			if end.After(sweeps[len(sweeps)-1]) {
				break
			}
			n := 0
			for _, x := range sweeps[i+1:] {
				if x.After(end) {
					break
				}
				n++
			}
			if n < cfg.TTLDivisor {
				t.Fatalf("only %d sweeps in (%v, %v], want at least %d", n, s.Sub(t0), end.Sub(t0), cfg.TTLDivisor)
			}
		}
	})
}
