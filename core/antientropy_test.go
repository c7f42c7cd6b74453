package core_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
)

// newAE returns a Protocol with anti-entropy on, knowing the given peers.
func newAE(t testing.TB, self core.PeerID, mod func(*core.Config), peers ...core.PeerID) *core.Protocol {
	t.Helper()
	c := core.DefaultConfig()
	c.MaintenanceJitter = 0
	if mod != nil {
		mod(&c)
	}
	p, err := core.New(c, self, nil, t0)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range peers {
		p.AddPeer(t0, q)
	}
	p.Drain()
	return p
}

// exchange delivers every message between a and b until none is left and
// returns how many messages of each type crossed.
func exchange(now time.Time, a, b *core.Protocol, first []core.Outbound, from core.PeerID) map[core.MessageType]int {
	count := map[core.MessageType]int{}
	type hop struct {
		to   *core.Protocol
		from core.PeerID
		msg  core.Message
	}
	var q []hop
	push := func(src core.PeerID, obs []core.Outbound) {
		for _, o := range obs {
			switch o.To {
			case a.Self():
				q = append(q, hop{a, src, o.Msg})
			case b.Self():
				q = append(q, hop{b, src, o.Msg})
			}
		}
	}
	push(from, first)
	for len(q) > 0 {
		h := q[0]
		q = q[1:]
		count[h.msg.Type]++
		h.to.Receive(now, h.from, h.msg)
		push(h.to.Self(), h.to.Drain().Messages)
	}
	return count
}

// A digest exchange repairs both sides: each gets, as Repair messages, the
// stored messages it lacks (delivered once), and a second exchange sends
// nothing but the two digests.
func TestDigestExchangeRepairsBothWays(t *testing.T) {
	a := newAE(t, "a", nil, "b")
	b := newAE(t, "b", nil, "a")
	var fromA, fromB []core.MessageID
	for i := range 5 {
		id, _ := a.Broadcast(t0.Add(time.Duration(i)*time.Millisecond), []byte("a"), nil)
		fromA = append(fromA, id)
		id, _ = b.Broadcast(t0.Add(time.Duration(i)*time.Millisecond), []byte("b"), nil)
		fromB = append(fromB, id)
	}
	a.Drain() // the eager pushes are lost
	b.Drain()
	now := t0.Add(time.Minute)
	a.Tick(now) // a's first round: no digest (one every 2nd round)
	if d := msgs(a.Drain(), core.MsgDigest); len(d) != 0 {
		t.Fatalf("first round sent %+v", d)
	}
	now = a.NextDeadline()
	a.Tick(now) // a's second round: its digest goes to b (b has sent none)
	var dg []core.Outbound
	for _, o := range a.Drain().Messages {
		if o.Msg.Type == core.MsgDigest {
			dg = append(dg, o)
		}
	}
	if len(dg) != 1 || dg[0].To != "b" {
		t.Fatalf("round digests %+v", dg)
	}
	n := exchange(now, a, b, dg, "a")
	if n[core.MsgRepair] != 10 || n[core.MsgDigest] != 2 {
		t.Fatalf("exchange %v, want 10 repairs and 2 digests", n)
	}
	for _, id := range fromB {
		if !a.HasSeen(id) {
			t.Fatalf("a lacks %v", id)
		}
	}
	for _, id := range fromA {
		if !b.HasSeen(id) {
			t.Fatalf("b lacks %v", id)
		}
	}
	if d := a.Stats().MessagesDelivered + b.Stats().MessagesDelivered; d != 20 {
		t.Fatalf("%d deliveries, want 20 (10 own, 10 repaired)", d)
	}
	// Once in sync, an exchange carries the digests only.
	d := b.Stats().Counters
	a.Tick(now.Add(5 * time.Second))
	n = exchange(now.Add(5*time.Second), a, b, a.Drain().Messages, "a")
	if n[core.MsgRepair] != 0 || b.Stats().MessagesDelivered != d.MessagesDelivered {
		t.Fatalf("second exchange %v", n)
	}
}

