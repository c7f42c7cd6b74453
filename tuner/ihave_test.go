package tuner

import (
	"errors"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"
)

func TestIHaveValidate(t *testing.T) {
	tests := []struct {
		field string
		mod   func(*IHaveConfig)
	}{
		{"wire_limit", func(c *IHaveConfig) { c.WireLimit = 0 }},
		{"min_batch_size", func(c *IHaveConfig) { c.MinBatch = 0 }},
		{"max_batch_size", func(c *IHaveConfig) { c.MaxBatch = 2 }},
		{"max_batch_size", func(c *IHaveConfig) { c.WireLimit = 32 }},
		{"min_interval", func(c *IHaveConfig) { c.MinInterval = 0 }},
		{"max_interval", func(c *IHaveConfig) { c.MaxInterval = time.Millisecond }},
		{"repair_high", func(c *IHaveConfig) { c.RepairHigh = 0 }},
		{"smoothing", func(c *IHaveConfig) { c.Smoothing = 2 }},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			c := DefaultIHaveConfig()
			tt.mod(&c)
			err := c.Validate()
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tt.field+" ") {
				t.Fatalf("err = %v, want one naming %s", err, tt.field)
			}
			if _, err := NewIHaveTuner(c); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	for _, name := range []string{"", "default", "lan", "wan", "large", "large-cluster"} {
		c, err := IHavePreset(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if _, err := IHavePreset("x"); !errors.Is(err, ErrInvalidConfig) {
		t.Fatal(err)
	}
	if DefaultIHaveConfig().WireLimit != 1024 {
		t.Fatal("wire limit default is not core.MaxIHaveBatch")
	}
}

func TestIHaveTuner(t *testing.T) {
	// Bounds around 100 ms and 16: batch 4–64, interval 50–400 ms.
	tu, err := NewIHaveTuner(boundsAround(100*time.Millisecond, 16))
	if err != nil {
		t.Fatal(err)
	}
	if tu.Batch() != 4 || tu.Interval() != 400*time.Millisecond {
		t.Fatalf("initial %d %v", tu.Batch(), tu.Interval())
	}
	now := t0
	var msgs, ok, failed uint64
	step := func(dm, dok, dfail uint64) (int, time.Duration) {
		now = now.Add(time.Second)
		msgs, ok, failed = msgs+dm, ok+dok, failed+dfail
		return tu.Update(now, msgs, ok, failed)
	}
	step(0, 0, 0)
	// A healthy tree at 100 msg/s: the longest interval, batches of the
	// announcements expected per interval (40).
	var b int
	var iv time.Duration
	for i := 0; i < 50; i++ {
		b, iv = step(100, 0, 0)
	}
	if iv != 400*time.Millisecond || b != 40 {
		t.Fatalf("healthy: %d %v", b, iv)
	}
	// 10% of messages need a graft (above repair_high 5%): the shortest
	// interval, smaller batches.
	for i := 0; i < 50; i++ {
		b, iv = step(200, 15, 5)
	}
	if iv != 50*time.Millisecond || b != 10 {
		t.Fatalf("repairing: %d %v", b, iv)
	}
	// A flood: batches capped by max_batch_size.
	for i := 0; i < 50; i++ {
		b, iv = step(100000, 0, 0)
	}
	if b != 64 || iv != 400*time.Millisecond {
		t.Fatalf("flood: %d %v", b, iv)
	}
	// No time passed: nothing changes. Counters reset: new baseline.
	if b2, iv2 := tu.Update(now, msgs+5, ok, failed); b2 != b || iv2 != iv {
		t.Fatal("changed without time passing")
	}
	if b2, iv2 := tu.Update(now.Add(time.Second), 0, 0, 0); b2 != b || iv2 != iv {
		t.Fatal("changed on reset")
	}
	if tu.Rate() <= 0 || tu.RepairShare() < 0 {
		t.Fatal("accessors")
	}
}

func genIHaveConfig(t *rapid.T) IHaveConfig {
	c := rapid.SampledFrom([]IHaveConfig{DefaultIHaveConfig(), LANIHaveConfig(), WANIHaveConfig(), LargeClusterIHaveConfig()}).Draw(t, "preset")
	c.WireLimit = rapid.IntRange(1, 2048).Draw(t, "wire_limit")
	c.MinBatch = rapid.IntRange(1, c.WireLimit).Draw(t, "min_batch")
	c.MaxBatch = rapid.IntRange(c.MinBatch, c.WireLimit).Draw(t, "max_batch")
	c.MinInterval = time.Duration(rapid.Int64Range(int64(time.Millisecond), int64(time.Second)).Draw(t, "min_interval"))
	c.MaxInterval = c.MinInterval + time.Duration(rapid.Int64Range(0, int64(5*time.Second)).Draw(t, "span"))
	c.RepairHigh = rapid.Float64Range(0.001, 1).Draw(t, "repair_high")
	c.Smoothing = rapid.Float64Range(0.01, 1).Draw(t, "smoothing")
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return c
}

type ihaveStep struct {
	dt          time.Duration
	dm, dok, df uint64
}

func genIHaveSteps(t *rapid.T, label string) []ihaveStep {
	n := rapid.IntRange(0, 30).Draw(t, label)
	s := make([]ihaveStep, n)
	for i := range s {
		s[i] = ihaveStep{
			dt:  time.Duration(rapid.Int64Range(0, int64(10*time.Second)).Draw(t, "dt")),
			dm:  rapid.Uint64Range(0, 1e6).Draw(t, "dm"),
			dok: rapid.Uint64Range(0, 1e4).Draw(t, "dok"),
			df:  rapid.Uint64Range(0, 1e4).Draw(t, "df"),
		}
	}
	return s
}

type ihaveDriver struct {
	tu             *IHaveTuner
	now            time.Time
	msgs, ok, fail uint64
}

func (d *ihaveDriver) step(s ihaveStep) (int, time.Duration) {
	d.now = d.now.Add(s.dt)
	d.msgs, d.ok, d.fail = d.msgs+s.dm, d.ok+s.dok, d.fail+s.df
	return d.tu.Update(d.now, d.msgs, d.ok, d.fail)
}

func newIHaveDriver(t *rapid.T, c IHaveConfig, hist []ihaveStep) *ihaveDriver {
	tu, err := NewIHaveTuner(c)
	if err != nil {
		t.Fatal(err)
	}
	d := &ihaveDriver{tu: tu, now: t0}
	for _, s := range hist {
		d.step(s)
	}
	return d
}

// Batch size and interval stay within the preset's bounds and the wire
// limit, whatever the counters do.
func TestPropIHaveBounds(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c := genIHaveConfig(t)
		d := newIHaveDriver(t, c, nil)
		for _, s := range genIHaveSteps(t, "steps") {
			b, iv := d.step(s)
			if b < c.MinBatch || b > c.MaxBatch || b > c.WireLimit {
				t.Fatalf("batch %d outside [%d, %d] or above wire limit %d", b, c.MinBatch, c.MaxBatch, c.WireLimit)
			}
			if iv < c.MinInterval || iv > c.MaxInterval {
				t.Fatalf("interval %v outside [%v, %v]", iv, c.MinInterval, c.MaxInterval)
			}
		}
	})
}

// From the same state: more grafts never lengthen the interval; more
// messages (same grafts) never shrink the batch.
func TestPropIHaveMonotone(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c := genIHaveConfig(t)
		hist := genIHaveSteps(t, "history")
		last := genIHaveSteps(t, "last")
		if len(last) == 0 {
			last = []ihaveStep{{dt: time.Second}}
		}
		s := last[0]
		s.dt = max(s.dt, time.Millisecond)
		more := rapid.Uint64Range(0, 1e4).Draw(t, "more")

		a, b := newIHaveDriver(t, c, hist), newIHaveDriver(t, c, hist)
		s2 := s
		s2.dok += more
		_, i1 := a.step(s)
		_, i2 := b.step(s2)
		if i2 > i1 {
			t.Fatalf("more grafts lengthened the interval: %v -> %v", i1, i2)
		}

		a, b = newIHaveDriver(t, c, hist), newIHaveDriver(t, c, hist)
		s3 := s
		s3.dm += more
		b1, _ := a.step(s)
		b2, _ := b.step(s3)
		if b2 < b1 {
			t.Fatalf("more messages shrank the batch: %d -> %d", b1, b2)
		}
	})
}
