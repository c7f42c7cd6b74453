package core_test

import (
	"slices"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
)

// repairedCopies is treeCopies with every copy marked Repaired: pushed on by
// an eager peer that pulled it, or got it from one that did.
func repairedCopies(p *core.Protocol, origin core.PeerID, from uint64, n int, start time.Time, age time.Duration, every time.Duration) time.Time {
	at := start
	for k := 0; k < n; k++ {
		at = start.Add(time.Duration(k) * every)
		m := gossip(origin, from+uint64(k), 2)
		m.OriginTime = at.Add(-age)
		m.Repaired = true
		p.Receive(at, "e0", m)
	}
	p.Drain()
	return at
}

// A copy marked Repaired left the tree before it reached us: its delay is a
// pull's or a repair's, not the tree's. Pulls are not held back by such
// copies, neither as the tree's lag nor as the tree being busy with the
// origin. The regression: in a group of nodes the tree had lost, fed by one
// member's pulls, every member took the copies pushed on to it as the
// tree's, so each held its own pulls back behind them (the lag grew with
// every pull made late by the one before; tools/largebench with 16 nodes:
// idle small messages took 5 s to the last node in 2 runs of 10).
func TestPullsNotHeldByRepairedCopies(t *testing.T) {
	const G = 500 * time.Millisecond
	t.Run("lag", func(t *testing.T) {
		for _, marked := range []bool{false, true} {
			p := fixture(t, func(c *core.Config) { c.MaintenanceInterval = time.Hour })
			last := treeCopies(p, "x", 1, 3, t0.Add(time.Second), ms(10))
			last = treeCopies(p, "y", 1, 3, last.Add(time.Second), ms(10))
			// y's copies come 900 ms late: queued in the tree (the
			// control), or pushed on after pulls.
			if marked {
				last = repairedCopies(p, "y", 4, 9, last.Add(time.Second), ms(910), time.Second)
			} else {
				last = treeCopies(p, "y", 4, 9, last.Add(time.Second), ms(910))
			}
			at := last.Add(ms(1))
			p.Receive(at, "l0", announce("x", 10, at.Add(-ms(20))))
			p.Drain()
			p.Tick(at.Add(G))
			g := msgs(p.Drain(), core.MsgGraft)
			if marked && (len(g) != 1 || g[0].To != "l0") {
				t.Errorf("after repaired copies: grafts %+v one graft timeout after the announcement, want one to l0", g)
			}
			if !marked && len(g) != 0 {
				t.Errorf("control: pulled %v while the tree's own copies run 900 ms late", g)
			}
		}
	})
	t.Run("under load", func(t *testing.T) {
		// While the node is overloaded, queues delay every copy, marked
		// ones too: they count as the tree's lag as before.
		p := fixture(t, func(c *core.Config) { c.MaintenanceInterval = time.Hour })
		last := treeCopies(p, "x", 1, 3, t0.Add(time.Second), ms(10))
		last = treeCopies(p, "y", 1, 3, last.Add(time.Second), ms(10))
		p.SetOverloaded(last, true)
		last = repairedCopies(p, "y", 4, 9, last.Add(time.Second), ms(910), time.Second)
		p.SetOverloaded(last, false)
		at := last.Add(ms(1))
		p.Receive(at, "l0", announce("x", 10, at.Add(-ms(20))))
		p.Drain()
		p.Tick(at.Add(G))
		if g := msgs(p.Drain(), core.MsgGraft); len(g) != 0 {
			t.Errorf("pulled %v although the copies marked under load ran 900 ms late", g)
		}
	})
	t.Run("busy", func(t *testing.T) {
		for _, marked := range []bool{false, true} {
			p := fixture(t, func(c *core.Config) { c.MaintenanceInterval = time.Hour })
			last := treeCopies(p, "x", 1, 5, t0.Add(time.Second), ms(10))
			at := last.Add(time.Second)
			p.Receive(at, "l0", announce("x", 20, at.Add(-ms(20))))
			p.Drain()
			// Then x's copies 6..9 come every 100 ms, in order: the tree
			// at work (the control: x/20 is likely on its way too), or
			// pushed on after pulls.
			for k := uint64(0); k < 4; k++ {
				m := gossip("x", 6+k, 2)
				m.OriginTime = at.Add(time.Duration(k) * ms(100))
				m.Repaired = marked
				p.Receive(m.OriginTime.Add(ms(10)), "e0", m)
			}
			p.Drain()
			p.Tick(at.Add(G))
			g := msgs(p.Drain(), core.MsgGraft)
			want := []core.MessageID{{Origin: "x", Seq: 20}}
			if marked && (len(g) != 1 || !slices.Equal(g[0].Msg.IDs, want)) {
				t.Errorf("after repaired copies: grafts %+v one graft timeout after the announcement, want x/20 pulled", g)
			}
			if !marked && len(g) != 0 {
				t.Errorf("control: pulled %v while the tree delivers x in order", g)
			}
		}
	})
}

