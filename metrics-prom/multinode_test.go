package metricsprom

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// chain is three core.Protocols a - b - c in a line, wired by hand: the
// deterministic scripted scenario over the real state machine.
type chain struct {
	now   time.Time
	nodes map[core.PeerID]*core.Protocol
	obs   map[core.PeerID]func([]core.Event)
}

func newChain(t *testing.T, observers map[core.PeerID]func([]core.Event)) *chain {
	t.Helper()
	c := &chain{now: time.Unix(1_700_000_000, 0), nodes: map[core.PeerID]*core.Protocol{}, obs: observers}
	for _, id := range []core.PeerID{"a", "b", "c"} {
		p, err := core.New(core.DefaultConfig(), id, nil, c.now)
		if err != nil {
			t.Fatal(err)
		}
		c.nodes[id] = p
	}
	c.nodes["a"].AddPeer(c.now, "b")
	c.nodes["b"].AddPeer(c.now, "a")
	c.nodes["b"].AddPeer(c.now, "c")
	c.nodes["c"].AddPeer(c.now, "b")
	c.settle(t)
	return c
}

// settle drains every node and routes its messages until nothing moves.
func (c *chain) settle(t *testing.T) {
	t.Helper()
	for round := 0; ; round++ {
		if round > 1000 {
			t.Fatal("chain does not settle")
		}
		moved := false
		for _, id := range []core.PeerID{"a", "b", "c"} {
			out := c.nodes[id].Drain()
			msgs := append([]core.Outbound(nil), out.Messages...)
			if f := c.obs[id]; f != nil {
				f(out.Events)
			}
			for _, m := range msgs {
				moved = true
				c.nodes[m.To].Receive(c.now, id, m.Msg)
			}
		}
		if !moved {
			return
		}
	}
}

