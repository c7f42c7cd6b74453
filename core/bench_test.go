package core_test

import (
	"fmt"
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

// receiveNew hands p a first copy from eager peer e3 and checks that it is
// delivered.
func receiveNew(b *testing.B, p *core.Protocol, msg core.Message) {
	p.Receive(t0, "e3", msg)
	if out := p.Drain(); len(out.Deliveries) != 1 {
		b.Fatal("not delivered")
	}
}

// BenchmarkReceiveGossipNewAtCapacity: BenchmarkReceiveGossipNew once the
// store is full (65,536 messages: every first copy also forgets the oldest
// stored message in the stream summaries), from 1, 64 or 1,024 origins in
// turn. Each op costs the same however long the benchmark runs: moving the
// whole held list forward at each eviction once cost 30-40 µs per message.
func BenchmarkReceiveGossipNewAtCapacity(b *testing.B) {
	for _, origins := range []int{1, 64, 1024} {
		b.Run(fmt.Sprintf("origins-%d", origins), func(b *testing.B) {
			p := benchProto(b, nil)
			ids := make([]core.PeerID, origins)
			for i := range ids {
				ids[i] = core.PeerID(fmt.Sprintf("origin-%04d", i))
			}
			seq := make([]uint64, origins)
			msg := core.Message{Type: core.MsgGossip, Hops: 2, OriginTime: t0, Payload: make([]byte, 1024)}
			step := func(i int) {
				o := i % origins
				seq[o]++
				msg.ID = core.MessageID{Origin: ids[o], Seq: seq[o]}
				receiveNew(b, p, msg)
			}
			fill := p.Config().MessageCacheMaxSize + 1000
			for i := range fill {
				step(i)
			}
			if got := p.Stats().CacheSize; got != p.Config().MessageCacheMaxSize {
				b.Fatalf("store holds %d messages, want it full (%d)", got, p.Config().MessageCacheMaxSize)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				step(fill + i)
			}
		})
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

// idleNode is a LAN-configured node with 31 peers (eager and lazy links
// formed) that has delivered and stored 8 messages from each of 32 origins
// (itself included), then gone quiet.
func idleNode(b *testing.B) (*core.Protocol, time.Time) {
	c := core.LANConfig()
	c.Seed = 1
	p, err := core.New(c, "me", nil, t0)
	if err != nil {
		b.Fatal(err)
	}
	for i := range 31 {
		p.AddPeer(t0, core.PeerID(fmt.Sprintf("p%02d", i)))
		acceptJoins(p, t0)
	}
	now := t0
	for seq := uint64(1); seq <= 8; seq++ {
		now = now.Add(10 * time.Millisecond)
		if _, err := p.Broadcast(now, make([]byte, 1024), nil); err != nil {
			b.Fatal(err)
		}
		for i := range 31 {
			from := core.PeerID(fmt.Sprintf("p%02d", i))
			p.Receive(now, from, core.Message{Type: core.MsgGossip, ID: core.MessageID{Origin: from, Seq: seq}, Hops: 1, OriginTime: now, Payload: make([]byte, 1024)})
		}
		p.Drain()
	}
	return p, now
}

// BenchmarkIdleSecond: one second of virtual time of a quiet node (see
// idleNode): every Tick its NextDeadline asks for (maintenance round with
// anti-entropy, seen-set and stream expiry) and the Drain after it. The node
// is renewed every 300 virtual seconds outside the timer, so its streams
// and store stay as they are (nothing reaches MessageCacheTTL).
func BenchmarkIdleSecond(b *testing.B) {
	p, now := idleNode(b)
	start := now
	ticks := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if now.Sub(start) >= 300*time.Second {
			b.StopTimer()
			p, now = idleNode(b)
			start = now
			b.StartTimer()
		}
		end := now.Add(time.Second)
		for {
			dl := p.NextDeadline()
			if dl.IsZero() || dl.After(end) {
				break
			}
			now = dl
			p.Tick(now)
			p.Drain()
			ticks++
		}
		now = end
	}
	b.ReportMetric(float64(ticks)/float64(b.N), "ticks/s")
	st := p.Stats()
	if st.Counters.MessagesDelivered < 31*8 {
		b.Fatalf("idle node delivered %d messages, want %d: %+v", st.Counters.MessagesDelivered, 31*8, st.Counters)
	}
	b.Logf("digests sent %d, streams %d", st.Counters.DigestSent, st.Streams)
}

// BenchmarkReceiveGossipNewOriginAtStreamCapacity: a first copy from an
// origin the node does not track, with the stream table full (MaxStreams
// 256, 1,024 or 4,096 origins): every message also forgets the stalest
// stream. The origins cycle through twice the bound, so each one was
// forgotten before it comes again; the store is full.
func BenchmarkReceiveGossipNewOriginAtStreamCapacity(b *testing.B) {
	for _, streams := range []int{256, 1024, 4096} {
		b.Run(fmt.Sprintf("streams-%d", streams), func(b *testing.B) {
			p := benchProto(b, func(c *core.Config) { c.MaxStreams = streams })
			ids := make([]core.PeerID, 2*streams)
			for i := range ids {
				ids[i] = core.PeerID(fmt.Sprintf("origin-%05d", i))
			}
			seq := make([]uint64, len(ids))
			msg := core.Message{Type: core.MsgGossip, Hops: 2, OriginTime: t0, Payload: make([]byte, 1024)}
			step := func(i int) {
				o := i % len(ids)
				seq[o]++
				msg.ID = core.MessageID{Origin: ids[o], Seq: seq[o]}
				receiveNew(b, p, msg)
			}
			// Past the store's bound too, so that no ring grows in the
			// timed loop.
			fill := max(2*len(ids), p.Config().MessageCacheMaxSize+4096)
			for i := range fill {
				step(i)
			}
			if got := p.Stats().Streams; got != streams {
				b.Fatalf("%d streams, want the table full (%d)", got, streams)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				step(fill + i)
			}
		})
	}
}

// BenchmarkReceiveGossipNewAtGapBound: a first copy that opens a new gap in
// a stream already at its gap bound (MaxStreamGaps 256 or 4,096; every
// other sequence is missing), so each message also gives up the lowest gap,
// with the store full.
func BenchmarkReceiveGossipNewAtGapBound(b *testing.B) {
	for _, gaps := range []int{256, 4096} {
		b.Run(fmt.Sprintf("gaps-%d", gaps), func(b *testing.B) {
			p := benchProto(b, func(c *core.Config) { c.MaxStreamGaps = gaps })
			msg := core.Message{Type: core.MsgGossip, Hops: 2, OriginTime: t0, Payload: make([]byte, 1024)}
			step := func(i int) {
				msg.ID = core.MessageID{Origin: "origin", Seq: 2 * uint64(i+1)}
				receiveNew(b, p, msg)
			}
			// Past the store's bound too, so that no ring grows in the
			// timed loop: the steady state of a lossy stream.
			fill := p.Config().MessageCacheMaxSize + 4096
			for i := range fill {
				step(i)
			}
			if p.Stats().GapsLost == 0 {
				b.Fatal("gap bound not reached")
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				step(fill + i)
			}
		})
	}
}

// fullStoreNode returns a node with anti-entropy on whose store is full
// (65,536 messages, from origins in turn, sequences 1..n per origin), at
// 10 s after the last (older than AntiEntropyMinAge), and the last
// sequence per origin.
func fullStoreNode(b *testing.B, origins int) (*core.Protocol, []core.PeerID, []uint64, time.Time) {
	p := benchProto(b, func(c *core.Config) { c.AntiEntropyBatch = 256 })
	ids := make([]core.PeerID, origins)
	for i := range ids {
		ids[i] = core.PeerID(fmt.Sprintf("origin-%04d", i))
	}
	seq := make([]uint64, origins)
	msg := core.Message{Type: core.MsgGossip, Hops: 2, OriginTime: t0, Payload: make([]byte, 1024)}
	// Past the bound by 4,096: every origin's first sequences are gone.
	// One message per millisecond: the repairs are sorted by distinct
	// origin times, as in a real stream.
	now := t0
	for i := range p.Config().MessageCacheMaxSize + 4096 {
		o := i % origins
		seq[o]++
		now = t0.Add(time.Duration(i) * time.Millisecond)
		msg.ID, msg.OriginTime = core.MessageID{Origin: ids[o], Seq: seq[o]}, now
		p.Receive(now, "e3", msg)
		p.Drain()
	}
	if got := p.Stats().CacheSize; got != p.Config().MessageCacheMaxSize {
		b.Fatalf("store holds %d messages, want it full", got)
	}
	return p, ids, seq, now.Add(10 * time.Second)
}

// BenchmarkReceiveDigestAtCapacity: a digest received by a node whose store
// is full (65,536 messages from 1, 64 or 1,024 origins).
//
//   - "behind-by-one": every stream of the digest lacks one old sequence
//     (below what the node still stores) and has everything after it: there
//     is nothing to send, the steady state of a peer that lost a message no
//     one stores any more (its gap stays until the age bound).
//   - "empty": a digest listing no stream, with AllStreams: a new node,
//     which lacks everything; each digest answers it with one batch (256
//     messages).
func BenchmarkReceiveDigestAtCapacity(b *testing.B) {
	for _, origins := range []int{1, 64, 1024} {
		b.Run(fmt.Sprintf("behind-by-one/origins-%d", origins), func(b *testing.B) {
			p, ids, seq, now := fullStoreNode(b, origins)
			d := core.Digest{Streams: make([]core.StreamDigest, origins), AllStreams: true}
			for i, o := range ids {
				d.Streams[i] = core.StreamDigest{Origin: o, Runs: []core.SeqRange{{First: 2, Last: seq[i]}}, Complete: true, Newest: t0}
			}
			benchDigest(b, p, now, core.Message{Type: core.MsgDigest, Digest: &d}, 0)
		})
		b.Run(fmt.Sprintf("empty/origins-%d", origins), func(b *testing.B) {
			p, _, _, now := fullStoreNode(b, origins)
			benchDigest(b, p, now, core.Message{Type: core.MsgDigest, Digest: &core.Digest{AllStreams: true, Reply: true}}, 256)
		})
	}
}

// benchDigest times p's answer to the digest msg from l0, which must be
// want messages every time.
func benchDigest(b *testing.B, p *core.Protocol, now time.Time, msg core.Message, want int) {
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p.Receive(now, "l0", msg)
		if out := p.Drain(); len(out.Messages) != want {
			b.Fatalf("answered with %d messages, want %d", len(out.Messages), want)
		}
	}
}

// BenchmarkReceiveRepairOldAtCapacity: a repair of an old message of a busy
// origin (below every sequence the node stores of it) with the store full
// of that origin's messages: the catch-up of a node that missed a stretch
// of the stream. The message is held, then forgotten at once by the held
// bound (it is the oldest), so the state stays as it is.
func BenchmarkReceiveRepairOldAtCapacity(b *testing.B) {
	p := benchProto(b, nil)
	const hole = 1 << 22
	msg := core.Message{Type: core.MsgGossip, Hops: 2, OriginTime: t0, Payload: make([]byte, 1024)}
	for i := range p.Config().MessageCacheMaxSize + 1000 {
		msg.ID = core.MessageID{Origin: "origin", Seq: hole + uint64(i)}
		p.Receive(t0, "e3", msg)
		p.Drain()
	}
	msg.Type = core.MsgRepair
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i >= hole-1 {
			b.Fatal("hole too small")
		}
		msg.ID = core.MessageID{Origin: "origin", Seq: uint64(i + 1)}
		receiveNew(b, p, msg)
	}
}

