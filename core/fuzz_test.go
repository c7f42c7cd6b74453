package core

import (
	"encoding/binary"
	"testing"
	"time"
)

// FuzzReceive feeds arbitrary input sequences to one Protocol: the bytes are
// read as a program of inputs (peer changes, messages of every type with
// arbitrary ids, hop counts, sizes and batch lengths, ticks with times going
// forwards, backwards or to zero). The Protocol must never panic and its
// invariants must hold after every input.
func FuzzReceive(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
	f.Add([]byte("\x00a\x00b\x00c\x03a\x01\x05\x02b\x07\x04\x04\x05\x06\x07"))
	f.Add(make([]byte, 64))
	f.Fuzz(func(t *testing.T, data []byte) {
		c := DefaultConfig()
		c.EagerFanout, c.LazyFanout, c.MaxPassivePeers = 2, 2, 3
		c.IHaveBatchSize, c.MaxGraftsPerInterval = 2, 3
		c.SeenMaxSize, c.MaxPendingGrafts, c.MaxAnnouncers = 5, 3, 2
		c.MaxMessageSize, c.MaxLargeMessageSize = 32, 0
		c.UseHashRing = len(data) > 0 && data[0]&1 == 1
		c.MaxProtectedNeighbors = 2
		now := time.Unix(1000, 0)
		p, err := New(c, "me", nil, now)
		if err != nil {
			t.Fatal(err)
		}
		peers := []PeerID{"a", "b", "c", "d", "e", "me", ""}
		next := func() byte {
			if len(data) == 0 {
				return 0
			}
			b := data[0]
			data = data[1:]
			return b
		}
		id := func() MessageID {
			return MessageID{Origin: peers[int(next())%len(peers)], Seq: uint64(next() % 8)}
		}
		for len(data) > 0 {
			op, from := next(), peers[int(next())%len(peers)]
			switch op % 13 {
			case 0:
				p.AddPeer(now, from)
			case 1:
				p.RemovePeer(now, from)
			case 2:
				p.Receive(now, from, Message{Type: MsgGossip, ID: id(), OriginTime: now.Add(time.Duration(int8(next())) * time.Minute), Hops: uint16(next()) * 257, Payload: make([]byte, next()%40)})
			case 3:
				anns := make([]Announcement, next()%5)
				for i := range anns {
					anns[i] = Announcement{ID: id(), Hops: uint16(next()), OriginTime: now}
				}
				p.Receive(now, from, Message{Type: MsgIHave, IHaves: anns})
			case 4:
				ids := make([]MessageID, next()%4)
				for i := range ids {
					ids[i] = id()
				}
				p.Receive(now, from, Message{Type: MsgGraft, IDs: ids})
			case 5:
				switch t := MessageType(next() % 12); t {
				case MsgDigest:
					// A digest of arbitrary streams, floors and runs
					// (valid or not).
					d := &Digest{AllStreams: next()%2 == 0, Reply: next()%2 == 0}
					for range next() % 4 {
						e := StreamDigest{Origin: peers[int(next())%len(peers)], Floor: uint64(next() % 8), Complete: next()%2 == 0, Newest: now.Add(-time.Duration(next()) * time.Second)}
						for range next() % 4 {
							f := uint64(next() % 12)
							e.Runs = append(e.Runs, SeqRange{First: f, Last: f + uint64(next()%3)})
						}
						d.Streams = append(d.Streams, e)
					}
					p.Receive(now, from, Message{Type: MsgDigest, Digest: d})
				case MsgRepair:
					p.Receive(now, from, Message{Type: MsgRepair, ID: id(), OriginTime: now.Add(-time.Duration(next()) * time.Second * 4), Hops: uint16(next()), Payload: make([]byte, next()%40)})
				default:
					p.Receive(now, from, Message{Type: t})
				}
			case 6:
				var b [2]byte
				b[0], b[1] = next(), next()
				now = now.Add(time.Duration(int16(binary.LittleEndian.Uint16(b[:]))) * time.Millisecond * 10)
				p.Tick(now)
			case 7:
				p.Tick(time.Time{})
			case 8:
				p.Broadcast(now, make([]byte, next()%40), nil)
			case 9:
				p.RecordRTT(now, from, time.Duration(next())*time.Millisecond)
			case 10:
				f := next()
				p.Receive(now, from, Message{Type: MsgJoin, Eager: f&1 != 0, Urgent: f&2 != 0})
			case 11:
				f := next()
				p.Receive(now, from, Message{Type: MsgJoinReply, Accepted: f&1 != 0, Eager: f&2 != 0})
			case 12:
				p.Receive(now, from, Message{Type: MsgDisconnect})
				p.SetOverloaded(now, next()&1 != 0)
			}
			p.Drain()
			if err := p.checkInvariants(); err != nil {
				t.Fatal(err)
			}
			p.Health(now)
			p.Stats()
		}
	})
}
