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
// the lazy link replaces the eager one, after ShortcutSamples announcements
// and not before. The swap makes before it breaks: a link Graft to the new
// peer first, then, while both links are eager, the node pushes to the old
// one only and prunes neither for the duplicates the two bring (copies that
// passed the new peer before its link was made still come through the old
// one); at the end of the overlap the old link is pruned and the new one is
// pushed to.
func TestShortcutReplacesTheLongerLink(t *testing.T) {
	const k = 16
	p := fixture(t, func(c *core.Config) { c.ShortcutSamples = k })
	// Announced paths 1+1 = 2 against 4: two hops shorter.
	out, _ := feedShortcut(p, t0, 100*time.Millisecond, 1, k-1, 4, 1)
	if len(out.Messages) != 0 {
		t.Fatalf("swapped after %d of %d samples: %+v", k-1, k, out.Messages)
	}
	out, now := feedShortcut(p, t0.Add(2*time.Second), 100*time.Millisecond, k, 1, 4, 1)
	graftAt := now
	g, pr := msgs(out, core.MsgGraft), msgs(out, core.MsgPrune)
	if len(g) != 1 || g[0].To != "l0" || len(g[0].Msg.IDs) != 0 || len(pr) != 0 {
		t.Fatalf("want a link Graft to l0 and no Prune yet; graft %+v prune %+v", g, pr)
	}
	if !contains(p.EagerPeers(), "l0") || !contains(p.EagerPeers(), "e0") {
		t.Fatalf("eager %v, want l0 and e0 during the overlap", p.EagerPeers())
	}
	events := out.Events

	// The overlap: a new copy from e0 goes to the other eager peers but
	// not to l0; one from l0 not to e0 either (both lead to the far side,
	// where it would be a duplicate). Duplicates on either link, however
	// many, prune nothing.
	now = now.Add(10 * time.Millisecond)
	p.Receive(now, "e0", gossip("o", 100, 4))
	out = p.Drain()
	if to := gossipTargets(out); contains(to, "l0") || !contains(to, "e1") {
		t.Errorf("overlap: copy from e0 pushed to %v, want e1 and e2, not l0", to)
	}
	p.Receive(now, "l0", gossip("o", 101, 2))
	out = p.Drain()
	if to := gossipTargets(out); contains(to, "e0") || !contains(to, "e1") {
		t.Errorf("overlap: copy from l0 pushed to %v, want e1 and e2, not e0", to)
	}
	for s := uint64(100); s < 102; s++ {
		for range 4 {
			now = now.Add(time.Millisecond)
			p.Receive(now, "e0", gossip("o", s, 4))
			p.Receive(now, "l0", gossip("o", s, 2))
		}
	}
	out = p.Drain()
	if pr := msgs(out, core.MsgPrune); len(pr) != 0 {
		t.Fatalf("the overlap's duplicates pruned %+v", pr)
	}

	// The end of the overlap is a deadline: Tick then cuts e0, a graft
	// timeout (500 ms here) after the Graft.
	var cut time.Time
	out, cut = tickUntilPrune(t, p, now)
	if pr := msgs(out, core.MsgPrune); len(pr) != 1 || pr[0].To != "e0" {
		t.Fatalf("want a Prune to e0 at the overlap's end, got %+v", out.Messages)
	}
	if d := cut.Sub(graftAt); d != 500*time.Millisecond {
		t.Errorf("old link cut %v after the Graft, want 500ms", d)
	}
	now = cut
	if !contains(p.EagerPeers(), "l0") || contains(p.EagerPeers(), "e0") {
		t.Errorf("eager %v, want l0 in and e0 out", p.EagerPeers())
	}
	events = append(events, out.Events...)
	// A first copy e0 pushed before it read the Prune: delivered and
	// pushed on, but not to l0 (it is the far side's), and no reason to
	// link e0 again.
	p.Receive(now.Add(time.Millisecond), "e0", gossip("o", 102, 4))
	if to := gossipTargets(p.Drain()); contains(to, "l0") || !contains(to, "e1") {
		t.Errorf("after the overlap: leftover copy from e0 pushed to %v, want e1 and e2, not l0", to)
	}
	if contains(p.EagerPeers(), "e0") {
		t.Errorf("eager %v: a leftover copy linked e0 again", p.EagerPeers())
	}
	p.Receive(now.Add(2*time.Millisecond), "e1", gossip("o", 103, 3))
	if to := gossipTargets(p.Drain()); !contains(to, "l0") || contains(to, "e0") {
		t.Errorf("after the overlap: copy from e1 pushed to %v, want l0 and not e0", to)
	}
	for _, e := range events {
		if (e.Kind == core.EventPeerPromoted || e.Kind == core.EventPeerDemoted) && e.Reason != core.ReasonShortcut {
			t.Errorf("event %+v, want reason %v", e, core.ReasonShortcut)
		}
	}
}

