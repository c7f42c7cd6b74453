package node_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/core/node"
	"github.com/plumtree-go/plumtree/core/node/memnet"
)

// BenchmarkClusterBroadcastMemnet: a 10-node full-mesh cluster (LAN preset)
// over perfect in-memory links; 1 KiB broadcasts from rotating origins, at
// most 64 messages in flight (not yet delivered by every node); the clock
// stops when every node delivered every message. Reports deliveries per
// second over all nodes.
func BenchmarkClusterBroadcastMemnet(b *testing.B) {
	const (
		size   = 10
		window = 64
	)
	network := memnet.New(memnet.Config{Seed: 1})
	defer network.Close()
	var delivered atomic.Int64
	progress := make(chan struct{}, 1)
	count := node.DeliverFunc(func(core.Delivery) {
		delivered.Add(1)
		select {
		case progress <- struct{}{}:
		default:
		}
	})
	nodes := make([]*node.Node, size)
	for i := range nodes {
		cfg := core.LANConfig()
		cfg.Seed = int64(i)
		n, err := node.New(cfg, peerName(i), network.MustJoin(peerName(i)), count)
		if err != nil {
			b.Fatal(err)
		}
		nodes[i] = n
	}
	defer func() {
		for _, n := range nodes {
			n.Shutdown(context.Background())
		}
	}()
	for i, n := range nodes {
		for j := range nodes {
			if i != j {
				n.AddPeer(peerName(j))
			}
		}
	}
	payload := make([]byte, 1024)
	ctx := context.Background()
	sent := int64(0)
	// wait blocks until at most max deliveries are outstanding.
	wait := func(max int64) {
		timeout := time.NewTimer(30 * time.Second)
		defer timeout.Stop()
		for sent*size-delivered.Load() > max {
			select {
			case <-progress:
			case <-timeout.C:
				var in, out uint64
				for _, n := range nodes {
					s := n.Stats()
					in += s.Runtime.FramesIn
					out += s.Runtime.FramesOut
					b.Logf("%s: delivered %d broadcast %d graft failed %d eager %v lazy %v", n.Self(), s.MessagesDelivered, s.MessagesBroadcast, s.GraftFailed, n.EagerPeers(), n.LazyPeers())
				}
				b.Logf("runtime frames in %d, out %d", in, out)
				b.Fatalf("stuck: %d of %d deliveries; network %+v", delivered.Load(), sent*size, network.Stats())
			}
		}
	}
	broadcast := func(i int) {
		wait(window * size)
		for {
			_, err := nodes[i%size].Broadcast(ctx, payload)
			if err == nil {
				sent++
				return
			}
			if !errors.Is(err, node.ErrBackpressure) {
				b.Fatal(err)
			}
			<-progress
		}
	}
	// Warm up: let the tree prune its redundant links.
	for i := range 200 {
		broadcast(i)
	}
	wait(0)
	b.SetBytes(int64(len(payload)))
	b.ResetTimer()
	start := time.Now()
	before := delivered.Load()
	for i := 0; i < b.N; i++ {
		broadcast(i)
	}
	wait(0)
	el := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(delivered.Load()-before)/el.Seconds(), "deliveries/s")
}

// BenchmarkBroadcastLocal: one node without peers; Broadcast and the local
// delivery through the delegate goroutine. Measures the runtime's own cost
// per message (API round trip to the protocol goroutine, delivery queue).
func BenchmarkBroadcastLocal(b *testing.B) {
	var delivered atomic.Int64
	n, err := node.New(core.LANConfig(), "a", newChanTransport(), node.DeliverFunc(func(core.Delivery) { delivered.Add(1) }))
	if err != nil {
		b.Fatal(err)
	}
	defer n.Shutdown(context.Background())
	payload := make([]byte, 1024)
	ctx := context.Background()
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for {
			_, err := n.Broadcast(ctx, payload)
			if err == nil {
				break
			}
			if !errors.Is(err, node.ErrBackpressure) {
				b.Fatal(err)
			}
		}
	}
	waitFor(b, 30*time.Second, "deliveries", func() bool { return delivered.Load() == int64(b.N) })
}

// BenchmarkBroadcastPair: two nodes over a perfect in-memory link; a
// broadcasts 1 KiB payloads, b delivers them (encode, transport, decode,
// protocol, delegate), at most 256 in flight.
func BenchmarkBroadcastPair(b *testing.B) {
	network := memnet.New(memnet.Config{Seed: 1})
	defer network.Close()
	var delivered atomic.Int64
	progress := make(chan struct{}, 1)
	recv := node.DeliverFunc(func(core.Delivery) {
		delivered.Add(1)
		select {
		case progress <- struct{}{}:
		default:
		}
	})
	a, err := node.New(core.LANConfig(), "a", network.MustJoin("a"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer a.Shutdown(context.Background())
	bn, err := node.New(core.LANConfig(), "b", network.MustJoin("b"), recv)
	if err != nil {
		b.Fatal(err)
	}
	defer bn.Shutdown(context.Background())
	a.AddPeer("b")
	bn.AddPeer("a")
	payload := make([]byte, 1024)
	ctx := context.Background()
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for int64(i)-delivered.Load() > 256 {
			<-progress
		}
		if _, err := a.Broadcast(ctx, payload); err != nil {
			b.Fatal(err)
		}
	}
	waitFor(b, 30*time.Second, "deliveries", func() bool { return delivered.Load() == int64(b.N) })
}
