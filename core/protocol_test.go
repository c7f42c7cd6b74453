package core_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
)

func TestNewRejects(t *testing.T) {
	if _, err := core.New(core.DefaultConfig(), "", nil, t0); !errors.Is(err, core.ErrInvalidPeer) {
		t.Errorf("empty self: %v", err)
	}
	if _, err := core.New(core.DefaultConfig(), core.PeerID(strings.Repeat("x", 256)), nil, t0); !errors.Is(err, core.ErrInvalidPeer) {
		t.Errorf("long self: %v", err)
	}
	c := core.DefaultConfig()
	c.EagerFanout = 0
	if _, err := core.New(c, "me", nil, t0); !errors.Is(err, core.ErrInvalidConfig) {
		t.Errorf("bad config: %v", err)
	}
}

func TestAddPeerPlacement(t *testing.T) {
	c := core.DefaultConfig()
	c.EagerFanout, c.LazyFanout, c.MaxEagerPeers = 3, 6, 0
	c.MaxPassivePeers = 2
	p, _ := core.New(c, "me", nil, t0)
	var joins []core.Outbound
	invalid := 0
	for _, id := range []core.PeerID{"e0", "e1", "e2", "l0", "l1", "l2", "l3", "l4", "l5", "p0", "p1", "p2", "me", ""} {
		p.AddPeer(t0, id)
		out := acceptJoins(p, t0)
		joins = append(joins, msgs(out, core.MsgJoin)...)
		invalid += len(events(out, core.EventInvalidMessage))
	}
	if got := p.EagerPeers(); !slices.Equal(got, []core.PeerID{"e0", "e1", "e2"}) {
		t.Errorf("eager %v", got)
	}
	if got := p.LazyPeers(); len(got) != 6 || got[0] != "l0" {
		t.Errorf("lazy %v", got)
	}
	if got := p.PassivePeers(); len(got) != 2 {
		t.Errorf("passive %v, want 2 (max_passive_peers)", got)
	}
	// Links are opened by a Join each (eager ones first), never beyond
	// eager_fanout + lazy_fanout.
	if len(joins) != 9 {
		t.Fatalf("%d Joins, want 9", len(joins))
	}
	for i, j := range joins {
		if j.Msg.Eager != (i < 3) || (i == 0) != j.Msg.Urgent {
			t.Errorf("Join %d to %s: eager %v urgent %v", i, j.To, j.Msg.Eager, j.Msg.Urgent)
		}
	}
	if invalid != 2 {
		t.Errorf("%d invalid events for self and empty ids, want 2", invalid)
	}
	if p.PeerCount() != 9 {
		t.Errorf("PeerCount %d", p.PeerCount())
	}
}

// The link protocol: a full view refuses a Join, an urgent Join evicts a
// lazy link (with a Disconnect), a Disconnect drops the link, and a peer
// acting as if linked is told it is not.
func TestLinkProtocol(t *testing.T) {
	p := fixture(t, nil) // 3 eager + 6 lazy = the cap
	p.AddPeer(t0, "x")
	p.Receive(t0, "x", core.Message{Type: core.MsgJoin, Eager: true})
	out := p.Drain()
	r := msgs(out, core.MsgJoinReply)
	if len(r) != 1 || r[0].To != "x" || r[0].Msg.Accepted {
		t.Fatalf("Join to a full view: %+v", out.Messages)
	}
	if p.PeerCount() != 9 {
		t.Fatalf("PeerCount %d after a refused Join", p.PeerCount())
	}
	p.Receive(t0, "x", core.Message{Type: core.MsgJoin, Urgent: true})
	out = p.Drain()
	r = msgs(out, core.MsgJoinReply)
	d := msgs(out, core.MsgDisconnect)
	if len(r) != 1 || !r[0].Msg.Accepted || len(d) != 1 || !strings.HasPrefix(string(d[0].To), "l") {
		t.Fatalf("urgent Join: %+v", out.Messages)
	}
	if p.PeerCount() != 9 || !contains(p.LazyPeers(), "x") || contains(p.LazyPeers(), d[0].To) {
		t.Fatalf("after urgent Join: eager %v lazy %v", p.EagerPeers(), p.LazyPeers())
	}
	p.Receive(t0, "x", core.Message{Type: core.MsgDisconnect})
	if contains(p.LazyPeers(), "x") || p.PeerCount() != 8 {
		t.Fatalf("x still linked after its Disconnect: lazy %v", p.LazyPeers())
	}
	p.Drain()
	// x still prunes as if linked: it is told the link is gone.
	p.Receive(t0, "x", core.Message{Type: core.MsgPrune})
	if d := msgs(p.Drain(), core.MsgDisconnect); len(d) != 1 || d[0].To != "x" {
		t.Fatalf("stray Prune not answered with a Disconnect: %+v", d)
	}
}

func TestBroadcastDeliversPushesAndAnnounces(t *testing.T) {
	p := fixture(t, nil)
	id, err := p.Broadcast(t0, []byte("hello"), []core.Header{{Key: "k", Value: "v"}})
	if err != nil {
		t.Fatal(err)
	}
	if id.Origin != "me" || id.Seq != uint64(t0.UnixNano()) {
		t.Errorf("id %v", id)
	}
	out := p.Drain()
	if len(out.Deliveries) != 1 || out.Deliveries[0].From != "me" || out.Deliveries[0].Hops != 0 || string(out.Deliveries[0].Payload) != "hello" {
		t.Fatalf("deliveries %+v", out.Deliveries)
	}
	g := msgs(out, core.MsgGossip)
	if got := targets(g); len(got) != 3 || !strings.HasPrefix(string(got[0]), "e") {
		t.Fatalf("gossip to %v", got)
	}
	if g[0].Msg.Hops != 1 || g[0].Msg.Headers[0].Key != "k" {
		t.Errorf("gossip %+v", g[0].Msg)
	}
	if len(msgs(out, core.MsgIHave)) != 0 {
		t.Error("IHave sent before the interval")
	}
	iv := core.DefaultConfig().IHaveInterval
	if got := p.NextDeadline(); got.Before(t0.Add(iv*3/4)) || got.After(t0.Add(iv*5/4)) {
		t.Errorf("deadline %v, want the IHave flush, %v after %v give or take a quarter", got, iv, t0)
	}
	p.Tick(p.NextDeadline())
	out = p.Drain()
	ih := msgs(out, core.MsgIHave)
	if len(ih) != 6 || len(ih[0].Msg.IHaves) != 1 || ih[0].Msg.IHaves[0] != (core.Announcement{ID: id, Hops: 0, OriginTime: t0}) {
		t.Fatalf("IHaves %+v", ih)
	}
	if !p.HasSeen(id) {
		t.Error("own broadcast not seen")
	}
	id2, _ := p.Broadcast(t0, nil, nil)
	if id2.Seq != id.Seq+1 {
		t.Errorf("second id %v", id2)
	}
}