// Anti-entropy leaves young messages to the tree: nothing younger than
// AntiEntropyMinAge is repaired.
func TestDigestLeavesYoungMessagesToTheTree(t *testing.T) {
	a := newAE(t, "a", nil, "b")
	a.Broadcast(t0, []byte("x"), nil)
	a.Drain()
	empty := &core.Digest{AllStreams: true, Reply: true}
	a.Receive(t0.Add(time.Second), "b", core.Message{Type: core.MsgDigest, Digest: empty})
	if r := msgs(a.Drain(), core.MsgRepair); len(r) != 0 {
		t.Fatalf("repaired a 1 s old message: %+v", r)
	}
	a.Receive(t0.Add(6*time.Second), "b", core.Message{Type: core.MsgDigest, Digest: empty})
	if r := msgs(a.Drain(), core.MsgRepair); len(r) != 1 {
		t.Fatalf("repairs %+v", r)
	}
}

// Digests are answered per sender within a token bucket: an empty digest is
// a few bytes and asks for everything stored (up to AntiEntropyBytes), so a
// flood of them from one peer, or from senders the node does not track,
// must not make the node repair without end. The limit is 4 at once, then
// 2 per GraftTimeout; each tracked peer has its own bucket, untracked
// senders share one.
func TestDigestAnswersRateLimitedPerSender(t *testing.T) {
	a := newAE(t, "a", nil, "b", "c")
	for i := range 3 {
		a.Broadcast(t0.Add(time.Duration(i)*time.Millisecond), []byte("x"), nil)
	}
	a.Drain()
	empty := &core.Digest{AllStreams: true, Reply: true}
	now := t0.Add(time.Minute)
	answered := func(from core.PeerID, digests int) (repairs, limited int) {
		for range digests {
			a.Receive(now, from, core.Message{Type: core.MsgDigest, Digest: empty})
			out := a.Drain()
			repairs += len(msgs(out, core.MsgRepair))
			limited += len(events(out, core.EventDigestRateLimited))
		}
		return repairs, limited
	}
	if r, l := answered("b", 100); r != 4*3 || l != 96 {
		t.Fatalf("100 digests from b at once: %d repairs, %d limited; want 12 (4 answers of 3) and 96", r, l)
	}
	if got := a.Stats().DigestRateLimited; got != 96 {
		t.Fatalf("Stats().DigestRateLimited = %d, want 96", got)
	}
	// c has a bucket of its own.
	if r, _ := answered("c", 1); r != 3 {
		t.Fatalf("c's digest answered with %d repairs after b's flood, want 3", r)
	}
	// Untracked senders share one bucket: 4 answers among all of them.
	var r int
	for i := range 20 {
		n, _ := answered(core.PeerID(fmt.Sprintf("stranger-%d", i)), 1)
		r += n
	}
	if r != 4*3 {
		t.Fatalf("20 strangers' digests: %d repairs, want 12", r)
	}
	// The bucket refills at 2 per GraftTimeout (500 ms): one more answer
	// after 250 ms, not two.
	now = now.Add(250 * time.Millisecond)
	if r, l := answered("b", 2); r != 3 || l != 1 {
		t.Fatalf("b after 250 ms: %d repairs, %d limited; want 3 and 1", r, l)
	}
}

// An answer is bounded by AntiEntropyBatch and sends the oldest first.
func TestDigestAnswerBoundedOldestFirst(t *testing.T) {
	a := newAE(t, "a", func(c *core.Config) { c.AntiEntropyBatch = 3 }, "b")
	for i := range 10 {
		a.Broadcast(t0.Add(time.Duration(i)*time.Second), []byte("x"), nil)
	}
	a.Drain()
	a.Receive(t0.Add(time.Minute), "b", core.Message{Type: core.MsgDigest, Digest: &core.Digest{AllStreams: true, Reply: true}})
	r := msgs(a.Drain(), core.MsgRepair)
	if len(r) != 3 {
		t.Fatalf("%d repairs, want 3", len(r))
	}
	for i, o := range r {
		if want := t0.Add(time.Duration(i) * time.Second); !o.Msg.OriginTime.Equal(want) {
			t.Fatalf("repair %d has origin time %v, want %v", i, o.Msg.OriginTime, want)
		}
	}
}

