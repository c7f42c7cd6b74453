package core_test

import (
	"slices"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
)

// treeCopies feeds p n first copies of origin's messages seq from..from+n-1
// through eager peer e0, each arriving age after its origin time, one per
// second from start. It returns the time of the last.
func treeCopies(p *core.Protocol, origin core.PeerID, from uint64, n int, start time.Time, age time.Duration) time.Time {
	at := start
	for k := 0; k < n; k++ {
		at = start.Add(time.Duration(k) * time.Second)
		m := gossip(origin, from+uint64(k), 2)
		m.OriginTime = at.Add(-age)
		p.Receive(at, "e0", m)
	}
	p.Drain()
	return at
}

func announce(origin core.PeerID, seq uint64, ot time.Time) core.Message {
	return ihave(core.Announcement{ID: core.MessageID{Origin: origin, Seq: seq}, Hops: 3, OriginTime: ot})
}

// A pull is due when the tree's copy is overdue by its age: once the
// message is older than its origin's usual tree age here (the median of
// the last 5 tree copies) plus 1.25 × GraftTimeout, or one GraftTimeout
// after the announcement, whichever comes first. The regression: an
// announcement that arrives late (the announcer got the message late, by a
// pull, or held it for an IHave interval) used to wait a whole graft
// timeout more, however long the copy had been overdue — under 5 % loss
// that doubled the tail to the last node.
func TestPullDueByAge(t *testing.T) {
	const G = 500 * time.Millisecond
	p := fixture(t, func(c *core.Config) { c.MaintenanceInterval = time.Hour })
	// The tree brings x's copies 10 ms after their origin time; two of
	// them come late (behind a repair upstream) and do not move the median.
	last := treeCopies(p, "x", 1, 3, t0.Add(time.Second), ms(10))
	last = treeCopies(p, "x", 4, 2, last.Add(time.Second), ms(900))
	last = treeCopies(p, "x", 6, 1, last.Add(time.Second), ms(10))
	// y: only four tree copies so far, not enough for a usual age.
	last = treeCopies(p, "y", 1, 4, last.Add(time.Second), ms(10))

	cases := []struct {
		name   string
		origin core.PeerID
		age    time.Duration // of the message when its first announcement arrives
		wait   time.Duration // from the announcement to the Graft
	}{
		{"overdue already: pulled at once", "x", ms(800), 0},
		{"overdue within the graft timeout", "x", ms(300), ms(10) + G*5/4 - ms(300)},
		{"young: one graft timeout", "x", ms(20), G},
		{"no usual age yet: one graft timeout", "y", ms(800), G},
		{"unknown origin: one graft timeout", "z", ms(800), G},
	}
	at := last
	for k, tc := range cases {
		at = at.Add(10 * time.Second)
		seq := uint64(100 + k)
		p.Tick(at) // every other timer (IHave flushes) done
		p.Drain()
		p.Receive(at, "l0", announce(tc.origin, seq, at.Add(-tc.age)))
		if got := p.NextDeadline(); !got.Equal(at.Add(tc.wait)) {
			t.Errorf("%s: graft due %v after the announcement, want %v", tc.name, got.Sub(at), tc.wait)
		}
		if tc.wait > 0 {
			p.Tick(at.Add(tc.wait - time.Nanosecond))
			if g := msgs(p.Drain(), core.MsgGraft); len(g) != 0 {
				t.Errorf("%s: early graft %+v", tc.name, g)
			}
		}
		p.Tick(at.Add(tc.wait))
		g := msgs(p.Drain(), core.MsgGraft)
		want := []core.MessageID{{Origin: tc.origin, Seq: seq}}
		if len(g) != 1 || g[0].To != "l0" || !slices.Equal(g[0].Msg.IDs, want) {
			t.Errorf("%s: grafts %+v, want one to l0 for %v", tc.name, g, want)
		}
		// Answer it, so it does not come back as a retry.
		m := gossip(tc.origin, seq, 4)
		m.OriginTime = at.Add(-tc.age)
		p.Receive(at.Add(tc.wait+ms(1)), "l0", m)
		p.Drain()
	}
}

// An overdue copy is pulled even while the tree is busy with its origin (a
// tree copy of it within the graft timeout and none past it): the busy rule
// puts a first pull off for a slow tree, which the usual age already
// accounts for.
func TestPullDueByAgeNotPutOffByBusyTree(t *testing.T) {
	p := fixture(t, func(c *core.Config) { c.MaintenanceInterval = time.Hour })
	last := treeCopies(p, "x", 1, 5, t0.Add(time.Second), ms(10))
	at := last.Add(ms(100))
	// x/7 announced when 800 ms old; x/6 arrives by the tree just after.
	p.Receive(at, "l0", announce("x", 7, at.Add(-ms(800))))
	m := gossip("x", 6, 2)
	m.OriginTime = at.Add(-ms(10))
	p.Receive(at, "e0", m)
	p.Tick(at)
	if g := msgs(p.Drain(), core.MsgGraft); len(g) != 1 || g[0].To != "l0" {
		t.Fatalf("grafts %+v, want one to l0 at once", g)
	}
}