// The mark travels: a copy we pulled, or one that came marked, is pushed on
// marked, and so is the answer to a Graft (of a message that came by
// Repair too); the tree's own copies and our broadcasts are not. (A Repair
// itself is announced, not pushed on: TestRepairIsAnnouncedNotPushed.)
func TestRepairedMarkIsPushedOn(t *testing.T) {
	p := fixture(t, func(c *core.Config) { c.MaintenanceInterval = time.Hour })
	at := t0.Add(time.Second)
	marks := func(o core.Output) (marked, plain int) {
		for _, m := range msgs(o, core.MsgGossip) {
			if m.Msg.Repaired {
				marked++
			} else {
				plain++
			}
		}
		return marked, plain
	}
	if _, err := p.Broadcast(at, []byte("own"), nil); err != nil {
		t.Fatal(err)
	}
	if m, n := marks(p.Drain()); m != 0 || n != 3 {
		t.Errorf("broadcast: %d marked, %d plain copies, want 0 and 3", m, n)
	}
	p.Receive(at, "e0", gossip("x", 1, 2))
	if m, n := marks(p.Drain()); m != 0 || n != 2 {
		t.Errorf("tree copy: %d marked, %d plain copies pushed on, want 0 and 2", m, n)
	}
	rc := gossip("x", 2, 2)
	rc.Repaired = true
	p.Receive(at, "e0", rc)
	if m, n := marks(p.Drain()); m != 2 || n != 0 {
		t.Errorf("repaired copy: %d marked, %d plain copies pushed on, want 2 and 0", m, n)
	}
	// Pulled: announced by l0, grafted, answered by l0.
	p.Receive(at, "l0", ihave(ann("x", 3, 1)))
	at = at.Add(time.Minute)
	p.Tick(at)
	if g := msgs(p.Drain(), core.MsgGraft); len(g) != 1 {
		t.Fatalf("grafts %+v, want the pull of x/3", g)
	}
	p.Receive(at, "l0", gossip("x", 3, 2))
	if m, n := marks(p.Drain()); m == 0 || n != 0 {
		t.Errorf("pulled copy: %d marked, %d plain copies pushed on, want only marked ones", m, n)
	}
	// Anti-entropy repair.
	rp := gossip("x", 4, 2)
	rp.Type = core.MsgRepair
	rp.OriginTime = at
	p.Receive(at, "e1", rp)
	p.Drain()
	// The answer to a Graft.
	p.Receive(at, "l1", core.Message{Type: core.MsgGraft, IDs: []core.MessageID{{Origin: "x", Seq: 4}}})
	g := msgs(p.Drain(), core.MsgGossip)
	if len(g) != 1 || g[0].To != "l1" || !g[0].Msg.Repaired {
		t.Errorf("graft answer %+v, want one marked copy to l1", g)
	}
}