// BenchmarkReceiveIHaveQueued: an IHave from a lazy peer announcing the
// batch-size-minus-one messages this node has just queued an announcement
// of for that same peer (both ends of a lazy link get most messages at
// once, and each announces them to the other): every id is taken out of
// the queue (unqueueIHave). IHaveBatchSize 64 (the default), 256 or 1,024
// (MaxIHaveBatch, where the tuner may take it under load). An op is one
// such IHave from each of the 6 lazy peers; the queues are filled again
// outside the timer.
func BenchmarkReceiveIHaveQueued(b *testing.B) {
	for _, batch := range []int{64, 256, 1024} {
		b.Run(fmt.Sprintf("batch-%d", batch), func(b *testing.B) {
			p := benchProto(b, func(c *core.Config) {
				c.IHaveBatchSize = batch
				c.IHaveInterval = time.Hour
			})
			msg := core.Message{Type: core.MsgGossip, Hops: 2, OriginTime: t0, Payload: make([]byte, 1024)}
			anns := make([]core.Announcement, batch-1)
			seq := uint64(0)
			fill := func() {
				for i := range anns {
					seq++
					msg.ID = core.MessageID{Origin: "origin", Seq: seq}
					p.Receive(t0, "e3", msg)
					anns[i] = core.Announcement{ID: msg.ID, Hops: 2, OriginTime: t0}
				}
				p.Drain()
			}
			ihave := core.Message{Type: core.MsgIHave, IHaves: anns}
			lazy := []core.PeerID{"l0", "l1", "l2", "l3", "l4", "l5"}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				fill()
				if st := p.Stats(); st.IHaveQueueSize != 6*(batch-1) {
					b.Fatalf("%d queued, want %d", st.IHaveQueueSize, 6*(batch-1))
				}
				b.StartTimer()
				for _, l := range lazy {
					p.Receive(t0, l, ihave)
				}
				p.Drain()
			}
			if st := p.Stats(); st.IHaveQueueSize != 0 {
				b.Fatalf("%d queued after the IHaves, want 0", st.IHaveQueueSize)
			}
		})
	}
}

