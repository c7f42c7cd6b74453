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
// l0..l5 (AddPeer places the first EagerFanout peers eager and the next
// LazyFanout lazy).
func fixture(t testing.TB, mod func(*core.Config)) *core.Protocol {
	t.Helper()
	c := core.DefaultConfig()
	c.AntiEntropyBatch = 0
	if mod != nil {
		mod(&c)
	}
	p, err := core.New(c, "me", nil, t0)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < c.EagerFanout; i++ {
		p.AddPeer(t0, core.PeerID(fmt.Sprintf("e%d", i)))
	}
	for i := 0; i < c.LazyFanout; i++ {
		p.AddPeer(t0, core.PeerID(fmt.Sprintf("l%d", i)))
	}
	p.Drain()
	return p
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
