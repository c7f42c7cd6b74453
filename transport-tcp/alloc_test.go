package tcp

import (
	"runtime"
	"testing"
	"time"
)

// Sending a frame allocates nothing in the sender: a frame costs both ends
// one allocation, the receiver's (the frame it hands over, which the
// node's payload aliases). The writer used to put a copy of every frame it
// wrote alone (not drained into a batch behind another) on the heap.
func TestSendAllocatesOnlyTheReceivedFrame(t *testing.T) {
	a := newTransport(t, "a")
	b := newTransport(t, "b")
	a.SetPeerAddr("b", b.Addr().String())
	frames := make([][]byte, 2000)
	for i := range frames {
		frames[i] = testFrame(uint64(i), 1024)
	}
	for i := range 100 { // connect, and make the lanes and buffers
		sendRetry(t, a, "b", frames[i], time.Second)
		recvN(t, b, 1, 30*time.Second)
	}
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	// One frame in flight at a time (the queue never fills); the loop
	// itself allocates nothing.
	timeout := time.After(time.Minute)
	for i, f := range frames {
		if err := a.Send("b", f); err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
		select {
		case <-b.Receive():
		case <-timeout:
			t.Fatalf("frame %d not received within a minute", i)
		}
	}
	runtime.ReadMemStats(&m1)
	per := float64(m1.Mallocs-m0.Mallocs) / float64(len(frames))
	t.Logf("%.2f allocations per frame, both ends", per)
	if per > 1.5 {
		t.Errorf("%.2f allocations per frame sent and received, want 1 (the received frame)", per)
	}
}