// A copy marked Repaired is no delay the graft timeout must cover: no
// IHaveLag sample for the tuner (counted, such copies raised the tuned
// timeouts of a group fed by one member's pulls to their bound). Late, it
// still counts towards being cut off like any late copy: three in a row
// and the node links an announcer.
func TestRepairedCopiesGiveNoTunerSample(t *testing.T) {
	for _, marked := range []bool{false, true} {
		p := fixture(t, func(c *core.Config) { c.MaintenanceInterval, c.MaintenanceJitter = time.Hour, 0 })
		gt := p.Config().GraftTimeout
		lz := onlyE0Eager(p)
		at := t0.Add(ms(10))
		var links []core.PeerID
		lags := 0
		for seq := uint64(1); seq <= 3; seq++ {
			p.Receive(at, lz[0], ihave(ann("x", seq, 1)))
			m := gossip("x", seq, 5)
			m.OriginTime = at
			m.Repaired = marked
			p.Receive(at.Add(gt+ms(20)), "e0", m)
			o := p.Drain()
			links = append(links, linkGrafts(o)...)
			lags += len(events(o, core.EventIHaveLag))
			at = at.Add(time.Second)
		}
		if len(links) != 1 || links[0] != lz[0] {
			t.Errorf("marked %v: link grafts %v after three late copies, want [%s]", marked, links, lz[0])
		}
		if want := map[bool]int{false: 3, true: 0}[marked]; lags != want {
			t.Errorf("marked %v: %d IHaveLag samples, want %d", marked, lags, want)
		}
	}
}

// A duplicate marked Repaired that comes long after our first copy (more
// than lateDuplicate graft timeouts) prunes nothing while the node is
// quiet: a node upstream got the message long after the tree was done with
// it (by anti-entropy repair) and pushed it on, which says nothing about the
// tree's links. One that comes soon after counts as before: after a massive
// failure, the copies pushed on by the pulls that relink the survivors run
// along the cycles the new links make. Under load every duplicate counts
// (TestRepairedDuplicatesPruneWhenBusy). The regression (tools/bench,
// N = 32, one run of 44): at the end of the warm-up a node got a message
// it had missed by repair 6 s later and pushed it on; its child in the
// tree, which had the message, took the copy as the threshold-th duplicate
// and pruned it, its only path to the rest of the tree. The child's subtree
// pulled the next broadcasts, the first 600 ms late.
func TestLateRepairedDuplicatesPruneNothingWhenQuiet(t *testing.T) {
	for _, th := range []int{1, 3} {
		var gt time.Duration
		p := fixture(t, func(c *core.Config) {
			c.OptimizationThreshold, c.PruneDelay = th, 0
			gt = c.GraftTimeout
		})
		at := t0.Add(time.Second)
		seq := uint64(0)
		copies := func(late time.Duration, marked bool) []core.Outbound {
			t.Helper()
			var prunes []core.Outbound
			for range th {
				seq++
				p.Receive(at, "e0", gossip("x", seq, 1)) // the tree's copy
				dup := gossip("x", seq, 3)
				dup.Repaired = marked
				p.Receive(at.Add(late), "e1", dup) // pushed on by e1
				prunes = append(prunes, msgs(p.Drain(), core.MsgPrune)...)
				at = at.Add(late + time.Second)
			}
			return prunes
		}
		if pr := copies(5*gt, true); len(pr) != 0 || !contains(p.EagerPeers(), "e1") {
			t.Fatalf("threshold %d: prunes %+v, eager %v: late repaired copies pruned a link", th, pr, p.EagerPeers())
		}
		if s := p.Stats(); s.MessagesDuplicate != uint64(th) {
			t.Fatalf("threshold %d: %d duplicates counted, want %d", th, s.MessagesDuplicate, th)
		}
		// Soon after the first copy, marked copies count.
		if pr := copies(gt, true); len(pr) != 1 || pr[0].To != "e1" {
			t.Fatalf("threshold %d: prunes %+v after repaired copies one graft timeout late, want e1's", th, pr)
		}
	}
}

