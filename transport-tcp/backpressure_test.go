package tcp

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/core/node"
	"github.com/plumtree-go/plumtree/core/wire"
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

// blockingDelegate blocks every delivery until released.
type blockingDelegate struct {
	node.NopDelegate
	release chan struct{}
	got     sync.Map // core.MessageID → true
}

func (d *blockingDelegate) Deliver(m core.Delivery) {
	<-d.release
	d.got.Store(m.ID, true)
}

// stalledNode starts a core/node on tr whose delegate blocks every
// delivery until release is called. The test's cleanup releases it and
// shuts the node down.
func stalledNode(t *testing.T, cfg core.Config, id core.PeerID, tr *Transport, opts ...node.Option) (n *node.Node, del *blockingDelegate, release func()) {
	t.Helper()
	del = &blockingDelegate{release: make(chan struct{})}
	var once sync.Once
	release = func() { once.Do(func() { close(del.release) }) }
	n, err := node.New(cfg, id, tr, del, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		release()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		n.Shutdown(ctx)
	})
	return n, del, release
}

// A core/node whose delegate stalls pauses its intake (IntakePaused); its
// peer keeps broadcasting far more than the socket buffers hold and keeps
// its one connection: no write times out, nothing it sends is lost on the
// way, the paused node's transport drops (and counts) what does not fit.
// Once the delegate runs again, new broadcasts are delivered.
func TestPausedNodeKeepsPeersConnected(t *testing.T) {
	cfg := clusterConfig(1)
	cfg.MessageCacheMaxSize = 32 // the overflow bound L, so that the node pauses soon
	trA := newTransport(t, "a", WithReceiveWait(100*time.Millisecond), WithConnReceiveQueue(16))
	trB := newTransport(t, "b", WithWriteTimeout(2*time.Second), WithSendQueue(64))
	a, del, release := stalledNode(t, cfg, "a", trA, node.WithDeliveryQueue(1))
	cfgB := clusterConfig(2)
	b, err := node.New(cfgB, "b", trB, node.NopDelegate{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		release() // a first, as b's shutdown may send to it
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		b.Shutdown(ctx)
	})
	trB.SetPeerAddr("a", trA.Addr().String())
	trA.SetPeerAddr("b", trB.Addr().String())
	a.AddPeer("b")
	b.AddPeer("a")

	const n = 1500 // 1,500 × 16 KiB: far more than the socket buffers hold
	payload := make([]byte, 16<<10)
	for range n {
		for {
			_, err := b.Broadcast(context.Background(), payload)
			if err == nil {
				break
			}
			if !errors.Is(err, node.ErrBackpressure) {
				t.Fatal(err)
			}
			time.Sleep(time.Millisecond) // poll: b's own deliveries drain
		}
		for trB.Stats().QueueDepth > 32 {
			time.Sleep(time.Millisecond) // poll: pace b by its queue, do not overflow it
		}
	}
	eventually(t, 2*time.Minute, "a's transport to read every payload off the wire", func() bool {
		return trA.Stats().FramesIn >= n
	})
	if s := a.Stats(); s.Runtime.IntakePauses == 0 {
		t.Errorf("a never paused its intake: %+v", s.Runtime)
	}
	sa, sb := trA.Stats(), trB.Stats()
	if sa.ReceiveDrops == 0 {
		t.Errorf("a's transport dropped nothing: %+v", sa)
	}
	// One connection for the whole run, whichever side dialled it (the
	// link protocol may make either or both send first; crossed dials
	// leave one connection): a dropped connection shows as a reconnect.
	if lost := sb.Drops - sb.QueueFull; lost != 0 || sa.Dials+sb.Dials > 2 || sb.ConnectedPeers != 1 || sb.Reconnects != 0 || sa.Reconnects != 0 {
		t.Errorf("b lost its connection: %d frames lost, %d dials, %d reconnects: %+v", lost, sa.Dials+sb.Dials, sb.Reconnects+sa.Reconnects, sb)
	}
	t.Logf("a: intake pauses %d, transport frames in %d, receive drops %d", a.Stats().Runtime.IntakePauses, sa.FramesIn, sa.ReceiveDrops)

	release()
	id, err := b.Broadcast(context.Background(), []byte("after the pause"))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Minute, "a to deliver a broadcast made after the pause", func() bool {
		_, ok := del.got.Load(id)
		return ok
	})
}

