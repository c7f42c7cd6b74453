package tcp

import (
	"bufio"
	"bytes"
	"math/rand/v2"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core/node"
)

// To an idle peer, Send writes each frame itself (no hand-off to the
// writer); with the option that turns that off, the writer writes them.
// Either way every frame arrives whole and in order.
func TestSendWritesItselfToIdlePeer(t *testing.T) {
	for _, direct := range []bool{true, false} {
		name := "direct"
		var opts []Option
		if !direct {
			name = "queued"
			opts = append(opts, func(o *options) { o.noDirect = true })
		}
		t.Run(name, func(t *testing.T) {
			a := newTransport(t, "a", opts...)
			b := newTransport(t, "b")
			a.SetPeerAddr("b", b.Addr().String())
			// The first frame waits for the dial: the writer writes it.
			sendRetry(t, a, "b", testFrame(0, 100), 30*time.Second)
			recvN(t, b, 1, 30*time.Second)
			const n = 50
			for i := 1; i <= n; i++ {
				want := testFrame(uint64(i), 64+i*37)
				if err := a.Send("b", want); err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				// One at a time: the writer is idle at every Send.
				got := recvN(t, b, 1, 30*time.Second)[0]
				if got.From != "a" || !bytes.Equal(got.Data, want) {
					t.Fatalf("frame %d: got %d bytes from %s (seq %d), want %d bytes", i, len(got.Data), got.From, frameSeq(got.Data), len(want))
				}
			}
			// The writer counts a frame after its write returns, which
			// may be after b has it.
			eventually(t, 30*time.Second, "every frame counted", func() bool { return a.Stats().FramesOut == n+1 })
			st := a.Stats()
			if st.FramesOut != n+1 || st.Drops != 0 {
				t.Errorf("frames out %d, drops %d, want %d and 0", st.FramesOut, st.Drops, n+1)
			}
			if direct && st.DirectWrites < n/2 {
				// Nearly all of them; a frame may find the writer still
				// busy with the one before (it clears the write deadline
				// after a batch).
				t.Errorf("Send wrote %d of %d frames itself", st.DirectWrites, n)
			}
			if !direct && st.DirectWrites != 0 {
				t.Errorf("Send wrote %d frames itself with direct writes off", st.DirectWrites)
			}
			if st.BytesOut != st.FramesOut*4+uint64(100+sumSizes(n)) {
				t.Errorf("bytes out %d for %d frames", st.BytesOut, st.FramesOut)
			}
		})
	}
}

func sumSizes(n int) int {
	s := 0
	for i := 1; i <= n; i++ {
		s += 64 + i*37
	}
	return s
}

