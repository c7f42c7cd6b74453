package coretest_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/core/coretest"
)

// overlayShape checks the active views of every live node: each within
// eager_fanout + lazy_fanout, lazy within lazy_fanout, every link held by
// both sides with the same kind, no eager degree above 2× the mean. It
// returns the mean and maximum eager degree.
func overlayShape(t *testing.T, n *coretest.Network, c core.Config) (mean float64, maxEager int) {
	t.Helper()
	total := 0
	for i := 0; i < n.Len(); i++ {
		p := n.Node(i)
		eager, lazy := p.EagerPeers(), p.LazyPeers()
		if got, cap := len(eager)+len(lazy), c.EagerFanout+c.LazyFanout; got > cap {
			t.Errorf("node %d: active view %d > %d", i, got, cap)
		}
		if len(lazy) > c.LazyFanout {
			t.Errorf("node %d: %d lazy peers > lazy_fanout %d", i, len(lazy), c.LazyFanout)
		}
		for _, e := range eager {
			if !slices.Contains(n.Node(n.Index(e)).EagerPeers(), p.Self()) {
				t.Errorf("node %d holds %s eager, %s holds it %s", i, e, e, kind(n.Node(n.Index(e)), p.Self()))
			}
		}
		for _, l := range lazy {
			if !slices.Contains(n.Node(n.Index(l)).LazyPeers(), p.Self()) {
				t.Errorf("node %d holds %s lazy, %s holds it %s", i, l, l, kind(n.Node(n.Index(l)), p.Self()))
			}
		}
		total += len(eager)
		maxEager = max(maxEager, len(eager))
	}
	mean = float64(total) / float64(n.Len())
	if float64(maxEager) > 2*mean {
		t.Errorf("eager degree %d > 2 × mean %.2f", maxEager, mean)
	}
	return mean, maxEager
}

func kind(p *core.Protocol, id core.PeerID) string {
	switch {
	case slices.Contains(p.EagerPeers(), id):
		return "eager"
	case slices.Contains(p.LazyPeers(), id):
		return "lazy"
	}
	return "passive"
}

// The overlay at N = 64 with the default config: every active view within
// eager_fanout + lazy_fanout, lazy peers within lazy_fanout, every link
// symmetric (same kind on both sides), no eager degree above 2× the mean;
// and the tree it carries delivers every broadcast with RMR 0 once settled.
func TestOverlayBoundedSymmetric(t *testing.T) {
	for seed := int64(1); seed <= 3; seed++ {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			c := core.DefaultConfig()
			n, err := coretest.New(coretest.Config{Nodes: 64, Protocol: c, Seed: seed, LinkSpread: 5 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			n.RunFor(10 * time.Second)
			for k := 0; k < 30; k++ {
				if _, err := n.Broadcast(k%64, []byte("x")); err != nil {
					t.Fatal(err)
				}
				n.RunFor(c.PruneDelay)
			}
			n.RunFor(5 * time.Second)
			if err := n.CheckDelivery(true); err != nil {
				t.Fatalf("seed %d: %v", seed, err)
			}
			mean, maxE := overlayShape(t, n, c)
			n.ResetCounters()
			id, _ := n.Broadcast(5, []byte("settled"))
			n.RunFor(5 * time.Second)
			cs := n.Counters()
			t.Logf("seed %d: eager degree mean %.2f max %d; settled broadcast RMR %.3f, control received per node %.2f", seed, mean, maxE, n.RMR(id), float64(cs.ControlReceived)/64)
			if got := n.Deliveries(id); got != 64 {
				t.Errorf("settled broadcast delivered by %d of 64", got)
			}
		})
	}
}

