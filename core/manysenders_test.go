package core_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
)

// A node with one eager peer is a leaf of the eager graph: duplicates from
// that peer are transient, and pruning it would cut the node off the tree.
func TestLastEagerPeerNeverPrunedForDuplicates(t *testing.T) {
	p := fixture(t, func(c *core.Config) { c.OptimizationThreshold, c.PruneDelay = 1, 0 })
	p.Receive(t0, "e1", core.Message{Type: core.MsgPrune})
	p.Receive(t0, "e2", core.Message{Type: core.MsgPrune})
	p.Drain()
	if got := p.EagerPeers(); len(got) != 1 || got[0] != "e0" {
		t.Fatalf("eager %v", got)
	}
	for s := uint64(1); s <= 5; s++ {
		p.Receive(t0, "l0", core.Message{Type: core.MsgGraft}) // l0 eager: it may deliver first
		p.Receive(t0, "l0", gossip("x", s, 1))
		p.Receive(t0, "l0", core.Message{Type: core.MsgPrune}) // back to e0 only
		p.Receive(t0, "e0", gossip("x", s, 2))                 // duplicate from the last eager peer
	}
	out := p.Drain()
	if got := p.EagerPeers(); len(got) != 1 || got[0] != "e0" {
		t.Fatalf("eager %v: the last eager peer was pruned", got)
	}
	for _, m := range msgs(out, core.MsgPrune) {
		if m.To == "e0" {
			t.Fatalf("Prune sent to the last eager peer")
		}
	}
	// With two eager peers the duplicate sender is pruned as usual.
	// (Lazy links beyond lazy_fanout were disconnected when e1 and e2
	// became lazy: take one that is still linked.)
	l1 := p.LazyPeers()[0]
	p.Receive(t0, l1, core.Message{Type: core.MsgGraft})
	p.Receive(t0, l1, gossip("x", 9, 1))
	p.Receive(t0, "e0", gossip("x", 9, 2))
	if contains(p.EagerPeers(), "e0") || !contains(p.EagerPeers(), l1) {
		t.Fatalf("eager %v", p.EagerPeers())
	}
}

// A node whose last eager peer prunes it relinks at once (not at the next
// maintenance round) to the peer that most recently pushed it a Gossip,
// other than the pruner; at most once per GraftTimeout, so that refusals
// cannot loop.
func TestPruneOfLastEagerPeerRelinksAtOnce(t *testing.T) {
	p := fixture(t, func(c *core.Config) { c.MaintenanceInterval, c.MaintenanceJitter = time.Hour, 0 })
	p.Receive(t0, "l3", gossip("x", 1, 3)) // l3 eager now (first copy)
	p.Receive(t0, "l3", core.Message{Type: core.MsgPrune})
	p.Receive(t0, "l4", gossip("x", 2, 3)) // first copy from l4: eager
	p.Receive(t0, "l4", core.Message{Type: core.MsgPrune})
	p.Receive(t0, "e0", gossip("x", 3, 1))
	p.Receive(t0, "e1", core.Message{Type: core.MsgPrune})
	p.Receive(t0, "e2", core.Message{Type: core.MsgPrune})
	p.Drain()
	// e0 is the last eager peer; l4 pushed to us after l3.
	p.Receive(t0.Add(ms(1)), "e0", core.Message{Type: core.MsgPrune})
	out := p.Drain()
	if got := p.EagerPeers(); len(got) != 1 || got[0] != "l4" {
		t.Fatalf("eager %v, want [l4] (the most recent pusher other than the pruner)", got)
	}
	if g := msgs(out, core.MsgGraft); len(g) != 1 || g[0].To != "l4" || len(g[0].Msg.IDs) != 0 {
		t.Fatalf("link graft %+v", g)
	}
	// Refused at once: no second relink before GraftTimeout ...
	p.Receive(t0.Add(ms(2)), "l4", core.Message{Type: core.MsgPrune})
	if len(p.EagerPeers()) != 0 || len(msgs(p.Drain(), core.MsgGraft)) != 0 {
		t.Fatalf("relinked twice within GraftTimeout: %v", p.EagerPeers())
	}
	// ... after it, the next loss relinks again; maintenance also repairs.
	p.Tick(t0.Add(time.Hour + time.Second))
	if len(p.EagerPeers()) != 1 {
		t.Fatalf("maintenance left the node without eager peers")
	}
}

