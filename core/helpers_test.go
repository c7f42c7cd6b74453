package core_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
)

var t0 = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

// fixture is one Protocol with 3 eager peers e0..e2 and 6 lazy peers
// l0..l5 (EagerFanout 3, LazyFanout 6 unless mod changes them: AddPeer asks
// the first EagerFanout peers for eager links and the next LazyFanout for
// lazy ones, and each accepts).
func fixture(t testing.TB, mod func(*core.Config)) *core.Protocol {
	t.Helper()
	return fixtureStore(t, mod, nil)
}

// fixtureStore is fixture with the given payload store (nil: a MemStore).
func fixtureStore(t testing.TB, mod func(*core.Config), store core.Store) *core.Protocol {
	t.Helper()
	c := core.DefaultConfig()
	c.AntiEntropyBatch = 0
	c.EagerFanout, c.LazyFanout, c.MaxEagerPeers = 3, 6, 0
	if mod != nil {
		mod(&c)
	}
	p, err := core.New(c, "me", store, t0)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < c.EagerFanout; i++ {
		p.AddPeer(t0, core.PeerID(fmt.Sprintf("e%d", i)))
		acceptJoins(p, t0)
	}
	for i := 0; i < c.LazyFanout; i++ {
		p.AddPeer(t0, core.PeerID(fmt.Sprintf("l%d", i)))
		acceptJoins(p, t0)
	}
	p.Drain()
	return p
}

// acceptJoins answers every Join p sent since the last Drain with an
// acceptance of the link asked for, and returns the rest of the output.
func acceptJoins(p *core.Protocol, now time.Time) core.Output {
	out := p.Drain()
	var joins []core.Outbound
	for _, ob := range out.Messages {
		if ob.Msg.Type == core.MsgJoin {
			joins = append(joins, ob)
		}
	}
	for _, j := range joins {
		p.Receive(now, j.To, core.Message{Type: core.MsgJoinReply, Accepted: true, Eager: j.Msg.Eager})
	}
	return out
}

func events(o core.Output, k core.EventKind) []core.Event {
	var r []core.Event
	for _, e := range o.Events {
		if e.Kind == k {
			r = append(r, e)
		}
	}
	return r
}

func msgs(o core.Output, typ core.MessageType) []core.Outbound {
	var r []core.Outbound
	for _, m := range o.Messages {
		if m.Msg.Type == typ {
			r = append(r, m)
		}
	}
	return r
}

func targets(obs []core.Outbound) []core.PeerID {
	r := make([]core.PeerID, len(obs))
	for i, o := range obs {
		r[i] = o.To
	}
	return r
}

func gossip(origin core.PeerID, seq uint64, hops uint16) core.Message {
	return core.Message{Type: core.MsgGossip, ID: core.MessageID{Origin: origin, Seq: seq}, Hops: hops, OriginTime: t0, Payload: []byte("payload")}
}

func ihave(anns ...core.Announcement) core.Message {
	return core.Message{Type: core.MsgIHave, IHaves: anns}
}

func ann(origin core.PeerID, seq uint64, hops uint16) core.Announcement {
	return core.Announcement{ID: core.MessageID{Origin: origin, Seq: seq}, Hops: hops, OriginTime: t0}
}

func contains(ids []core.PeerID, id core.PeerID) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}
