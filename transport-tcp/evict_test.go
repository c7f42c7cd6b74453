package tcp

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/core/node"
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

// A connection that carries no frame for the idle timeout is closed unless
// its peer is kept (KeepPeers: the node's overlay links), and the peer is
// reached again by a new dial. Without it a node held a connection to every
// member it ever sent an anti-entropy digest to.
func TestIdleConnectionsAreClosed(t *testing.T) {
	a := newTransport(t, "a", WithIdleTimeout(200*time.Millisecond))
	var _ node.LinkKeeper = a // core/node tells it its links
	a.KeepPeers([]core.PeerID{"b0"})
	var bs []*Transport
	seq := uint64(0)
	roundTrip := func() {
		t.Helper()
		for i, b := range bs {
			seq++
			sendRetry(t, a, b.Self(), testFrame(seq, 64), 10*time.Second)
			if f := recvN(t, b, 1, 30*time.Second)[0]; frameSeq(f.Data) != seq {
				t.Fatalf("b%d got frame %d, want %d", i, frameSeq(f.Data), seq)
			}
		}
	}
	for i := range 3 {
		id := core.PeerID(fmt.Sprintf("b%d", i))
		b := newTransport(t, id, WithIdleTimeout(0)) // only a closes
		b.SetPeerAddr("a", a.Addr().String())
		a.SetPeerAddr(id, b.Addr().String())
		bs = append(bs, b)
	}
	// b0 first: its connection is the oldest, the first to go if keeping
	// failed.
	roundTrip()
	eventually(t, 30*time.Second, "the two idle connections closed", func() bool {
		s := a.Stats()
		return s.Evicted == 2 && s.ConnectedPeers == 1
	})
	a.mu.Lock()
	kept := a.peers["b0"].conn != nil
	a.mu.Unlock()
	if !kept {
		t.Fatal("the kept peer's connection was closed")
	}
	// The peers see the end and close their side.
	eventually(t, 30*time.Second, "b1 and b2 to close their side", func() bool {
		return bs[1].Stats().Conns == 0 && bs[2].Stats().Conns == 0
	})
	dials := a.Stats().Dials
	roundTrip()
	if d := a.Stats().Dials - dials; d != 2 {
		t.Fatalf("%d dials to reach the three peers again, want 2 (b1 and b2)", d)
	}
	// KeepPeers replaces the set: b0 is no longer kept.
	a.KeepPeers(nil)
	eventually(t, 30*time.Second, "every connection closed", func() bool { return a.Stats().ConnectedPeers == 0 })
}

// An idle timeout too short to check four times per timeout is checked
// every millisecond (a ticker cannot tick faster; it used to panic).
func TestTinyIdleTimeout(t *testing.T) {
	a := newTransport(t, "a", WithIdleTimeout(time.Nanosecond))
	b := newTransport(t, "b", WithIdleTimeout(0))
	a.SetPeerAddr("b", b.Addr().String())
	sendRetry(t, a, "b", testFrame(1, 64), 10*time.Second)
	recvN(t, b, 1, 30*time.Second)
	eventually(t, 30*time.Second, "the connection to close", func() bool { return a.Stats().Evicted >= 1 && a.Stats().Conns == 0 })
}