// A node flushes its IHave queue the IHave interval, give or take a
// quarter, after the first announcement it queued, by a hash of that
// message's id: every node that got the same message first flushes after
// the same delay, and the delay moves from one message to the next. With
// the interval alone, every flush came exactly one interval after a
// broadcast, and with broadcasts paced at a divisor of the interval the
// cluster's flushes landed on the same later broadcasts every time
// (docs/design.md, "Lazy push").
func TestIHaveFlushDelayFollowsTheMessage(t *testing.T) {
	iv := core.DefaultConfig().IHaveInterval
	const nodes, count = 4, 32
	ps := make([]*core.Protocol, nodes)
	for i := range ps {
		c := core.DefaultConfig()
		c.AntiEntropyBatch = 0
		c.EagerFanout, c.LazyFanout, c.MaxEagerPeers = 1, 1, 0
		c.Seed = int64(i)                 // different seeds and ids: the delay depends on neither
		c.MaintenanceInterval = time.Hour // no round among the deadlines
		p, err := core.New(c, core.PeerID(fmt.Sprintf("n%d", i)), nil, t0)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range []core.PeerID{"e0", "l0"} {
			p.AddPeer(t0, id)
			acceptJoins(p, t0)
		}
		p.Drain()
		ps[i] = p
	}
	var delays []time.Duration
	now := t0
	for m := range count {
		id := core.MessageID{Origin: "o", Seq: uint64(1000 + m)}
		var d0 time.Duration
		for i, p := range ps {
			p.Receive(now, "e0", core.Message{Type: core.MsgGossip, ID: id, OriginTime: now, Hops: 1, Payload: []byte("p")})
			p.Drain()
			d := p.NextDeadline().Sub(now)
			if d < iv*3/4 || d > iv*5/4 {
				t.Fatalf("message %d, node %d: the IHave flush is due %v after it, want %v give or take a quarter", m, i, d, iv)
			}
			if i == 0 {
				d0 = d
				delays = append(delays, d)
			} else if d != d0 {
				t.Fatalf("message %d: node %d flushes %v after it, node 0 %v: nodes that got a message together must flush together", m, i, d, d0)
			}
			p.Tick(now.Add(d))
			if len(msgs(p.Drain(), core.MsgIHave)) != 1 {
				t.Fatalf("message %d, node %d: no IHave to the lazy peer at the deadline", m, i)
			}
		}
		now = now.Add(iv * 2)
	}
	// 32 delays over half an interval: their range is under a quarter of
	// the interval only if the hash spreads them badly.
	if spread := slices.Max(delays) - slices.Min(delays); spread < iv/4 {
		t.Errorf("the flush delays of %d messages spread over %v, want at least %v: %v", count, spread, iv/4, delays)
	}
}

func TestBroadcastErrors(t *testing.T) {
	p := fixture(t, func(c *core.Config) { c.MaxMessageSize, c.MaxLargeMessageSize = 10, 0 })
	if _, err := p.Broadcast(t0, make([]byte, 11), nil); !errors.Is(err, core.ErrMessageTooLarge) || !strings.Contains(err.Error(), "11 bytes, limit 10") {
		t.Errorf("too large: %v", err)
	}
	if _, err := p.Broadcast(t0, nil, make([]core.Header, core.MaxHeaders+1)); !errors.Is(err, core.ErrInvalidHeaders) {
		t.Errorf("headers: %v", err)
	}
	if _, err := p.Broadcast(t0, nil, []core.Header{{Key: strings.Repeat("k", core.MaxHeaderBytes+1)}}); !errors.Is(err, core.ErrInvalidHeaders) {
		t.Errorf("header bytes: %v", err)
	}
	p.Close(t0)
	if _, err := p.Broadcast(t0, nil, nil); !errors.Is(err, core.ErrClosed) {
		t.Errorf("closed: %v", err)
	}
}

func TestReceiveFirstCopyForwards(t *testing.T) {
	p := fixture(t, nil)
	var hooked core.Delivery
	p.SetForwardHook(func(d core.Delivery) []core.Header {
		hooked = d
		return []core.Header{{Key: "span", Value: "me"}}
	})
	m := gossip("x", 1, 4)
	p.Receive(t0, "l2", m) // first copy from a lazy peer
	out := p.Drain()
	if hooked.ID != m.ID || hooked.From != "l2" {
		t.Errorf("hook saw %+v", hooked)
	}
	if len(out.Deliveries) != 1 || out.Deliveries[0].Hops != 4 || out.Deliveries[0].From != "l2" || out.Deliveries[0].Headers[0].Value != "me" {
		t.Fatalf("delivery %+v", out.Deliveries)
	}
	g := msgs(out, core.MsgGossip)
	if len(g) != 3 || g[0].Msg.Hops != 5 || g[0].Msg.Headers[0].Key != "span" {
		t.Fatalf("forwarded %+v", g)
	}
	// The sender of the first copy becomes eager (and gets no IHave).
	if !contains(p.EagerPeers(), "l2") || contains(p.LazyPeers(), "l2") {
		t.Errorf("l2 not promoted: eager %v lazy %v", p.EagerPeers(), p.LazyPeers())
	}
	if e := events(out, core.EventPeerPromoted); len(e) != 1 || e[0].Peer != "l2" || e[0].Reason != core.ReasonFirstCopy {
		t.Errorf("promotion events %+v", e)
	}
	p.Tick(p.NextDeadline())
	out = p.Drain()
	if got := targets(msgs(out, core.MsgIHave)); len(got) != 5 || contains(got, "l2") {
		t.Errorf("IHaves to %v, want the 5 other lazy peers", got)
	}
	// Hop counts saturate instead of wrapping.
	p.Receive(t0, "e0", gossip("x", 2, 65535))
	out = p.Drain()
	if g := msgs(out, core.MsgGossip); len(g) == 0 || g[0].Msg.Hops != 65535 {
		t.Errorf("saturated hops %+v", g)
	}
}

// Paper, Algorithm 1: "upon receiving a duplicate: eagerPushPeers ←
// eagerPushPeers \ {sender}; lazyPushPeers ← lazyPushPeers ∪ {sender};
// trigger Send(PRUNE, sender)". With OptimizationThreshold t the Prune comes
// at the t-th duplicate from the same peer.
func TestPruneOnDuplicates(t *testing.T) {
	for _, th := range []int{1, 3} {
		p := fixture(t, func(c *core.Config) { c.OptimizationThreshold, c.PruneDelay = th, 0 })
		before := p.Stats()
		for k := 1; k <= th; k++ {
			p.Receive(t0, "e0", gossip("x", uint64(k), 1)) // first copy
			p.Receive(t0, "e1", gossip("x", uint64(k), 2)) // duplicate number k from e1
			out := p.Drain()
			if d := events(out, core.EventDuplicate); len(d) != 1 || d[0].Peer != "e1" {
				t.Fatalf("duplicate events %+v", d)
			}
			pruned := msgs(out, core.MsgPrune)
			if k < th && len(pruned) != 0 {
				t.Fatalf("threshold %d: pruned after %d duplicates", th, k)
			}
			if k == th {
				if len(pruned) != 1 || pruned[0].To != "e1" {
					t.Fatalf("threshold %d: prunes %+v", th, pruned)
				}
				d := events(out, core.EventPeerDemoted)
				if len(d) != 1 || d[0].Peer != "e1" || d[0].Reason != core.ReasonOptimization {
					t.Fatalf("demotion events %+v", d)
				}
			}
		}
		if contains(p.EagerPeers(), "e1") || !contains(p.LazyPeers(), "e1") {
			t.Errorf("threshold %d: e1 not lazy: eager %v", th, p.EagerPeers())
		}
		s := p.Stats()
		if s.MessagesDuplicate != uint64(th) || s.PruneSent-before.PruneSent != 1 || s.PeerDemotions != 1 {
			t.Errorf("threshold %d: stats %+v", th, s.Counters)
		}
		// A lazy peer that keeps sending duplicates is told again, once
		// per threshold.
		for k := 1; k <= th; k++ {
			p.Receive(t0, "e1", gossip("x", 1, 2))
		}
		if pr := msgs(p.Drain(), core.MsgPrune); len(pr) != 1 {
			t.Errorf("threshold %d: %d re-prunes", th, len(pr))
		}
	}
}

