package node_test

import (
	"context"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/core/node"
	"github.com/plumtree-go/plumtree/core/wire"
)

// countTransport counts what the node sends and hands it frames; Send only
// looks at the frame (it must not keep or change it).
type countTransport struct {
	in     chan node.Frame
	frames atomic.Int64
	bytes  atomic.Int64
	joins  joinAcceptor
}

func (c *countTransport) Send(to core.PeerID, frame []byte) error {
	c.joins.see(to, frame)
	c.frames.Add(1)
	c.bytes.Add(int64(len(frame)))
	return nil
}
func (c *countTransport) Receive() <-chan node.Frame { return c.in }
func (c *countTransport) Close() error               { close(c.in); return nil }

// BenchmarkReceiveForwardGossip1KiB: the hot path of a relay, through the
// runtime. A node with 8 peers (LAN preset) receives 1 KiB Gossip frames,
// each a new message, from one of its eager peers: decode, protocol
// (deliver, store, forward to the other eager peers, announce to the lazy
// ones), encode, the transport's Send, and the delivery through the
// delegate goroutine. One op is one received frame. The benchmark builds
// each frame as a transport would (one allocation per op, the frame that
// the payload aliases); allocs/op counts it. Forwarded as one frame
// (whole: a transport with Send only) and as head and payload (parts: a
// node.PartsSender, as transport-tcp is).
func BenchmarkReceiveForwardGossip1KiB(b *testing.B) {
	b.Run("whole", func(b *testing.B) {
		benchReceiveForward(b, &countTransport{in: make(chan node.Frame, 256)}, 1024)
	})
	b.Run("parts", func(b *testing.B) {
		benchReceiveForward(b, &countPartsTransport{countTransport{in: make(chan node.Frame, 256)}}, 1024)
	})
}

// BenchmarkReceiveForwardGossip60KiB is the same with 60 KiB payloads (a
// large message's chunks are as big), forwarded as one frame (whole: a
// transport with Send only) and as head and payload (parts: a
// node.PartsSender, as transport-tcp is), where the relay copies nothing.
func BenchmarkReceiveForwardGossip60KiB(b *testing.B) {
	b.Run("whole", func(b *testing.B) {
		benchReceiveForward(b, &countTransport{in: make(chan node.Frame, 256)}, 60<<10)
	})
	b.Run("parts", func(b *testing.B) {
		benchReceiveForward(b, &countPartsTransport{countTransport{in: make(chan node.Frame, 256)}}, 60<<10)
	})
}

// countPartsTransport is a countTransport that takes frames in two parts.
type countPartsTransport struct{ countTransport }

func (c *countPartsTransport) SendParts(to core.PeerID, head, body []byte) error {
	c.frames.Add(1)
	c.bytes.Add(int64(len(head) + len(body)))
	return nil
}

func (c *countPartsTransport) SendBulkParts(to core.PeerID, head, body []byte) error {
	return c.SendParts(to, head, body)
}

// forwardTransport is what benchReceiveForward needs of its transport.
type forwardTransport interface {
	node.Transport
	counts() *countTransport
}

func (c *countTransport) counts() *countTransport { return c }

func benchReceiveForward(b *testing.B, ft forwardTransport, size int) {
	tr := ft.counts()
	var delivered atomic.Int64
	n, err := node.New(core.LANConfig(), "relay", ft, node.DeliverFunc(func(core.Delivery) { delivered.Add(1) }))
	if err != nil {
		b.Fatal(err)
	}
	defer n.Shutdown(context.Background())
	tr.joins.on.Store(true)
	for i := range 8 {
		if err := n.AddPeer(peerName(i)); err != nil {
			b.Fatal(err)
		}
	}
	tr.joins.link(b, n, tr.in, 2)
	tr.joins.on.Store(false)
	eager := n.EagerPeers()
	from := eager[0]
	payload := make([]byte, size)
	t0 := time.Now() // within the age window
	var scratch []byte
	frame := func(seq uint64) []byte {
		m := core.Message{Type: core.MsgGossip, ID: core.MessageID{Origin: "origin", Seq: seq}, Hops: 1, OriginTime: t0, Payload: payload}
		var err error
		scratch, err = wire.AppendFrame(scratch[:0], &m)
		if err != nil {
			b.Fatal(err)
		}
		f := make([]byte, len(scratch))
		copy(f, scratch)
		return f
	}
	// Warm up the maps and buffers.
	const warm = 1000
	for i := range warm {
		tr.in <- node.Frame{From: from, Data: frame(uint64(i + 1))}
	}
	waitFor(b, time.Minute, "warm-up deliveries", func() bool { return delivered.Load() == warm })
	f0 := tr.frames.Load()
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	for i := 0; i < b.N; i++ {
		tr.in <- node.Frame{From: from, Data: frame(uint64(warm + i + 1))}
	}
	waitFor(b, time.Minute, "deliveries", func() bool { return delivered.Load() == int64(warm+b.N) })
	b.StopTimer()
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(tr.frames.Load()-f0)/float64(b.N), "frames-out/op")
}