// Frames sent around the moments the idle timeout closes connections, in
// both directions, all arrive, once: a connection ends as a duplicate one
// does (the peer reads what was sent before the end) and later frames go
// over a new dial.
func TestIdleCloseLosesNoFrame(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 1))
	opts := []Option{WithIdleTimeout(40 * time.Millisecond), WithBackoff(time.Millisecond, 10*time.Millisecond)}
	a := newTransport(t, "a", opts...)
	b := newTransport(t, "b", opts...)
	a.SetPeerAddr("b", b.Addr().String())
	b.SetPeerAddr("a", a.Addr().String())
	const n = 100
	for i := range uint64(n) {
		from, to := a, b
		if rng.IntN(3) == 0 {
			from, to = b, a
		}
		sendRetry(t, from, to.Self(), testFrame(i, 64), 10*time.Second)
		// Gaps around the idle timeout (the workload, not a wait for
		// anything): some connections close between two frames.
		time.Sleep(time.Duration(rng.IntN(70)) * time.Millisecond)
	}
	seen := make(map[uint64]bool)
	take := func(f node.Frame) {
		t.Helper()
		if seen[frameSeq(f.Data)] {
			t.Fatalf("frame %d arrived twice", frameSeq(f.Data))
		}
		seen[frameSeq(f.Data)] = true
	}
	timeout := time.After(60 * time.Second)
	for len(seen) < n {
		select {
		case f := <-a.Receive():
			take(f)
		case f := <-b.Receive():
			take(f)
		case <-timeout:
			t.Fatalf("%d of %d frames arrived", len(seen), n)
		}
	}
	select {
	case f := <-a.Receive():
		take(f)
	case f := <-b.Receive():
		take(f)
	default:
	}
	t.Logf("connections closed for being idle: a %d, b %d", a.Stats().Evicted, b.Stats().Evicted)
	if a.Stats().Evicted+b.Stats().Evicted == 0 {
		t.Fatal("no connection was closed for being idle: the test did not exercise the close")
	}
}

// The idle close over TLS and with a keyring: the connection ends (TLS
// close_notify, the keyed stream's half-close) without losing a frame,
// and the next frame redials.
func TestIdleCloseOverTLSAndKeyring(t *testing.T) {
	ca := newCA(t, "test ca")
	kr := newKeyring([]byte("0123456789abcdef"))
	for name, opts := range map[string]func(id string) []Option{
		"tls":     func(id string) []Option { return []Option{mtls(ca, ca.issue(t, id)), WithPeerIDFromCert(certCN)} },
		"keyring": func(string) []Option { return []Option{WithKeyring(kr)} },
	} {
		t.Run(name, func(t *testing.T) {
			a := newTransport(t, "a", append(opts("a"), WithIdleTimeout(50*time.Millisecond))...)
			b := newTransport(t, "b", append(opts("b"), WithIdleTimeout(0))...)
			a.SetPeerAddr("b", b.Addr().String())
			for round := range 3 {
				seq := uint64(round)
				sendRetry(t, a, "b", testFrame(seq, 300), 10*time.Second)
				if f := recvN(t, b, 1, 30*time.Second)[0]; frameSeq(f.Data) != seq {
					t.Fatalf("round %d: frame %d", round, frameSeq(f.Data))
				}
				eventually(t, 30*time.Second, "the idle connection to close on both ends", func() bool {
					return a.Stats().Conns == 0 && b.Stats().Conns == 0
				})
			}
			if s := a.Stats(); s.Evicted < 3 || s.Dials < 3 || s.Drops != 0 {
				t.Fatalf("evicted %d, dials %d, drops %d: want 3 closes and redials, no drop", s.Evicted, s.Dials, s.Drops)
			}
			if s := b.Stats(); s.BadFrames != 0 || s.HandshakeFailures != 0 {
				t.Fatalf("b: bad frames %d, handshake failures %d", s.BadFrames, s.HandshakeFailures)
			}
		})
	}
}