// A peer that stops reading fills the sockets: Send's own writes are then
// taken in part or not at all, the rest goes to the writer, and Send never
// waits. Once the peer reads again it gets every frame, whole and in order:
// the writer finishes a frame Send began before anything else, and Send
// writes nothing itself while frames wait.
func TestDirectWritesKeepOrderWhenPeerStalls(t *testing.T) {
	const (
		n    = 150
		size = 16 << 10 // 2.4 MB: more than small socket buffers hold
	)
	a := newTransport(t, "a", WithSocketBuffer(16<<10), WithSendQueue(n), WithWriteTimeout(time.Minute))
	r := dialRaw(t, a.Addr().String(), "b", 1)
	r.c.SetDeadline(time.Time{})
	// a knows b through its connection only once the hello is handled.
	eventually(t, 30*time.Second, "b's connection to be attached", func() bool { return a.Stats().ConnectedPeers == 1 })
	start := time.Now()
	for i := range n {
		sendRetry(t, a, "b", testFrame(uint64(i), size), 30*time.Second)
	}
	if el := time.Since(start); el > 20*time.Second {
		t.Logf("sending took %v", el) // not waiting for b, but a slow machine
	}
	st := a.Stats()
	if st.QueueFull != 0 {
		t.Fatalf("queue full %d times with a queue of %d", st.QueueFull, n)
	}
	if st.FramesOut == n {
		t.Fatalf("all %d frames written while b read nothing", n)
	}
	r.c.SetReadDeadline(time.Now().Add(2 * time.Minute))
	r.br = bufio.NewReaderSize(r.c, 64<<10)
	for i := range n {
		f, err := r.readFrame()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if len(f) != size || frameSeq(f) != uint64(i) || !bytes.Equal(f, testFrame(uint64(i), size)) {
			t.Fatalf("frame %d: %d bytes, seq %d", i, len(f), frameSeq(f))
		}
	}
	eventually(t, 30*time.Second, "every frame counted as written", func() bool { return a.Stats().FramesOut == n })
	st = a.Stats()
	if st.Drops != 0 {
		t.Errorf("drops %d", st.Drops)
	}
	partial := a.st.partialDirect.Load()
	t.Logf("direct %d (in part %d), through the writer %d", st.DirectWrites, partial, n-st.DirectWrites)
	if st.DirectWrites == 0 || st.DirectWrites == n {
		t.Errorf("direct writes %d of %d: want some, and the rest through the writer", st.DirectWrites, n)
	}
	// Idle again: Send writes itself once more.
	before := a.Stats().DirectWrites
	sendRetry(t, a, "b", testFrame(n, 64), 30*time.Second)
	if f, err := r.readFrame(); err != nil || frameSeq(f) != n {
		t.Fatalf("frame after the stall: %v", err)
	}
	for k := uint64(1); a.Stats().DirectWrites == before; k++ {
		// The writer may still have held its lock: try again.
		if k > 20 {
			t.Fatalf("no direct write after the stall in %d frames", k)
		}
		sendRetry(t, a, "b", testFrame(n+k, 64), 30*time.Second)
		if f, err := r.readFrame(); err != nil || frameSeq(f) != n+k {
			t.Fatalf("frame after the stall: %v", err)
		}
	}
}

// When the socket takes only part of a frame Send writes itself, the writer
// writes the rest before anything else, and Send writes nothing itself
// until it has: the peer gets every frame whole and in order.
func TestPartialDirectWriteIsFinishedByWriter(t *testing.T) {
	var cuts atomic.Int64
	cut := func(rc syscall.RawConn, b []byte) (int, error) {
		// Every other write: the socket takes only a part (at least one
		// byte, at most all but one).
		if cuts.Add(1)%2 == 0 {
			return writeNonBlocking(rc, b)
		}
		k := 1 + rand.N(len(b)-1)
		return writeNonBlocking(rc, b[:k])
	}
	a := newTransport(t, "a", WithSendQueue(1000), func(o *options) { o.directWrite = cut })
	b := newTransport(t, "b")
	a.SetPeerAddr("b", b.Addr().String())
	const n = 300
	var want [][]byte
	for i := range n {
		f := testFrame(uint64(i), 11+rand.N(3000))
		want = append(want, f)
		sendRetry(t, a, "b", f, 30*time.Second)
		if i%3 == 0 {
			// Now and then wait for everything so far: the next Send
			// finds the writer idle again.
			want = check(t, recvN(t, b, len(want), 30*time.Second), want)
		}
	}
	for len(want) > 0 {
		want = check(t, recvN(t, b, 1, 30*time.Second), want)
	}
	eventually(t, 30*time.Second, "every frame counted as written", func() bool { return a.Stats().FramesOut == n })
	st := a.Stats()
	partial := a.st.partialDirect.Load()
	t.Logf("direct %d, in part %d, through the writer %d", st.DirectWrites, partial, n-st.DirectWrites)
	if partial == 0 || st.Drops != 0 || st.BytesOut == 0 {
		t.Errorf("in part %d, drops %d", partial, st.Drops)
	}
}

// check pops the first wanted frame and compares it with got.
func check(t *testing.T, got []node.Frame, want [][]byte) [][]byte {
	t.Helper()
	for _, f := range got {
		if !bytes.Equal(f.Data, want[0]) {
			t.Fatalf("got frame seq %d (%d bytes), want seq %d (%d bytes)", frameSeq(f.Data), len(f.Data), frameSeq(want[0]), len(want[0]))
		}
		want = want[1:]
	}
	return want
}

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
