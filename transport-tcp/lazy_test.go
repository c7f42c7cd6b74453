package tcp

import (
	"testing"
	"time"
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

// A peer's bulk lane is made by the first SendBulk to it; a writer that was
// waiting without it takes the frame at once.
func TestBulkLaneMadeByFirstSendBulk(t *testing.T) {
	a := newTransport(t, "a")
	b := newTransport(t, "b")
	a.SetPeerAddr("b", b.Addr().String())
	for i := range 5 {
		sendRetry(t, a, "b", testFrame(uint64(i), 200), 30*time.Second)
	}
	recvN(t, b, 5, 30*time.Second)
	p := (*a.snap.Load())["b"]
	if p.bulkLane() != nil {
		t.Fatal("bulk lane made before any SendBulk")
	}
	// The writer is idle now, waiting without a bulk lane.
	eventually(t, 30*time.Second, "every frame written", func() bool { return a.Stats().FramesOut == 5 })
	if err := a.SendBulk("b", testFrame(100, 300)); err != nil {
		t.Fatal(err)
	}
	if p.bulkLane() == nil {
		t.Fatal("no bulk lane after SendBulk")
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
	if st := a.Stats(); st.BulkFramesOut != 4 || st.Drops != 0 {
		t.Fatalf("bulk frames out %d, drops %d", st.BulkFramesOut, st.Drops)
	}
}
