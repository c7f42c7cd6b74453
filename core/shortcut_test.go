package core_test

import (
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
)

// feedShortcut delivers n messages of origin "o" through eager peer e0 with
// hop count via, each announced by lazy peer l0 with hop count lazy, spaced
// gap apart from start, and returns the output of the last announcement.
func feedShortcut(p *core.Protocol, start time.Time, gap time.Duration, first uint64, n int, via, lazy uint16) (core.Output, time.Time) {
	now := start
	var out core.Output
	for s := first; s < first+uint64(n); s++ {
		now = now.Add(gap)
		p.Receive(now, "e0", gossip("o", s, via))
		p.Drain()
		p.Receive(now, "l0", ihave(ann("o", s, lazy)))
		out = p.Drain()
	}
	return out, now
}

// Tree shaping: when a lazy peer's announcements of the messages that came
// through one eager link show paths at least 1.5 hops shorter on average,
// the lazy link replaces the eager one (Graft to it, Prune to the other),
// after ShortcutSamples announcements and not before.
func TestShortcutReplacesTheLongerLink(t *testing.T) {
	const k = 16
	p := fixture(t, func(c *core.Config) { c.ShortcutSamples = k })
	// Announced paths 1+1 = 2 against 4: two hops shorter.
	out, _ := feedShortcut(p, t0, 100*time.Millisecond, 1, k-1, 4, 1)
	if len(out.Messages) != 0 {
		t.Fatalf("swapped after %d of %d samples: %+v", k-1, k, out.Messages)
	}
	out, _ = feedShortcut(p, t0.Add(2*time.Second), 100*time.Millisecond, k, 1, 4, 1)
	g, pr := msgs(out, core.MsgGraft), msgs(out, core.MsgPrune)
	if len(g) != 1 || g[0].To != "l0" || len(g[0].Msg.IDs) != 0 || len(pr) != 1 || pr[0].To != "e0" {
		t.Fatalf("want a link Graft to l0 and a Prune to e0; graft %+v prune %+v", g, pr)
	}
	if !contains(p.EagerPeers(), "l0") || contains(p.EagerPeers(), "e0") {
		t.Errorf("eager %v, want l0 in and e0 out", p.EagerPeers())
	}
	for _, e := range out.Events {
		if (e.Kind == core.EventPeerPromoted || e.Kind == core.EventPeerDemoted) && e.Reason != core.ReasonShortcut {
			t.Errorf("event %+v, want reason %v", e, core.ReasonShortcut)
		}
	}
}

// No swap for a gain under 1.5 hops on average, nor while the node delivers
// a burst (a swap loses the copies in flight between the two links), nor
// with the rule off.
func TestShortcutNeedsAGainAndQuiet(t *testing.T) {
	const k = 16
	cases := []struct {
		name      string
		samples   int
		gap       time.Duration
		via, lazy uint16
	}{
		{"equal paths", k, 100 * time.Millisecond, 4, 3}, // 3+1 = 4
		{"one hop", k, 100 * time.Millisecond, 4, 2},     // 2+1 = 3: under 1.5 hops
		{"half a hop", k, 100 * time.Millisecond, 4, 2},  // alternating below
		{"burst", k, time.Millisecond, 6, 1},             // 1,000 msg/s
		{"off", 0, 100 * time.Millisecond, 6, 1},         // ShortcutSamples 0
		{"longer through the lazy peer", k, 100 * time.Millisecond, 2, 4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := fixture(t, func(c *core.Config) { c.ShortcutSamples = tc.samples })
			var out core.Output
			now := t0
			for s := uint64(1); s <= 4*k; s++ {
				lazy := tc.lazy
				if tc.name == "half a hop" && s%2 == 0 {
					lazy = 3 // mean gain 0.5
				}
				var o core.Output
				o, now = feedShortcut(p, now, tc.gap, s, 1, tc.via, lazy)
				out.Messages = append(out.Messages, o.Messages...)
				if s%10 == 0 {
					p.Tick(now) // maintenance rounds
					p.Drain()
				}
			}
			if g := msgs(out, core.MsgGraft); len(g) != 0 || contains(p.EagerPeers(), "l0") {
				t.Errorf("swapped: grafts %+v, eager %v", g, p.EagerPeers())
			}
		})
	}
}

// A peer whose eager set is full answers the link Graft with a Prune: the
// link it replaced is grafted again at once (else the two sides of the tree
// stay apart until pulls relink them), and that peer is not asked again for
// a while.
func TestShortcutRefusedIsUndone(t *testing.T) {
	const k = 16
	p := fixture(t, func(c *core.Config) { c.ShortcutSamples = k })
	out, now := feedShortcut(p, t0, 100*time.Millisecond, 1, k, 4, 1)
	if g := msgs(out, core.MsgGraft); len(g) != 1 || g[0].To != "l0" {
		t.Fatalf("no swap to undo: %+v", out.Messages)
	}
	p.Receive(now.Add(time.Millisecond), "l0", core.Message{Type: core.MsgPrune})
	out = p.Drain()
	if g := msgs(out, core.MsgGraft); len(g) != 1 || g[0].To != "e0" || len(g[0].Msg.IDs) != 0 {
		t.Fatalf("want a link Graft back to e0, got %+v", out.Messages)
	}
	if !contains(p.EagerPeers(), "e0") || contains(p.EagerPeers(), "l0") {
		t.Errorf("eager %v, want e0 back and l0 lazy", p.EagerPeers())
	}
	// l0 is not asked again soon.
	out, _ = feedShortcut(p, now.Add(time.Second), 100*time.Millisecond, k+1, 2*k, 4, 1)
	if g := msgs(out, core.MsgGraft); len(g) != 0 {
		t.Errorf("asked the refusing peer again: %+v", g)
	}
}

// Tree shaping needs the eager set bounded only by the active view.
func TestShortcutNeedsUncappedEagerSet(t *testing.T) {
	c := core.DefaultConfig()
	c.ShortcutSamples = 16
	if err := c.Validate(); err == nil {
		t.Fatal("shortcut_samples with max_eager_peers 3 (active view 5) validated")
	}
	c.MaxEagerPeers = 0
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	lan := core.LANConfig()
	if err := lan.Validate(); err != nil {
		t.Fatal(err)
	}
}