// BenchmarkRemovePeerPendingFull: a membership change (a passive member
// added, then removed) while 1,000 or 10,000 (MaxPendingGrafts) announced
// messages wait, each announced by the 6 lazy peers: the removal looks for
// the member among every pending message's announcers.
func BenchmarkRemovePeerPendingFull(b *testing.B) {
	for _, pending := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("pending-%d", pending), func(b *testing.B) {
			p := benchProto(b, nil)
			anns := make([]core.Announcement, 100)
			for k := 0; k < pending; k += len(anns) {
				for i := range anns {
					anns[i] = core.Announcement{ID: core.MessageID{Origin: "origin", Seq: uint64(k + i + 1)}, Hops: 1, OriginTime: t0}
				}
				for _, l := range []core.PeerID{"l0", "l1", "l2", "l3", "l4", "l5"} {
					p.Receive(t0, l, core.Message{Type: core.MsgIHave, IHaves: anns})
				}
				p.Drain()
			}
			if got := p.Stats().PendingGrafts; got != pending {
				b.Fatalf("%d pending, want %d", got, pending)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				p.AddPeer(t0, "x")
				p.RemovePeer(t0, "x")
				p.Drain()
			}
		})
	}
}

// BenchmarkStateSave: the snapshot core/node writes every StateSaveInterval
// (1 s) while the node delivers: State and MarshalBinary of a full stream
// table (4,096 streams) with no gap, 16 gaps or the gap bound (256) per
// stream. Linear in the summaries, and paid in full at every save: once
// through a State (what a caller of the API does), once by AppendState into
// a reused buffer (what core/node does).
func BenchmarkStateSave(b *testing.B) {
	for _, gaps := range []int{0, 16, 256} {
		b.Run(fmt.Sprintf("gaps-%d", gaps), func(b *testing.B) {
			c := core.DefaultConfig()
			p, err := core.New(c, "me", nil, t0)
			if err != nil {
				b.Fatal(err)
			}
			st := core.State{NextSeq: 1, Streams: make([]core.StreamState, c.MaxStreams)}
			for i := range st.Streams {
				ss := core.StreamState{Origin: core.PeerID(fmt.Sprintf("origin-%04d", i)), Floor: 10, Newest: t0}
				for g := range gaps {
					f := uint64(12 + 2*g)
					ss.Runs = append(ss.Runs, core.StateRun{First: f, Last: f, FirstTime: t0})
				}
				st.Streams[i] = ss
			}
			if err := p.Restore(st); err != nil {
				b.Fatal(err)
			}
			b.Run("State+MarshalBinary", func(b *testing.B) {
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					if _, err := p.State().MarshalBinary(); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("AppendState", func(b *testing.B) {
				b.ReportAllocs()
				var buf []byte
				for i := 0; i < b.N; i++ {
					var err error
					if buf, err = p.AppendState(buf[:0]); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
