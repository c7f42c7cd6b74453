package tuner

import (
	"errors"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func newTuner(t *testing.T, cfg CleanupConfig) *CleanupTuner {
	t.Helper()
	tu, err := NewCleanupTuner(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tu
}

func TestCleanupDefaults(t *testing.T) {
	c := DefaultCleanupConfig()
	want := CleanupConfig{
		BaseInterval: 30 * time.Second, MinInterval: 5 * time.Second, MaxInterval: 120 * time.Second,
		HighUtilization: 0.8, LowUtilization: 0.3, Hysteresis: 0.03,
		DropSome: 0.93, DropMost: 0.96, BlockNew: 0.98,
		TargetSweepDuration: 50 * time.Millisecond, HighLoadRate: 1000, TTLDivisor: 4,
		MinBatch: 10, MaxBatch: 500, InitialBatch: 100, Smoothing: 0.3,
	}
	if c != want {
		t.Fatalf("defaults = %+v, want %+v", c, want)
	}
}

func TestCleanupPresetsValid(t *testing.T) {
	for _, name := range []string{"", "default", "high_throughput", "high-throughput", "low_latency", "low-latency"} {
		c, err := CleanupPreset(name)
		if err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("%q: %v", name, err)
		}
	}
	if _, err := CleanupPreset("fast"); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("unknown preset: %v", err)
	}
}

func TestCleanupValidate(t *testing.T) {
	tests := []struct {
		field string
		mod   func(*CleanupConfig)
	}{
		{"min_interval", func(c *CleanupConfig) { c.MinInterval = 0 }},
		{"max_interval", func(c *CleanupConfig) { c.MaxInterval = time.Second }},
		{"base_interval", func(c *CleanupConfig) { c.BaseInterval = time.Hour }},
		{"low_utilization", func(c *CleanupConfig) { c.LowUtilization = -0.1 }},
		{"high_utilization", func(c *CleanupConfig) { c.HighUtilization = 0.2 }},
		{"hysteresis", func(c *CleanupConfig) { c.Hysteresis = 0.3 }},
		{"drop_some_threshold", func(c *CleanupConfig) { c.DropSome = 0.5 }},
		{"drop_most_threshold", func(c *CleanupConfig) { c.DropMost = 0.93 }},
		{"block_new_threshold", func(c *CleanupConfig) { c.BlockNew = 1.5 }},
		{"target_sweep_duration", func(c *CleanupConfig) { c.TargetSweepDuration = 0 }},
		{"high_load_rate", func(c *CleanupConfig) { c.HighLoadRate = 0 }},
		{"ttl_divisor", func(c *CleanupConfig) { c.TTLDivisor = 0 }},
		{"min_batch_size", func(c *CleanupConfig) { c.MinBatch = 0 }},
		{"max_batch_size", func(c *CleanupConfig) { c.MaxBatch = 5 }},
		{"initial_batch_size", func(c *CleanupConfig) { c.InitialBatch = 1000 }},
		{"batch_smoothing", func(c *CleanupConfig) { c.Smoothing = 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			c := DefaultCleanupConfig()
			tt.mod(&c)
			err := c.Validate()
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tt.field+" ") {
				t.Fatalf("err = %v, want one naming %s", err, tt.field)
			}
			if _, err := NewCleanupTuner(c); err == nil {
				t.Fatal("NewCleanupTuner accepted an invalid config")
			}
		})
	}
}

func TestLevelAndRegimeStrings(t *testing.T) {
	for l, want := range map[Level]string{LevelNone: "none", LevelDropSome: "drop-some", LevelDropMost: "drop-most", LevelBlockNew: "block-new", 7: "level(7)"} {
		if l.String() != want {
			t.Errorf("%d: %q", int(l), l.String())
		}
	}
	for r, want := range map[Regime]string{RegimeLow: "low", RegimeNormal: "normal", RegimeHigh: "high", 9: "regime(9)"} {
		if r.String() != want {
			t.Errorf("%d: %q", int(r), r.String())
		}
	}
}

