package tuner

import (
	"os"
	"reflect"
	"testing"
	"time"
)

// runtimeTuner is a copy of core/node's Tuner interface (the tuner does not
// import core); TestNodeTunerMatchesRuntime keeps the two in step.
type runtimeTuner interface {
	ObserveDelay(now time.Time, peer string, d time.Duration, graft bool)
	Tune(now time.Time, delivered, graftsOK, graftsFailed uint64) (graftTimeout, ihaveInterval time.Duration, ihaveBatch int)
}

var _ runtimeTuner = (*NodeTuner)(nil)

func TestNodeTunerMatchesRuntime(t *testing.T) {
	const path = "../core/node/tuning.go"
	src, err := os.ReadFile(path)
	if err != nil {
		t.Skipf("core/node source not available: %v", err)
	}
	want := interfaceMethods(t, path, src, "Tuner")
	if len(want) != 2 {
		t.Fatalf("Tuner interface in %s has %d methods, want 2", path, len(want))
	}
	nt, err := NewNodeTuner(NodeConfigFor(200*time.Millisecond, 50*time.Millisecond, 8))
	if err != nil {
		t.Fatal(err)
	}
	v := reflect.ValueOf(nt)
	for name, sig := range want {
		m := v.MethodByName(name)
		if !m.IsValid() {
			t.Errorf("NodeTuner lacks %s%s", name, sig)
		} else if got := m.Type().String(); got != sig {
			t.Errorf("NodeTuner.%s is %s, node.Tuner wants %s", name, got, sig)
		}
	}
}

// NodeConfigFor reproduces the IHave presets from the protocol presets.
func TestNodeConfigForMatchesPresets(t *testing.T) {
	for _, tc := range []struct {
		preset string
		iv     time.Duration
		batch  int
	}{{"default", 200 * time.Millisecond, 64}, {"lan", 100 * time.Millisecond, 32}, {"wan", 300 * time.Millisecond, 64}, {"large", 250 * time.Millisecond, 128}} {
		want, _ := IHavePreset(tc.preset)
		got := NodeConfigFor(time.Second, tc.iv, tc.batch).IHave
		if got != want {
			t.Errorf("%s: %+v, want %+v", tc.preset, got, want)
		}
	}
}

// The graft timeout follows the delays: at the floor without samples,
// SRTT + 4·RTTVAR under load (bounded by 3 × the floor), back to the floor
// once samples stop for Idle.
func TestNodeTunerGraftTimeout(t *testing.T) {
	cfg := NodeConfigFor(200*time.Millisecond, 50*time.Millisecond, 8)
	nt, err := NewNodeTuner(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1000, 0)
	if gt, _, _ := nt.Tune(t0, 0, 0, 0); gt != 200*time.Millisecond {
		t.Fatalf("no samples: %v, want the floor 200ms", gt)
	}
	// Small lags (a healthy tree) keep the floor.
	for i := range 20 {
		nt.ObserveDelay(t0.Add(time.Duration(i)*time.Millisecond), "a", 3*time.Millisecond, false)
	}
	if gt, _, _ := nt.Tune(t0.Add(time.Second), 100, 0, 0); gt != 200*time.Millisecond {
		t.Fatalf("small lags: %v, want the floor", gt)
	}
	// Lags of 150-250 ms (load): above the floor, with margin.
	for i := range 40 {
		d := 150 * time.Millisecond
		if i%2 == 1 {
			d = 250 * time.Millisecond
		}
		nt.ObserveDelay(t0.Add(time.Second+time.Duration(i)*time.Millisecond), "b", d, false)
	}
	gt, _, _ := nt.Tune(t0.Add(2*time.Second), 200, 0, 0)
	if gt <= 300*time.Millisecond || gt > 600*time.Millisecond {
		t.Fatalf("lags 150-250ms: %v, want above 300ms and at most 3 × 200ms", gt)
	}
	// A huge lag is capped.
	nt.ObserveDelay(t0.Add(3*time.Second), "b", 30*time.Second, false)
	if gt, _, _ := nt.Tune(t0.Add(3*time.Second), 200, 0, 0); gt != 600*time.Millisecond {
		t.Fatalf("30s lag: %v, want the ceiling 600ms", gt)
	}
	// Quiet for Idle: back to the floor.
	if gt, _, _ := nt.Tune(t0.Add(3*time.Second+cfg.Idle), 200, 0, 0); gt != 200*time.Millisecond {
		t.Fatalf("after %v without samples: %v, want the floor", cfg.Idle, gt)
	}
}

// The IHave timings come from the IHaveTuner, within the bounds.
func TestNodeTunerIHave(t *testing.T) {
	cfg := NodeConfigFor(200*time.Millisecond, 50*time.Millisecond, 8)
	nt, _ := NewNodeTuner(cfg)
	t0 := time.Unix(1000, 0)
	nt.Tune(t0, 0, 0, 0)
	// 1000 msgs/s, no grafts: the longest interval, batch = rate × interval.
	var iv time.Duration
	var b int
	for i := 1; i <= 30; i++ {
		_, iv, b = nt.Tune(t0.Add(time.Duration(i)*time.Second), uint64(1000*i), 0, 0)
	}
	if iv != 200*time.Millisecond || b != 32 {
		t.Fatalf("healthy at 1000/s: interval %v batch %d, want 200ms and 32 (the bound)", iv, b)
	}
	// Many grafts: the shortest interval.
	for i := 31; i <= 60; i++ {
		_, iv, _ = nt.Tune(t0.Add(time.Duration(i)*time.Second), uint64(1000*i), uint64(100*(i-30)), 0)
	}
	if iv != 25*time.Millisecond {
		t.Fatalf("10%% grafted: interval %v, want 25ms", iv)
	}
}

func TestNodeConfigValidate(t *testing.T) {
	c := NodeConfigFor(0, 0, 0)
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c.Idle = 0
	if _, err := NewNodeTuner(c); err == nil {
		t.Fatal("idle 0 accepted")
	}
}