// PruneDelay: a peer that reached the threshold is pruned only at a
// duplicate that arrives at least a random delay (< PruneDelay) after the
// (threshold-1)-th, so that nodes on one cycle do not prune two of its
// edges at once.
func TestPruneDelaySpreadsPrunes(t *testing.T) {
	const d = 100 * time.Millisecond
	p := fixture(t, func(c *core.Config) { c.OptimizationThreshold, c.PruneDelay = 2, d })
	for s := uint64(1); s <= 3; s++ { // three duplicates within a millisecond
		at := t0.Add(time.Duration(s) * time.Microsecond)
		p.Receive(at, "e0", gossip("x", s, 1))
		p.Receive(at, "e1", gossip("x", s, 2))
	}
	if !contains(p.EagerPeers(), "e1") {
		t.Fatal("pruned before the delay")
	}
	p.Receive(t0.Add(d), "e0", gossip("x", 4, 1))
	p.Receive(t0.Add(d), "e1", gossip("x", 4, 2))
	if contains(p.EagerPeers(), "e1") {
		t.Fatal("not pruned at the first duplicate after the delay")
	}
	if e := events(p.Drain(), core.EventPeerDemoted); len(e) != 1 || e[0].Peer != "e1" || e[0].Reason != core.ReasonOptimization {
		t.Fatalf("demotions %+v", e)
	}
}

// Duplicate counts are evidence that a link is redundant given the others;
// when the node loses an eager link it did not choose to lose, they restart.
func TestDuplicateCountsRestartWhenAnEagerLinkIsLost(t *testing.T) {
	p := fixture(t, func(c *core.Config) { c.OptimizationThreshold, c.PruneDelay = 2, 0 })
	p.Receive(t0, "e0", gossip("x", 1, 1))
	p.Receive(t0, "e1", gossip("x", 1, 2)) // e1: 1 duplicate
	p.Receive(t0, "e2", core.Message{Type: core.MsgPrune})
	p.Receive(t0, "e0", gossip("x", 2, 1))
	p.Receive(t0, "e1", gossip("x", 2, 2)) // 1 again, not 2
	if !contains(p.EagerPeers(), "e1") {
		t.Fatal("pruned on counts from before the lost link")
	}
	p.Receive(t0, "e0", gossip("x", 3, 1))
	p.Receive(t0, "e1", gossip("x", 3, 2))
	if contains(p.EagerPeers(), "e1") {
		t.Fatal("not pruned at the threshold")
	}
}

// When the peer an outstanding Graft went to is removed, the Graft rotates
// to the next announcer at once instead of waiting out the backoff.
func TestGraftRotatesWhenTargetRemoved(t *testing.T) {
	p := fixture(t, func(c *core.Config) { c.MaintenanceInterval, c.MaintenanceJitter = time.Hour, 0 })
	p.Receive(t0, "l0", ihave(ann("x", 1, 1)))
	p.Receive(t0, "l1", ihave(ann("x", 1, 1)))
	p.Tick(t0.Add(ms(500)))
	if g := msgs(p.Drain(), core.MsgGraft); len(g) != 1 || g[0].To != "l0" {
		t.Fatalf("first graft %+v", g)
	}
	p.RemovePeer(t0.Add(ms(600)), "l0")
	if got := p.NextDeadline(); !got.Equal(t0.Add(ms(600))) {
		t.Fatalf("next deadline %v, want now", got.Sub(t0))
	}
	p.Tick(t0.Add(ms(600)))
	out := p.Drain()
	if g := msgs(out, core.MsgGraft); len(g) != 1 || g[0].To != "l1" || len(g[0].Msg.IDs) != 1 {
		t.Fatalf("rotated graft %+v", g)
	}
	// Removing a peer that is only a remembered announcer changes nothing.
	p.Receive(t0.Add(ms(700)), "l2", ihave(ann("x", 1, 1)))
	d := p.NextDeadline()
	p.RemovePeer(t0.Add(ms(700)), "l2")
	if !p.NextDeadline().Equal(d) {
		t.Fatal("deadline moved for a non-target announcer")
	}
}