// Lazy push at N = 200 with the default config: every lazy set within
// lazy_fanout, the views symmetric, and at most 3 IHave frames per node per
// broadcast (the paper counts about 3 announcements; the unbounded views
// sent about 16). Broadcasts are an IHave interval and more apart, so
// every announcement travels alone: the bound holds without coalescing.
func TestIHaveCostAtN200(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	c := core.DefaultConfig()
	const nodes, msgs = 200, 40
	var ihaves uint64
	counting := false
	n, err := coretest.New(coretest.Config{Nodes: nodes, Protocol: c, Seed: 5, LinkSpread: 5 * time.Millisecond,
		Observer: func(_ int, e core.Event) {
			if counting && e.Kind == core.EventIHaveSent {
				ihaves++
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	n.RunFor(10 * time.Second)
	for k := 0; k < 40; k++ { // the tree forms
		if _, err := n.Broadcast(k*13%nodes, []byte("warm")); err != nil {
			t.Fatal(err)
		}
		n.RunFor(c.PruneDelay)
	}
	n.RunFor(5 * time.Second)
	overlayShape(t, n, c)
	n.ResetCounters()
	counting = true
	var ids []core.MessageID
	for k := 0; k < msgs; k++ {
		id, err := n.Broadcast(k*7%nodes, []byte("m"))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		n.RunFor(2 * c.IHaveInterval)
	}
	n.RunFor(5 * time.Second)
	counting = false
	per := float64(ihaves) / float64(msgs*nodes)
	cs := n.Counters()
	rmr := 0.0
	for _, id := range ids {
		if got := n.Deliveries(id); got != nodes {
			t.Errorf("%s delivered by %d of %d", id, got, nodes)
		}
		rmr += n.RMR(id) / float64(len(ids))
	}
	t.Logf("N = %d: %.2f IHave frames per node per broadcast, control received %.2f per node per broadcast, mean RMR %.3f",
		nodes, per, float64(cs.ControlReceived)/float64(msgs*nodes), rmr)
	if per > 3 {
		t.Errorf("%.2f IHave frames per node per broadcast, want <= 3", per)
	}
}

// A burst of 2,000 messages from random origins, all at once, into a formed
// tree of 32 nodes: every message reaches every node exactly once, and the
// tree does not grow: RMR over the burst <= 0.05. (The simulator has no
// bandwidth limit, so this checks the protocol's own reaction to a burst —
// announcements overtaking queued copies, pulls, prunes — not the queueing
// of a real network; the cluster job's -burst measures that.)
func TestBurstKeepsTheTree(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	const nodes, burst = 32, 2000
	rmr, ctrl, err := runBurst(coretest.Config{Nodes: nodes, Protocol: core.DefaultConfig(), Seed: 9, LinkSpread: 5 * time.Millisecond, Jitter: 2 * time.Millisecond}, burst)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("burst of %d at N = %d: RMR %.4f, control received %.3f per delivery", burst, nodes, rmr, ctrl)
	if rmr > 0.05 {
		t.Errorf("RMR %.3f over the burst, want <= 0.05", rmr)
	}
}

// runBurst forms a tree on a network of cfg (10 s, then 40 spaced
// broadcasts), sends burst messages back to back from rotating origins,
// checks every one reached every node exactly once, and returns the RMR and
// the control messages received per remote delivery over the burst.
func runBurst(cfg coretest.Config, burst int) (rmr, ctrl float64, err error) {
	n, err := coretest.New(cfg)
	if err != nil {
		return 0, 0, err
	}
	nodes := cfg.Nodes
	n.RunFor(10 * time.Second)
	for k := 0; k < 40; k++ {
		if _, err := n.Broadcast(k*5%nodes, []byte("warm")); err != nil {
			return 0, 0, err
		}
		n.RunFor(cfg.Protocol.PruneDelay)
	}
	n.RunFor(5 * time.Second)
	n.ResetCounters()
	for k := 0; k < burst; k++ {
		if _, err := n.Broadcast(k*11%nodes, []byte("burst")); err != nil {
			return 0, 0, err
		}
		if k%100 == 99 {
			n.RunFor(time.Millisecond)
		}
	}
	// (RunUntil(AllDelivered) checks 64,000 pairs per step: run a fixed
	// time, far above what the burst needs, and check once.)
	n.RunFor(30 * time.Second)
	if err := n.CheckDelivery(true); err != nil {
		return 0, 0, err
	}
	cs := n.Counters()
	remote := cs.Deliveries - uint64(burst)
	return float64(cs.PayloadReceived-remote) / float64(remote), float64(cs.ControlReceived) / float64(remote), nil
}

// The same burst with queues: every node takes ServiceTime per message it
// handles, so the 2,000 messages queue at every node for far longer than
// the graft timeout, and announcements overtake the tree's copies (a lazy
// neighbour fed by a shorter queue announces a message long before the
// tree brings it). Every message must still reach every node exactly once,
// and the tree must not grow: RMR over the burst <= 0.05, as issue 10 asks
// of the cluster's burst. Before pulls waited for a late tree (treelag.go)
// this run ended at RMR 0.44-0.50 (seeds 9-11), as tools/bench's loaded
// burst at N = 32 did (0.28-0.54): pulls of copies that were only late,
// links made from them, cycles, Prunes that arrived late behind the
// queues.
func TestBurstUnderQueueingKeepsTheTree(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	const nodes, burst = 32, 2000
	const service = 250 * time.Microsecond
	for _, seed := range []int64{9, 10, 11, 12, 13, 14} {
		rmr, ctrl, err := runBurst(coretest.Config{Nodes: nodes, Protocol: core.LANConfig(), Seed: seed, LinkSpread: 2 * time.Millisecond,
			Jitter: time.Millisecond, ServiceTime: service}, burst)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		t.Logf("seed %d: burst of %d at N = %d, %v per message handled: RMR %.4f, control received %.3f per delivery",
			seed, burst, nodes, service, rmr, ctrl)
		if rmr > 0.05 {
			t.Errorf("seed %d: RMR %.4f over the burst, want <= 0.05", seed, rmr)
		}
	}
}

// The burst on one machine: the 32 nodes share 2 processors (SharedCores),
// each message handled takes 70 µs of one, and the 2,000 messages are
// published 500 µs apart — 2.2 times what the processors can handle, so
// every node's input waits behind the others' work and every copy of the
// tree runs later and later while the burst lasts. A node whose messages
// waited more than half the graft timeout is told it is overloaded (as
// core/node does) and pulls nothing meanwhile. Without that signal the
// late copies were pulled — 36,000-46,000 pulls for 62,000 deliveries,
// each adding work, RMR 0.84-1.07 (seeds 1-3); with it 22-4,400 pulls and
// RMR 0.0004-0.26. What is left is the links the burst re-opens (lazy
// links pushed a first copy before a Prune reached them, relinks after
// both ends of a cycle pruned): see docs/design.md, "Pulls, not
// promotions". Asserted: everything delivered exactly once, pulls at most
// 10 % of the deliveries.
func TestBurstOnSharedCoresDoesNotPullTheBacklog(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	const nodes, burst = 32, 2000
	for _, seed := range []int64{1, 2, 3} {
		var pulls int
		counting := false
		cfg := coretest.Config{Nodes: nodes, Protocol: core.LANConfig(), Seed: seed, LinkSpread: 2 * time.Millisecond, Jitter: time.Millisecond,
			ServiceTime: 70 * time.Microsecond, SharedCores: 2, OverloadSignal: true,
			Observer: func(_ int, e core.Event) {
				if counting && e.Kind == core.EventGraftSent && e.ID.Origin != "" {
					pulls++
				}
			}}
		n, err := coretest.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		n.RunFor(10 * time.Second)
		for k := 0; k < 40; k++ {
			if _, err := n.Broadcast(k*5%nodes, []byte("warm")); err != nil {
				t.Fatal(err)
			}
			n.RunFor(cfg.Protocol.PruneDelay)
		}
		n.RunFor(5 * time.Second)
		n.ResetCounters()
		counting = true
		for k := 0; k < burst; k++ {
			if _, err := n.Broadcast(k*11%nodes, []byte("burst")); err != nil {
				t.Fatal(err)
			}
			n.RunFor(500 * time.Microsecond)
		}
		n.RunFor(30 * time.Second)
		counting = false
		if err := n.CheckDelivery(true); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		cs := n.Counters()
		remote := cs.Deliveries - burst
		rmr := float64(cs.PayloadReceived-remote) / float64(remote)
		t.Logf("seed %d: %d pulls for %d deliveries, RMR %.4f", seed, pulls, remote, rmr)
		if float64(pulls) > 0.1*float64(remote) {
			t.Errorf("seed %d: %d pulls for %d deliveries (more than 10 %%): the overloaded nodes pulled their backlog", seed, pulls, remote)
		}
	}
}