// TestCleanupSchedule checks the schedule of a fresh default tuner for one
// input (no TTL bound unless given).
func TestCleanupSchedule(t *testing.T) {
	tests := []struct {
		name         string
		util         float64
		ttl          time.Duration
		rate         float64 // puts per second between the two calls
		wantInterval time.Duration
		wantBatch    int
		wantLevel    Level
	}{
		{"idle", 0.1, 0, 0, 60 * time.Second, 50, LevelNone},
		{"normal", 0.5, 0, 0, 30 * time.Second, 100, LevelNone},
		{"normal, high load", 0.5, 0, 2000, 15 * time.Second, 100, LevelNone},
		{"high", 0.85, 0, 0, 10 * time.Second, 200, LevelNone},
		{"high, high load", 0.85, 0, 5000, 5 * time.Second, 200, LevelNone},
		{"drop-some", 0.94, 0, 0, 5 * time.Second, 200, LevelDropSome},
		{"drop-most", 0.97, 0, 0, 5 * time.Second, 200, LevelDropMost},
		{"block-new", 0.99, 0, 0, 5 * time.Second, 200, LevelBlockNew},
		{"full", 1, 0, 0, 5 * time.Second, 200, LevelBlockNew},
		{"ttl bound", 0.1, time.Minute, 0, 15 * time.Second, 50, LevelNone},
		{"ttl bound below min interval", 0.5, 8 * time.Second, 0, 2 * time.Second, 100, LevelNone},
		{"ttl bound floor", 0.5, time.Millisecond, 0, time.Millisecond, 100, LevelNone},
		{"nan utilization", nan(), 0, 0, 60 * time.Second, 50, LevelNone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tu := newTuner(t, DefaultCleanupConfig())
			tu.Next(t0, tt.util, tt.ttl, 0)
			d, b, l := tu.Next(t0.Add(10*time.Second), tt.util, tt.ttl, uint64(tt.rate*10))
			if d != tt.wantInterval || b != tt.wantBatch || Level(l) != tt.wantLevel {
				t.Fatalf("got (%v, %d, %v), want (%v, %d, %v)", d, b, Level(l), tt.wantInterval, tt.wantBatch, tt.wantLevel)
			}
		})
	}
}

func nan() float64 { z := 0.0; return z / z }

func TestCleanupHysteresis(t *testing.T) {
	tu := newTuner(t, DefaultCleanupConfig())
	// Enter high at 0.8; stay while above 0.77.
	steps := []struct {
		u      float64
		regime Regime
		level  Level
	}{
		{0.5, RegimeNormal, LevelNone},
		{0.8, RegimeHigh, LevelNone},
		{0.78, RegimeHigh, LevelNone},
		{0.771, RegimeHigh, LevelNone},
		{0.76, RegimeNormal, LevelNone},
		{0.3, RegimeLow, LevelNone},
		{0.32, RegimeLow, LevelNone},
		{0.34, RegimeNormal, LevelNone},
		{0.98, RegimeHigh, LevelBlockNew},
		{0.96, RegimeHigh, LevelBlockNew},
		{0.951, RegimeHigh, LevelBlockNew},
		{0.94, RegimeHigh, LevelDropMost},
		{0.931, RegimeHigh, LevelDropMost},
		{0.92, RegimeHigh, LevelDropSome},
		{0.95, RegimeHigh, LevelDropSome},
		{0.5, RegimeNormal, LevelNone},
	}
	now := t0
	for i, s := range steps {
		now = now.Add(time.Second)
		_, _, l := tu.Next(now, s.u, 0, 0)
		st := tu.Stats()
		if st.Regime != s.regime || Level(l) != s.level || tu.Level() != s.level {
			t.Fatalf("step %d (u=%v): regime %v level %v, want %v %v", i, s.u, st.Regime, Level(l), s.regime, s.level)
		}
	}
	if got := tu.Stats().LevelChanges; got != 4 {
		t.Fatalf("level changes = %d, want 4", got)
	}
}

func TestCleanupHighLoadHysteresis(t *testing.T) {
	tu := newTuner(t, DefaultCleanupConfig())
	now, puts := t0, uint64(0)
	step := func(rate uint64) bool {
		now = now.Add(time.Second)
		puts += rate
		tu.Next(now, 0.5, 0, puts)
		return tu.Stats().HighLoad
	}
	step(0)
	for i, c := range []struct {
		rate uint64
		want bool
	}{{999, false}, {1000, true}, {975, true}, {970, true}, {969, false}, {990, false}} {
		if got := step(c.rate); got != c.want {
			t.Fatalf("step %d rate %d: high load %v, want %v", i, c.rate, got, c.want)
		}
	}
}