// A pull that turns into a link re-attaches a group of nodes that got an
// origin's messages only through pulls. Until the pulls in flight are
// answered, the tree's copies over the new link duplicate the pulled ones
// the group pushes on: those duplicates must not prune the new link, on
// either end, for one graft timeout plus PruneDelay (the 50-node
// many-senders test at 400 msg/s stayed split in three groups when they
// did). After that, duplicates count as usual.
func TestLinkFromPullSurvivesTheAnswersInFlight(t *testing.T) {
	const prune = 300 * time.Millisecond
	p := fixture(t, func(c *core.Config) {
		c.OptimizationThreshold, c.PruneDelay = 1, prune
		c.MaintenanceInterval, c.MaintenanceJitter = time.Hour, 0
	})
	gt := p.Config().GraftTimeout
	lz := onlyE0Eager(p)
	l0, l1 := lz[0], lz[1]
	p.Receive(t0, l0, ihave(ann("x", 1, 1)))
	p.Drain()
	p.Tick(t0.Add(gt))
	if g := msgs(p.Drain(), core.MsgGraft); len(g) != 1 || g[0].To != l0 || len(g[0].Msg.IDs) != 1 {
		t.Fatalf("pull %+v", g)
	}
	at := t0.Add(gt + ms(10))
	p.Receive(at, l0, gossip("x", 1, 2)) // the answer: the pull becomes a link
	if g := msgs(p.Drain(), core.MsgGraft); len(g) != 1 || g[0].To != l0 || len(g[0].Msg.IDs) != 0 || !contains(p.EagerPeers(), l0) {
		t.Fatalf("no link graft to l0 (%+v), eager %v", g, p.EagerPeers())
	}
	// The other end: a link Graft received gets the same grace.
	p.Receive(at, l1, core.Message{Type: core.MsgGraft})
	if !contains(p.EagerPeers(), l1) {
		t.Fatalf("l1 not eager: %v", p.EagerPeers())
	}
	// Duplicates within the grace: the links stay.
	for s := uint64(2); s <= 6; s++ {
		at = at.Add(ms(50))
		p.Receive(at, "e0", gossip("y", s, 1))
		p.Receive(at, l0, gossip("y", s, 3))
		p.Receive(at, l1, gossip("y", s, 3))
	}
	if !contains(p.EagerPeers(), l0) || !contains(p.EagerPeers(), l1) || len(msgs(p.Drain(), core.MsgPrune)) != 0 {
		t.Fatalf("a new link was pruned within the grace: eager %v", p.EagerPeers())
	}
	// After it, redundancy prunes as before.
	at = t0.Add(gt + ms(10) + gt + prune)
	for s := uint64(7); s <= 9; s++ {
		at = at.Add(prune)
		p.Receive(at, "e0", gossip("y", s, 1))
		p.Receive(at, l0, gossip("y", s, 3))
		p.Receive(at, l1, gossip("y", s, 3))
	}
	if contains(p.EagerPeers(), l0) && contains(p.EagerPeers(), l1) {
		t.Fatalf("duplicates after the grace pruned nothing: eager %v", p.EagerPeers())
	}
}

// A pull turns into a link at most once per graft timeout per node: fast
// enough to re-attach the groups a 400 msg/s many-senders run splits off
// within its load (once per maintenance interval left 13 of 20 seeded
// 50-node runs split or pulling), never a link per late copy.
func TestPullBecomesALinkAtMostOncePerGraftTimeout(t *testing.T) {
	p := fixture(t, func(c *core.Config) { c.MaintenanceInterval, c.MaintenanceJitter = time.Hour, 0 })
	gt := p.Config().GraftTimeout
	lz := onlyE0Eager(p)
	p.Receive(t0, lz[0], ihave(ann("x", 1, 1)))
	p.Receive(t0, lz[1], ihave(ann("x", 2, 1)))
	p.Drain()
	p.Tick(t0.Add(gt))
	if g := msgs(p.Drain(), core.MsgGraft); len(g) != 2 {
		t.Fatalf("pulls %+v", g)
	}
	p.Receive(t0.Add(gt+ms(1)), lz[0], gossip("x", 1, 2))
	p.Receive(t0.Add(gt+ms(2)), lz[1], gossip("x", 2, 2))
	if got := linkGrafts(p.Drain()); len(got) != 1 || got[0] != lz[0] {
		t.Fatalf("link grafts %v, want [%s] only", got, lz[0])
	}
	p.Receive(t0.Add(gt+ms(2)), lz[2], ihave(ann("x", 3, 1)))
	p.Tick(t0.Add(2*gt + ms(2)))
	p.Drain()
	p.Receive(t0.Add(2*gt+ms(3)), lz[2], gossip("x", 3, 2))
	if got := linkGrafts(p.Drain()); len(got) != 1 || got[0] != lz[2] {
		t.Fatalf("link grafts %v one graft timeout later, want [%s]", got, lz[2])
	}
}

