package tcp

import (
	"context"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/core/node"
)

// BenchmarkRelayForward1KiB is the relay's hot path through the runtime and
// this transport, over loopback TCP: an origin node broadcasts 1 KiB
// messages to a relay node, its only peer; the relay, whose other peers
// are two sink nodes, delivers each message and forwards it to both (one
// encoded frame for both). One op is one message through the relay: the
// relay reads 1 frame and writes 2, the sinks read one each. At most
// "window" messages are in flight (broadcast, not yet delivered by both
// sinks). Reported besides ns/op: allocs/op and B/op of the whole process
// (origin, relay and sinks together), and cpu-µs/op, the process's CPU time
// (getrusage) per message.
func BenchmarkRelayForward1KiB(b *testing.B) {
	b.Run("window-1", func(b *testing.B) { benchRelay(b, 1) })
	b.Run("window-64", func(b *testing.B) { benchRelay(b, 64) })
}

func benchRelay(b *testing.B, window int) {
	names := []core.PeerID{"origin", "relay", "sink1", "sink2"}
	links := map[core.PeerID][]core.PeerID{
		"origin": {"relay"}, "relay": {"origin", "sink1", "sink2"}, "sink1": {"relay"}, "sink2": {"relay"},
	}
	var sunk atomic.Int64
	slots := make(chan struct{}, window)
	trs := map[core.PeerID]*Transport{}
	nodes := map[core.PeerID]*node.Node{}
	for i, id := range names {
		trs[id] = newTransport(b, id, WithSendQueue(4096))
		var d node.Delegate = node.NopDelegate{}
		if id == "sink1" || id == "sink2" {
			d = node.DeliverFunc(func(core.Delivery) {
				if sunk.Add(1)%2 == 0 {
					<-slots
				}
			})
		}
		c := core.LANConfig()
		c.Seed = int64(i + 1)
		n, err := node.New(c, id, trs[id], d)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { n.Shutdown(context.Background()) })
		nodes[id] = n
	}
	for id, peers := range links {
		for _, p := range peers {
			trs[id].SetPeerAddr(p, trs[p].Addr().String())
			if err := nodes[id].AddPeer(p); err != nil {
				b.Fatal(err)
			}
		}
	}
	eventually(b, 30*time.Second, "the relay's three eager links", func() bool {
		return len(nodes["relay"].EagerPeers()) == 3 && len(nodes["origin"].EagerPeers()) == 1 &&
			len(nodes["sink1"].EagerPeers()) == 1 && len(nodes["sink2"].EagerPeers()) == 1
	})
	payload := make([]byte, 1024)
	send := func() {
		for {
			_, err := nodes["origin"].Broadcast(context.Background(), payload)
			if err == nil {
				return
			}
			if err != node.ErrBackpressure {
				b.Fatal(err)
			}
			time.Sleep(time.Millisecond)
		}
	}
	for range 100 { // warm up
		slots <- struct{}{}
		send()
	}
	eventually(b, 30*time.Second, "the warm-up delivered", func() bool { return sunk.Load() == 200 })
	relayIn := trs["relay"].Stats().FramesIn
	cpu0 := processCPU()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		slots <- struct{}{}
		send()
	}
	want := int64(200 + 2*b.N)
	eventually(b, 60*time.Second, "every message delivered by both sinks", func() bool { return sunk.Load() >= want })
	b.StopTimer()
	if got := sunk.Load(); got != want {
		b.Fatalf("%d deliveries at the sinks, want %d", got, want)
	}
	b.ReportMetric(float64(processCPU()-cpu0)/float64(time.Microsecond)/float64(b.N), "cpu-µs/op")
	if in := trs["relay"].Stats().FramesIn - relayIn; in < uint64(b.N) {
		b.Fatalf("relay read %d frames for %d messages", in, b.N)
	}
}

// processCPU is the process's user + system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
