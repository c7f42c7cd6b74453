package metricsprom_test

import (
	"fmt"
	"time"

	"github.com/plumtree-go/plumtree/core"
	metricsprom "github.com/plumtree-go/plumtree/metrics-prom"
	"github.com/prometheus/client_golang/prometheus"
)

// A Collector over a bare core.Protocol. With core/node, pass the Collector
// to node.WithObserver and set its stats source to
// func() core.Stats { return n.Stats().Stats }.
func Example() {
	reg := prometheus.NewRegistry()
	m, err := metricsprom.Register(reg, metricsprom.WithNode("node-1"))
	if err != nil {
		panic(err)
	}
	now := time.Unix(1_700_000_000, 0)
	p, err := core.New(core.DefaultConfig(), "node-1", nil, now)
	if err != nil {
		panic(err)
	}
	m.SetStats(p.Stats)

	p.AddPeer(now, "node-2")
	m.Observe(p.Drain().Events)
	// node-2 accepts the link node-1 asked for.
	p.Receive(now, "node-2", core.Message{Type: core.MsgJoinReply, Accepted: true, Eager: true})
	if _, err := p.Broadcast(now, []byte("hello"), nil); err != nil {
		panic(err)
	}
	m.Observe(p.Drain().Events)

	mfs, err := reg.Gather()
	if err != nil {
		panic(err)
	}
	for _, mf := range mfs {
		switch mf.GetName() {
		case "plumtree_messages_broadcast_total", "plumtree_total_peers":
			for _, s := range mf.GetMetric() {
				v := s.GetCounter().GetValue() + s.GetGauge().GetValue()
				fmt.Printf("%s{node=%q} %v\n", mf.GetName(), s.GetLabel()[0].GetValue(), v)
			}
		case "plumtree_message_size_bytes":
			h := mf.GetMetric()[0].GetHistogram()
			fmt.Printf("%s count %d sum %v\n", mf.GetName(), h.GetSampleCount(), h.GetSampleSum())
		}
	}
	// Output:
	// plumtree_message_size_bytes count 1 sum 5
	// plumtree_messages_broadcast_total{node="node-1"} 1
	// plumtree_total_peers{node="node-1"} 1
}