func TestCleanupRateBaseline(t *testing.T) {
	tu := newTuner(t, DefaultCleanupConfig())
	tu.Next(t0, 0.5, 0, 100)
	tu.Next(t0, 0.5, 0, 200) // no time passed: ignored, counted later
	tu.Next(t0.Add(time.Second), 0.5, 0, 300)
	if r := tu.Stats().Rate; r != 200 {
		t.Fatalf("rate = %v, want 200", r)
	}
	tu.Next(t0.Add(2*time.Second), 0.5, 0, 10) // counter went down: new baseline
	if r := tu.Stats().Rate; r != 200 {
		t.Fatalf("rate after reset = %v, want unchanged 200", r)
	}
	tu.Next(t0.Add(4*time.Second), 0.5, 0, 110)
	if r := tu.Stats().Rate; r != 50 {
		t.Fatalf("rate = %v, want 50", r)
	}
}

func TestCleanupBatchFollowsSweepCost(t *testing.T) {
	tu := newTuner(t, DefaultCleanupConfig())
	now := t0
	var b int
	// Each entry costs 1 ms: 50 fit the 50 ms target. The smoothed batch
	// falls from 100 towards 50 monotonically and settles there.
	prev := 1 << 30
	for i := 0; i < 40; i++ {
		now = now.Add(10 * time.Second)
		_, b, _ = tu.Next(now, 0.5, 0, 0)
		if b > prev {
			t.Fatalf("step %d: batch rose from %d to %d", i, prev, b)
		}
		prev = b
		tu.Observe(now, 20*time.Millisecond, 20)
	}
	if b != 50 {
		t.Fatalf("batch = %d, want 50", b)
	}
	// Very cheap sweeps: the batch rises to MaxBatch (500) at normal
	// utilization.
	for i := 0; i < 40; i++ {
		now = now.Add(10 * time.Second)
		_, b, _ = tu.Next(now, 0.5, 0, 0)
		tu.Observe(now, time.Microsecond, 10)
	}
	if b != 500 {
		t.Fatalf("batch = %d, want 500", b)
	}
	// Sweeps that remove nothing keep it.
	tu.Observe(now, time.Second, 0)
	if _, b, _ = tu.Next(now.Add(time.Second), 0.5, 0, 0); b != 500 {
		t.Fatalf("batch = %d after an empty sweep", b)
	}
}

func TestCleanupBacklog(t *testing.T) {
	tu := newTuner(t, DefaultCleanupConfig())
	d, b, _ := tu.Next(t0, 0.5, 0, 0)
	if d != 30*time.Second {
		t.Fatalf("interval %v", d)
	}
	tu.Observe(t0, time.Millisecond, b) // used the whole batch
	if d, _, _ = tu.Next(t0.Add(time.Second), 0.5, 0, 0); d != 5*time.Second {
		t.Fatalf("after a full sweep: %v, want 5s", d)
	}
	if !tu.Stats().Backlog {
		t.Fatal("backlog not reported")
	}
	tu.Observe(t0, time.Millisecond, 1)
	if d, _, _ = tu.Next(t0.Add(2*time.Second), 0.5, 0, 0); d != 30*time.Second {
		t.Fatalf("after a partial sweep: %v, want 30s", d)
	}
	// Next without an Observe in between: no backlog.
	tu.Observe(t0, time.Millisecond, 1000)
	tu.Next(t0.Add(3*time.Second), 0.5, 0, 0)
	if d, _, _ = tu.Next(t0.Add(4*time.Second), 0.5, 0, 0); d != 30*time.Second {
		t.Fatalf("stale backlog: %v", d)
	}
	if s := tu.Stats(); s.Calls != 5 || s.Sweeps != 3 {
		t.Fatalf("stats %+v", s)
	}
}

func TestCleanupConfigCopied(t *testing.T) {
	c := DefaultCleanupConfig()
	tu := newTuner(t, c)
	c.MinInterval = time.Hour
	if tu.Config().MinInterval != 5*time.Second {
		t.Fatal("config not copied")
	}
}
