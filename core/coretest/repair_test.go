package coretest_test

import (
	"flag"
	"fmt"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/core/coretest"
)

// The repair-plane properties, all with core.DefaultConfig and its default
// retention (R = MessageCacheTTL = 10 min, S = ClockSkew = 30 s): a
// partition of any length heals completely, with or without later traffic;
// rolling restarts never deliver twice (and, with persistence, never
// re-deliver); a node down for a minute catches up.

var allSeeds = flag.Bool("repair.all", false, "run every seeded repair scenario (make test-repair); -short runs a few")

// membershipCut tells every node of a that the nodes of b are gone and vice
// versa, as memberlist does a few seconds into a partition.
func membershipCut(n *coretest.Network, a, b []int) {
	for _, i := range a {
		for _, j := range b {
			if n.Alive(i) {
				n.Node(i).RemovePeer(n.Now(), n.ID(j))
				n.Flush(i)
			}
			if n.Alive(j) {
				n.Node(j).RemovePeer(n.Now(), n.ID(i))
				n.Flush(j)
			}
		}
	}
}

// membershipMerge re-adds every live node to every other one, as memberlist
// does about a second after a partition heals.
func membershipMerge(n *coretest.Network) {
	for i := range n.Len() {
		for j := range n.Len() {
			if i != j && n.Alive(i) && n.Alive(j) {
				n.Node(i).AddPeer(n.Now(), n.ID(j))
				n.Flush(i)
			}
		}
	}
}

// repairCluster draws the partition properties' cluster: 4-10 nodes of
// the default preset, links of 1-30 ms, and what mod sets (its draws come
// after the latency's). broadcast(d) broadcasts from random nodes for d, at
// an interval drawn once.
func repairCluster(t *rapid.T, mod func(*coretest.Config)) (n *coretest.Network, pc core.Config, broadcast func(d time.Duration)) {
	nodes := rapid.IntRange(4, 10).Draw(t, "nodes")
	pc = core.DefaultConfig()
	pc.Seed = rapid.Int64().Draw(t, "protocol_seed")
	cfg := coretest.Config{
		Nodes:    nodes,
		Protocol: pc,
		Seed:     rapid.Int64().Draw(t, "net_seed"),
		Latency:  time.Duration(rapid.IntRange(1, 30).Draw(t, "latency_ms")) * time.Millisecond,
	}
	mod(&cfg)
	n, err := coretest.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	every := time.Duration(rapid.IntRange(200, 2000).Draw(t, "broadcast_every_ms")) * time.Millisecond
	broadcast = func(d time.Duration) {
		for end := n.Now().Add(d); n.Now().Before(end); {
			i := rapid.IntRange(0, nodes-1).Draw(t, "sender")
			if _, err := n.Broadcast(i, []byte("m")); err != nil {
				t.Fatal(err)
			}
			n.RunFor(every)
		}
	}
	return n, pc, broadcast
}

// partitionScenario runs a 50/50 partition of length cut with broadcasts on
// both sides, heals it, and (with traffic) keeps broadcasting. It returns
// the virtual time from the heal until every message that had at least 20 s
// of retention left at the heal was delivered by every node, and fails on
// any double delivery.
func partitionScenario(t *rapid.T, cut time.Duration, traffic bool) time.Duration {
	n, pc, broadcast := repairCluster(t, func(c *coretest.Config) {
		c.Jitter = time.Duration(rapid.IntRange(0, 10).Draw(t, "jitter_ms")) * time.Millisecond
	})
	nodes := n.Len()
	broadcast(10 * time.Second)
	p := perm(t, nodes)
	a, b := p[:nodes/2], p[nodes/2:]
	n.Partition(a, b)
	n.RunFor(5 * time.Second)
	membershipCut(n, a, b)
	broadcast(cut)
	n.Heal()
	heal := n.Now()
	n.RunFor(time.Second)
	membershipMerge(n)
	R := pc.MessageCacheTTL
	// Every message with at least 20 s of retention left at the heal (more
	// than the repair takes) must arrive: it is still stored somewhere
	// when the repair reaches it.
	want := func(bc coretest.Broadcast) bool {
		return bc.At.After(heal.Add(-R+20*time.Second)) && !bc.At.After(heal)
	}
	complete := func() bool { return n.CheckDeliveryOf(want, false) == nil }
	limit := heal.Add(5 * time.Minute)
	for !complete() {
		if n.Now().After(limit) {
			t.Fatalf("5 min after the heal: %v", n.CheckDeliveryOf(want, true))
		}
		if traffic {
			broadcast(time.Second)
		} else {
			n.RunFor(time.Second)
		}
	}
	took := n.Now().Sub(heal)
	// And it stays so, exactly once, with what was sent after the heal
	// too (given a minute to settle).
	if traffic {
		broadcast(30 * time.Second)
	}
	n.RunFor(time.Minute)
	if err := n.CheckDeliveryOf(func(bc coretest.Broadcast) bool { return bc.At.After(heal.Add(-R + 20*time.Second)) }, true); err != nil {
		t.Fatal(err)
	}
	if c := n.Counters(); c.DoubleDelivered > 0 {
		t.Fatalf("%d double deliveries", c.DoubleDelivered)
	}
	if err := repairUnlimited(n); err != nil {
		t.Fatal(err)
	}
	return took
}