// A connection's queue is bounded in bytes as well as in frames
// (WithConnReceiveBytes): with frames of the largest size, 256 of them were
// 70 MiB per connection, and a node that could not keep up with 128
// connections of 60 KiB frames reached 5.1 GB. A queue holding nothing
// takes any one frame.
func TestConnQueueBoundedInBytes(t *testing.T) {
	const (
		n     = 20
		size  = 4 << 10
		limit = 10 << 10 // two frames
	)
	a := newTransport(t, "a", WithReceiveQueue(0), WithConnReceiveBytes(limit), WithReceiveWait(50*time.Millisecond))
	b := newTransport(t, "b")
	b.SetPeerAddr("a", a.Addr().String())
	for i := range n {
		sendRetry(t, b, "a", testFrame(uint64(i), size), 60*time.Second)
	}
	// Nobody reads a's Receive channel (unbuffered): the forwarder holds
	// the first frame, the queue takes the second (8 KiB ≤ 10 KiB), and
	// the third would pass the bound: it and every later one are dropped.
	eventually(t, 60*time.Second, "a to drop the frames beyond the bound", func() bool { return a.Stats().ReceiveDrops >= n-2 })
	if st := a.Stats(); st.ReceiveDrops != n-2 || st.FramesIn != n {
		t.Fatalf("%d frames read, %d dropped; want %d and %d", st.FramesIn, st.ReceiveDrops, n, n-2)
	}
	for want := range uint64(2) {
		select {
		case f := <-a.Receive():
			if got := frameSeq(f.Data); got != want {
				t.Fatalf("frame %d, want %d", got, want)
			}
		case <-time.After(60 * time.Second):
			t.Fatalf("frame %d never came", want)
		}
	}
	// A frame larger than the bound passes a queue that holds nothing.
	sendRetry(t, b, "a", testFrame(n, 3*limit), 60*time.Second)
	select {
	case f := <-a.Receive():
		if got := frameSeq(f.Data); got != n || len(f.Data) < 3*limit {
			t.Fatalf("frame %d of %d bytes, want %d of at least %d", got, len(f.Data), n, 3*limit)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the large frame never came")
	}
}

// All connections' queues together are bounded in bytes as well
// (WithReceiveBytes): at the connection limit the per-connection bound
// alone allowed 1 GiB. A connection whose queue is empty still queues one
// frame, so the bound holds up to one frame per connection.
func TestReceiveQueuesBoundedInBytesTogether(t *testing.T) {
	const (
		senders = 4
		n       = 10 // frames per sender
		size    = 4 << 10
		limit   = 10 << 10 // two frames
	)
	a := newTransport(t, "a", WithReceiveQueue(0), WithReceiveBytes(limit), WithReceiveWait(50*time.Millisecond))
	frameLen := int64(len(testFrame(0, size)))
	var wg sync.WaitGroup
	for k := range senders {
		b := newTransport(t, core.PeerID(fmt.Sprintf("b%d", k)))
		b.SetPeerAddr("a", a.Addr().String())
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range n {
				sendRetry(t, b, "a", testFrame(uint64(i), size), 60*time.Second)
			}
		}()
	}
	wg.Wait()
	// Nobody reads a's Receive channel: every frame is either queued or
	// dropped once the readers have given up waiting for room.
	eventually(t, 60*time.Second, "every frame queued or dropped", func() bool {
		st := a.Stats()
		return st.FramesIn == senders*n && st.ReceiveDrops+uint64(st.ReceiveQueueBytes/frameLen) == senders*n
	})
	st := a.Stats()
	if max := limit + senders*frameLen; st.ReceiveQueueBytes > max {
		t.Fatalf("%d bytes queued, bound %d and one frame per connection: %d", st.ReceiveQueueBytes, limit, max)
	}
	// Each connection's queue alone (1 MiB) would have held all its frames.
	if st.ReceiveDrops == 0 {
		t.Fatalf("nothing dropped: %d bytes queued", st.ReceiveQueueBytes)
	}
	// What was queued comes, in each sender's order.
	queued := int(st.ReceiveQueueBytes / frameLen)
	last := map[core.PeerID]int64{}
	for range queued {
		select {
		case f := <-a.Receive():
			seq, prev := int64(frameSeq(f.Data)), int64(-1)
			if p, ok := last[f.From]; ok {
				prev = p
			}
			if seq <= prev {
				t.Fatalf("from %s: frame %d after %d", f.From, seq, prev)
			}
			last[f.From] = seq
		case <-time.After(60 * time.Second):
			t.Fatalf("%d queued frames never came", queued)
		}
	}
	// The count falls as each forwarder finishes its hand-over.
	eventually(t, 60*time.Second, "no bytes counted as queued once every queued frame was received",
		func() bool { return a.Stats().ReceiveQueueBytes == 0 })
}