// A first copy from a peer we pruned over a link with a backlog
// (SetBacklog), pushed before the peer read our Prune (a copy it had
// queued), is delivered and forwarded but does not link the peer back, and
// its duplicates do not prune it again; the paper's rule (the sender of a
// first copy becomes eager) holds again once the peer has shown it holds
// the link lazy (an IHave), after AntiEntropyMinAge, and at once over a
// link without a backlog.
func TestLeftoverCopiesDoNotRelink(t *testing.T) {
	for _, tc := range []struct {
		name    string
		backlog bool
		settle  func(p *core.Protocol) time.Time // returns when the next first copy comes
		relink  bool
	}{
		{"behind a backlog", true, func(*core.Protocol) time.Time { return t0.Add(ms(10)) }, false},
		{"behind a backlog, after an IHave from it", true, func(p *core.Protocol) time.Time {
			p.Receive(t0.Add(ms(5)), "e1", ihave(ann("x", 1, 3)))
			p.Drain()
			return t0.Add(ms(10))
		}, true},
		{"behind a backlog, after anti_entropy_min_age", true, func(*core.Protocol) time.Time {
			return t0.Add(core.DefaultConfig().AntiEntropyMinAge)
		}, true},
		{"without a backlog", false, func(*core.Protocol) time.Time { return t0.Add(ms(10)) }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := fixture(t, func(c *core.Config) { c.OptimizationThreshold, c.PruneDelay = 1, 0 })
			asked := 0
			p.SetBacklog(func(to core.PeerID) bool { asked++; return tc.backlog && to == "e1" })
			p.Receive(t0, "e0", gossip("x", 1, 1))
			p.Receive(t0, "e1", gossip("x", 1, 2)) // duplicate: e1 pruned
			if pr := msgs(p.Drain(), core.MsgPrune); len(pr) != 1 || pr[0].To != "e1" || asked != 1 {
				t.Fatalf("prunes %+v, backlog asked %d times", pr, asked)
			}
			at := tc.settle(p)
			p.Receive(at, "e1", gossip("x", 2, 2)) // the first copy of x/2
			out := p.Drain()
			if d := events(out, core.EventDelivered); len(d) != 1 || d[0].ID != (core.MessageID{Origin: "x", Seq: 2}) {
				t.Fatalf("deliveries %+v", d)
			}
			if g := msgs(out, core.MsgGossip); len(g) == 0 {
				t.Fatal("the first copy was not pushed on")
			}
			promoted := len(events(out, core.EventPeerPromoted)) == 1
			if promoted != tc.relink || contains(p.EagerPeers(), "e1") != tc.relink {
				t.Errorf("e1 linked back: %v (eager %v), want %v", promoted, p.EagerPeers(), tc.relink)
			}
			if tc.relink {
				return
			}
			// Its duplicates are not told again while the window lasts,
			// and are once it has closed.
			p.Receive(at, "e1", gossip("x", 1, 2))
			if pr := msgs(p.Drain(), core.MsgPrune); len(pr) != 0 {
				t.Errorf("re-prunes within the window: %+v", pr)
			}
			p.Receive(t0.Add(core.DefaultConfig().AntiEntropyMinAge), "e1", gossip("x", 1, 2))
			if pr := msgs(p.Drain(), core.MsgPrune); len(pr) != 1 {
				t.Errorf("re-prunes after the window: %+v", pr)
			}
		})
	}
}

func TestPruneReceivedDemotes(t *testing.T) {
	p := fixture(t, nil)
	p.Receive(t0, "e0", core.Message{Type: core.MsgPrune})
	out := p.Drain()
	if contains(p.EagerPeers(), "e0") || !contains(p.LazyPeers(), "e0") {
		t.Fatalf("e0 not demoted")
	}
	if d := events(out, core.EventPeerDemoted); len(d) != 1 || d[0].Reason != core.ReasonPruneReceived {
		t.Errorf("events %+v", d)
	}
	// A pruned link counts towards the eager target: maintenance does not
	// re-promote (eager 2 + pruned 1 = eager_fanout).
	p.Tick(t0.Add(10 * time.Second))
	if len(p.EagerPeers()) != 2 {
		t.Errorf("eager %v after maintenance", p.EagerPeers())
	}
}

// Protected ring neighbours are kept in the active view (a full view makes
// room for them and they are never evicted), but may be pruned to lazy like
// any link: they cost announcements, not payload copies.
func TestProtectedRingNeighborsStayLinked(t *testing.T) {
	c := core.DefaultConfig()
	c.UseHashRing, c.ProtectRingNeighbors, c.MaxProtectedNeighbors = true, true, 2
	c.OptimizationThreshold = 1
	p, _ := core.New(c, "me", nil, t0)
	for _, id := range []core.PeerID{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"} {
		p.AddPeer(t0, id)
		acceptJoins(p, t0)
	}
	prot := p.ProtectedNeighbors()
	if len(prot) != 2 {
		t.Fatalf("protected %v", prot)
	}
	linked := func(id core.PeerID) bool { return contains(p.EagerPeers(), id) || contains(p.LazyPeers(), id) }
	for _, id := range prot {
		if !linked(id) {
			t.Fatalf("protected %s not linked (eager %v lazy %v)", id, p.EagerPeers(), p.LazyPeers())
		}
	}
	// Urgent Joins from the passive members evict other links, never a
	// protected one.
	for _, id := range p.PassivePeers() {
		p.Receive(t0, id, core.Message{Type: core.MsgJoin, Urgent: true})
	}
	out := p.Drain()
	for _, m := range msgs(out, core.MsgDisconnect) {
		if contains(prot, m.To) {
			t.Fatalf("protected %s disconnected", m.To)
		}
	}
	for _, id := range prot {
		if !linked(id) {
			t.Fatalf("protected %s evicted", id)
		}
	}
	// Removing a ring neighbour protects the next one.
	p.RemovePeer(t0, prot[0])
	if got := p.ProtectedNeighbors(); len(got) != 2 || contains(got, prot[0]) {
		t.Errorf("after removal protected %v", got)
	}
}

// Paper, Algorithm 2: on IHAVE for an unknown message "setup timer
// Timer(mID, timeout1)"; on expiry "trigger Send(GRAFT(mID, round), node)"
// to the first announcer and "setup timer Timer(mID, timeout2)" for the
// next. Ours: waits doubling from GraftTimeout (capped at 8x), rotating over
// the announcers, then EventGraftFailed; the first Graft goes to one
// announcer, every retry to the next two at once (a pull that got no
// answer was likely lost: asking two keeps one more loss from costing
// another, doubled, wait).
func TestGraftAfterTimeoutBackoffRotation(t *testing.T) {
	const T = 500 * time.Millisecond
	p := fixture(t, func(c *core.Config) { c.GraftMaxRetries, c.MaintenanceInterval = 5, time.Hour })
	id := core.MessageID{Origin: "x", Seq: 9}
	for _, l := range []core.PeerID{"l0", "l1", "l2"} {
		p.Receive(t0.Add(ms(10)), l, ihave(core.Announcement{ID: id, Hops: 3, OriginTime: t0}))
	}
	p.Drain()
	if s := p.Stats(); s.PendingGrafts != 1 {
		t.Fatalf("pending %d", s.PendingGrafts)
	}
	// IHave does not put the announcer in the active view, and no Graft
	// goes out before the timeout.
	p.Tick(t0.Add(ms(10) + T - time.Nanosecond))
	if got := msgs(p.Drain(), core.MsgGraft); len(got) != 0 {
		t.Fatalf("early graft %+v", got)
	}
	wantWait := []time.Duration{T, T, 2 * T, 4 * T, 8 * T, 8 * T}
	wantTo := [][]core.PeerID{{"l0"}, {"l1", "l2"}, {"l0", "l1"}, {"l0", "l2"}, {"l1", "l2"}, {"l0", "l1"}}
	at := t0.Add(ms(10))
	for k := 0; k < len(wantWait); k++ {
		at = at.Add(wantWait[k])
		if got := p.NextDeadline(); !got.Equal(at) {
			t.Fatalf("graft %d: deadline %v, want %v", k, got.Sub(t0), at.Sub(t0))
		}
		p.Tick(at)
		out := p.Drain()
		g := msgs(out, core.MsgGraft)
		if got := targets(g); !slices.Equal(got, wantTo[k]) {
			t.Fatalf("graft %d: to %v, want %v", k, got, wantTo[k])
		}
		for _, m := range g {
			if !slices.Equal(m.Msg.IDs, []core.MessageID{id}) {
				t.Fatalf("graft %d: %+v", k, m)
			}
		}
		e := events(out, core.EventGraftSent)
		if len(e) != len(wantTo[k]) {
			t.Fatalf("graft %d: events %+v", k, e)
		}
		for _, ev := range e {
			if ev.ID != id || ev.Retries != k {
				t.Fatalf("graft %d: events %+v", k, e)
			}
		}
		if r := events(out, core.EventGraftRetry); len(r) != min(k, 1) {
			t.Fatalf("graft %d: retry events %+v", k, r)
		}
		for _, to := range wantTo[k] {
			if contains(p.EagerPeers(), to) {
				t.Fatalf("pulled from %s made it eager: a pull changes no link", to)
			}
		}
	}
	at = at.Add(8 * T)
	p.Tick(at)
	out := p.Drain()
	f := events(out, core.EventGraftFailed)
	if len(f) != 1 || f[0].ID != id || f[0].Retries != 5 {
		t.Fatalf("graft failed events %+v", f)
	}
	if s := p.Stats(); s.PendingGrafts != 0 || s.GraftFailed != 1 || s.GraftRetries != 5 || s.GraftSent != 11 { // links are opened by Joins
		t.Errorf("stats %+v", s.Counters)
	}
	if h := p.Health(at); h.Delivery.FailedGrafts != 1 {
		t.Errorf("health %+v", h.Delivery)
	}
}

