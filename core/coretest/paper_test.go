package coretest_test

import (
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/core/coretest"
)

// stableNetwork builds a network of n nodes with per-link fixed delays
// (1-6 ms), lets the membership settle and returns it.
func stableNetwork(t *testing.T, nodes int, c core.Config, seed int64, jitter time.Duration) *coretest.Network {
	t.Helper()
	n, err := coretest.New(coretest.Config{Nodes: nodes, Protocol: c, Seed: seed, LinkSpread: 5 * time.Millisecond, Jitter: jitter})
	if err != nil {
		t.Fatal(err)
	}
	if !n.RunUntilQuiescent(time.Minute) {
		t.Fatal("network did not settle")
	}
	// The active views form through Joins; one refused is retried at the
	// next maintenance round: let a few rounds pass.
	n.RunFor(5 * c.MaintenanceInterval)
	if !n.RunUntilQuiescent(time.Minute) {
		t.Fatal("network did not settle")
	}
	return n
}

// broadcastRMR broadcasts from src, runs to quiescence, checks that every
// node delivered it and returns its RMR.
func broadcastRMR(t *testing.T, n *coretest.Network, src int) float64 {
	t.Helper()
	n.ResetCounters()
	id, err := n.Broadcast(src, []byte("paper"))
	if err != nil {
		t.Fatal(err)
	}
	if !n.RunUntilQuiescent(time.Minute) {
		t.Fatal("no quiescence")
	}
	if got := n.Deliveries(id); got != uint64(n.Len()) {
		t.Fatalf("%s delivered by %d of %d nodes", id, got, n.Len())
	}
	return n.RMR(id)
}

// Paper, Section 3: "a tree exists after the first broadcast". With the
// paper's behaviour (prune on the first duplicate, OptimizationThreshold 1)
// the first broadcast floods the random overlay (RMR > 0) and prunes every
// redundant link, so the second broadcast in a stable 50-node network uses
// exactly n-1 payload messages: RMR 0. The eager links then form a tree, so
// it holds whichever node broadcasts.
func TestPaperTreeAfterFirstBroadcast(t *testing.T) {
	for seed := int64(1); seed <= 3; seed++ {
		c := core.DefaultConfig()
		c.OptimizationThreshold = 1
		n := stableNetwork(t, 50, c, seed, 0)
		if rmr := broadcastRMR(t, n, 0); rmr <= 0 {
			t.Errorf("seed %d: first broadcast RMR %.2f, want > 0 (flooding the overlay)", seed, rmr)
		}
		for k, src := range []int{0, 17, 42} {
			if rmr := broadcastRMR(t, n, src); rmr != 0 {
				t.Errorf("seed %d: broadcast %d (from node %d) RMR %.3f, want 0", seed, k+2, src, rmr)
			}
		}
		if got := n.Counters().PayloadReceived; got != 49 {
			t.Errorf("seed %d: payload messages received %d, want n-1 = 49", seed, got)
		}
	}
}

