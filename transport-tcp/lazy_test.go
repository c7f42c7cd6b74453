package tcp

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
)

// A connection gets its own receive queue and forwarder goroutine only once
// the Receive channel is full; until then the reader hands frames over
// itself.
func TestConnectionQueueMadeOnlyWhenNeeded(t *testing.T) {
	a := newTransport(t, "a")
	b := newTransport(t, "b", WithReceiveQueue(2))
	a.SetPeerAddr("b", b.Addr().String())
	for i := range 20 {
		sendRetry(t, a, "b", testFrame(uint64(i), 200), 30*time.Second)
		recvN(t, b, 1, 30*time.Second) // b keeps up: room every time
	}
	if n := b.st.forwarders.Load(); n != 0 {
		t.Fatalf("%d connection queues made while the Receive channel had room", n)
	}
	// b stops reading: the Receive channel fills, the connection's queue
	// takes the rest, in order.
	const n = 40
	for i := range n {
		sendRetry(t, a, "b", testFrame(uint64(100+i), 200), 30*time.Second)
	}
	eventually(t, 30*time.Second, "b to read every frame off the wire", func() bool { return b.Stats().FramesIn == 20+n })
	if got := b.st.forwarders.Load(); got != 1 {
		t.Fatalf("%d connection queues made, want 1", got)
	}
	for i, f := range recvN(t, b, n, 30*time.Second) {
		if frameSeq(f.Data) != uint64(100+i) {
			t.Fatalf("frame %d: seq %d", i, frameSeq(f.Data))
		}
	}
}

// A peer's bulk lane has no slots until the first SendBulk to it; a writer
// idle until then takes the frame at once.
func TestBulkLaneMadeByFirstSendBulk(t *testing.T) {
	a := newTransport(t, "a")
	b := newTransport(t, "b")
	a.SetPeerAddr("b", b.Addr().String())
	for i := range 5 {
		sendRetry(t, a, "b", testFrame(uint64(i), 200), 30*time.Second)
	}
	recvN(t, b, 5, 30*time.Second)
	p := a.lookup("b")
	if n := p.bulk.slots(); n != 0 {
		t.Fatalf("bulk lane has %d slots before any SendBulk", n)
	}
	// The writer is idle now.
	eventually(t, 30*time.Second, "every frame written", func() bool { return a.Stats().FramesOut == 5 })
	if err := a.SendBulk("b", testFrame(100, 300)); err != nil {
		t.Fatal(err)
	}
	if p.bulk.slots() == 0 {
		t.Fatal("no bulk lane slots after SendBulk")
	}
	f := recvN(t, b, 1, 30*time.Second)
	if frameSeq(f[0].Data) != 100 {
		t.Fatalf("got frame %d, want the bulk frame", frameSeq(f[0].Data))
	}
	// Later bulk frames use the same lane, in order, after urgent ones.
	for i := range 3 {
		if err := a.SendBulk("b", testFrame(uint64(101+i), 300)); err != nil {
			t.Fatal(err)
		}
	}
	got := seqs(recvN(t, b, 3, 30*time.Second))
	for i, s := range got {
		if s != 101+i {
			t.Fatalf("bulk frames %v, want 101, 102, 103", got)
		}
	}
	// The writer counts after its write returns, maybe after b has read.
	eventually(t, 30*time.Second, "4 bulk frames counted", func() bool { return a.Stats().BulkFramesOut == 4 })
	if st := a.Stats(); st.Drops != 0 {
		t.Fatalf("drops %d", st.Drops)
	}
}