// A retry asks two announcers; the answer of either is a pull: the other's
// late answer is a duplicate of a pulled copy, which prunes nothing.
func TestPullRetryAsksTwo(t *testing.T) {
	const G = 500 * time.Millisecond
	p := fixture(t, func(c *core.Config) { c.MaintenanceInterval = time.Hour })
	id := core.MessageID{Origin: "x", Seq: 1}
	for _, l := range []core.PeerID{"l0", "l1", "l2"} {
		p.Receive(t0.Add(ms(10)), l, announce("x", 1, t0))
	}
	p.Tick(t0.Add(ms(10) + G))
	if g := targets(msgs(p.Drain(), core.MsgGraft)); !slices.Equal(g, []core.PeerID{"l0"}) {
		t.Fatalf("first graft to %v, want [l0]", g)
	}
	p.Tick(t0.Add(ms(10) + 2*G)) // no answer: retry
	if g := targets(msgs(p.Drain(), core.MsgGraft)); !slices.Equal(g, []core.PeerID{"l1", "l2"}) {
		t.Fatalf("retry to %v, want [l1 l2]", g)
	}
	at := t0.Add(ms(20) + 2*G)
	p.Receive(at, "l2", gossip("x", 1, 3))
	out := p.Drain()
	if s := events(out, core.EventGraftSuccess); len(s) != 1 || s[0].Peer != "l2" || s[0].ID != id {
		t.Fatalf("success %+v", s)
	}
	p.Receive(at.Add(ms(1)), "l1", gossip("x", 1, 3))
	out = p.Drain()
	if pr := msgs(out, core.MsgPrune); len(pr) != 0 {
		t.Errorf("the second answer to a retry pruned %v", targets(pr))
	}
	if d := events(out, core.EventDuplicate); len(d) != 1 {
		t.Errorf("duplicate events %+v", d)
	}
	if p.Stats().PendingGrafts != 0 {
		t.Error("still pending")
	}
}

// A first pull waits while the tree runs late: when every recent copy the
// eager peers pushed came later than its origin's usual (smallest) age, the
// tree is queued, and a message announced meanwhile is pulled only once it
// is a graft timeout older than its origin's base age plus that lag — or
// not at all when the tree's copy comes first. The regression: a burst
// queues the tree, lazy neighbours on shorter queues announce every message
// long before the tree brings it, the graft timeout expires, and every pull
// is a duplicate (a 2,000-message burst at N = 32: RMR 0.44-0.50).
func TestPullWaitsForALateTree(t *testing.T) {
	const G = 500 * time.Millisecond
	for _, arrives := range []bool{true, false} {
		p := fixture(t, func(c *core.Config) { c.MaintenanceInterval = time.Hour })
		// Unloaded: x and y come 10 ms after their origin time.
		last := treeCopies(p, "x", 1, 3, t0.Add(time.Second), ms(10))
		last = treeCopies(p, "y", 1, 3, last.Add(time.Second), ms(10))
		// Then the tree runs 900 ms late: y's copies keep coming, that old.
		last = treeCopies(p, "y", 4, 9, last.Add(time.Second), ms(910))
		at := last.Add(ms(1))
		ot := at.Add(-ms(20))
		p.Receive(at, "l0", announce("x", 10, ot))
		p.Drain()
		due := ot.Add(ms(10) + ms(900) + G) // base + lag + graft timeout
		p.Tick(at.Add(G))
		if g := msgs(p.Drain(), core.MsgGraft); len(g) != 0 {
			t.Fatalf("pulled %v one graft timeout after the announcement while the tree runs 900 ms late", g[0].Msg.IDs)
		}
		if got := p.NextDeadline(); !got.Equal(due) {
			t.Errorf("pull put off to %v after the announcement, want %v", got.Sub(at), due.Sub(at))
		}
		if arrives {
			// The tree's copy, as late as the rest: no pull at all.
			m := gossip("x", 10, 2)
			m.OriginTime = ot
			p.Receive(ot.Add(ms(910)), "e0", m)
			p.Tick(due)
			if g := msgs(p.Drain(), core.MsgGraft); len(g) != 0 {
				t.Errorf("pulled %v after the late tree delivered it", g[0].Msg.IDs)
			}
			if p.Stats().PendingGrafts != 0 {
				t.Error("still pending after the tree's copy")
			}
			continue
		}
		// Lost: pulled once the lag is over too.
		p.Tick(due.Add(-time.Nanosecond))
		if g := msgs(p.Drain(), core.MsgGraft); len(g) != 0 {
			t.Errorf("pulled %v before base + lag + graft timeout", g[0].Msg.IDs)
		}
		p.Tick(due)
		if g := msgs(p.Drain(), core.MsgGraft); len(g) != 1 || g[0].To != "l0" {
			t.Errorf("grafts %+v at base + lag + graft timeout, want one to l0", g)
		}
	}
}

