package coretest_test

import (
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/core/coretest"
)

// The same Config and the same calls give the same run.
func TestNetworkDeterministic(t *testing.T) {
	run := func() (coretest.Counters, time.Time) {
		n, err := coretest.New(coretest.Config{Nodes: 12, Protocol: core.DefaultConfig(), Seed: 9, Jitter: 5 * time.Millisecond, DropRate: 0.2})
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 12; i++ {
			n.Broadcast(i, []byte("x"))
			n.RunFor(30 * time.Millisecond)
		}
		n.Crash(3)
		n.Partition([]int{0, 1})
		n.RunFor(3 * time.Second)
		n.Heal()
		n.RunUntil(n.AllDelivered, time.Minute)
		return n.Counters(), n.Now()
	}
	c1, t1 := run()
	c2, t2 := run()
	if c1 != c2 || !t1.Equal(t2) {
		t.Fatalf("runs differ: %+v at %v vs %+v at %v", c1, t1, c2, t2)
	}
	if c1.Dropped == 0 || c1.PayloadReceived == 0 {
		t.Fatalf("nothing happened: %+v", c1)
	}
}

func TestNetworkCrashRestart(t *testing.T) {
	n, _ := coretest.New(coretest.Config{Nodes: 6, Protocol: core.LANConfig(), Seed: 2, DetectionDelay: time.Second})
	n.RunFor(time.Second)
	id, _ := n.Broadcast(0, []byte("before"))
	n.RunUntilQuiescent(time.Minute)
	n.Crash(5)
	if n.Alive(5) || n.Node(5) != nil {
		t.Fatal("crashed node alive")
	}
	if _, err := n.Broadcast(5, nil); err == nil {
		t.Fatal("broadcast from a crashed node")
	}
	n.RunFor(2 * time.Second) // detected: the others removed it
	for i := 0; i < 5; i++ {
		if n.Node(i).PeerCount() != 4 && len(n.Node(i).PassivePeers())+n.Node(i).PeerCount() != 4 {
			t.Fatalf("node %d still knows the crashed node", i)
		}
	}
	if err := n.Restart(5); err != nil {
		t.Fatal(err)
	}
	if n.Incarnation(5) != 2 || n.Delivered(5, id) != 0 {
		t.Fatal("restart kept state")
	}
	// The new incarnation catches up through anti-entropy.
	if !n.RunUntil(func() bool { return n.Delivered(5, id) == 1 }, time.Minute) {
		t.Fatal("restarted node never received the earlier message")
	}
	if n.DeliveredCount(5) != 1 || n.Index(n.ID(5)) != 5 || n.Len() != 6 {
		t.Fatal("accessors")
	}
}

// With ServiceTime a node handles one message at a time: ten broadcasts
// sent at once reach the other node one service time apart, the last no
// earlier than ten service times after they were sent.
func TestNetworkServiceTimeQueues(t *testing.T) {
	const service = 10 * time.Millisecond
	n, err := coretest.New(coretest.Config{Nodes: 2, Protocol: core.LANConfig(), Seed: 1, ServiceTime: service})
	if err != nil {
		t.Fatal(err)
	}
	n.RunFor(5 * time.Second)
	start := n.Now()
	var last core.MessageID
	for k := 0; k < 10; k++ {
		if last, err = n.Broadcast(0, []byte("q")); err != nil {
			t.Fatal(err)
		}
	}
	if !n.RunUntil(func() bool { return n.Delivered(1, last) > 0 }, time.Minute) {
		t.Fatal("not delivered")
	}
	if d := n.Now().Sub(start); d < 10*service {
		t.Fatalf("last of 10 delivered after %v, want >= %v", d, 10*service)
	}
	if err := n.CheckDelivery(true); err != nil {
		t.Fatal(err)
	}
}

// With SharedCores the nodes share processors: one broadcast pushed to two
// nodes at once is handled by both at once with a processor each, one
// service time apart with a single shared processor.
func TestNetworkSharedCores(t *testing.T) {
	const service = 10 * time.Millisecond
	spread := func(cores int) time.Duration {
		var at []time.Time
		var n *coretest.Network
		c := core.LANConfig()
		c.EagerFanout, c.MaxEagerPeers, c.ShortcutSamples = 2, 2, 0
		n, err := coretest.New(coretest.Config{Nodes: 3, Protocol: c, Seed: 1, ServiceTime: service, SharedCores: cores,
			Observer: func(i int, e core.Event) {
				if e.Kind == core.EventDelivered && i != 0 && string(e.ID.Origin) == "n0" {
					at = append(at, n.Now())
				}
			}})
		if err != nil {
			t.Fatal(err)
		}
		n.RunFor(5 * time.Second)
		if got := len(n.Node(0).EagerPeers()); got != 2 {
			t.Fatalf("node 0 has %d eager peers, want 2", got)
		}
		at = nil
		if _, err := n.Broadcast(0, []byte("x")); err != nil {
			t.Fatal(err)
		}
		n.RunFor(time.Second)
		if len(at) != 2 {
			t.Fatalf("cores %d: %d remote deliveries, want 2", cores, len(at))
		}
		return at[1].Sub(at[0])
	}
	if d := spread(2); d != 0 {
		t.Errorf("two processors: deliveries %v apart, want together", d)
	}
	if d := spread(1); d != service {
		t.Errorf("one shared processor: deliveries %v apart, want one service time (%v)", d, service)
	}
}