// A retry waits at least as long as Grafts have lately taken to be
// answered (TCP's retransmission timeout on the answer times, capped at
// 8 × graft_timeout): over links queued with large messages' chunks an
// answer takes seconds, and a retry after one graft timeout asked two more
// peers each time for copies that were only late. Without a recent sample
// (none yet, or none for 30 s) the backoff is graft_timeout's.
func TestGraftRetryWaitsForMeasuredAnswers(t *testing.T) {
	const T = 500 * time.Millisecond
	p := fixture(t, func(c *core.Config) { c.MaintenanceInterval = time.Hour })
	// grafted runs the protocol's timers from 'from' until a Graft for id
	// goes out and returns when.
	grafted := func(from time.Time, id core.MessageID) time.Time {
		t.Helper()
		for at := from; at.Sub(from) < time.Minute; {
			at = p.NextDeadline()
			p.Tick(at)
			for _, g := range msgs(p.Drain(), core.MsgGraft) {
				if slices.Contains(g.Msg.IDs, id) {
					return at
				}
			}
		}
		t.Fatalf("no Graft for %v", id)
		return time.Time{}
	}
	// pull announces id from l0, l1, l2 at 'at' and returns when the
	// first Graft went out, and when the retry.
	pull := func(at time.Time, id core.MessageID) (time.Time, time.Time) {
		t.Helper()
		for _, l := range []core.PeerID{"l0", "l1", "l2"} {
			p.Receive(at, l, ihave(core.Announcement{ID: id, Hops: 3, OriginTime: at}))
		}
		p.Drain()
		first := grafted(at, id)
		return first, grafted(first, id)
	}
	answer := func(at time.Time, id core.MessageID) {
		m := core.Message{Type: core.MsgGossip, ID: id, Hops: 4, OriginTime: at, Payload: []byte("payload"), Repaired: true}
		p.Receive(at, "l0", m)
		p.Drain()
	}
	// No answer measured yet: the retry is due one graft timeout later.
	first, retry := pull(t0.Add(ms(10)), core.MessageID{Origin: "x", Seq: 1})
	if retry.Sub(first) != T {
		t.Fatalf("retry after %v without answer times, want %v", retry.Sub(first), T)
	}
	answer(first.Add(2*time.Second), core.MessageID{Origin: "x", Seq: 1}) // answered 2 s after the Graft
	// One sample of 2 s: timeout 2 s + 4 × 1 s, capped at 8 × T.
	at := first.Add(3 * time.Second)
	first, retry = pull(at, core.MessageID{Origin: "y", Seq: 1})
	if retry.Sub(first) != 8*T {
		t.Errorf("retry after %v with answers taking 2 s, want %v", retry.Sub(first), 8*T)
	}
	// 30 s without a sample: back to graft_timeout.
	first, retry = pull(first.Add(40*time.Second), core.MessageID{Origin: "z", Seq: 1})
	if retry.Sub(first) != T {
		t.Errorf("retry after %v once the answer times are 30 s old, want %v", retry.Sub(first), T)
	}
}

func TestGraftSuccessCancelsTimer(t *testing.T) {
	p := fixture(t, nil)
	id := core.MessageID{Origin: "x", Seq: 1}
	p.Receive(t0, "l0", ihave(core.Announcement{ID: id, Hops: 1, OriginTime: t0}))
	p.Tick(t0.Add(ms(500)))
	p.Tick(t0.Add(ms(1000))) // retry to l0 again (only announcer)
	p.Drain()
	p.Receive(t0.Add(ms(1100)), "l0", gossip("x", 1, 2))
	out := p.Drain()
	s := events(out, core.EventGraftSuccess)
	if len(s) != 1 || s[0].ID != id || s[0].Latency != ms(600) || s[0].Retries != 1 || s[0].Peer != "l0" {
		t.Fatalf("success %+v", s)
	}
	if p.Stats().PendingGrafts != 0 {
		t.Error("still pending")
	}
	// A copy that arrives before any Graft cancels silently.
	p.Receive(t0.Add(ms(1200)), "l1", ihave(ann("x", 2, 1)))
	p.Receive(t0.Add(ms(1300)), "e0", gossip("x", 2, 1))
	if out := p.Drain(); len(events(out, core.EventGraftSuccess)) != 0 || p.Stats().PendingGrafts != 0 {
		t.Error("cancel without graft reported success")
	}
}

// Announcements from senders that are no link of the node (a passive
// member, a stranger on the port) may hold at most an eighth of
// MaxPendingGrafts: ids that do not exist, 1,024 to an IHave, must not fill
// the table and make the node drop its links' announcements.
func TestStrayAnnouncementsBounded(t *testing.T) {
	p := fixture(t, func(c *core.Config) { c.MaxPendingGrafts = 80 })
	many := func(origin core.PeerID, n int) core.Message {
		var as []core.Announcement
		for i := range n {
			as = append(as, ann(origin, uint64(i+1), 1))
		}
		return ihave(as...)
	}
	// announce gives p an IHave from peer and checks the pending grafts
	// after it and the announcements it dropped.
	announce := func(what string, from core.PeerID, m core.Message, pending, dropped int) {
		t.Helper()
		p.Receive(t0, from, m)
		d := 0
		for _, e := range events(p.Drain(), core.EventIHaveDropped) {
			d += e.Count
		}
		if got := p.Stats().PendingGrafts; got != pending || d != dropped {
			t.Fatalf("%s: %d pending, %d dropped; want %d and %d", what, got, d, pending, dropped)
		}
	}
	announce("a stranger's 50 (80/8 = 10 fit)", "x", many("fake", 50), 10, 40)
	announce("then a link's 60", "l0", many("real", 60), 70, 0)
	// A link announcing one of the stranger's ids makes it the link's: the
	// stranger may add one more.
	announce("a link announcing a stranger's id", "l1", ihave(ann("fake", 1, 1)), 70, 0)
	announce("the stranger's next 5", "x", many("fake2", 5), 71, 4)
	// The link's announcements still fit the whole table.
	announce("the link's next 20", "l0", many("real2", 20), 80, 11)
}

func TestGraftsCoalescePerPeer(t *testing.T) {
	p := fixture(t, nil)
	p.Receive(t0, "l0", ihave(ann("x", 1, 1), ann("x", 2, 1), ann("y", 1, 1)))
	p.Tick(t0.Add(ms(500)))
	g := msgs(p.Drain(), core.MsgGraft)
	if len(g) != 1 || len(g[0].Msg.IDs) != 3 {
		t.Fatalf("grafts %+v", g)
	}
}