// The bound for the default OptimizationThreshold t = 3 (and the default
// PruneDelay; broadcasts at least PruneDelay apart, like the paper's one
// broadcast per cycle). In a stable network with fixed link delays and one
// source, every broadcast follows the same first-copy tree, every redundant
// link carries one duplicate per broadcast in each direction, and a peer is
// pruned at its t-th duplicate (PruneDelay only postpones a prune to a
// duplicate that comes at least a random fraction of it after the
// (t-1)-th): broadcasts 1..t have RMR > 0 and every broadcast from t+1 on
// has RMR 0. With varying sources and jitter the first-copy tree changes
// between broadcasts; every broadcast with RMR > 0 still spends at least one
// of the 2·t duplicates each eager link can carry before it is pruned, so at
// most 2·t·|eager links| broadcasts have RMR > 0 — and in practice RMR is 0
// from broadcast 6·t on in all but a few runs in 200, and from 7·t on in
// every run (t = 3, 50 nodes: see below).
// Broadcasts closer together than PruneDelay converge in time instead (see
// TestManySendersSteadyState).
func TestPaperDefaultThresholdBound(t *testing.T) {
	c := core.DefaultConfig()
	th := c.OptimizationThreshold
	t.Run("single-source", func(t *testing.T) {
		for seed := int64(1); seed <= 3; seed++ {
			n := stableNetwork(t, 50, c, seed, 0)
			for k := 1; k <= th+5; k++ {
				n.RunFor(c.PruneDelay)
				rmr := broadcastRMR(t, n, 0)
				if k <= th && rmr == 0 {
					t.Errorf("seed %d: broadcast %d RMR 0 before the threshold", seed, k)
				}
				if k > th && rmr != 0 {
					t.Errorf("seed %d: broadcast %d RMR %.3f, want 0 from broadcast %d on", seed, k, rmr, th+1)
				}
			}
		}
	})
	t.Run("rotating-sources-jitter", func(t *testing.T) {
		// With the bounded overlay a pull may add a link (at most once
		// per graft timeout per node) that the tree prunes again.
		// Measured over seeds 1-200: the last broadcast with RMR > 0
		// is the 10th or 11th in most runs, the 15th to 17th in 7.5 %
		// of them (it was the 4·t-th at most with the unbounded views).
		// From 6·t on (the 18th to 20th): in 4 of seeds 1-200 and 0 to
		// 4 of 200 in five more samples when quiet digests became rarer
		// (which drew the protocol's random numbers in another order),
		// in 2 of 200 (the 18th and 19th) measured again later that day,
		// and in 1 of 200 for a scratch build that drew them in yet
		// another order; never later. So RMR is 0 from broadcast 6·t on
		// in all but one run in 20, and from 7·t on in every run. This
		// test once held seeds 1-3 to 6·t, and for that scratch build
		// its one draw in 200 fell on seed 3.
		const seeds = 40
		late := 0
		for seed := int64(1); seed <= seeds; seed++ {
			n := stableNetwork(t, 50, c, seed, 3*time.Millisecond)
			last := 0
			for k := 1; k <= 6*th+10; k++ {
				n.RunFor(c.PruneDelay)
				if rmr := broadcastRMR(t, n, (k*7)%50); rmr != 0 {
					last = k
				}
			}
			if last >= 7*th {
				t.Errorf("seed %d: broadcast %d RMR > 0, want 0 from broadcast %d on", seed, last, 7*th)
			}
			if last >= 6*th {
				late++
			}
		}
		if late > seeds/20 {
			t.Errorf("%d of %d seeds had RMR > 0 from broadcast %d on, want at most %d", late, seeds, 6*th, seeds/20)
		}
	})
}

// Paper, Section 4 (Fig. 6a): the paper's partial-view overlay splits when
// 70-80 % of the nodes fail at once. With full membership every live member
// is a repair candidate, so once the failures are detected the next
// broadcast reaches every live node, even after 80 % failed, and the tree
// settles again (RMR back to 0 within a few broadcasts).
func TestPaperMassiveFailure(t *testing.T) {
	c := core.DefaultConfig()
	c.OptimizationThreshold = 1
	for _, failed := range []int{25, 35, 40} { // of 50: 50 %, 70 %, 80 %
		n := stableNetwork(t, 50, c, 7, 0)
		broadcastRMR(t, n, 0)
		for i := 50 - failed; i < 50; i++ {
			n.Crash(i)
		}
		n.RunFor(time.Second) // failure detection (DetectionDelay 0) and repair
		n.ResetCounters()
		id, err := n.Broadcast(0, []byte("after failure"))
		if err != nil {
			t.Fatal(err)
		}
		n.RunUntilQuiescent(time.Minute)
		if got, want := n.Deliveries(id), uint64(50-failed); got != want {
			t.Errorf("%d failed: delivered by %d live nodes, want %d (100 %%)", failed, got, want)
		}
		rmr := -1.0
		// The bounded views rebuild through Join handshakes, one
		// maintenance round at a time: RMR settles in rounds, not in
		// broadcasts.
		for k := 0; k < 10 && rmr != 0; k++ {
			n.RunFor(c.MaintenanceInterval)
			rmr = broadcastRMR2(t, n, 0, 50-failed)
		}
		if rmr != 0 {
			t.Errorf("%d failed: RMR %.3f after 10 broadcasts a maintenance round apart, want 0", failed, rmr)
		}
	}
}

func broadcastRMR2(t *testing.T, n *coretest.Network, src, live int) float64 {
	t.Helper()
	n.ResetCounters()
	id, err := n.Broadcast(src, []byte("paper"))
	if err != nil {
		t.Fatal(err)
	}
	n.RunUntilQuiescent(time.Minute)
	if got := n.Deliveries(id); got != uint64(live) {
		t.Fatalf("%s delivered by %d of %d live nodes", id, got, live)
	}
	return n.RMR(id)
}