// Busy (above 100 deliveries a second), a duplicate marked Repaired counts
// towards a prune like any other (see TestLateRepairedDuplicatesPruneNothingWhenQuiet).
func TestRepairedDuplicatesPruneWhenBusy(t *testing.T) {
	p := fixture(t, func(c *core.Config) { c.OptimizationThreshold, c.PruneDelay = 3, 0 })
	at := t0.Add(time.Second)
	seq := uint64(0)
	for range 150 { // 150 deliveries within 150 ms: busy
		seq++
		p.Receive(at, "e0", gossip("x", seq, 1))
		at = at.Add(time.Millisecond)
	}
	p.Drain()
	for k := uint64(1); k <= 3; k++ {
		dup := gossip("x", k, 3)
		dup.Repaired = true
		p.Receive(at, "e1", dup)
	}
	if pr := msgs(p.Drain(), core.MsgPrune); len(pr) != 1 || pr[0].To != "e1" {
		t.Fatalf("prunes %+v, want e1's after three duplicates while busy", pr)
	}
}

// A first copy that came by Repair is announced to every peer, the eager
// ones included, and pushed to none: after a healed cut every node of a
// side asks for the same messages itself, so pushed copies met the
// children's own Repairs (coretest, TestHealedPartitionRepairCost).
func TestRepairIsAnnouncedNotPushed(t *testing.T) {
	p := fixture(t, func(c *core.Config) { c.MaintenanceInterval = time.Hour })
	at := t0.Add(time.Hour)
	p.Tick(at)
	p.Drain()
	rp := gossip("x", 1, 2)
	rp.Type, rp.OriginTime, rp.Repaired = core.MsgRepair, at.Add(-time.Minute), true
	p.Receive(at, "e1", rp)
	out := p.Drain()
	if len(out.Deliveries) != 1 {
		t.Fatalf("%d deliveries, want 1", len(out.Deliveries))
	}
	if g := msgs(out, core.MsgGossip); len(g) != 0 {
		t.Fatalf("repair pushed on as %+v", g)
	}
	// Within a quarter of the IHave interval (the tree would have pushed
	// the copy at once).
	at = at.Add(p.Tuning().IHaveInterval / 4)
	p.Tick(at)
	got := map[core.PeerID]bool{}
	for _, m := range msgs(p.Drain(), core.MsgIHave) {
		for _, a := range m.Msg.IHaves {
			if a.ID == rp.ID {
				got[m.To] = true
			}
		}
	}
	for _, id := range append(p.EagerPeers(), p.LazyPeers()...) {
		if got[id] != (id != "e1") {
			t.Errorf("announced to %s: %v, want %v (every peer but the repairer)", id, got[id], id != "e1")
		}
	}
}

// An eager peer's announcement of a message older than AntiEntropyMinAge
// is an offer (a copy it got by Repair): no tree copy is coming, so the
// message is pulled from it at once, even with the pull budget spent. A
// young message announced by an eager peer waits for the tree as any
// announcement does.
func TestOfferIsPulledAtOnce(t *testing.T) {
	p := fixture(t, func(c *core.Config) { c.MaintenanceInterval, c.MaxGraftsPerInterval = time.Hour, 1 })
	at := t0.Add(time.Hour)
	p.Tick(at)
	p.Drain()
	old := at.Add(-p.Config().AntiEntropyMinAge)
	// Spend the pull budget: a lazy peer's announcement, pulled.
	p.Receive(at, "l0", announce("y", 1, at))
	at = at.Add(p.Tuning().GraftTimeout)
	p.Tick(at)
	if g := msgs(p.Drain(), core.MsgGraft); len(g) != 1 {
		t.Fatalf("grafts %+v, want the pull of y/1", g)
	}
	p.Receive(at, "e0", ihave(core.Announcement{ID: core.MessageID{Origin: "x", Seq: 1}, Hops: 2, OriginTime: old},
		core.Announcement{ID: core.MessageID{Origin: "x", Seq: 2}, Hops: 2, OriginTime: at}))
	p.Tick(at)
	var pulled []core.MessageID
	for _, g := range msgs(p.Drain(), core.MsgGraft) {
		if g.To != "e0" {
			t.Errorf("graft to %s, want e0", g.To)
		}
		pulled = append(pulled, g.Msg.IDs...)
	}
	if len(pulled) != 1 || pulled[0] != (core.MessageID{Origin: "x", Seq: 1}) {
		t.Errorf("pulled %v at once, want only the old message x/1", pulled)
	}
}
