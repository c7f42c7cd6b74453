package tcp

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
)

// At the connection bound, a new connection — dialed or accepted — closes
// the one idle longest to make room, without losing a frame, and the peer
// whose connection went is reached again by a new dial. The regression:
// connections were never closed when idle, so at the bound a node refused
// every new connection — here, the third peer's frames never arrived. Every
// pair of members exchanges anti-entropy digests sooner or later, so a node
// of a cluster larger than WithMaxConns (1024) would have stopped accepting
// connections, links included, once it had talked to that many members.
func TestIdleConnectionsMakeRoom(t *testing.T) {
	const bound, peers = 2, 5
	// Idle for a nanosecond: any connection not in use this instant may go.
	a := newTransport(t, "a", WithMaxConns(bound), WithEvictIdle(time.Nanosecond))
	var bs []*Transport
	for i := range peers {
		id := core.PeerID(fmt.Sprintf("b%d", i))
		b := newTransport(t, id)
		b.SetPeerAddr("a", a.Addr().String())
		a.SetPeerAddr(id, b.Addr().String())
		bs = append(bs, b)
	}
	seq := uint64(0)
	// Each round: a sends three frames to every peer in turn, and every
	// peer sends one back, so both the dialing and the accepting side need
	// room. Every frame arrives, once.
	for round := range 3 {
		for i, b := range bs {
			id := core.PeerID(fmt.Sprintf("b%d", i))
			var want []uint64
			for range 3 {
				seq++
				want = append(want, seq)
				sendRetry(t, a, id, testFrame(seq, 64), 10*time.Second)
			}
			var got []uint64
			for _, f := range recvN(t, b, 3, 60*time.Second) {
				if f.From != "a" {
					t.Fatalf("round %d: %s got a frame from %s", round, id, f.From)
				}
				got = append(got, frameSeq(f.Data))
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Fatalf("round %d: %s got frames %v, want %v", round, id, got, want)
			}
			seq++
			sendRetry(t, b, "a", testFrame(seq, 64), 10*time.Second)
			if f := recvN(t, a, 1, 60*time.Second)[0]; f.From != id || frameSeq(f.Data) != seq {
				t.Fatalf("round %d: a got frame %d from %s, want %d from %s", round, frameSeq(f.Data), f.From, seq, id)
			}
		}
	}
	s := a.Stats()
	if s.Evicted == 0 || s.Rejected != 0 {
		t.Fatalf("evicted %d, rejected %d: want evictions and no rejection", s.Evicted, s.Rejected)
	}
	// The evicted connections close once their peers have seen the end:
	// the bound holds again.
	eventually(t, 60*time.Second, fmt.Sprintf("at most %d open connections", bound), func() bool {
		s := a.Stats()
		return s.Conns+s.Handshaking <= bound
	})
}

// A connection in use is not closed to make room: with an evict-idle time
// no connection has reached, the bound refuses as it always did, and with
// eviction off too.
func TestBusyConnectionsAreNotEvicted(t *testing.T) {
	for _, idle := range []time.Duration{time.Hour, 0} {
		t.Run(fmt.Sprint(idle), func(t *testing.T) {
			a := newTransport(t, "a", WithMaxConns(1), WithEvictIdle(idle))
			b := newTransport(t, "b")
			c := newTransport(t, "c", WithBackoff(time.Millisecond, 5*time.Millisecond))
			a.SetPeerAddr("b", b.Addr().String())
			sendRetry(t, a, "b", testFrame(1, 64), 10*time.Second)
			recvN(t, b, 1, 60*time.Second)
			// c dials a: refused, again and again; b's connection stays.
			c.SetPeerAddr("a", a.Addr().String())
			sendRetry(t, c, "a", testFrame(2, 64), 10*time.Second)
			eventually(t, 60*time.Second, "a to refuse c twice", func() bool { return a.Stats().Rejected >= 2 })
			if s := a.Stats(); s.Evicted != 0 || s.ConnectedPeers != 1 {
				t.Fatalf("evicted %d, connected peers %d: b's connection should stay", s.Evicted, s.ConnectedPeers)
			}
			sendRetry(t, a, "b", testFrame(3, 64), 10*time.Second)
			if f := recvN(t, b, 1, 60*time.Second)[0]; frameSeq(f.Data) != 3 {
				t.Fatalf("b got frame %d, want 3", frameSeq(f.Data))
			}
		})
	}
}