// Peers that dialed in and are known only through their connection (no
// address to dial back) are closed for being idle like the others, and
// forgotten: the idle timeout closes their connections unless kept, and at
// the connection bound the one idle longest makes room. The regression: such
// connections were never closed here, so whoever completed a hello could
// hold every connection slot for ever by dialing in and staying silent —
// here the bound's case: b's frame was refused again and again.
func TestIdlePeersThatDialedInAreClosed(t *testing.T) {
	dialIn := func(t *testing.T, a *Transport, ids ...core.PeerID) []*Transport {
		t.Helper()
		var xs []*Transport
		for i, id := range ids {
			x := newTransport(t, id, WithIdleTimeout(0))
			x.SetPeerAddr("a", a.Addr().String())
			sendRetry(t, x, "a", testFrame(uint64(i), 64), 10*time.Second)
			if f := recvN(t, a, 1, 30*time.Second)[0]; f.From != id {
				t.Fatalf("a got a frame from %s, want %s", f.From, id)
			}
			xs = append(xs, x)
		}
		return xs
	}
	t.Run("at the bound", func(t *testing.T) {
		a := newTransport(t, "a", WithMaxConns(2), WithEvictIdle(time.Nanosecond), WithIdleTimeout(0))
		dialIn(t, a, "x0", "x1")
		b := newTransport(t, "b", WithBackoff(time.Millisecond, 20*time.Millisecond))
		b.SetPeerAddr("a", a.Addr().String())
		sendRetry(t, b, "a", testFrame(9, 64), 10*time.Second)
		if f := recvN(t, a, 1, 30*time.Second)[0]; f.From != "b" || frameSeq(f.Data) != 9 {
			t.Fatalf("a got frame %d from %s, want 9 from b", frameSeq(f.Data), f.From)
		}
		if s := a.Stats(); s.Evicted == 0 {
			t.Fatalf("evicted %d, rejected %d: want an idle connection closed to make room", s.Evicted, s.Rejected)
		}
	})
	t.Run("idle timeout", func(t *testing.T) {
		a := newTransport(t, "a", WithIdleTimeout(100*time.Millisecond))
		a.KeepPeers([]core.PeerID{"x0"})
		xs := dialIn(t, a, "x0", "x1", "x2")
		eventually(t, 30*time.Second, "the two idle connections closed and their peers forgotten", func() bool {
			s := a.Stats()
			return s.Evicted == 2 && s.ConnectedPeers == 1 && s.Peers == 1
		})
		eventually(t, 30*time.Second, "x1 and x2 to close their side", func() bool {
			return xs[1].Stats().Conns == 0 && xs[2].Stats().Conns == 0
		})
		// A forgotten peer that dials in again is known again, and a
		// can answer it over that connection.
		sendRetry(t, xs[1], "a", testFrame(7, 64), 10*time.Second)
		if f := recvN(t, a, 1, 30*time.Second)[0]; f.From != "x1" || frameSeq(f.Data) != 7 {
			t.Fatalf("a got frame %d from %s, want 7 from x1", frameSeq(f.Data), f.From)
		}
		sendRetry(t, a, "x1", testFrame(8, 64), 10*time.Second)
		if f := recvN(t, xs[1], 1, 30*time.Second)[0]; frameSeq(f.Data) != 8 {
			t.Fatalf("x1 got frame %d, want 8", frameSeq(f.Data))
		}
		if s := a.Stats(); s.Drops != 0 {
			t.Fatalf("a dropped %d frames", s.Drops)
		}
	})
}

// A peer's writer goroutines, its own and its bulk lane's, end once the
// idle timeout has closed their connections, and the next frame starts
// them again: a node sends, over time, anti-entropy digests to nearly
// every member, and kept a writer for each of them for good.
func TestIdleWritersEnd(t *testing.T) {
	a := newTransport(t, "a", WithIdleTimeout(100*time.Millisecond))
	const n = 20
	var bs []*Transport
	for i := range n {
		b := newTransport(t, core.PeerID(fmt.Sprintf("b%02d", i)), WithIdleTimeout(0)) // only a closes
		a.SetPeerAddr(b.Self(), b.Addr().String())
		bs = append(bs, b)
	}
	// Each round sends every peer a frame in each lane (the bulk one over
	// its own connection).
	round := func(seq uint64) {
		t.Helper()
		for _, b := range bs {
			sendRetry(t, a, b.Self(), testFrame(seq, 64), 10*time.Second)
			retrySend(t, a.SendBulk, b.Self(), testFrame(seq+1, 64), 10*time.Second)
		}
		for i, b := range bs {
			got := seqs(recvN(t, b, 2, 30*time.Second))
			slices.Sort(got)
			if got[0] != int(seq) || got[1] != int(seq+1) {
				t.Fatalf("b%02d got frames %v, want %d and %d", i, got, seq, seq+1)
			}
		}
	}
	round(1)
	// The writers dialed (read once: with a slow enough machine the
	// connections, and so the writers, may already be gone).
	if d := a.Stats().Dials; d < 2*n {
		t.Fatalf("%d dials for %d peers and their bulk lanes", d, n)
	}
	eventually(t, 30*time.Second, "every connection closed and every writer ended", func() bool {
		s := a.Stats()
		return s.Conns == 0 && s.Writers == 0
	})
	dials := a.Stats().Dials
	round(3)
	if d := a.Stats().Dials - dials; d != 2*n {
		t.Errorf("%d dials to reach the peers again, want %d (a connection and a bulk connection each)", d, 2*n)
	}
	eventually(t, 30*time.Second, "the writers to end again", func() bool { return a.Stats().Writers == 0 })
	if s := a.Stats(); s.Drops != 0 {
		t.Fatalf("drops %d", s.Drops)
	}
}