// A peer whose eager set is full answers pulls but refuses a link Graft
// with a Prune. The next pull it answers must link another announcer, not
// it again: a group of nodes cut off from the tree kept pulling every
// message (hundreds of milliseconds each) because its first announcer,
// next to the origin and at its cap, refused each link.
func TestPullLinksAnotherAnnouncerWhenOneRefused(t *testing.T) {
	p := fixture(t, func(c *core.Config) { c.MaintenanceInterval, c.MaintenanceJitter = time.Hour, 0 })
	gt := p.Config().GraftTimeout
	lz := onlyE0Eager(p)
	refuser, other := lz[0], lz[1]
	// pull announces seq from the given peers in turn, lets the graft
	// timeout pass, checks the pull went to the first, and answers it.
	pull := func(at time.Time, seq uint64, from ...core.PeerID) core.Output {
		t.Helper()
		for i, f := range from {
			p.Receive(at.Add(ms(i)), f, ihave(ann("x", seq, 1)))
		}
		p.Drain()
		p.Tick(at.Add(gt + ms(len(from))))
		if g := msgs(p.Drain(), core.MsgGraft); len(g) != 1 || g[0].To != from[0] {
			t.Fatalf("pull of %d: %+v, want one to %s", seq, g, from[0])
		}
		p.Receive(at.Add(gt+ms(10)), from[0], gossip("x", seq, 2))
		return p.Drain()
	}
	at := t0
	if got := linkGrafts(pull(at, 1, refuser, other)); len(got) != 1 || got[0] != refuser {
		t.Fatalf("link grafts %v after the first pull, want [%s]", got, refuser)
	}
	p.Receive(at.Add(gt+ms(12)), refuser, core.Message{Type: core.MsgPrune}) // full: refused
	if contains(p.EagerPeers(), refuser) {
		t.Fatalf("%s still eager after refusing", refuser)
	}
	at = at.Add(3 * gt)
	if got := linkGrafts(pull(at, 2, refuser, other)); len(got) != 1 || got[0] != other {
		t.Fatalf("link grafts %v after a pull the refusing peer answered, want [%s]", got, other)
	}
	if !contains(p.EagerPeers(), other) || contains(p.EagerPeers(), refuser) {
		t.Fatalf("eager %v, want %s and not %s", p.EagerPeers(), other, refuser)
	}
	// When the refusing peer is the only announcer, no link is asked of it.
	p.Receive(at.Add(gt+ms(20)), other, core.Message{Type: core.MsgPrune})
	at = at.Add(3 * gt)
	if got := linkGrafts(pull(at, 3, refuser)); len(got) != 0 {
		t.Fatalf("link grafts %v to a peer that refused %v ago", got, at.Sub(t0))
	}
}