// The digest's size depends on the streams and their gaps, not on the
// message rate: the same origins sending 10 or 10,000 messages, with the
// same loss pattern, give digests of the same size, below the byte bound.
func TestDigestSizeIndependentOfRate(t *testing.T) {
	size := func(perOrigin int) (int, int) {
		p := newAE(t, "me", nil, "peer")
		maxSize := 0
		for o := range 20 {
			origin := core.PeerID(fmt.Sprintf("origin-%02d", o))
			for s := 1; s <= perOrigin; s++ {
				if s == 10 || s == 20 || s == 30 || s == perOrigin-1 {
					continue // the same four gaps per origin
				}
				at := t0.Add(time.Duration(s) * time.Minute / time.Duration(perOrigin))
				p.Receive(at, "peer", core.Message{Type: core.MsgRepair, ID: core.MessageID{Origin: origin, Seq: uint64(s)}, OriginTime: at, Hops: 1, Payload: []byte("x")})
			}
		}
		p.Drain()
		p.Tick(t0.Add(time.Minute + 3*time.Second))
		for _, o := range msgs(p.Drain(), core.MsgDigest) {
			n := 0
			for _, e := range o.Msg.Digest.Streams {
				n += 1 + len(e.Origin) + 30 + 20*len(e.Runs)
			}
			maxSize = max(maxSize, n)
		}
		return maxSize, p.Stats().Streams
	}
	slow, ns := size(100)
	fast, nf := size(10000)
	if slow == 0 || slow != fast || ns != 20 || nf != 20 {
		t.Fatalf("digest bound %d bytes at 100 msgs/origin, %d at 10,000 (streams %d, %d)", slow, fast, ns, nf)
	}
	if fast > core.DefaultConfig().AntiEntropyDigestBytes {
		t.Fatalf("digest %d bytes above the bound", fast)
	}
}

// Digests that are not valid (runs out of order, too many streams) are
// refused as malformed, never answered.
func TestDigestInvalidRefused(t *testing.T) {
	a := newAE(t, "a", nil, "b")
	bad := &core.Digest{Streams: []core.StreamDigest{{Origin: "x", Floor: 5, Runs: []core.SeqRange{{First: 3, Last: 4}}}}}
	a.Receive(t0, "b", core.Message{Type: core.MsgDigest, Digest: bad})
	a.Receive(t0, "b", core.Message{Type: core.MsgDigest})
	out := a.Drain()
	if len(out.Messages) != 0 || len(events(out, core.EventInvalidMessage)) != 2 {
		t.Fatalf("invalid digests: %+v", out)
	}
}