// Frames sent from several goroutines, in both lanes, while the idle
// timeout keeps closing the connections, and so ending and starting the
// writers, all arrive, once:
// a frame is never left queued without a writer (writer.exit and Send's
// startWriter, each checking after the other's write).
func TestWriterRestartsLoseNoFrame(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	opts := []Option{WithIdleTimeout(2 * time.Millisecond), WithBackoff(time.Millisecond, 5*time.Millisecond)}
	a := newTransport(t, "a", opts...)
	b := newTransport(t, "b", WithIdleTimeout(0))
	a.SetPeerAddr("b", b.Addr().String())
	const senders, each = 2, 300
	var wg sync.WaitGroup
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(seed), uint64(s)))
			for i := range each {
				f := testFrame(uint64(s*each+i), 64)
				send := a.Send
				if rng.IntN(2) == 0 {
					send = a.SendBulk
				}
				for err := send("b", f); err != nil; err = send("b", f) {
					if !errors.Is(err, ErrQueueFull) {
						t.Errorf("send: %v", err)
						return
					}
					runtime.Gosched()
				}
				// Gaps around the idle timeout (the workload, not a
				// wait for anything): writers end between frames.
				if rng.IntN(2) == 0 {
					time.Sleep(time.Duration(rng.IntN(6000)) * time.Microsecond)
				}
			}
		}()
	}
	wg.Wait()
	seen := make(map[uint64]bool, senders*each)
	for _, f := range recvN(t, b, senders*each, 60*time.Second) {
		s := frameSeq(f.Data)
		if seen[s] {
			t.Fatalf("frame %d arrived twice", s)
		}
		seen[s] = true
	}
	st := a.Stats()
	t.Logf("connections closed for being idle while sending: %d, dials %d", st.Evicted, st.Dials)
	eventually(t, 30*time.Second, "the writer to end", func() bool { return a.Stats().Writers == 0 })
	sendRetry(t, a, "b", testFrame(1<<40, 64), 10*time.Second)
	if f := recvN(t, b, 1, 30*time.Second)[0]; frameSeq(f.Data) != 1<<40 {
		t.Fatalf("got frame %d after the writer ended, want %d", frameSeq(f.Data), uint64(1<<40))
	}
}

// The two halves of the hand-over between an ending writer and Send: a
// writer that finds a frame queued after clearing running goes on (or
// leaves the frame to the writer a Send started), and a Send after a
// writer ended starts another.
func TestWriterExitHandOver(t *testing.T) {
	a := newTransport(t, "a", WithDialTimeout(time.Minute))
	a.SetPeerAddr("b", "127.0.0.1:1") // nobody listens: frames wait
	p := a.lookup("b")
	w := &writer{t: a, p: p} // stands for p's writer; none runs yet
	p.running.Store(true)
	if !p.queue.push(outFrame{head: testFrame(1, 64)}, DefaultSendQueue) {
		t.Fatal("push refused")
	}
	if w.exit() {
		t.Fatal("a writer ended with a frame queued and no other writer")
	}
	if !p.running.Load() {
		t.Fatal("running cleared by a writer that goes on")
	}
	if _, ok := p.queue.pop(); !ok {
		t.Fatal("the frame is gone")
	}
	if !w.exit() || p.running.Load() {
		t.Fatal("an idle writer without a connection did not end")
	}
	if err := a.Send("b", testFrame(2, 64)); err != nil {
		t.Fatal(err)
	}
	if !p.running.Load() {
		t.Fatal("Send after the writer ended started none")
	}
	eventually(t, 30*time.Second, "the new writer to dial", func() bool { return a.Stats().Dials >= 1 })
}
