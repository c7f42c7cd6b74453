package coretest_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/core/coretest"
)

// What anti-entropy costs when one node, or half the cluster, lacks what
// every other member holds: each missing message should cross the network
// a few times, not once per member. Every member used to send a new member
// a digest, and the new member asked each of them for what it lacked: a
// restarted node among 100 got each of its 200 missing messages 99 times,
// and a healed 50/50 partition of 60 nodes sent 52 repairs per delivery
// it needed. Then the digests each node sent its new members at the merge
// still asked one member each: 2.8 repairs per delivery needed, 4.5
// payload copies with the tree's pushes. Then a node pushed each copy it
// got by Repair down the tree, where the children had asked for the same
// messages themselves: 2.4-2.6 payload copies per delivery needed, against
// 1.1-1.3 since it announces them (core's announceRepaired).

// forSeeds runs f on a network of the given size for seeds 1 to 3, each a
// subtest that names its seed; k counts the broadcasts (broadcastFor).
func forSeeds(t *testing.T, nodes int, f func(t *testing.T, n *coretest.Network, k *int)) {
	for seed := int64(1); seed <= 3; seed++ {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			pc := core.DefaultConfig()
			pc.Seed = seed
			n, err := coretest.New(coretest.Config{Nodes: nodes, Protocol: pc, Seed: seed, Latency: 5 * time.Millisecond, Jitter: 5 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			k := 0
			f(t, n, &k)
		})
	}
}

// broadcastFor broadcasts from nodes in turn every 100 ms for d.
func broadcastFor(t *testing.T, n *coretest.Network, d time.Duration, k *int) {
	t.Helper()
	for end := n.Now().Add(d); n.Now().Before(end); {
		*k++
		i := (*k * 7) % n.Len()
		if n.Alive(i) {
			if _, err := n.Broadcast(i, []byte(fmt.Sprintf("m%d", *k))); err != nil {
				t.Fatal(err)
			}
		}
		n.RunFor(100 * time.Millisecond)
	}
}

func TestRestartedNodeIsRepairedAboutOnce(t *testing.T) {
	forSeeds(t, 100, func(t *testing.T, n *coretest.Network, k *int) {
		broadcastFor(t, n, 20*time.Second, k) // 200 messages, all stored
		n.RunFor(10 * time.Second)
		n.Crash(0)
		n.RunFor(5 * time.Second)
		n.ResetCounters()
		if err := n.Restart(0); err != nil {
			t.Fatal(err)
		}
		n.RunFor(30 * time.Second)
		c, missing := n.Counters(), len(n.Broadcasts())
		if got := n.DeliveredCount(0); got != missing {
			t.Fatalf("(replay: -run %s) the restarted node delivered %d of %d stored messages", t.Name(), got, missing)
		}
		t.Logf("%d repairs sent for the %d messages the restarted node lacked", c.RepairSent, missing)
		if c.RepairSent > 2*uint64(missing) {
			t.Errorf("(replay: -run %s) %d repairs sent for %d missing messages, want at most %d", t.Name(), c.RepairSent, missing, 2*missing)
		}
	})
}

func TestHealedPartitionRepairCost(t *testing.T) {
	const nodes = 60
	forSeeds(t, nodes, func(t *testing.T, n *coretest.Network, k *int) {
		broadcastFor(t, n, 10*time.Second, k)
		var a, b []int
		for i := range nodes {
			if i%2 == 0 {
				a = append(a, i)
			} else {
				b = append(b, i)
			}
		}
		n.Partition(a, b)
		n.RunFor(5 * time.Second)
		membershipCut(n, a, b)
		before := len(n.Broadcasts())
		broadcastFor(t, n, 30*time.Second, k)
		needed := uint64(len(n.Broadcasts())-before) * nodes / 2 // each to the other half
		n.Heal()
		n.RunFor(time.Second)
		n.ResetCounters()
		membershipMerge(n)
		healed := false
		secs := 0
		for range 120 {
			secs++
			n.RunFor(time.Second)
			if healed = n.AllDelivered(); healed {
				break
			}
		}
		if !healed {
			t.Fatalf("(replay: -run %s) 2 min after the heal: %v", t.Name(), n.CheckDelivery(false))
		}
		c := n.Counters()
		t.Logf("healed in %d s: %d repairs and %d payload copies in all sent for %d deliveries across the healed cut (%.2f and %.2f each)", secs,
			c.RepairSent, c.PayloadSent, needed, float64(c.RepairSent)/float64(needed), float64(c.PayloadSent)/float64(needed))
		if c.RepairSent > needed {
			t.Errorf("(replay: -run %s) %d repairs sent for %d deliveries across the cut, want at most %d", t.Name(), c.RepairSent, needed, needed)
		}
		if limit := needed * 8 / 5; c.PayloadSent > limit {
			t.Errorf("(replay: -run %s) %d payload copies sent for %d deliveries across the cut, want at most %d (1.6 each)", t.Name(), c.PayloadSent, needed, limit)
		}
	})
}