// A Graft with ids is answered in full only for a link: the peers this node
// announces to. Anyone else (a member with no link here, a sender the
// protocol did not know) shares one bucket, and gets at most
// AntiEntropyBytes of payload per Graft: a Graft of 1,024 ids is some 20 KB
// and asked for up to 64 MiB, from anyone who reached the port.
func TestGraftFromNonLinkBounded(t *testing.T) {
	p := fixture(t, func(c *core.Config) {
		c.AntiEntropyBytes = 10 << 10
		c.GraftRateLimitPerSecond, c.GraftRateLimitBurst = 2, 3
	})
	p.AddPeer(t0, "p0")
	acceptJoins(p, t0)
	if !slices.Contains(p.PassivePeers(), "p0") {
		t.Fatalf("p0 is not passive: eager %v lazy %v", p.EagerPeers(), p.LazyPeers())
	}
	var ids []core.MessageID
	for range 8 {
		id, _ := p.Broadcast(t0, make([]byte, 4<<10), nil)
		ids = append(ids, id)
	}
	p.Drain()
	graft := core.Message{Type: core.MsgGraft, IDs: ids}
	answer := func(from core.PeerID) (answered, left int) {
		p.Receive(t0, from, graft)
		out := p.Drain()
		for _, e := range events(out, core.EventGraftRateLimited) {
			left += e.Count
		}
		return len(msgs(out, core.MsgGossip)), left
	}
	if a, l := answer("l0"); a != 8 || l != 0 {
		t.Fatalf("link l0: %d answered, %d left; want all 8", a, l)
	}
	// 4 KiB each: the third reaches the 10 KiB bound.
	if a, l := answer("p0"); a != 3 || l != 5 {
		t.Fatalf("member p0 without a link: %d answered, %d left; want 3 and 5", a, l)
	}
	// Unknown senders share p0's bucket (burst 3): one more Graft each for
	// two of them, nothing for the third.
	for i, want := range []int{3, 3, 0} {
		if a, _ := answer(core.PeerID(fmt.Sprintf("x%d", i))); a != want {
			t.Fatalf("stranger x%d: %d answered, want %d", i, a, want)
		}
	}
	if a, _ := answer("l1"); a != 8 {
		t.Fatalf("link l1 after the strangers: %d answered, want 8", a)
	}
}

func TestGraftAnsweredAndRateLimited(t *testing.T) {
	p := fixture(t, func(c *core.Config) { c.GraftRateLimitPerSecond, c.GraftRateLimitBurst = 2, 3 })
	id, _ := p.Broadcast(t0, []byte("data"), nil)
	p.Drain()
	graft := core.Message{Type: core.MsgGraft, IDs: []core.MessageID{id, {Origin: "nobody", Seq: 1}}}
	for k := 0; k < 3; k++ {
		p.Receive(t0, "l0", graft)
		out := p.Drain()
		g := msgs(out, core.MsgGossip)
		if len(g) != 1 || g[0].To != "l0" || g[0].Msg.ID != id || g[0].Msg.Hops != 1 || string(g[0].Msg.Payload) != "data" {
			t.Fatalf("answer %d: %+v", k, g)
		}
		if u := events(out, core.EventGraftUnanswerable); len(u) != 1 || u[0].ID.Origin != "nobody" {
			t.Fatalf("unanswerable %+v", u)
		}
	}
	// Link-only Grafts consume no token.
	p.Receive(t0, "l0", core.Message{Type: core.MsgGraft})
	p.Receive(t0, "l0", graft)
	out := p.Drain()
	if len(msgs(out, core.MsgGossip)) != 0 || len(events(out, core.EventGraftRateLimited)) != 1 {
		t.Fatalf("burst exceeded but answered: %+v", out.Messages)
	}
	// Other peers have their own bucket; tokens refill with time.
	p.Receive(t0, "l1", graft)
	if len(msgs(p.Drain(), core.MsgGossip)) != 1 {
		t.Error("l1 limited by l0's bucket")
	}
	p.Receive(t0.Add(ms(500)), "l0", graft)
	if len(msgs(p.Drain(), core.MsgGossip)) != 1 {
		t.Error("no refill after 1/rate")
	}
	if s := p.Stats(); s.GraftRateLimited != 1 {
		t.Errorf("rate limited %d", s.GraftRateLimited)
	}
	// The Graft made l0 eager.
	if !contains(p.EagerPeers(), "l0") {
		t.Error("grafting peer not promoted")
	}
}

// Paper, Algorithm 4: "if r < round − threshold: trigger Send(GRAFT(null,
// r), sender); trigger Send(PRUNE, e)": an IHave shows a path at least
// threshold hops shorter than the eager one.
func TestAlgorithm4HopOptimization(t *testing.T) {
	p := fixture(t, func(c *core.Config) { c.HopOptimizationThreshold = 3 })
	p.Receive(t0, "e0", gossip("x", 1, 6))
	p.Drain()
	p.Receive(t0, "l0", ihave(ann("x", 1, 3))) // path 3+1 = 4, 2 hops shorter than 6: no change
	if out := p.Drain(); len(out.Messages) != 0 {
		t.Fatalf("optimised a short gain: %+v", out.Messages)
	}
	p.Receive(t0, "l1", ihave(ann("x", 1, 2))) // path 2+1 = 3: 3 hops shorter
	out := p.Drain()
	g, pr := msgs(out, core.MsgGraft), msgs(out, core.MsgPrune)
	if len(g) != 1 || g[0].To != "l1" || len(g[0].Msg.IDs) != 0 || len(pr) != 1 || pr[0].To != "e0" {
		t.Fatalf("graft %+v prune %+v", g, pr)
	}
	if !contains(p.EagerPeers(), "l1") || contains(p.EagerPeers(), "e0") {
		t.Errorf("eager %v", p.EagerPeers())
	}
	for _, e := range out.Events {
		if (e.Kind == core.EventPeerPromoted || e.Kind == core.EventPeerDemoted) && e.Reason != core.ReasonHopOptimization {
			t.Errorf("event %+v", e)
		}
	}
	// Disabled by default.
	q := fixture(t, nil)
	q.Receive(t0, "e0", gossip("x", 1, 9))
	q.Drain()
	q.Receive(t0, "l0", ihave(ann("x", 1, 0)))
	if out := q.Drain(); len(out.Messages) != 0 {
		t.Errorf("Algorithm 4 ran while disabled")
	}
	// Threshold 1 never swaps for a path of the same length.
	r := fixture(t, func(c *core.Config) { c.HopOptimizationThreshold = 1 })
	r.Receive(t0, "e0", gossip("x", 1, 4))
	r.Drain()
	r.Receive(t0, "l0", ihave(ann("x", 1, 3))) // path 3+1 = 4: no gain
	if out := r.Drain(); len(out.Messages) != 0 {
		t.Errorf("re-parented for a path of equal length: %+v", out.Messages)
	}
}

func TestIHaveBatchingAndBounds(t *testing.T) {
	p := fixture(t, func(c *core.Config) { c.IHaveBatchSize = 4 })
	for s := uint64(1); s <= 3; s++ {
		p.Receive(t0, "e0", gossip("x", s, 1))
	}
	if n := len(msgs(p.Drain(), core.MsgIHave)); n != 0 {
		t.Fatalf("%d IHaves before the batch filled", n)
	}
	if q := p.Stats().IHaveQueueSize; q != 18 {
		t.Fatalf("queued %d, want 3 per lazy peer", q)
	}
	p.Receive(t0, "e0", gossip("x", 4, 1)) // 4th: the batch is full, flush now
	out := p.Drain()
	ih := msgs(out, core.MsgIHave)
	if len(ih) != 6 || len(ih[0].Msg.IHaves) != 4 {
		t.Fatalf("flush %+v", ih)
	}
	if e := events(out, core.EventIHaveSent); len(e) != 6 || e[0].Count != 4 {
		t.Fatalf("events %+v", e)
	}
	// The pending-graft bound drops announcements (counted).
	q := fixture(t, func(c *core.Config) { c.MaxPendingGrafts = 2 })
	q.Receive(t0, "l0", ihave(ann("x", 1, 1), ann("x", 2, 1), ann("x", 3, 1)))
	out = q.Drain()
	if d := events(out, core.EventIHaveDropped); len(d) != 1 || d[0].Count != 1 || q.Stats().PendingGrafts != 2 {
		t.Fatalf("dropped %+v pending %d", d, q.Stats().PendingGrafts)
	}
}

