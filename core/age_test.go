package core_test

import (
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
)

// The age rule, with the default retention R = 10 min and skew S = 30 s: a
// copy whose origin time is R + S + 1 s old, or S + 1 s in the future, is
// refused on every path — not delivered, stored, forwarded or announced as
// Gossip or Repair, not grafted when announced, not sent in answer to a
// Graft or a digest. Copies just inside the window are accepted (a Gossip
// is pushed on, a Repair announced: see TestRepairIsAnnouncedNotPushed).
func TestAgeRuleRefusesOldAndFutureCopies(t *testing.T) {
	c := core.DefaultConfig()
	R, S := c.MessageCacheTTL, c.ClockSkew
	if R != 10*time.Minute || S != 30*time.Second {
		t.Fatalf("defaults R %v S %v", R, S)
	}
	now := t0.Add(time.Hour)
	cases := []struct {
		name string
		ot   time.Time
		ok   bool
	}{
		{"too old", now.Add(-R - S - time.Second), false},
		{"too far ahead", now.Add(S + time.Second), false},
		{"oldest accepted", now.Add(-R - S + time.Second), true},
		{"furthest ahead accepted", now.Add(S - time.Second), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := core.MessageID{Origin: "x", Seq: 1}
			for _, typ := range []core.MessageType{core.MsgGossip, core.MsgRepair} {
				p := fixture(t, nil)
				p.Tick(now)
				p.Drain()
				p.Receive(now, "e0", core.Message{Type: typ, ID: id, OriginTime: tc.ot, Hops: 1, Payload: []byte("p")})
				out := p.Drain()
				delivered := len(out.Deliveries) == 1
				forwarded := len(msgs(out, core.MsgGossip)) > 0
				if delivered != tc.ok || forwarded != (tc.ok && typ == core.MsgGossip) || p.HasSeen(id) != tc.ok || p.Stats().CacheSize != b2i(tc.ok) {
					t.Fatalf("%v: delivered %v forwarded %v seen %v cached %d, want %v", typ, delivered, forwarded, p.HasSeen(id), p.Stats().CacheSize, tc.ok)
				}
				// Announced: queued only when accepted.
				if queued := p.Stats().IHaveQueueSize > 0; queued != tc.ok {
					t.Fatalf("%v: announcements queued %v, want %v", typ, queued, tc.ok)
				}
				if !tc.ok {
					if e := events(out, core.EventAgeRefused); len(e) != 1 || p.Stats().AgeRefused != 1 {
						t.Fatalf("%v: refusal events %+v", typ, e)
					}
				}
				// Announced later: no Graft for a refused message (and none
				// for an accepted one either, it is delivered).
				p.Receive(now, "l0", ihave(core.Announcement{ID: id, Hops: 1, OriginTime: tc.ot}))
				p.Tick(now.Add(time.Minute))
				if g := msgs(p.Drain(), core.MsgGraft); len(g) != 0 {
					t.Fatalf("%v: grafted %+v", typ, g)
				}
			}
			// An announcement alone: grafted only inside the window.
			p := fixture(t, nil)
			p.Tick(now)
			p.Drain()
			p.Receive(now, "l0", ihave(core.Announcement{ID: id, Hops: 1, OriginTime: tc.ot}))
			p.Tick(now.Add(core.DefaultConfig().GraftTimeout)) // still inside the window
			grafted := false
			for _, g := range msgs(p.Drain(), core.MsgGraft) {
				grafted = grafted || len(g.Msg.IDs) > 0
			}
			if grafted != tc.ok {
				t.Fatalf("announcement grafted %v, want %v", grafted, tc.ok)
			}
		})
	}
}

// A stored message is served (Graft, digest) only while it is inside the
// window: once R + S have passed since its origin time, a Graft is not
// answered and a digest that lacks it gets no Repair, even though it was
// received late (its age is the origin's, not the receiver's).
func TestAgeRuleStoredCopiesStopBeingServed(t *testing.T) {
	c := core.DefaultConfig()
	R, S := c.MessageCacheTTL, c.ClockSkew
	now := t0.Add(time.Hour)
	ot := now.Add(-R + 10*time.Second) // received when already almost R old
	p := fixture(t, func(c *core.Config) { c.AntiEntropyBatch = 256 })
	p.Tick(now)
	id := core.MessageID{Origin: "x", Seq: 1}
	p.Receive(now, "e0", core.Message{Type: core.MsgGossip, ID: id, OriginTime: ot, Hops: 1, Payload: []byte("p")})
	if len(p.Drain().Deliveries) != 1 {
		t.Fatal("not delivered inside the window")
	}
	empty := &core.Digest{AllStreams: true, Reply: true}
	// Inside the window: served.
	p.Receive(now.Add(time.Second), "l1", core.Message{Type: core.MsgDigest, Digest: empty})
	if r := msgs(p.Drain(), core.MsgRepair); len(r) != 1 || !r[0].Msg.OriginTime.Equal(ot) {
		t.Fatalf("repairs inside the window %+v", r)
	}
	late := ot.Add(R + S + time.Second)
	p.Receive(late, "l1", core.Message{Type: core.MsgGraft, IDs: []core.MessageID{id}})
	out := p.Drain()
	if g := msgs(out, core.MsgGossip); len(g) != 0 || len(events(out, core.EventGraftUnanswerable)) != 1 {
		t.Fatalf("graft answered past the window: %+v", g)
	}
	p.Receive(late, "l1", core.Message{Type: core.MsgDigest, Digest: empty})
	if r := msgs(p.Drain(), core.MsgRepair); len(r) != 0 {
		t.Fatalf("repaired past the window: %+v", r)
	}
	// And a copy arriving then is not delivered again.
	p.Receive(late, "e1", core.Message{Type: core.MsgGossip, ID: id, OriginTime: ot, Hops: 1, Payload: []byte("p")})
	if len(p.Drain().Deliveries) != 0 {
		t.Fatal("delivered twice")
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// An announcement accepted just inside the window is not grafted once the
// message ages out while its Graft waits (deferred or backing off).
func TestAgeRuleAppliesToPendingGrafts(t *testing.T) {
	c := core.DefaultConfig()
	R, S := c.MessageCacheTTL, c.ClockSkew
	now := t0.Add(time.Hour)
	p := fixture(t, nil)
	p.Tick(now)
	p.Drain()
	ot := now.Add(-R - S + 100*time.Millisecond) // ages out before the graft timeout
	p.Receive(now, "l0", ihave(core.Announcement{ID: core.MessageID{Origin: "x", Seq: 1}, Hops: 1, OriginTime: ot}))
	if p.Stats().PendingGrafts != 1 {
		t.Fatal("announcement inside the window not pending")
	}
	p.Tick(now.Add(c.GraftTimeout))
	out := p.Drain()
	for _, g := range msgs(out, core.MsgGraft) {
		if len(g.Msg.IDs) > 0 {
			t.Fatalf("grafted an aged-out message: %+v", g)
		}
	}
	if p.Stats().PendingGrafts != 0 || len(events(out, core.EventAgeRefused)) != 1 {
		t.Fatalf("pending %d, refusals %d", p.Stats().PendingGrafts, len(events(out, core.EventAgeRefused)))
	}
}