// tickUntilPrune calls Tick at each of p's deadlines after from until the
// output holds a Prune (at most 20 rounds), and returns that output and when.
func tickUntilPrune(t *testing.T, p *core.Protocol, from time.Time) (core.Output, time.Time) {
	t.Helper()
	now := from
	for range 20 {
		if d := p.NextDeadline(); d.After(now) {
			now = d
		}
		p.Tick(now)
		if out := p.Drain(); len(msgs(out, core.MsgPrune)) > 0 {
			return out, now
		}
		now = now.Add(time.Millisecond)
	}
	t.Fatalf("no Prune within 20 deadlines after %v", from)
	return core.Output{}, now
}

// gossipTargets returns the peers o sends a Gossip to.
func gossipTargets(o core.Output) []core.PeerID {
	var to []core.PeerID
	for _, ob := range msgs(o, core.MsgGossip) {
		to = append(to, ob.To)
	}
	return to
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

// A peer whose eager set is full answers the link Graft with a Prune. During
// the overlap that ends the swap: the old link was never cut and stays, and
// the refusing peer is not asked again for a while. Right after the overlap
// (the old link cut), the old link is grafted again at once, else the two
// sides of the tree stay apart until pulls relink them.
func TestShortcutRefusedIsUndone(t *testing.T) {
	const k = 16
	t.Run("during the overlap", func(t *testing.T) {
		p := fixture(t, func(c *core.Config) { c.ShortcutSamples = k })
		out, now := feedShortcut(p, t0, 100*time.Millisecond, 1, k, 4, 1)
		if g := msgs(out, core.MsgGraft); len(g) != 1 || g[0].To != "l0" {
			t.Fatalf("no swap to undo: %+v", out.Messages)
		}
		p.Receive(now.Add(time.Millisecond), "l0", core.Message{Type: core.MsgPrune})
		p.Tick(now.Add(5 * time.Second)) // well past the overlap
		out = p.Drain()
		if len(msgs(out, core.MsgPrune)) != 0 || len(msgs(out, core.MsgGraft)) != 0 {
			t.Fatalf("want the old link left alone, got %+v", out.Messages)
		}
		if !contains(p.EagerPeers(), "e0") || contains(p.EagerPeers(), "l0") {
			t.Errorf("eager %v, want e0 kept and l0 lazy", p.EagerPeers())
		}
		// l0 is not asked again soon.
		out, _ = feedShortcut(p, now.Add(time.Second), 100*time.Millisecond, k+1, 2*k, 4, 1)
		if g := msgs(out, core.MsgGraft); len(g) != 0 {
			t.Errorf("asked the refusing peer again: %+v", g)
		}
	})
	t.Run("after the overlap", func(t *testing.T) {
		p := fixture(t, func(c *core.Config) { c.ShortcutSamples = k })
		out, now := feedShortcut(p, t0, 100*time.Millisecond, 1, k, 4, 1)
		if g := msgs(out, core.MsgGraft); len(g) != 1 || g[0].To != "l0" {
			t.Fatalf("no swap to undo: %+v", out.Messages)
		}
		out, now = tickUntilPrune(t, p, now)
		if pr := msgs(out, core.MsgPrune); len(pr) != 1 || pr[0].To != "e0" {
			t.Fatalf("old link not cut at the overlap's end: %+v", pr)
		}
		p.Receive(now.Add(time.Millisecond), "l0", core.Message{Type: core.MsgPrune})
		out = p.Drain()
		if g := msgs(out, core.MsgGraft); len(g) != 1 || g[0].To != "e0" || len(g[0].Msg.IDs) != 0 {
			t.Fatalf("want a link Graft back to e0, got %+v", out.Messages)
		}
		if !contains(p.EagerPeers(), "e0") || contains(p.EagerPeers(), "l0") {
			t.Errorf("eager %v, want e0 back and l0 lazy", p.EagerPeers())
		}
	})
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

// The overlap lasts at least a graft timeout, and longer while the old link
// has not brought a copy of an origin as new as the first one the new link
// brought during the overlap (the old path may still hold older copies of
// it: copies of one origin follow one path in order), up to four graft
// timeouts.
func TestShortcutOverlapWaitsForTheOldLink(t *testing.T) {
	const k = 16
	swap := func(t *testing.T) (*core.Protocol, time.Time) {
		p := fixture(t, func(c *core.Config) { c.ShortcutSamples = k })
		out, now := feedShortcut(p, t0, 100*time.Millisecond, 1, k, 4, 1)
		if g := msgs(out, core.MsgGraft); len(g) != 1 || g[0].To != "l0" {
			t.Fatalf("no swap: %+v", out.Messages)
		}
		// The new link brings origin q's seq 7 first; the old one is behind.
		p.Receive(now.Add(time.Millisecond), "l0", gossip("q", 7, 2))
		p.Receive(now.Add(2*time.Millisecond), "e0", gossip("q", 6, 5))
		p.Drain()
		return p, now
	}
	t.Run("until it catches up", func(t *testing.T) {
		p, graftAt := swap(t)
		at := graftAt.Add(time.Second) // past the least overlap (500 ms)
		p.Tick(at)
		if out := p.Drain(); len(msgs(out, core.MsgPrune)) != 0 {
			t.Fatalf("cut before the old link caught up on q: %+v", out.Messages)
		}
		if d := p.NextDeadline(); !d.After(at) {
			t.Fatalf("next deadline %v, want a later one (the overlap's bound)", d.Sub(graftAt))
		}
		p.Receive(at.Add(time.Millisecond), "e0", gossip("q", 7, 5)) // caught up
		p.Drain()
		if d := p.NextDeadline(); d.After(at.Add(time.Millisecond)) {
			t.Fatalf("next deadline %v after the Graft, want now (the old link caught up)", d.Sub(graftAt))
		}
		p.Tick(at.Add(time.Millisecond))
		if pr := msgs(p.Drain(), core.MsgPrune); len(pr) != 1 || pr[0].To != "e0" {
			t.Fatalf("want a Prune to e0 once it caught up, got %+v", pr)
		}
	})
	t.Run("up to four graft timeouts", func(t *testing.T) {
		p, graftAt := swap(t)
		_, cut := tickUntilPrune(t, p, graftAt)
		if d := cut.Sub(graftAt); d != 2*time.Second {
			t.Errorf("old link cut %v after the Graft, want 2s (4 graft timeouts)", d)
		}
	})
}

// Samples are dropped when the eager set changes: the sides of the tree they
// compare are gone (kept, they made a node swap for a peer on its own side
// by then, and the tree split).
func TestShortcutSamplesRestartWhenLinksChange(t *testing.T) {
	const k = 16
	p := fixture(t, func(c *core.Config) { c.ShortcutSamples = k })
	_, now := feedShortcut(p, t0, 100*time.Millisecond, 1, k-1, 4, 1)
	p.Receive(now.Add(time.Millisecond), "e1", core.Message{Type: core.MsgDisconnect}) // e1 leaves the eager set
	p.Drain()
	out, now := feedShortcut(p, now.Add(time.Second), 100*time.Millisecond, k, 1, 4, 1)
	if g := msgs(out, core.MsgGraft); len(g) != 0 {
		t.Fatalf("swapped on samples taken before the eager set changed: %+v", g)
	}
	out, _ = feedShortcut(p, now, 100*time.Millisecond, k+1, k-1, 4, 1)
	if g := msgs(out, core.MsgGraft); len(g) != 1 || g[0].To != "l0" {
		t.Fatalf("want a swap after %d fresh samples, got %+v", k, out.Messages)
	}
}