// A node whose eager set is full can still be cut off from the tree: its
// eager links all lead to its own group, which it feeds. Once it has pulled
// cutOffPulls first copies in a row with no pushed copy between, it drops
// the eager peer that pushed least recently for the announcer that answered
// — a group behind such a node pulled every message for as long as the
// traffic lasted. While the tree still pushes copies between its pulls
// (a lost copy now and then), a full eager set is left alone.
func TestCutOffNodeAtItsCapRelinks(t *testing.T) {
	p := fixture(t, func(c *core.Config) {
		c.MaxEagerPeers = 3
		c.MaintenanceInterval, c.MaintenanceJitter = time.Hour, 0
	})
	gt := p.Config().GraftTimeout
	if len(p.EagerPeers()) != 3 {
		t.Fatalf("eager %v, want 3 (the cap)", p.EagerPeers())
	}
	// e0 and e2 push a message each; e1 pushed nothing: it goes first.
	p.Receive(t0, "e0", gossip("y", 1, 1))
	p.Receive(t0, "e2", gossip("z", 1, 1))
	p.Drain()
	lz := p.LazyPeers()
	pulls := 0
	pull := func(at time.Time, seq uint64) core.Output {
		t.Helper()
		pulls++
		p.Receive(at, lz[0], ihave(ann("x", seq, 1)))
		p.Receive(at.Add(ms(1)), lz[1], ihave(ann("x", seq, 1)))
		p.Drain()
		p.Tick(at.Add(gt + ms(1)))
		if g := msgs(p.Drain(), core.MsgGraft); len(g) != 1 || g[0].To != lz[0] {
			t.Fatalf("pull %d: %+v, want one to %s", pulls, g, lz[0])
		}
		p.Receive(at.Add(gt+ms(5)), lz[0], gossip("x", seq, 2))
		return p.Drain()
	}
	at := t0.Add(ms(10))
	// Two pulls, a pushed copy, two pulls: never three in a row.
	for _, seq := range []uint64{1, 2} {
		if o := pull(at, seq); len(msgs(o, core.MsgPrune)) != 0 {
			t.Fatalf("pull %d pruned an eager link: %+v", seq, msgs(o, core.MsgPrune))
		}
		at = at.Add(2 * gt)
	}
	p.Receive(at, "e0", gossip("y", 2, 1))
	for _, seq := range []uint64{3, 4} {
		if o := pull(at, seq); len(msgs(o, core.MsgPrune)) != 0 {
			t.Fatalf("pull %d (after a pushed copy) pruned an eager link", seq)
		}
		at = at.Add(2 * gt)
	}
	// The third in a row: e1 makes room for lz[0].
	o := pull(at, 5)
	pr := msgs(o, core.MsgPrune)
	var link []core.PeerID
	for _, g := range msgs(o, core.MsgGraft) {
		if len(g.Msg.IDs) == 0 {
			link = append(link, g.To)
		}
	}
	if len(pr) != 1 || pr[0].To != "e1" || len(link) != 1 || link[0] != lz[0] {
		t.Fatalf("prunes %v, link grafts %v; want a Prune to e1 and a link Graft to %s", targets(pr), link, lz[0])
	}
	if e := p.EagerPeers(); len(e) != 3 || !contains(e, lz[0]) || contains(e, "e1") {
		t.Fatalf("eager %v, want 3 with %s and without e1", e, lz[0])
	}
}

// A node whose eager peers bring it only copies that someone pulled — they
// come more than the configured graft timeout after a lazy peer announced
// them, yet within its own (tuned, longer) graft timeout, so it never pulls
// itself — is cut off as much as one that pulls: after cutOffPulls such
// copies in a row it links an announcer. A group of nodes stayed off the
// tree that way, its only puller refused by every peer it asked.
func TestLateCopiesLinkAnAnnouncer(t *testing.T) {
	p := fixture(t, func(c *core.Config) { c.MaintenanceInterval, c.MaintenanceJitter = time.Hour, 0 })
	gt := p.Config().GraftTimeout
	tun := p.Tuning()
	tun.GraftTimeout = 3 * gt
	if _, err := p.SetTuning(t0, tun); err != nil {
		t.Fatal(err)
	}
	lz := onlyE0Eager(p)
	// copy announces seq by lz[0] at, and e0 pushes it after lag.
	copyAfter := func(at time.Time, seq uint64, lag time.Duration) core.Output {
		t.Helper()
		p.Receive(at, lz[0], ihave(ann("x", seq, 1)))
		p.Receive(at.Add(lag), "e0", gossip("x", seq, 5))
		o := p.Drain()
		if g := msgs(o, core.MsgGraft); len(g) != len(linkGrafts(o)) {
			t.Fatalf("copy %d: a pull went out: %+v", seq, g)
		}
		return o
	}
	at := t0.Add(ms(10))
	late := gt + ms(20)
	for _, seq := range []uint64{1, 2} {
		if got := linkGrafts(copyAfter(at, seq, late)); len(got) != 0 {
			t.Fatalf("link grafts %v after %d late copies", got, seq)
		}
		at = at.Add(time.Second)
	}
	// A timely copy between: the count starts again.
	p.Receive(at, "e0", gossip("x", 3, 5))
	p.Drain()
	at = at.Add(time.Second)
	for _, seq := range []uint64{4, 5} {
		if got := linkGrafts(copyAfter(at, seq, late)); len(got) != 0 {
			t.Fatalf("link grafts %v after a timely copy and %d late ones", got, seq-3)
		}
		at = at.Add(time.Second)
	}
	if got := linkGrafts(copyAfter(at, 6, late)); len(got) != 1 || got[0] != lz[0] {
		t.Fatalf("link grafts %v after three late copies in a row, want [%s]", got, lz[0])
	}
	if !contains(p.EagerPeers(), lz[0]) {
		t.Fatalf("eager %v, want %s in it", p.EagerPeers(), lz[0])
	}
}