// repairUnlimited reports whether a repair met one of the bounds on what
// a peer's digest is answered with or learnt from: the per-sender digest
// limit (core: digestAnswerBurst) and the bound on streams learnt from
// digests (an eighth of max_streams). Nodes that follow the protocol send
// at most one digest per graft timeout each, and these clusters have far
// fewer origins than that bound, so a heal or a catch-up must never meet
// either: repair would then wait for the bucket, or for gossip.
func repairUnlimited(n *coretest.Network) error {
	var limited, notLearnt uint64
	for i := range n.Len() {
		if p := n.Node(i); p != nil {
			st := p.Stats()
			limited += st.DigestRateLimited
			notLearnt += st.StreamsNotLearnt
		}
	}
	switch {
	case limited > 0:
		return fmt.Errorf("%d digests left unanswered by the digest limit", limited)
	case notLearnt > 0:
		return fmt.Errorf("%d origins of digests not learnt", notLearnt)
	}
	return nil
}

// healTimes collects the heal→complete times of a property's runs.
type healTimes []time.Duration

func (h healTimes) report(t *testing.T, what string) {
	if len(h) == 0 {
		return
	}
	s := append(healTimes(nil), h...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	t.Logf("%s: %d runs, heal→complete median %v, p90 %v, max %v", what, len(s), s[len(s)/2], s[len(s)*9/10], s[len(s)-1])
}

// (a) A 10-minute 50/50 partition with broadcasts on both sides, healed
// with traffic continuing: every message still within retention reaches
// every node exactly once.
func TestPartitionHealsWithTraffic(t *testing.T) {
	var h healTimes
	rapid.Check(t, func(t *rapid.T) {
		h = append(h, partitionScenario(t, 10*time.Minute, true))
	})
	h.report(t, "10 min partition, traffic after heal")
}

// (b) The same with no traffic after the heal.
func TestPartitionHealsWithoutTraffic(t *testing.T) {
	var h healTimes
	rapid.Check(t, func(t *rapid.T) {
		h = append(h, partitionScenario(t, 10*time.Minute, false))
	})
	h.report(t, "10 min partition, no traffic after heal")
}

// Partitions of any length, shorter than the retention or longer.
func TestPartitionAnyLengthHeals(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cut := time.Duration(rapid.IntRange(1, 20).Draw(t, "cut_min")) * time.Minute
		partitionScenario(t, cut, rapid.Bool().Draw(t, "traffic"))
	})
}