// The tree's lag is the smallest excess of the last few eager copies: a
// queue delays every copy that passes through it, a loss upstream only the
// copies repaired behind it. Under loss most copies still come on time, so
// copies made late by repairs upstream, however many among the last few,
// do not hold pulls back while one on-time copy is among them.
func TestPullNotHeldByCopiesLateBehindRepairs(t *testing.T) {
	const G = 500 * time.Millisecond
	p := fixture(t, func(c *core.Config) { c.MaintenanceInterval = time.Hour })
	last := treeCopies(p, "x", 1, 3, t0.Add(time.Second), ms(10))
	last = treeCopies(p, "y", 1, 3, last.Add(time.Second), ms(10))
	last = treeCopies(p, "y", 4, 4, last.Add(time.Second), ms(910)) // repaired upstream
	last = treeCopies(p, "y", 8, 1, last.Add(time.Second), ms(10))
	last = treeCopies(p, "y", 9, 4, last.Add(time.Second), ms(910))
	at := last.Add(ms(1))
	p.Receive(at, "l0", announce("x", 10, at.Add(-ms(20))))
	p.Drain()
	p.Tick(at.Add(G))
	if g := msgs(p.Drain(), core.MsgGraft); len(g) != 1 || g[0].To != "l0" {
		t.Errorf("grafts %+v one graft timeout after the announcement, want one to l0", g)
	}
}

// While the node is busy (it delivers more than 100 messages a second) and
// its tree is whole (it sent no first pull within 10 graft timeouts), a
// first pull waits two graft timeouts after the announcement instead of
// one: the onset of a burst, whose uneven queues keep nearby origins' copies
// on time (the tree's lag stays near 0) while a distant origin's first
// copies wait on a long path, announced long before they come by a lazy
// neighbour close to that origin. The regression: one 2,000-message burst
// in three or four at N = 32 (tools/bench) pulled 100-2,900 such copies
// (RMR 0.07-0.33); its first pulls fired 200 ms into the burst, at ages of
// 205-230 ms, with a lag of 0.1-12 ms. A node that pulled lately (a split
// tree, loss) pulls after one graft timeout, as a quiet one does.
func TestPullWaitsLongerAtABurstsOnset(t *testing.T) {
	for _, tc := range []struct {
		name    string
		every   time.Duration // between the near origin's copies
		pulled  bool          // a first pull went out 1 s before the announcement
		arrives bool          // the far origin's copy comes 1.5 graft timeouts after its announcement
		wait    int           // graft timeouts from the announcement to the pull; 0: none
	}{
		{"busy, whole tree, the copy comes late", 5 * time.Millisecond, false, true, 0},
		{"busy, whole tree, lost", 5 * time.Millisecond, false, false, 2},
		{"busy, pulled lately, lost", 5 * time.Millisecond, true, false, 1},
		{"quiet, lost", 100 * time.Millisecond, false, false, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := fixture(t, func(c *core.Config) { c.MaintenanceInterval = time.Hour })
			G := p.Tuning().GraftTimeout
			// The near origin y: copies over e0, 2 ms old, every tc.every.
			seq := uint64(0)
			at := t0
			near := func(until time.Time) {
				for ; !at.After(until); at = at.Add(tc.every) {
					seq++
					m := gossip("y", seq, 2)
					m.OriginTime = at.Add(-ms(2))
					p.Receive(at, "e0", m)
				}
				p.Tick(until)
			}
			start := t0.Add(4 * G)
			if tc.pulled {
				// z/1, announced and never brought by the tree, is
				// pulled a second before x/1's announcement.
				near(t0)
				p.Receive(t0, "l1", announce("z", 1, t0))
				near(start.Add(-time.Second))
				if g := msgs(p.Drain(), core.MsgGraft); len(g) != 1 {
					t.Fatalf("z/1 not pulled (grafts %+v)", g)
				}
			}
			near(start)
			p.Drain()
			ann := at
			ot := ann.Add(-ms(30))
			p.Receive(ann, "l0", announce("x", 1, ot))
			var grafts []core.MessageID
			step := G / 10
			for k := 1; k <= 30; k++ {
				now := ann.Add(time.Duration(k) * step)
				near(now)
				if tc.arrives && k == 15 {
					m := gossip("x", 1, 9)
					m.OriginTime = ot
					p.Receive(now, "e1", m)
				}
				for _, g := range msgs(p.Drain(), core.MsgGraft) {
					if len(grafts) == 0 && tc.wait > 0 && now.Sub(ann) != time.Duration(tc.wait)*G {
						t.Errorf("pulled %v after the announcement, want %d graft timeout(s) (%v)", now.Sub(ann), tc.wait, time.Duration(tc.wait)*G)
					}
					grafts = append(grafts, g.Msg.IDs...)
				}
			}
			if tc.wait == 0 && len(grafts) != 0 {
				t.Errorf("pulled %v, which the tree delivered 1.5 graft timeouts after its announcement", grafts)
			}
			if tc.wait > 0 && !slices.Contains(grafts, core.MessageID{Origin: "x", Seq: 1}) {
				t.Errorf("never pulled x/1 (grafts %v)", grafts)
			}
		})
	}
}
