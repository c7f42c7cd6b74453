package stack

import (
	"testing"

	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/tuner"
)

// The tuner's IHave presets bracket the protocol presets the stack runs
// with: the tuner keeps its own copy of core's ihave_interval and
// ihave_batch_size (it does not import core), and that copy had gone stale
// (the LAN preset was named 8 / 50 ms while core's LAN runs 32 / 100 ms).
func TestTunerIHavePresetsMatchCore(t *testing.T) {
	for _, name := range []string{"default", "lan", "wan", "large"} {
		cfg, err := core.Preset(name)
		if err != nil {
			t.Fatal(err)
		}
		want := tuner.NodeConfigFor(cfg.GraftTimeout, cfg.IHaveInterval, cfg.IHaveBatchSize).IHave
		got, err := tuner.IHavePreset(name)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("tuner.IHavePreset(%q) = %+v; core's %s preset (interval %v, batch %d) gives %+v",
				name, got, name, cfg.IHaveInterval, cfg.IHaveBatchSize, want)
		}
	}
}
