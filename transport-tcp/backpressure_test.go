package tcp

import (
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
)

// A node that stops reading its Receive channel (its intake is paused) does
// not make its peers' writes time out: every connection keeps being read,
// its frames wait in its own bounded queue or are dropped there and counted,
// and the peers keep their connections. What the node gets once it reads
// again is in order per peer, and nothing is lost without being counted.
func TestPausedReceiverKeepsPeersConnected(t *testing.T) {
	const (
		n         = 1500     // frames per sender
		size      = 16 << 10 // 2 × 24 MiB: far more than loopback socket buffers hold
		connQueue = 8
	)
	a := newTransport(t, "a", WithConnReceiveQueue(connQueue), WithReceiveQueue(4),
		WithReceiveWait(100*time.Millisecond))
	ids := []core.PeerID{"b", "c"}
	var senders []*Transport
	for _, id := range ids {
		// A write that waits 2 s for the receiver is a write the old,
		// blocking reader would have failed.
		s := newTransport(t, id, WithWriteTimeout(2*time.Second), WithSendQueue(64))
		s.SetPeerAddr("a", a.Addr().String())
		senders = append(senders, s)
	}
	for i := range n {
		for _, s := range senders {
			sendRetry(t, s, "a", testFrame(uint64(i), size), 60*time.Second)
		}
	}
	eventually(t, 120*time.Second, "a to read every frame off the wire while nobody reads its Receive channel",
		func() bool { return a.Stats().FramesIn == 2*n })

	// Now the node reads again: per peer, what arrives is in order, and
	// every frame either arrives or is counted as dropped.
	last := map[core.PeerID]int64{"b": -1, "c": -1}
	got := 0
	deadline := time.After(60 * time.Second)
	for uint64(got)+a.Stats().ReceiveDrops < 2*n {
		select {
		case f := <-a.Receive():
			seq := int64(frameSeq(f.Data))
			if seq <= last[f.From] {
				t.Fatalf("from %s: frame %d after %d", f.From, seq, last[f.From])
			}
			last[f.From] = seq
			got++
		case <-deadline:
			t.Fatalf("received %d frames and %d drops of %d", got, a.Stats().ReceiveDrops, 2*n)
		}
	}
	st := a.Stats()
	if st.ReceiveDrops == 0 {
		t.Errorf("no frame dropped although 2×%d frames met queues of %d: %+v", n, connQueue, st)
	}
	t.Logf("received %d, dropped %d of %d frames", got, st.ReceiveDrops, 2*n)

	// The peers kept their first connection and lost nothing on the way.
	for _, s := range senders {
		st := s.Stats()
		lost := st.Drops - st.QueueFull // full queues were retried
		if st.FramesOut != n || lost != 0 || st.Dials != 1 || st.Reconnects != 0 {
			t.Errorf("%s: %d of %d frames written, %d lost, dials %d, reconnects %d", s.Self(), st.FramesOut, n, lost, st.Dials, st.Reconnects)
		}
	}
	// And the links still carry frames.
	for _, s := range senders {
		sendRetry(t, s, "a", testFrame(n, 64), 10*time.Second)
	}
	for _, f := range recvN(t, a, 2, 30*time.Second) {
		if frameSeq(f.Data) != n {
			t.Errorf("from %s: frame %d after the pause, want %d", f.From, frameSeq(f.Data), n)
		}
	}
}
