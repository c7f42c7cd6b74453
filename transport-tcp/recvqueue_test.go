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