// A digest is answered with a digest only when it shows something the
// receiver lacks; a node sends a digest every 2nd maintenance round, and
// every 4th, then every 8th while nothing stirs (traffic does not), every
// round while it mends (a pull or a Repair delivered something since its
// last round's digest), and every 2nd again after a member fails.
func TestDigestQuietCost(t *testing.T) {
	a := newAE(t, "a", nil, "b")
	b := newAE(t, "b", nil, "a")
	id, _ := a.Broadcast(t0, []byte("x"), nil)
	a.Drain()
	b.Receive(t0, "a", core.Message{Type: core.MsgRepair, ID: id, OriginTime: t0, Hops: 1, Payload: []byte("x")})
	b.Drain()
	if !b.HasSeen(id) {
		t.Fatal("b did not deliver")
	}
	// In sync: b's digest to a is not answered.
	b.Receive(t0.Add(time.Second), "a", core.Message{Type: core.MsgDigest, Digest: &core.Digest{AllStreams: true, Streams: []core.StreamDigest{{Origin: "a", Runs: []core.SeqRange{{First: id.Seq, Last: id.Seq}}, Complete: true, Newest: t0}}}})
	if dg := msgs(b.Drain(), core.MsgDigest); len(dg) != 0 {
		t.Fatalf("digest answered while in sync: %+v", dg)
	}
	// Lacking: answered.
	b.Receive(t0.Add(time.Second), "a", core.Message{Type: core.MsgDigest, Digest: &core.Digest{AllStreams: true, Streams: []core.StreamDigest{{Origin: "a", Runs: []core.SeqRange{{First: id.Seq, Last: id.Seq + 1}}, Complete: true, Newest: t0}}}})
	if dg := msgs(b.Drain(), core.MsgDigest); len(dg) != 1 || !dg[0].Msg.Digest.Reply {
		t.Fatalf("digest not answered while lacking: %+v", dg)
	}
	// Rounds: quiet ones (1-8), then each with a new broadcast (9-16).
	// Round 2 sends (a knew no member at its last digest: b's addition
	// stirred), then every period in which nothing stirred doubles the
	// next: rounds 4, 8 and 16, up to 8 rounds. Traffic does not stir: a
	// round with news used to send a digest, so traffic made every round
	// send one, and a digest cannot repair news younger than
	// AntiEntropyMinAge anyway. Then a message a pulls before round 17
	// (the tree lost it; its peers may lack it too): round 17 sends at
	// once, and round 19 is the next, after which the period doubles
	// again. Then member c joins before round 21 (it gets a digest at
	// once, not counted here): rounds 21-24 send, as a healed partition's
	// nodes do while they exchange what each side missed, then 26 and 30.
	// c fails before round 33: 33 sends, then 35.
	var sent []int
	interval := core.DefaultConfig().MaintenanceInterval
	for round := 1; round <= 36; round++ {
		now := t0.Add(time.Duration(round) * interval)
		if round == 33 {
			a.RemovePeer(now.Add(-interval*3/4), "c")
			a.Drain()
		}
		if round == 21 {
			a.AddPeer(now.Add(-interval*3/4), "c")
			if dg := msgs(a.Drain(), core.MsgDigest); len(dg) != 1 || dg[0].To != "c" {
				t.Fatalf("no digest for the new member: %+v", dg)
			}
		}
		if round > 8 && round <= 16 {
			if _, err := a.Broadcast(now.Add(-interval/2), []byte("y"), nil); err != nil {
				t.Fatal(err)
			}
		}
		if round == 17 {
			lost := core.MessageID{Origin: "b", Seq: 1}
			at := now.Add(-interval * 3 / 4)
			a.Receive(at, "b", core.Message{Type: core.MsgIHave, IHaves: []core.Announcement{{ID: lost, Hops: 1, OriginTime: at}}})
			a.Drain()
			a.Tick(a.NextDeadline())
			if g := msgs(a.Drain(), core.MsgGraft); len(g) != 1 {
				t.Fatalf("no Graft for the announced message: %+v", g)
			}
			a.Receive(a.NextDeadline().Add(-time.Millisecond), "b", core.Message{Type: core.MsgGossip, ID: lost, OriginTime: at, Hops: 1, Payload: []byte("z")})
			a.Drain()
			if st := a.Stats().Counters; !a.HasSeen(lost) || st.GraftSuccess != 1 {
				t.Fatalf("the pull did not deliver: %+v", st)
			}
		}
		a.Tick(now)
		if len(msgs(a.Drain(), core.MsgDigest)) > 0 {
			sent = append(sent, round)
		}
	}
	if want := "[2 4 8 16 17 19 21 22 23 24 26 30 33 35]"; fmt.Sprint(sent) != want {
		t.Fatalf("digests in rounds %v, want %s", sent, want)
	}
}

// A cut the membership did not see stirs a quiet node once traffic crosses
// it again: a delivery that leaves a gap below it in its origin's stream
// (b/2 was lost) returns the node to a digest every 2nd round, so that it
// asks for what it lacks within 2 rounds instead of up to 8. An in-order
// delivery does not stir it.
func TestQuietDigestsStirredByAGap(t *testing.T) {
	a := newAE(t, "a", nil, "b")
	interval := core.DefaultConfig().MaintenanceInterval
	gossip := func(at time.Time, seq uint64) {
		a.Receive(at, "b", core.Message{Type: core.MsgGossip, ID: core.MessageID{Origin: "b", Seq: seq}, OriginTime: at, Hops: 1, Payload: []byte("p")})
		a.Drain()
	}
	var sent []int
	for round := 1; round <= 30; round++ {
		now := t0.Add(time.Duration(round) * interval)
		switch round {
		case 10:
			gossip(now.Add(-interval/2), 1)
		case 20:
			gossip(now.Add(-interval/2), 3)
		}
		a.Tick(now)
		if len(msgs(a.Drain(), core.MsgDigest)) > 0 {
			sent = append(sent, round)
		}
	}
	// 2, 4 (period 4), 8 (period 8), 16; b/1 in round 10 is in order: no
	// digest until 24 would follow. b/3 before round 20 opens a gap: round
	// 20 sends (4 rounds since 16), then 22, 26.
	if want := "[2 4 8 16 20 22 26]"; fmt.Sprint(sent) != want {
		t.Fatalf("digests in rounds %v, want %s", sent, want)
	}
	if a.HasSeen(core.MessageID{Origin: "b", Seq: 2}) {
		t.Fatal("b/2 seen")
	}
}