// A frame goes straight from the reader to the Receive channel while
// nothing of its connection is queued, and through the connection's queue
// otherwise; whichever way each frame takes, a peer's frames arrive in the
// order they were sent, none lost. A Receive channel of 2 and a reader
// that stops now and then make the frames switch ways many times.
func TestReceiveOrderAcrossHandOffs(t *testing.T) {
	const n = 20000
	a := newTransport(t, "a", WithReceiveQueue(2), WithConnReceiveQueue(n))
	b := newTransport(t, "b")
	b.SetPeerAddr("a", a.Addr().String())
	go func() {
		for i := range n {
			sendRetry(t, b, "a", testFrame(uint64(i), 64), 60*time.Second)
		}
	}()
	deadline := time.After(120 * time.Second)
	for want := uint64(0); want < n; want++ {
		if want%97 == 0 {
			for range 50 {
				runtime.Gosched() // let the reader queue a few
			}
		}
		select {
		case f := <-a.Receive():
			if got := frameSeq(f.Data); got != want {
				t.Fatalf("frame %d, want %d", got, want)
			}
		case <-deadline:
			t.Fatalf("received %d of %d frames (drops %d)", want, n, a.Stats().ReceiveDrops)
		}
	}
	if d := a.Stats().ReceiveDrops; d != 0 {
		t.Fatalf("%d frames dropped", d)
	}
}

// A node that cannot keep up with a flood holds no more than its
// configured bounds: strangers send it far more valid messages than it
// takes (its delegate stalls), and afterwards its live heap has grown by
// about the sum of the byte bounds on the delivery queue, its overflow,
// the connections' receive queues and the store, all set small here while
// every count bound keeps its default. With any one of the first three
// bounds lifted the node holds the whole flood (83–95 MiB of 75 MiB sent),
// as each of those queues did when it was bounded by count alone
// (docs/operations.md, "Sizing"). Too little of the flood gets past them
// for the store's bound to show here; core's TestDefaultStoreBoundedInBytes
// checks that one.
func TestFloodHeldWithinConfiguredBounds(t *testing.T) {
	const (
		senders = 8
		perSend = 300
		size    = 32 << 10 // 75 MiB offered in all
		bound   = 1 << 20  // each byte bound
	)
	cfg := core.LANConfig()
	cfg.Seed = 1
	trA := newTransport(t, "a", WithReceiveQueue(16), WithConnReceiveBytes(bound/4), WithReceiveBytes(bound),
		WithReceiveWait(20*time.Millisecond))
	a, _, _ := stalledNode(t, cfg, "a", trA,
		node.WithStore(core.NewMemStoreBytes(cfg.MessageCacheMaxSize, 2*bound, cfg.MessageCacheTTL)),
		node.WithDeliveryQueueBytes(bound), node.WithDeliveryOverflowBytes(bound))
	var strangers []*Transport
	for k := range senders {
		s := newTransport(t, core.PeerID(fmt.Sprintf("stranger-%d", k)), WithSendQueue(64))
		s.SetPeerAddr("a", trA.Addr().String())
		strangers = append(strangers, s)
	}
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()

	payload := make([]byte, size)
	var wg sync.WaitGroup
	for k, s := range strangers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			origin := core.PeerID(fmt.Sprintf("origin-%d", k))
			for i := range perSend {
				m := core.Message{Type: core.MsgGossip, ID: core.MessageID{Origin: origin, Seq: uint64(i + 1)},
					OriginTime: time.Now(), Hops: 1, Payload: payload}
				f, err := wire.AppendFrame(nil, &m)
				if err != nil {
					t.Error(err)
					return
				}
				sendRetry(t, s, "a", f, 60*time.Second)
			}
		}()
	}
	wg.Wait()
	// Every frame sent is read by a: queued somewhere or dropped.
	eventually(t, 2*time.Minute, "a to read every frame of the flood", func() bool {
		var out uint64
		for _, s := range strangers {
			st := s.Stats()
			if st.QueueDepth > 0 {
				return false
			}
			out += st.FramesOut
		}
		return trA.Stats().FramesIn >= out
	})
	grew := int64(heap()) - int64(before)
	st := a.Stats()
	// The bounds: store 2, delivery queue 1, overflow 1, receive queues 1
	// MiB, each with a frame or so more (one per connection for the
	// receive queues); the Receive channel's 16 frames; the protocol's
	// state for 2,400 messages. 16 MiB leaves room for the rest and the
	// measurement's noise, and is a fifth of what was offered.
	if grew > 16<<20 {
		t.Fatalf("live heap grew by %d MiB under a flood of %d MiB (delivered %d, stored %d, transport drops %d)",
			grew>>20, senders*perSend*size>>20, st.Stats.MessagesDelivered, st.Stats.CacheSize, trA.Stats().ReceiveDrops)
	}
	if trA.Stats().ReceiveDrops == 0 || st.Runtime.IntakePauses == 0 {
		t.Fatalf("the flood did not fill the node: %d receive drops, %d intake pauses", trA.Stats().ReceiveDrops, st.Runtime.IntakePauses)
	}
	t.Logf("live heap grew by %.1f MiB; %d receive drops, %d intake pauses", float64(grew)/(1<<20), trA.Stats().ReceiveDrops, st.Runtime.IntakePauses)
}