// A lazy peer that announces a message we hold queued for it is not sent
// our announcement of it: it has the message. Both ends of a lazy link
// otherwise announce every message to each other.
func TestIHaveNotReturnedToItsAnnouncer(t *testing.T) {
	p := fixture(t, nil)
	p.Receive(t0, "e0", gossip("x", 1, 2))
	p.Receive(t0, "e0", gossip("x", 2, 2))
	p.Drain()
	// l0 announces x/1 (it got it at hop 3): only x/2 goes to l0; the other
	// lazy peers get both.
	p.Receive(t0.Add(ms(10)), "l0", ihave(ann("x", 1, 3)))
	p.Tick(t0.Add(time.Second))
	out := p.Drain()
	for _, ob := range msgs(out, core.MsgIHave) {
		want := 2
		if ob.To == "l0" {
			want = 1
		}
		if len(ob.Msg.IHaves) != want || (ob.To == "l0" && ob.Msg.IHaves[0].ID.Seq != 2) {
			t.Errorf("IHave to %s: %+v", ob.To, ob.Msg.IHaves)
		}
	}
	if n := len(msgs(out, core.MsgIHave)); n != 6 {
		t.Fatalf("%d IHave frames, want 6", n)
	}
	if s := p.Stats(); s.IHaveSuppressed != 1 || s.IHaveQueueSize != 0 {
		t.Fatalf("suppressed %d, queued %d", s.IHaveSuppressed, s.IHaveQueueSize)
	}
	// Every queued announcement answered: no frame at all to that peer.
	p.Receive(t0.Add(2*time.Second), "e0", gossip("x", 3, 2))
	p.Receive(t0.Add(2*time.Second+ms(5)), "l1", ihave(ann("x", 3, 2)))
	p.Tick(t0.Add(4 * time.Second))
	for _, ob := range msgs(p.Drain(), core.MsgIHave) {
		if ob.To == "l1" {
			t.Errorf("IHave sent to l1, which announced the message first: %+v", ob.Msg.IHaves)
		}
	}
}

// With Algorithm 4 on, an announcement that shows the lazy peer a path
// HopOptimizationThreshold hops shorter than its own copy is still sent:
// the peer re-parents on it.
func TestIHaveKeptWhenItShortensThePeersPath(t *testing.T) {
	p := fixture(t, func(c *core.Config) { c.HopOptimizationThreshold = 2 })
	p.Receive(t0, "e0", gossip("x", 1, 1))
	p.Drain()
	p.Receive(t0.Add(ms(10)), "l0", ihave(ann("x", 1, 5))) // l0 at hop 5; ours 1+1+2 <= 5
	p.Receive(t0.Add(ms(10)), "l1", ihave(ann("x", 1, 3))) // l1 at hop 3: no gain for it
	p.Tick(t0.Add(time.Second))
	got := map[core.PeerID]int{}
	for _, ob := range msgs(p.Drain(), core.MsgIHave) {
		got[ob.To] += len(ob.Msg.IHaves)
	}
	if got["l0"] != 1 || got["l1"] != 0 || got["l2"] != 1 {
		t.Fatalf("announcements per peer %v, want l0 1 (shorter path), l1 0, l2 1", got)
	}
}

func TestSeenSetBounds(t *testing.T) {
	p := fixture(t, func(c *core.Config) { c.SeenMaxSize = 2 })
	for s := uint64(1); s <= 3; s++ {
		p.Receive(t0, "e0", gossip("x", s, 1))
	}
	out := p.Drain()
	if e := events(out, core.EventSeenEviction); len(e) != 1 || e[0].Count != 1 || e[0].Reason != core.ReasonCapacity {
		t.Fatalf("evictions %+v", e)
	}
	// De-duplication does not depend on the seen set: a copy of a message
	// whose first-copy record was evicted is still not delivered again.
	first := core.MessageID{Origin: "x", Seq: 1}
	if !p.HasSeen(first) || !p.HasSeen(core.MessageID{Origin: "x", Seq: 3}) {
		t.Fatal("HasSeen forgot a delivered message")
	}
	p.Receive(t0, "e1", gossip("x", 1, 1))
	if len(p.Drain().Deliveries) != 0 {
		t.Error("a message whose seen entry was evicted was delivered again")
	}
	// TTL: SeenTTL defaults to 2 × MessageCacheTTL; expiry of the seen entry
	// does not make the message deliverable again either (the age rule
	// refuses it by then anyway).
	q := fixture(t, nil)
	q.Receive(t0, "e0", gossip("x", 1, 1))
	q.Tick(t0.Add(20*time.Minute + 1))
	if e := events(q.Drain(), core.EventSeenEviction); len(e) != 1 || e[0].Reason != core.ReasonExpired {
		t.Errorf("expiry events %+v", e)
	}
	// Own broadcasts are never delivered twice, even once forgotten.
	r := fixture(t, func(c *core.Config) { c.SeenMaxSize = 1 })
	id, _ := r.Broadcast(t0, []byte("a"), nil)
	r.Broadcast(t0, []byte("b"), nil)
	r.Drain()
	r.Receive(t0, "e0", core.Message{Type: core.MsgGossip, ID: id, OriginTime: t0, Hops: 3, Payload: []byte("a")})
	if out := r.Drain(); len(out.Deliveries) != 0 || len(events(out, core.EventDuplicate)) != 1 {
		t.Error("own forgotten message delivered again")
	}
}

func TestRemovePeerRepairsAndPartitions(t *testing.T) {
	p := fixture(t, func(c *core.Config) { c.LazyFanout = 1 })
	p.AddPeer(t0, "p0") // passive: the view (3 eager + 1 lazy) is full
	p.AddPeer(t0, "p1")
	p.RecordRTT(t0, "p1", ms(5))
	p.RecordRTT(t0, "p0", ms(50))
	p.Receive(t0, "p1", ihave(ann("x", 7, 1)))
	p.Drain()
	p.RemovePeer(t0, "e0")
	out := p.Drain()
	// The lost eager link is replaced: the lazy link is promoted (with a
	// link Graft) and a passive member asked for a new link (Join).
	if !contains(p.EagerPeers(), "l0") || len(p.EagerPeers()) != 3 {
		t.Fatalf("eager %v", p.EagerPeers())
	}
	if g := msgs(out, core.MsgGraft); len(g) != 1 || g[0].To != "l0" || len(g[0].Msg.IDs) != 0 {
		t.Fatalf("link graft %+v", g)
	}
	if j := msgs(out, core.MsgJoin); len(j) != 1 || (j[0].To != "p0" && j[0].To != "p1") {
		t.Fatalf("join %+v", j)
	}
	p.RemovePeer(t0, "p1")
	out = p.Drain()
	if e := events(out, core.EventMessagePartitioned); len(e) != 1 || e[0].ID != (core.MessageID{Origin: "x", Seq: 7}) {
		t.Fatalf("partitioned %+v", e)
	}
	if p.Stats().PendingGrafts != 0 {
		t.Error("pending left")
	}
	// A removed peer's late messages do not bring it back; AddPeer does.
	p.Receive(t0, "p1", core.Message{Type: core.MsgGraft})
	p.Receive(t0, "p1", gossip("y", 1, 1))
	if contains(p.EagerPeers(), "p1") || contains(p.LazyPeers(), "p1") || contains(p.PassivePeers(), "p1") {
		t.Error("removed peer re-added by its messages")
	}
	if len(p.Drain().Deliveries) != 1 {
		t.Error("message from a removed peer not delivered")
	}
	p.AddPeer(t0, "p1")
	if !contains(append(p.EagerPeers(), append(p.LazyPeers(), p.PassivePeers()...)...), "p1") {
		t.Error("AddPeer after RemovePeer ignored")
	}
}

func TestMaxEagerPeersCap(t *testing.T) {
	p := fixture(t, func(c *core.Config) { c.MaxEagerPeers = 3 })
	p.Receive(t0, "l0", core.Message{Type: core.MsgGraft})
	out := p.Drain()
	if len(p.EagerPeers()) != 3 || contains(p.EagerPeers(), "l0") {
		t.Fatalf("eager %v", p.EagerPeers())
	}
	if pr := msgs(out, core.MsgPrune); len(pr) != 1 || pr[0].To != "l0" {
		t.Errorf("no prune to the refused peer: %+v", out.Messages)
	}
}

