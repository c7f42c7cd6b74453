package core_test

import (
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
)

// benchProto has 4 eager peers (e0..e3) and 6 lazy peers (l0..l5); a Gossip
// from e3 is delivered, forwarded to 3 eager peers and announced to 6 lazy.
func benchProto(b *testing.B, mod func(*core.Config)) *core.Protocol {
	return fixture(b, func(c *core.Config) {
		c.EagerFanout = 4
		c.MaintenanceInterval = 24 * time.Hour
		c.MaintenanceJitter = 0
		if mod != nil {
			mod(c)
		}
	})
}

// BenchmarkReceiveGossipNew: a first copy: deliver, store, forward to 3
// eager peers, queue an IHave for 6 lazy peers (flushed every 16 messages),
// drain the output.
func BenchmarkReceiveGossipNew(b *testing.B) {
	p := benchProto(b, nil)
	payload := make([]byte, 1024)
	msg := core.Message{Type: core.MsgGossip, ID: core.MessageID{Origin: "origin"}, Hops: 2, OriginTime: t0, Payload: payload}
	now := t0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		msg.ID.Seq = uint64(i)
		p.Receive(now, "e3", msg)
		out := p.Drain()
		if len(out.Deliveries) != 1 {
			b.Fatal("not delivered")
		}
	}
}

// BenchmarkReceiveGossipDuplicate: a copy already delivered (counted, event
// emitted; the threshold is out of reach so no Prune is sent).
func BenchmarkReceiveGossipDuplicate(b *testing.B) {
	p := benchProto(b, func(c *core.Config) { c.OptimizationThreshold = 1 << 20 })
	msg := core.Message{Type: core.MsgGossip, ID: core.MessageID{Origin: "origin", Seq: 1}, Hops: 2, OriginTime: t0, Payload: make([]byte, 1024)}
	p.Receive(t0, "e3", msg)
	p.Drain()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p.Receive(t0, "e1", msg)
		out := p.Drain()
		if len(out.Deliveries) != 0 {
			b.Fatal("delivered twice")
		}
	}
}

// BenchmarkReceiveIHave: "seen" is the steady state of a settled tree (an
// IHave of 16 ids the node already has); "new" announces one unknown id,
// which starts a graft timer (the Protocol is renewed every 8192 ids so the
// pending set stays below its bound, outside the timer).
func BenchmarkReceiveIHave(b *testing.B) {
	b.Run("seen", func(b *testing.B) {
		p := benchProto(b, nil)
		anns := make([]core.Announcement, 16)
		for i := range anns {
			m := core.Message{Type: core.MsgGossip, ID: core.MessageID{Origin: "origin", Seq: uint64(i)}, Hops: 1, OriginTime: t0}
			p.Receive(t0, "e3", m)
			anns[i] = core.Announcement{ID: m.ID, Hops: 3, OriginTime: t0}
		}
		p.Drain()
		msg := core.Message{Type: core.MsgIHave, IHaves: anns}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			p.Receive(t0, "l0", msg)
			p.Drain()
		}
	})
	b.Run("new", func(b *testing.B) {
		p := benchProto(b, nil)
		anns := []core.Announcement{{ID: core.MessageID{Origin: "origin"}, Hops: 1, OriginTime: t0}}
		msg := core.Message{Type: core.MsgIHave, IHaves: anns}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if i%8192 == 8191 {
				b.StopTimer()
				p = benchProto(b, nil)
				b.StartTimer()
			}
			anns[0].ID.Seq = uint64(i)
			p.Receive(t0, "l0", msg)
			p.Drain()
		}
	})
}