// onlyE0Eager leaves the fixture's node with e0 as its only eager peer (e1
// and e2 prune it) and returns its lazy peers other than e1 and e2: the
// lazy links beyond lazy_fanout were disconnected when e1 and e2 became
// lazy, so these are unpruned ones still linked.
func onlyE0Eager(p *core.Protocol) []core.PeerID {
	p.Receive(t0, "e1", core.Message{Type: core.MsgPrune})
	p.Receive(t0, "e2", core.Message{Type: core.MsgPrune})
	var lz []core.PeerID
	for _, l := range p.LazyPeers() {
		if l != "e1" && l != "e2" {
			lz = append(lz, l)
		}
	}
	return lz
}

// linkGrafts returns the peers o sends a link Graft (a Graft without ids).
func linkGrafts(o core.Output) (to []core.PeerID) {
	for _, g := range msgs(o, core.MsgGraft) {
		if len(g.Msg.IDs) == 0 {
			to = append(to, g.To)
		}
	}
	return to
}

// A node whose links are all lazy, to peers at their eager cap, asks a
// passive member for an eager link with an urgent Join, which a full view
// makes room for. The regression (tools/bench, N = 32, 2 runs of 34): a
// node that joined after the others had filled their views got three lazy
// links, all to capped peers; every link Graft it sent them was refused
// with a Prune, and its Joins to other members were refused by their full
// views (a Join is urgent only from a node with no link at all). It pulled
// every message for the whole run, 200-600 ms late.
func TestNodeWithOnlyRefusingLinksJoinsUrgently(t *testing.T) {
	c := core.DefaultConfig()
	c.EagerFanout, c.LazyFanout, c.MaxEagerPeers = 2, 3, 3
	c.MaintenanceJitter = 0
	p, err := core.New(c, "me", nil, t0)
	if err != nil {
		t.Fatal(err)
	}
	// Ten members; only c0..c2 accept, and only as lazy links (their
	// eager sets are full); the others' views are full.
	accepting := map[core.PeerID]bool{"c0": true, "c1": true, "c2": true}
	answer := func(at time.Time, out core.Output) (urgent []core.Outbound) {
		t.Helper()
		for _, ob := range out.Messages {
			switch {
			case ob.Msg.Type == core.MsgJoin && ob.Msg.Urgent && len(p.LazyPeers()) > 0:
				// (The first Join of a node without links is urgent
				// too; it is answered below.)
				urgent = append(urgent, ob)
			case ob.Msg.Type == core.MsgJoin:
				p.Receive(at, ob.To, core.Message{Type: core.MsgJoinReply, Accepted: accepting[ob.To]})
			case ob.Msg.Type == core.MsgGraft && len(ob.Msg.IDs) == 0:
				p.Receive(at.Add(ms(1)), ob.To, core.Message{Type: core.MsgPrune}) // refused
			}
		}
		return urgent
	}
	at := t0
	for i := range 10 {
		p.AddPeer(at, core.PeerID(fmt.Sprintf("c%d", i)))
	}
	var urgent []core.Outbound
	for round := 0; round < 10 && len(urgent) == 0; round++ {
		urgent = answer(at, p.Drain())
		urgent = append(urgent, answer(at, p.Drain())...)
		at = at.Add(c.MaintenanceInterval)
		p.Tick(at)
	}
	if len(urgent) == 0 {
		t.Fatalf("no urgent Join in 10 maintenance rounds: eager %v, lazy %v", p.EagerPeers(), p.LazyPeers())
	}
	j := urgent[0]
	if !j.Msg.Eager || accepting[j.To] {
		t.Fatalf("urgent Join %+v to %s: want an eager one to a member without a link", j.Msg, j.To)
	}
	// The member has eager room: the node is on the tree.
	p.Receive(at, j.To, core.Message{Type: core.MsgJoinReply, Accepted: true, Eager: true})
	if e := p.EagerPeers(); !contains(e, j.To) {
		t.Fatalf("eager %v, want %s among them", e, j.To)
	}
}