// A peer that is never sent to has no lanes, no write buffer and no writer
// goroutine: a few hundred idle peers (a large cluster's members outside
// this node's overlay links) take a small fraction of the heap those would.
func TestIdlePeersHaveNoQueuesOrBuffers(t *testing.T) {
	a := newTransport(t, "a")
	const n = 200
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	goroutines := runtime.NumGoroutine()
	for i := range n {
		a.SetPeerAddr(core.PeerID(fmt.Sprintf("p%03d", i)), "127.0.0.1:1")
	}
	// Nothing else of a's starts goroutines meanwhile: its listener and
	// readers run already, and no connection comes.
	if g := runtime.NumGoroutine() - goroutines; g > n/10 {
		t.Errorf("%d idle peers started %d goroutines: a writer per peer before any frame?", n, g)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	grew := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	// Each peer's two lanes (a pointer per slot) and its 32 KiB write
	// buffer, made up front.
	upFront := int64(n * (8*(DefaultSendQueue+DefaultBulkQueue) + bufSize))
	t.Logf("%d idle peers: heap grew by %d bytes (lanes and buffers up front: %d)", n, grew, upFront)
	if grew > upFront/10 {
		t.Errorf("%d idle peers take %d bytes of heap: lanes or buffers made up front (%d)?", n, grew, upFront)
	}
	a.mu.Lock()
	for id, p := range a.peers {
		if p.queue.slots() != 0 || p.bulk.slots() != 0 {
			a.mu.Unlock()
			t.Fatalf("peer %s has lane slots before any frame", id)
		}
	}
	a.mu.Unlock()
	if st := a.Stats(); st.Peers != n || st.QueueDepth != 0 || st.Dials != 0 {
		t.Fatalf("stats: %+v", st)
	}
	// The first frame makes the lane, and the writer, which waited
	// without it, dials (and fails: nobody listens at port 1) and counts it.
	if err := a.Send("p000", testFrame(1, 64)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the writer to dial", func() bool { return a.Stats().Dials >= 1 })
}

// A lane costs what it holds, not its bound: a node sends frames, over
// time, to nearly every member (anti-entropy digests go to random
// members), so a lane of the bound made for good by the first frame (8 KiB
// of pointers at the default bound, 48 KiB before that) was paid per
// member. A peer with one frame queued costs a few small slots, and a lane
// that held many frames lets go of them once drained.
func TestLanesCostWhatIsQueued(t *testing.T) {
	a := newTransport(t, "a")
	const n = 200
	// Without an address, each writer waits for its peer to dial in: the
	// frame stays queued, and nothing else (no dial, no connection, no
	// write buffer) allocates.
	for i := range n {
		a.SetPeerAddr(core.PeerID(fmt.Sprintf("p%03d", i)), "")
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.GC() // and the pools' leftovers
	runtime.ReadMemStats(&before)
	for i := range n {
		if err := a.Send(core.PeerID(fmt.Sprintf("p%03d", i)), testFrame(uint64(i), 64)); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / n
	t.Logf("%d B of heap per peer sent one frame (lane bound %d)", per, DefaultSendQueue)
	if max := int64(8 * DefaultSendQueue / 2); per > max {
		t.Errorf("a peer sent one frame takes %d B of heap, want at most %d: half of what a lane's pointers alone took (a lane of its bound is %d B of slots)", per, max, 48*DefaultSendQueue)
	}
	a.mu.Lock()
	for id, p := range a.peers {
		if s := p.queue.slots(); s == 0 || s > 4 {
			a.mu.Unlock()
			t.Fatalf("peer %s has %d slots for one frame, want 1 to 4", id, s)
		}
	}
	a.mu.Unlock()

	// A lane that filled to its bound while its peer was unreachable
	// keeps at most laneKeep slots once the writer has drained it.
	b, c, connect := stalledSender(t)
	const queued = 1000
	for i := range queued {
		if err := b.Send("b", testFrame(uint64(i), 64)); err != nil {
			t.Fatal(err)
		}
	}
	p := b.lookup("b")
	if got := p.queue.slots(); got < queued-1 {
		t.Fatalf("%d frames queued in %d slots", queued, got)
	}
	connect()
	recvN(t, c, queued, 30*time.Second)
	eventually(t, 30*time.Second, "the lane to drain", func() bool { return b.SendQueueLen("b") == 0 })
	if got := p.queue.slots(); got > laneKeep {
		t.Errorf("a drained lane keeps %d slots, want at most %d", got, laneKeep)
	}
}

// Connections that come and go — anti-entropy digests to random members
// and the idle timeout make them do so all the time — reuse the 32 KiB
// read and write buffers instead of allocating new ones: a cycle of dial,
// frame and idle close costs far less than the three buffers it uses (a's
// write and read buffers, b's read buffer: 96 KiB without the pools).
func TestConnectionBuffersAreReused(t *testing.T) {
	a := newTransport(t, "a", WithIdleTimeout(20*time.Millisecond))
	b := newTransport(t, "b", WithIdleTimeout(0))
	a.SetPeerAddr("b", b.Addr().String())
	cycle := func(seq uint64) {
		t.Helper()
		sendRetry(t, a, "b", testFrame(seq, 64), 10*time.Second)
		recvN(t, b, 1, 30*time.Second)
		eventually(t, 30*time.Second, "the idle connection to close on both ends", func() bool {
			return a.Stats().Conns == 0 && b.Stats().Conns == 0
		})
	}
	for i := range 5 { // warm the pools
		cycle(uint64(i))
	}
	const n = 40
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := range n {
		cycle(uint64(100 + i))
	}
	runtime.ReadMemStats(&after)
	per := (after.TotalAlloc - before.TotalAlloc) / n
	t.Logf("%d bytes allocated per connection cycle", per)
	if per > 48<<10 {
		t.Errorf("%d bytes allocated per connection cycle, want under 48 KiB: the buffers are not reused", per)
	}
}

// Every member of the cluster becomes a peer (membership calls SetPeerAddr
// for each): adding one must cost the same in a cluster of 4,000 as in one
// of 500. A peer map copied on every change made the 4,000th cost 8 times
// the 500th (a joining node of a 10,000-member cluster allocated 2.2 GB).
func TestAddingAPeerCostsTheSameAtAnySize(t *testing.T) {
	perPeer := func(n int) float64 {
		a := newTransport(t, "a")
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for i := range n {
			a.SetPeerAddr(core.PeerID(fmt.Sprintf("p%05d", i)), "127.0.0.1:1")
		}
		runtime.ReadMemStats(&after)
		a.Close()
		return float64(after.TotalAlloc-before.TotalAlloc) / float64(n)
	}
	small, large := perPeer(500), perPeer(4000)
	t.Logf("heap allocated per peer added: %.0f B among 500 peers, %.0f B among 4,000", small, large)
	if large > 2*small {
		t.Errorf("adding a peer among 4,000 allocates %.0f B, %.1f× what it does among 500 (%.0f B): the cost grows with the number of peers", large, large/small, small)
	}
}
