package coretest_test

import (
	"fmt"
	"time"

	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/core/coretest"
)

// Twenty nodes with full membership and the paper's prune-on-first-duplicate:
// the first broadcast floods the bounded active views (5 links per node),
// the second follows the tree.
func ExampleNetwork() {
	cfg := core.DefaultConfig()
	cfg.OptimizationThreshold = 1
	n, err := coretest.New(coretest.Config{Nodes: 20, Protocol: cfg, Seed: 1, LinkSpread: 5 * time.Millisecond})
	if err != nil {
		panic(err)
	}
	n.RunFor(5 * time.Second) // the links form (Joins; a refused one is retried by maintenance)
	for k := 1; k <= 2; k++ {
		n.ResetCounters()
		id, _ := n.Broadcast(0, []byte("hi"))
		n.RunUntilQuiescent(time.Minute)
		fmt.Printf("broadcast %d: delivered by %d nodes, %d payload copies, RMR %.2f\n", k, n.Deliveries(id), n.Received(id), n.RMR(id))
	}
	fmt.Println(n.CheckDelivery(true))
	// Output:
	// broadcast 1: delivered by 20 nodes, 25 payload copies, RMR 0.32
	// broadcast 2: delivered by 20 nodes, 19 payload copies, RMR 0.00
	// <nil>
}

// Drops and a partition, then heal: anti-entropy and grafts bring every
// live node to every message.
func ExampleNetwork_Heal() {
	n, _ := coretest.New(coretest.Config{Nodes: 10, Protocol: core.LANConfig(), Seed: 3, DropRate: 0.2})
	n.RunFor(time.Second)
	n.Partition([]int{0, 1, 2})
	for i := 0; i < 10; i++ {
		n.Broadcast(i, []byte("m"))
	}
	n.Crash(9)
	n.RunFor(5 * time.Second)
	fmt.Println("before heal:", n.AllDelivered())
	n.Heal()
	fmt.Println("after heal:", n.RunUntil(n.AllDelivered, time.Minute), n.CheckDelivery(true))
	// Output:
	// before heal: false
	// after heal: true <nil>
}