// (a2) A cut the membership does not see (failure detection off: only the
// Plumtree links are cut, as by a firewall rule on the data port), after a
// minute of traffic in which nothing stirred the nodes' anti-entropy, so
// that their digests went every 8th round. After the heal, with traffic or
// none, the first digest that crosses it starts the repair, and the
// Repairs it brings stir the nodes back to a digest every 2nd round.
// Bound: anti_entropy_min_age (5 s) and two quiet periods (8 rounds of at
// most 2.5 s each: a digest may go to a member on its own side first).
// Measured (2026-12-07, rapid seeds 1-8, 100 runs each): medians 5.0-5.1 s,
// p90 6.0-7.1 s, max 7.1-16.8 s. Scratch runs of the same cut split by
// traffic (seeds 1-4): with none after the heal max 11.5-19.2 s, against
// 8.2-9.5 s while every digest went every 2nd round; with traffic 7.4-11.3
// s (the gap a new message opens stirs too). With the period let grow to
// 64 rounds, seed 2 failed the bound.
func TestUnseenPartitionHeals(t *testing.T) {
	var h healTimes
	rapid.Check(t, func(t *rapid.T) {
		n, pc, broadcast := repairCluster(t, func(c *coretest.Config) { c.DetectionDelay = -1 })
		nodes := n.Len()
		broadcast(time.Minute)
		p := perm(t, nodes)
		n.Partition(p[:nodes/2], p[nodes/2:])
		broadcast(10 * time.Second)
		n.Heal()
		heal := n.Now()
		traffic := rapid.Bool().Draw(t, "traffic")
		bound := pc.AntiEntropyMinAge + 2*8*(pc.MaintenanceInterval+pc.MaintenanceJitter)
		beforeHeal := func(b coretest.Broadcast) bool { return !b.At.After(heal) }
		for n.CheckDeliveryOf(beforeHeal, false) != nil {
			if n.Now().Sub(heal) > bound {
				t.Fatalf("not everything delivered %v after the heal (traffic %v): %v", bound, traffic, n.CheckDeliveryOf(beforeHeal, true))
			}
			if traffic {
				broadcast(time.Second)
			} else {
				n.RunFor(100 * time.Millisecond)
			}
		}
		h = append(h, n.Now().Sub(heal))
		n.RunFor(time.Minute)
		if err := n.CheckDelivery(true); err != nil {
			t.Fatal(err)
		}
		if err := repairUnlimited(n); err != nil {
			t.Fatal(err)
		}
	})
	h.report(t, "10 s cut the membership did not see")
}

// rollingRestarts restarts every node in turn every 10 s while broadcasting,
// then checks exactly-once delivery: no incarnation delivers a message
// twice, with persistence no node re-delivers across restarts, and every
// message that a live node's current incarnation delivered (so stores) is
// delivered by every live node.
func rollingRestarts(seed int64, persist bool) (coretest.Counters, error) {
	pc := core.DefaultConfig()
	pc.Seed = seed
	n, err := coretest.New(coretest.Config{Nodes: 6, Protocol: pc, Seed: seed, Latency: 5 * time.Millisecond, Jitter: 5 * time.Millisecond, Persist: persist})
	if err != nil {
		return coretest.Counters{}, err
	}
	k := 0
	step := func(d time.Duration) {
		for end := n.Now().Add(d); n.Now().Before(end); {
			i := k % n.Len()
			k += 7
			if n.Alive(i) {
				if _, err := n.Broadcast(i, []byte("m")); err != nil {
					panic(err)
				}
			}
			n.RunFor(100 * time.Millisecond)
		}
	}
	step(10 * time.Second)
	for round := range 2 {
		for i := range n.Len() {
			n.Crash(i)
			step(time.Duration(1+round) * time.Second)
			if err := n.Restart(i); err != nil {
				return n.Counters(), err
			}
			step(10*time.Second - time.Duration(1+round)*time.Second)
		}
	}
	n.RunFor(time.Minute)
	stored := func(b coretest.Broadcast) bool {
		for j := range n.Len() {
			if n.Alive(j) && n.Delivered(j, b.ID) > 0 {
				return true
			}
		}
		return false
	}
	if err := repairUnlimited(n); err != nil {
		return n.Counters(), err
	}
	return n.Counters(), n.CheckDeliveryOf(stored, true)
}

func repairSeeds(t *testing.T, full, short int) int {
	if *allSeeds {
		return full
	}
	if testing.Short() {
		return short
	}
	return full / 4
}