// processCPU is the user and system CPU time of the process so far: on a
// shared machine it varies less than the wall time per op.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rawTransport records the frames handed to Send as they are.
type rawTransport struct {
	in    chan node.Frame
	mu    sync.Mutex
	sent  map[core.PeerID][]byte
	joins joinAcceptor
}

func (r *rawTransport) Send(to core.PeerID, frame []byte) error {
	r.joins.see(to, frame)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent[to] = frame
	return nil
}
func (r *rawTransport) Receive() <-chan node.Frame { return r.in }
func (r *rawTransport) Close() error               { close(r.in); return nil }

// A Gossip forwarded to several peers is encoded once: every peer's Send
// gets the same frame, which decodes to the forwarded message.
func TestForwardSharesOneFrame(t *testing.T) {
	tr := &rawTransport{in: make(chan node.Frame, 16), sent: map[core.PeerID][]byte{}}
	tr.joins.on.Store(true)
	var delivered atomic.Int64
	cfg := core.LANConfig()
	cfg.EagerFanout = 3 // two peers to forward to besides the sender
	n, err := node.New(cfg, "relay", tr, node.DeliverFunc(func(core.Delivery) { delivered.Add(1) }))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown(context.Background())
	for i := range 8 {
		if err := n.AddPeer(peerName(i)); err != nil {
			t.Fatal(err)
		}
	}
	tr.joins.link(t, n, tr.in, 3)
	tr.joins.on.Store(false)
	eager := n.EagerPeers()
	payload := []byte("one frame for every peer")
	m := core.Message{Type: core.MsgGossip, ID: core.MessageID{Origin: "o", Seq: 1}, Hops: 2, OriginTime: time.Now(), Payload: payload}
	f, err := wire.AppendFrame(nil, &m)
	if err != nil {
		t.Fatal(err)
	}
	tr.in <- node.Frame{From: eager[0], Data: f}
	waitFor(t, time.Minute, "the delivery", func() bool { return delivered.Load() == 1 })
	var first []byte
	for _, p := range eager[1:] {
		tr.mu.Lock()
		got := tr.sent[p]
		tr.mu.Unlock()
		if got == nil {
			t.Fatalf("nothing forwarded to eager peer %s", p)
		}
		var fwd core.Message
		if err := wire.NewDecoder(wire.DefaultLimits()).Decode(got, &fwd); err != nil {
			t.Fatal(err)
		}
		if fwd.Type != core.MsgGossip || fwd.ID != m.ID || fwd.Hops != 3 || string(fwd.Payload) != string(payload) {
			t.Fatalf("forwarded %+v", fwd)
		}
		if first == nil {
			first = got
		} else if &first[0] != &got[0] {
			t.Errorf("peer %s got its own copy of the frame", p)
		}
	}
}

// joinAcceptor plays the peers' side of the link protocol for a node under
// test: while on, it records the Joins the node sends; link accepts them
// (a JoinReply for the link asked for) until the node has want eager peers.
type joinAcceptor struct {
	on    atomic.Bool
	mu    sync.Mutex
	joins []core.Message
	from  []core.PeerID
}

func (j *joinAcceptor) see(to core.PeerID, frame []byte) {
	if !j.on.Load() {
		return
	}
	var m core.Message
	if err := wire.NewDecoder(wire.DefaultLimits()).Decode(frame, &m); err != nil || m.Type != core.MsgJoin {
		return
	}
	j.mu.Lock()
	j.joins = append(j.joins, m)
	j.from = append(j.from, to)
	j.mu.Unlock()
}

func (j *joinAcceptor) link(tb testing.TB, n *node.Node, in chan<- node.Frame, want int) {
	tb.Helper()
	waitFor(tb, time.Minute, "eager links", func() bool {
		j.mu.Lock()
		joins, from := j.joins, j.from
		j.joins, j.from = nil, nil
		j.mu.Unlock()
		for i, m := range joins {
			r := core.Message{Type: core.MsgJoinReply, Accepted: true, Eager: m.Eager}
			f, err := wire.AppendFrame(nil, &r)
			if err != nil {
				tb.Fatal(err)
			}
			in <- node.Frame{From: from[i], Data: f}
		}
		return len(n.EagerPeers()) >= want
	})
}