// TestSharedRegistryNodeLabel: three nodes of one process export into one
// registry, told apart by the node label; values are each node's own.
func TestSharedRegistryNodeLabel(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	cols := map[core.PeerID]*Collector{}
	obs := map[core.PeerID]func([]core.Event){}
	for _, id := range []core.PeerID{"a", "b", "c"} {
		col, err := Register(reg, WithNode(string(id)))
		if err != nil {
			t.Fatal(err)
		}
		cols[id], obs[id] = col, col.Observe
	}
	ch := newChain(t, obs)
	for id, col := range cols {
		p := ch.nodes[id]
		col.SetStats(p.Stats)
	}
	for range 2 {
		if _, err := ch.nodes["a"].Broadcast(ch.now, make([]byte, 200), nil); err != nil {
			t.Fatal(err)
		}
		ch.settle(t)
	}
	const want = `
# HELP plumtree_messages_broadcast_total Messages broadcast by this node.
# TYPE plumtree_messages_broadcast_total counter
plumtree_messages_broadcast_total{node="a"} 2
plumtree_messages_broadcast_total{node="b"} 0
plumtree_messages_broadcast_total{node="c"} 0
# HELP plumtree_messages_delivered_total Messages delivered to the application (each message once, including this node's own broadcasts).
# TYPE plumtree_messages_delivered_total counter
plumtree_messages_delivered_total{node="a"} 2
plumtree_messages_delivered_total{node="b"} 2
plumtree_messages_delivered_total{node="c"} 2
# HELP plumtree_total_peers Peers in the active view (eager + lazy).
# TYPE plumtree_total_peers gauge
plumtree_total_peers{node="a"} 1
plumtree_total_peers{node="b"} 2
plumtree_total_peers{node="c"} 1
# HELP plumtree_message_hops Hop count with which messages from other nodes were delivered (1 = straight from the origin).
# TYPE plumtree_message_hops histogram
plumtree_message_hops_bucket{node="a",le="1"} 0
plumtree_message_hops_bucket{node="a",le="2"} 0
plumtree_message_hops_bucket{node="a",le="3"} 0
plumtree_message_hops_bucket{node="a",le="5"} 0
plumtree_message_hops_bucket{node="a",le="10"} 0
plumtree_message_hops_bucket{node="a",le="+Inf"} 0
plumtree_message_hops_sum{node="a"} 0
plumtree_message_hops_count{node="a"} 0
plumtree_message_hops_bucket{node="b",le="1"} 2
plumtree_message_hops_bucket{node="b",le="2"} 2
plumtree_message_hops_bucket{node="b",le="3"} 2
plumtree_message_hops_bucket{node="b",le="5"} 2
plumtree_message_hops_bucket{node="b",le="10"} 2
plumtree_message_hops_bucket{node="b",le="+Inf"} 2
plumtree_message_hops_sum{node="b"} 2
plumtree_message_hops_count{node="b"} 2
plumtree_message_hops_bucket{node="c",le="1"} 0
plumtree_message_hops_bucket{node="c",le="2"} 2
plumtree_message_hops_bucket{node="c",le="3"} 2
plumtree_message_hops_bucket{node="c",le="5"} 2
plumtree_message_hops_bucket{node="c",le="10"} 2
plumtree_message_hops_bucket{node="c",le="+Inf"} 2
plumtree_message_hops_sum{node="c"} 4
plumtree_message_hops_count{node="c"} 2
# HELP plumtree_message_size_bytes Payload size of the messages delivered (received and broadcast).
# TYPE plumtree_message_size_bytes histogram
plumtree_message_size_bytes_bucket{node="a",le="100"} 0
plumtree_message_size_bytes_bucket{node="a",le="1024"} 2
plumtree_message_size_bytes_bucket{node="a",le="10240"} 2
plumtree_message_size_bytes_bucket{node="a",le="65536"} 2
plumtree_message_size_bytes_bucket{node="a",le="262144"} 2
plumtree_message_size_bytes_bucket{node="a",le="+Inf"} 2
plumtree_message_size_bytes_sum{node="a"} 400
plumtree_message_size_bytes_count{node="a"} 2
plumtree_message_size_bytes_bucket{node="b",le="100"} 0
plumtree_message_size_bytes_bucket{node="b",le="1024"} 2
plumtree_message_size_bytes_bucket{node="b",le="10240"} 2
plumtree_message_size_bytes_bucket{node="b",le="65536"} 2
plumtree_message_size_bytes_bucket{node="b",le="262144"} 2
plumtree_message_size_bytes_bucket{node="b",le="+Inf"} 2
plumtree_message_size_bytes_sum{node="b"} 400
plumtree_message_size_bytes_count{node="b"} 2
plumtree_message_size_bytes_bucket{node="c",le="100"} 0
plumtree_message_size_bytes_bucket{node="c",le="1024"} 2
plumtree_message_size_bytes_bucket{node="c",le="10240"} 2
plumtree_message_size_bytes_bucket{node="c",le="65536"} 2
plumtree_message_size_bytes_bucket{node="c",le="262144"} 2
plumtree_message_size_bytes_bucket{node="c",le="+Inf"} 2
plumtree_message_size_bytes_sum{node="c"} 400
plumtree_message_size_bytes_count{node="c"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"plumtree_messages_broadcast_total", "plumtree_messages_delivered_total", "plumtree_total_peers",
		"plumtree_message_hops", "plumtree_message_size_bytes"); err != nil {
		t.Fatal(err)
	}
	// Each family has exactly one series per node.
	for _, name := range MetricNames() {
		if n, err := testutil.GatherAndCount(reg, name); err != nil || (n != 3 && n != 0) {
			t.Errorf("%s: %d series, %v", name, n, err)
		}
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) != 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}

// TestOwnRegistryPerNode: each node has its own registry (for example one
// /metrics endpoint per node) and needs no label.
func TestOwnRegistryPerNode(t *testing.T) {
	regs := map[core.PeerID]*prometheus.Registry{}
	cols := map[core.PeerID]*Collector{}
	obs := map[core.PeerID]func([]core.Event){}
	for _, id := range []core.PeerID{"a", "b", "c"} {
		regs[id] = prometheus.NewPedanticRegistry()
		col, err := Register(regs[id])
		if err != nil {
			t.Fatal(err)
		}
		cols[id], obs[id] = col, col.Observe
	}
	ch := newChain(t, obs)
	for id, col := range cols {
		col.SetStats(ch.nodes[id].Stats)
	}
	if _, err := ch.nodes["c"].Broadcast(ch.now, []byte("x"), nil); err != nil {
		t.Fatal(err)
	}
	ch.settle(t)
	for id, broadcast := range map[core.PeerID]int{"a": 0, "b": 0, "c": 1} {
		hops := map[core.PeerID]string{"a": "2", "b": "1", "c": "0"}[id]
		want := fmt.Sprintf(`
# HELP plumtree_messages_broadcast_total Messages broadcast by this node.
# TYPE plumtree_messages_broadcast_total counter
plumtree_messages_broadcast_total %d
# HELP plumtree_messages_delivered_total Messages delivered to the application (each message once, including this node's own broadcasts).
# TYPE plumtree_messages_delivered_total counter
plumtree_messages_delivered_total 1
`, broadcast)
		if err := testutil.GatherAndCompare(regs[id], strings.NewReader(want),
			"plumtree_messages_broadcast_total", "plumtree_messages_delivered_total"); err != nil {
			t.Errorf("%s: %v", id, err)
		}
		mfs, err := regs[id].Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "plumtree_message_hops" {
				if got := fmt.Sprint(mf.GetMetric()[0].GetHistogram().GetSampleSum()); got != hops {
					t.Errorf("%s: hop sum %s, want %s", id, got, hops)
				}
			}
		}
	}
}

// Two unlabelled collectors cannot share a registry: the registry refuses
// the second instead of silently mixing the nodes' values.
func TestSharedRegistryNeedsLabels(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := Register(reg); err != nil {
		t.Fatal(err)
	}
	if _, err := Register(reg); err == nil {
		t.Fatal("second unlabelled collector accepted")
	}
	if _, err := Register(reg, WithNode("x")); err == nil {
		t.Fatal("a labelled collector next to an unlabelled one must be refused too")
	}
}

func TestRegisterNil(t *testing.T) {
	if _, err := Register(nil); err == nil {
		t.Fatal("Register(nil) accepted")
	}
}