// (c) Rolling restarts, 100 seeded runs with -repair.all: 0 double
// deliveries, and every message still stored reaches every node.
func TestRollingRestartsNoDoubleDelivery(t *testing.T) {
	runs := repairSeeds(t, 100, 5)
	var redelivered uint64
	for seed := int64(1); seed <= int64(runs); seed++ {
		c, err := rollingRestarts(seed, false)
		if err != nil {
			t.Fatalf("seed %d (replay: -run %s, seed %d): %v", seed, t.Name(), seed, err)
		}
		if c.DoubleDelivered != 0 {
			t.Fatalf("seed %d: %d double deliveries", seed, c.DoubleDelivered)
		}
		redelivered += c.Redelivered
	}
	t.Logf("%d runs: 0 double deliveries; without persistence restarts re-delivered %d messages in all (the catch-up of each new incarnation)", runs, redelivered)
}

// (c) With persistence: 0 re-deliveries across restarts.
func TestRollingRestartsPersistedNoRedelivery(t *testing.T) {
	runs := repairSeeds(t, 100, 5)
	var deliveries uint64
	for seed := int64(1); seed <= int64(runs); seed++ {
		c, err := rollingRestarts(seed, true)
		if err != nil {
			t.Fatalf("seed %d (replay: -run %s, seed %d): %v", seed, t.Name(), seed, err)
		}
		if c.DoubleDelivered != 0 || c.Redelivered != 0 {
			t.Fatalf("seed %d: %d double deliveries, %d re-deliveries", seed, c.DoubleDelivered, c.Redelivered)
		}
		deliveries += c.Deliveries
	}
	t.Logf("%d runs with persistence: %d deliveries, 0 double, 0 re-delivered", runs, deliveries)
}

// (d) A node down for 60 s catches up everything broadcast meanwhile (with
// and without persistence), exactly once.
func TestNodeDownSixtySecondsCatchesUp(t *testing.T) {
	for _, persist := range []bool{false, true} {
		t.Run(fmt.Sprintf("persist=%v", persist), func(t *testing.T) {
			var times healTimes
			rapid.Check(t, func(t *rapid.T) {
				nodes := rapid.IntRange(3, 10).Draw(t, "nodes")
				pc := core.DefaultConfig()
				pc.Seed = rapid.Int64().Draw(t, "protocol_seed")
				n, err := coretest.New(coretest.Config{Nodes: nodes, Protocol: pc, Seed: rapid.Int64().Draw(t, "net_seed"),
					Latency: 5 * time.Millisecond, Jitter: 5 * time.Millisecond, DetectionDelay: 3 * time.Second, Persist: persist})
				if err != nil {
					t.Fatal(err)
				}
				every := time.Duration(rapid.IntRange(50, 1000).Draw(t, "broadcast_every_ms")) * time.Millisecond
				broadcast := func(d time.Duration) {
					for end := n.Now().Add(d); n.Now().Before(end); {
						i := rapid.IntRange(0, nodes-1).Draw(t, "sender")
						if n.Alive(i) {
							if _, err := n.Broadcast(i, []byte("m")); err != nil {
								t.Fatal(err)
							}
						}
						n.RunFor(every)
					}
				}
				broadcast(20 * time.Second)
				down := rapid.IntRange(0, nodes-1).Draw(t, "down")
				n.Crash(down)
				from := n.Now()
				broadcast(60 * time.Second)
				until := n.Now()
				if err := n.Restart(down); err != nil {
					t.Fatal(err)
				}
				restart := n.Now()
				missed := func(b coretest.Broadcast) bool { return b.At.After(from) && !b.At.After(until) && b.Node != down }
				caught := func() bool {
					for _, b := range n.Broadcasts() {
						if missed(b) && n.Delivered(down, b.ID) == 0 {
							return false
						}
					}
					return true
				}
				for !caught() {
					if n.Now().Sub(restart) > 2*time.Minute {
						t.Fatalf("not caught up 2 min after the restart: %v", n.CheckDeliveryOf(missed, true))
					}
					broadcast(time.Second)
				}
				times = append(times, n.Now().Sub(restart))
				n.RunFor(time.Minute)
				if err := n.CheckDeliveryOf(missed, true); err != nil {
					t.Fatal(err)
				}
				if err := repairUnlimited(n); err != nil {
					t.Fatal(err)
				}
			})
			times.report(t, "60 s down, restart→caught up")
		})
	}
}