func TestInvalidInputIsDroppedAndCounted(t *testing.T) {
	long := core.PeerID(strings.Repeat("z", core.MaxPeerIDLen+1))
	cases := []struct {
		name   string
		from   core.PeerID
		msg    core.Message
		reason core.Reason
	}{
		{"empty sender", "", gossip("x", 1, 1), core.ReasonMalformed},
		{"long sender", long, gossip("x", 1, 1), core.ReasonMalformed},
		{"self sender", "me", gossip("x", 1, 1), core.ReasonFromSelf},
		{"unknown type", "e0", core.Message{Type: 9}, core.ReasonMalformed},
		{"zero type", "e0", core.Message{}, core.ReasonMalformed},
		{"hops 0", "e0", gossip("x", 1, 0), core.ReasonMalformed},
		{"empty origin", "e0", gossip("", 1, 1), core.ReasonMalformed},
		{"long origin", "e0", gossip(long, 1, 1), core.ReasonMalformed},
		{"too large", "e0", core.Message{Type: core.MsgGossip, ID: core.MessageID{Origin: "x", Seq: 1}, Hops: 1, Payload: make([]byte, 64<<10+1)}, core.ReasonTooLarge},
		{"too many headers", "e0", core.Message{Type: core.MsgGossip, ID: core.MessageID{Origin: "x", Seq: 1}, Hops: 1, Headers: make([]core.Header, core.MaxHeaders+1)}, core.ReasonMalformed},
		{"own id never issued", "e0", gossip("me", 1<<63, 1), core.ReasonMalformed},
		{"ihave too long", "e0", core.Message{Type: core.MsgIHave, IHaves: make([]core.Announcement, core.MaxIHaveBatch+1)}, core.ReasonMalformed},
		{"ihave empty origin", "e0", ihave(ann("", 1, 1)), core.ReasonMalformed},
		{"graft too long", "e0", core.Message{Type: core.MsgGraft, IDs: make([]core.MessageID, core.MaxGraftIDs+1)}, core.ReasonMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := fixture(t, nil)
			before := p.Stats()
			p.Receive(t0, tc.from, tc.msg)
			out := p.Drain()
			inv := events(out, core.EventInvalidMessage)
			if len(inv) != 1 || inv[0].Reason != tc.reason {
				t.Fatalf("events %+v", out.Events)
			}
			if len(out.Messages)+len(out.Deliveries) != 0 {
				t.Fatalf("invalid input produced output: %+v", out)
			}
			after := p.Stats()
			if after.InvalidMessages != before.InvalidMessages+1 || after.MessagesDelivered != 0 || after.PendingGrafts != 0 || after.EagerPeers != 3 || after.LazyPeers != 6 {
				t.Fatalf("state changed: %+v", after)
			}
		})
	}
}