// A catch-up does not wait for rounds: when the ask window ends after
// repairs that delivered something, the node asks the peer that sent them
// again, since an answer is bounded; once that peer has nothing more, the
// node stops asking.
func TestCatchUpAsksAgainUntilDone(t *testing.T) {
	cfg := func(c *core.Config) {
		c.AntiEntropyBatch = 3
		c.MaintenanceInterval = 30 * time.Second
	}
	a := newAE(t, "a", cfg, "b")
	b := newAE(t, "b", cfg, "a")
	var ids []core.MessageID
	for i := range 10 {
		id, _ := a.Broadcast(t0.Add(time.Duration(i)*time.Millisecond), []byte("x"), nil)
		ids = append(ids, id)
	}
	a.Drain() // the eager pushes are lost
	has := func() int {
		n := 0
		for _, id := range ids {
			if b.HasSeen(id) {
				n++
			}
		}
		return n
	}
	// A digest goes every 2nd round: a's first (t0 + 30 s) and b's first
	// (late, at t0 + 60 s) send nothing; a's second shows b what it lacks,
	// b asks, a answers with the oldest three. The next rounds are at
	// t0 + 90 s.
	now := t0.Add(30 * time.Second)
	a.Tick(now)
	if d := msgs(a.Drain(), core.MsgDigest); len(d) != 0 {
		t.Fatalf("a's first round sent %+v", d)
	}
	now = t0.Add(time.Minute)
	b.Tick(now)
	if d := msgs(b.Drain(), core.MsgDigest); len(d) != 0 {
		t.Fatalf("b's first round sent %+v", d)
	}
	a.Tick(now)
	exchange(now, a, b, msgs(a.Drain(), core.MsgDigest), "a")
	if got := has(); got != 3 {
		t.Fatalf("b has %d after the first answer, want 3", got)
	}
	// Every window end (a GraftTimeout after the last repair) asks again,
	// well before the next round.
	step := core.DefaultConfig().GraftTimeout
	for i, want := range []int{6, 9, 10, 10} {
		now = now.Add(step)
		if d := b.NextDeadline(); d.After(now) {
			t.Fatalf("ask %d: next deadline %v after the window's end %v", i+1, d, now)
		}
		b.Tick(now)
		asks := msgs(b.Drain(), core.MsgDigest)
		if len(asks) != 1 || asks[0].To != "a" {
			t.Fatalf("ask %d: digests %+v, want one to a", i+1, asks)
		}
		exchange(now, a, b, asks, "b")
		if got := has(); got != want {
			t.Fatalf("ask %d: b has %d, want %d", i+1, got, want)
		}
	}
	// The last ask got nothing back: no more asks before the next round.
	now = now.Add(step)
	b.Tick(now)
	if asks := msgs(b.Drain(), core.MsgDigest); len(asks) != 0 {
		t.Fatalf("asked again after a has nothing more: %+v", asks)
	}
	if d := b.NextDeadline(); !d.Equal(t0.Add(90 * time.Second)) {
		t.Fatalf("next deadline %v, want the next round", d)
	}
}

// Repairs keep a node from asking only for a while after its last digest
// (aeMaxHold ask windows): a member that sends it a Repair every half
// graft timeout, here always the same duplicate, does not stop its digests.
func TestRepairsDoNotHoldAsksForever(t *testing.T) {
	b := newAE(t, "b", nil, "a", "x")
	id := core.MessageID{Origin: "a", Seq: 1}
	b.Receive(t0, "a", core.Message{Type: core.MsgGossip, ID: id, OriginTime: t0, Hops: 1, Payload: []byte("m")})
	b.Drain()
	step := core.DefaultConfig().GraftTimeout / 2
	digests := 0
	for now := t0.Add(step); now.Before(t0.Add(40 * time.Second)); now = now.Add(step) {
		b.Receive(now, "x", core.Message{Type: core.MsgRepair, ID: id, OriginTime: t0, Hops: 2, Payload: []byte("m")})
		b.Tick(now)
		digests += len(msgs(b.Drain(), core.MsgDigest))
	}
	if got := b.Stats().Counters.RepairDuplicate; got == 0 {
		t.Fatal("no duplicate Repair counted")
	}
	// Rounds come every 2 s, and a quiet node sends a digest every other
	// one; after each digest the Repairs hold the next for up to 5 s (10
	// windows).
	if digests < 4 {
		t.Fatalf("%d digests in 40 s of duplicate Repairs every %v, want at least 4", digests, step)
	}
	t.Logf("%d digests", digests)
}