func TestTimeNeverGoesBackwards(t *testing.T) {
	p := fixture(t, nil)
	p.Receive(t0.Add(time.Second), "l0", ihave(ann("x", 1, 1)))
	d := p.NextDeadline()
	p.Tick(t0) // earlier: treated as the latest time seen
	p.Tick(time.Time{})
	p.Receive(time.Time{}, "l1", ihave(ann("x", 1, 1)))
	if got := p.NextDeadline(); !got.Equal(d) {
		t.Fatalf("deadline moved from %v to %v", d, got)
	}
	if len(msgs(p.Drain(), core.MsgGraft)) != 0 {
		t.Fatal("graft fired early")
	}
	if _, err := p.Broadcast(time.Time{}, nil, nil); err != nil {
		t.Fatal(err)
	}
	// A Protocol created at the zero time works too.
	q, err := core.New(core.DefaultConfig(), "me", nil, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	id, _ := q.Broadcast(time.Time{}, nil, nil)
	if id.Seq == 0 {
		t.Error("zero sequence")
	}
}

func TestCloseStopsEverything(t *testing.T) {
	p := fixture(t, nil)
	p.Broadcast(t0, []byte("x"), nil)
	p.Receive(t0, "l0", ihave(ann("x", 1, 1)))
	p.Drain()
	p.Close(t0)
	out := p.Drain()
	if len(msgs(out, core.MsgIHave)) != 6 {
		t.Errorf("queued IHaves not flushed on Close: %d", len(msgs(out, core.MsgIHave)))
	}
	if !p.NextDeadline().IsZero() || p.Stats().PendingGrafts != 0 {
		t.Error("timers left after Close")
	}
	p.Receive(t0, "e0", gossip("x", 2, 1))
	p.Tick(t0.Add(time.Hour))
	p.AddPeer(t0, "new")
	if out := p.Drain(); !out.Empty() {
		t.Errorf("output after Close: %+v", out)
	}
	if h := p.Health(t0); h.Status != core.Unhealthy || h.Message != "Protocol is shutting down" {
		t.Errorf("health %+v", h)
	}
}

func TestDeterministic(t *testing.T) {
	run := func() []core.Outbound {
		c := core.DefaultConfig()
		c.Seed = 42
		p, _ := core.New(c, "me", nil, t0)
		var all []core.Outbound
		for i := 0; i < 40; i++ {
			p.AddPeer(t0, core.PeerID(rune('A'+i)))
		}
		p.RemovePeer(t0, "B")
		p.RemovePeer(t0, "C")
		p.Tick(t0.Add(3 * time.Second))
		p.Tick(t0.Add(6 * time.Second))
		all = append(all, p.Drain().Messages...)
		return all
	}
	a, b := run(), run()
	if len(a) != len(b) {
		t.Fatal("different lengths")
	}
	for i := range a {
		if a[i].To != b[i].To || a[i].Msg.Type != b[i].Msg.Type {
			t.Fatalf("runs differ at %d", i)
		}
	}
}

func TestMaintenanceJitterAndAntiEntropy(t *testing.T) {
	c := core.DefaultConfig()
	p, _ := core.New(c, "me", nil, t0)
	d := p.NextDeadline().Sub(t0)
	if d < c.MaintenanceInterval-c.MaintenanceJitter || d > c.MaintenanceInterval+c.MaintenanceJitter {
		t.Fatalf("first maintenance after %v", d)
	}
	p.AddPeer(t0, "a")
	id, _ := p.Broadcast(t0, []byte("x"), nil)
	p.Drain()
	p.Tick(p.NextDeadline()) // a digest goes every 2nd round
	if dg := msgs(p.Drain(), core.MsgDigest); len(dg) != 0 {
		t.Fatalf("digest in the first round: %+v", dg)
	}
	p.Tick(p.NextDeadline())
	out := p.Drain()
	dg := msgs(out, core.MsgDigest)
	if len(dg) != 1 || dg[0].To != "a" || dg[0].Msg.Digest == nil || len(dg[0].Msg.Digest.Streams) != 1 {
		t.Fatalf("anti-entropy digest %+v", dg)
	}
	if e := dg[0].Msg.Digest.Streams[0]; e.Origin != "me" || !e.Complete || len(e.Runs) != 1 || e.Runs[0] != (core.SeqRange{First: id.Seq, Last: id.Seq}) {
		t.Errorf("digest entry %+v, want one run of %d", e, id.Seq)
	}
	if e := events(out, core.EventDigestSent); len(e) != 1 {
		t.Errorf("events %+v", e)
	}
}

// A lazy peer promoted before the IHave flush still hears of the messages
// forwarded while it was lazy: its queue is flushed, not dropped. (Found by
// the runtime's cluster benchmark: an origin whose lazy peers were promoted
// before the flush lost the message at every other node.)
func TestPromotedLazyPeerGetsQueuedAnnouncements(t *testing.T) {
	p := fixture(t, nil)
	id, err := p.Broadcast(t0, []byte("x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	p.Drain()
	// l0 asks for an eager link before the IHave interval expires.
	p.Receive(t0.Add(ms(1)), "l0", core.Message{Type: core.MsgGraft})
	out := p.Drain()
	var got bool
	for _, m := range msgs(out, core.MsgIHave) {
		if m.To == "l0" {
			for _, a := range m.Msg.IHaves {
				got = got || a.ID == id
			}
		}
	}
	if !got {
		t.Fatalf("l0 was promoted with %v queued and never told: messages %+v", id, out.Messages)
	}
	if !contains(p.EagerPeers(), "l0") {
		t.Fatalf("l0 not eager after its Graft: %v", p.EagerPeers())
	}
}

// A restarted node sends link requests as soon as it knows its members,
// often before their membership has seen it alive again. The request of a
// removed peer is remembered and honoured when the peer is re-added;
// dropping it left the restarted node with nobody pushing or announcing to
// it (examples' 32-node kill-and-restart test lost messages this way).
func TestLinkRequestFromRemovedPeerHonouredOnReadd(t *testing.T) {
	for _, tc := range []struct {
		name  string
		msg   core.Message
		eager bool
	}{
		{"join eager", core.Message{Type: core.MsgJoin, Eager: true, Urgent: true}, true},
		{"join lazy", core.Message{Type: core.MsgJoin, Urgent: true}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := fixture(t, nil)
			// A full active view: a newcomer would be passive by default.
			for i := 0; i < 6; i++ {
				p.AddPeer(t0, core.PeerID("x"+string(rune('0'+i))))
			}
			p.AddPeer(t0, "r")
			p.RemovePeer(t0.Add(ms(1)), "r")
			p.Receive(t0.Add(ms(2)), "r", tc.msg) // restarted r asks before it is re-added
			if contains(p.EagerPeers(), "r") || contains(p.LazyPeers(), "r") {
				t.Fatalf("a removed peer was re-added by its own message")
			}
			p.Drain()
			p.AddPeer(t0.Add(ms(3)), "r")
			if got := contains(p.EagerPeers(), "r"); got != tc.eager {
				t.Fatalf("eager=%v after re-add, want %v (eager %v lazy %v)", got, tc.eager, p.EagerPeers(), p.LazyPeers())
			}
			if !tc.eager && !contains(p.LazyPeers(), "r") {
				t.Fatalf("r not lazy after its Join and re-add: lazy %v", p.LazyPeers())
			}
			if r := msgs(p.Drain(), core.MsgJoinReply); len(r) != 1 || r[0].To != "r" || !r[0].Msg.Accepted {
				t.Fatalf("the Join is answered on re-add: %+v", r)
			}
		})
	}
}

// Delivery.Repaired tells the application which copies the tree did not
// push: the answer to a pull and an anti-entropy repair are repaired, a
// tree copy (even one that arrives after its announcement, before any
// Graft) is not.
func TestDeliveryRepairedMarksPulledAndRepairCopies(t *testing.T) {
	p := fixture(t, nil)
	only := func(out core.Output) core.Delivery {
		t.Helper()
		if len(out.Deliveries) != 1 {
			t.Fatalf("%d deliveries, want 1", len(out.Deliveries))
		}
		return out.Deliveries[0]
	}
	if d := only(func() core.Output { p.Receive(t0, "e0", gossip("x", 1, 1)); return p.Drain() }()); d.Repaired {
		t.Error("a tree copy is marked repaired")
	}
	p.Receive(t0.Add(ms(10)), "l1", ihave(ann("x", 2, 1)))
	p.Receive(t0.Add(ms(20)), "e0", gossip("x", 2, 1))
	if d := only(p.Drain()); d.Repaired {
		t.Error("a tree copy that came after its announcement, before a Graft, is marked repaired")
	}
	p.Receive(t0.Add(ms(30)), "l0", ihave(ann("x", 3, 1)))
	p.Tick(t0.Add(ms(1000))) // the Graft to l0
	p.Drain()
	p.Receive(t0.Add(ms(1100)), "l0", gossip("x", 3, 2))
	if d := only(p.Drain()); !d.Repaired {
		t.Error("the answer to a Graft is not marked repaired")
	}
	p.Receive(t0.Add(ms(1200)), "l1", core.Message{Type: core.MsgRepair, ID: core.MessageID{Origin: "y", Seq: 1}, OriginTime: t0, Hops: 1, Payload: []byte("r")})
	if d := only(p.Drain()); !d.Repaired {
		t.Error("an anti-entropy repair is not marked repaired")
	}
}

// A member we hold no link with that pushes us first copies believes in a
// link we do not hold (a lost Disconnect, crossed handshakes): it is told
// the link is gone, at most once per GraftTimeout; the answer to our own
// Graft from such a member is not a stray.
func TestOneSidedPusherIsDisconnected(t *testing.T) {
	p := fixture(t, nil)
	p.AddPeer(t0, "x") // full view: x stays passive
	p.Drain()
	p.Receive(t0, "x", gossip("o", 1, 1))
	if d := msgs(p.Drain(), core.MsgDisconnect); len(d) != 1 || d[0].To != "x" {
		t.Fatalf("first copy from a passive pusher not answered with a Disconnect: %+v", d)
	}
	if contains(p.EagerPeers(), "x") || contains(p.LazyPeers(), "x") {
		t.Fatalf("x linked by its stray copy: eager %v lazy %v", p.EagerPeers(), p.LazyPeers())
	}
	p.Receive(t0.Add(ms(1)), "x", gossip("o", 2, 1))
	if d := msgs(p.Drain(), core.MsgDisconnect); len(d) != 0 {
		t.Fatalf("Disconnect repeated within GraftTimeout: %+v", d)
	}
	// A pull: x announced, we grafted x, x answers.
	now := t0.Add(p.Config().GraftTimeout * 2)
	p.Receive(now, "x", ihave(ann("o", 3, 1)))
	p.Drain()
	var grafted bool
	for i := 0; i < 100 && !grafted; i++ {
		now = now.Add(p.Config().GraftTimeout)
		p.Tick(now)
		for _, g := range msgs(p.Drain(), core.MsgGraft) {
			grafted = grafted || (g.To == "x" && len(g.Msg.IDs) > 0)
		}
	}
	if !grafted {
		t.Fatal("no Graft to x for its announcement")
	}
	p.Receive(now, "x", gossip("o", 3, 1))
	out := p.Drain()
	if d := msgs(out, core.MsgDisconnect); len(d) != 0 {
		t.Fatalf("the answer to our Graft was treated as a stray: %+v", d)
	}
	if len(out.Deliveries) != 1 {
		t.Fatalf("pulled copy not delivered: %+v", out.Deliveries)
	}
}

// A member announcing to us as a lazy link we do not hold — passive, or
// unknown (forgotten by the passive view) — is told the link is gone after
// three IHaves, however far apart: one IHave per maintenance round (light
// traffic) must be enough.
func TestOneSidedAnnouncerIsDisconnected(t *testing.T) {
	for _, known := range []bool{true, false} {
		p := fixture(t, nil)
		if known {
			p.AddPeer(t0, "x") // full view: x stays passive
		}
		p.Drain()
		now := t0
		var sent []core.Outbound
		for k := 1; k <= 3; k++ {
			p.Receive(now, "x", ihave(ann("o", uint64(k), 1)))
			sent = append(sent, msgs(p.Drain(), core.MsgDisconnect)...)
			now = now.Add(p.Config().MaintenanceInterval * 2)
			p.Tick(now) // maintenance rounds between the IHaves
			p.Drain()
		}
		if len(sent) != 1 || sent[0].To != "x" {
			t.Errorf("known %v: three IHaves over three maintenance rounds: Disconnects %+v, want one to x", known, sent)
		}
	}
}

// The store New makes when given none is bounded in bytes as well as in
// messages (DefaultMemStoreBytes): valid messages from anyone, 64 KiB
// each, used to fill all MessageCacheMaxSize (65,536) entries, 4 GiB.
func TestDefaultStoreBoundedInBytes(t *testing.T) {
	a := newAE(t, "a", func(c *core.Config) { c.MaxLargeMessageSize = 0 }, "b")
	if got := core.DefaultMemStoreBytes(core.DefaultConfig()); got != 64<<20+(256<<20)*9/8 {
		t.Errorf("DefaultMemStoreBytes of the default config = %d, want 64 MiB and 288 MiB for a large message's parts", got)
	}
	payload := make([]byte, 60<<10)
	now := t0.Add(time.Second)
	for i := range 1200 { // 70 MiB
		id := core.MessageID{Origin: "z", Seq: uint64(i + 1)}
		a.Receive(now, "b", core.Message{Type: core.MsgGossip, ID: id, OriginTime: now, Hops: 1, Payload: payload})
		a.Drain()
	}
	if st := a.Stats(); st.MessagesDelivered != 1200 || st.CacheSize != (64<<20)/(60<<10) {
		t.Fatalf("1,200 messages of 60 KiB: %d delivered, %d stored; want 1200 and %d (64 MiB)", st.MessagesDelivered, st.CacheSize, (64<<20)/(60<<10))
	}
}