// Origins listed in a peer's digest are tracked as empty streams, so that
// this node's digests ask for them, but only up to an eighth of
// MaxStreams and never at a full table: origins made up in digests do not
// make the node forget the streams of messages it delivered.
func TestDigestOriginsCannotEvictDeliveredStreams(t *testing.T) {
	const maxStreams = 16
	a := newAE(t, "a", func(c *core.Config) { c.MaxStreams = maxStreams }, "b")
	now := t0.Add(time.Second)
	real := 12
	for i := range real {
		id := core.MessageID{Origin: core.PeerID(fmt.Sprintf("o%d", i)), Seq: 1}
		a.Receive(now, "b", core.Message{Type: core.MsgGossip, ID: id, OriginTime: now, Hops: 1, Payload: []byte("p")})
	}
	a.Drain()
	listing := func(prefix string, n int) *core.Digest {
		d := &core.Digest{Reply: true}
		for i := range n {
			d.Streams = append(d.Streams, core.StreamDigest{Origin: core.PeerID(fmt.Sprintf("%s%d", prefix, i)), Newest: now, Complete: true})
		}
		return d
	}
	a.Receive(now, "b", core.Message{Type: core.MsgDigest, Digest: listing("fake", 100)})
	a.Drain()
	st := a.Stats()
	// 12 delivered streams, a's own (it has broadcast nothing: none), and
	// 16/8 = 2 learnt ones.
	if st.Streams != real+2 || st.StreamsNotLearnt != 98 || st.StreamsForgotten != 0 {
		t.Fatalf("after a digest of 100 unknown origins: %d streams, %d not learnt, %d forgotten; want %d, 98, 0",
			st.Streams, st.StreamsNotLearnt, st.StreamsForgotten, real+2)
	}
	// A learnt stream that gets a message is a stream like any other: its
	// place among the learnt ones is free again.
	a.Receive(now, "b", core.Message{Type: core.MsgGossip, ID: core.MessageID{Origin: "fake0", Seq: 1}, OriginTime: now, Hops: 1, Payload: []byte("p")})
	a.Drain()
	now = now.Add(time.Minute) // past the digest rate limit
	a.Receive(now, "b", core.Message{Type: core.MsgDigest, Digest: listing("more", 1)})
	a.Drain()
	if st := a.Stats(); st.Streams != real+3 || st.StreamsNotLearnt != 98 {
		t.Fatalf("after a learnt stream delivered: %d streams, %d not learnt; want %d and 98", st.Streams, st.StreamsNotLearnt, real+3)
	}
	// 15 of 16 streams (12, fake0, fake1, more0): a new origin's message
	// takes the last place, and only the next one makes the table forget
	// a stream, the stalest.
	for i := range 2 {
		id := core.MessageID{Origin: core.PeerID(fmt.Sprintf("late%d", i)), Seq: 1}
		a.Receive(now, "b", core.Message{Type: core.MsgGossip, ID: id, OriginTime: now, Hops: 1, Payload: []byte("p")})
	}
	a.Drain()
	if st := a.Stats(); st.Streams != maxStreams || st.StreamsForgotten != 1 {
		t.Fatalf("two new origins at 15 of 16 streams: %d streams, %d forgotten; want 16 and 1", st.Streams, st.StreamsForgotten)
	}
	// At a full table a digest's origins are not learnt at all.
	now = now.Add(time.Minute)
	a.Receive(now, "b", core.Message{Type: core.MsgDigest, Digest: listing("full", 3)})
	a.Drain()
	if st := a.Stats(); st.StreamsForgotten != 1 || st.StreamsNotLearnt != 101 {
		t.Fatalf("a digest at a full table: %d forgotten, %d not learnt; want 1 and 101", st.StreamsForgotten, st.StreamsNotLearnt)
	}
}
