package node_test

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/core/node"
	"github.com/plumtree-go/plumtree/core/node/memnet"
)

func TestClusterDeliversExactlyOnce(t *testing.T) {
	tests := []struct {
		name       string
		size       int
		broadcasts int
	}{
		{"3 nodes", 3, 20},
		{"8 nodes", 8, 30},
		{"20 nodes", 20, 30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := startCluster(t, clusterOpts{size: tt.size, seed: uint64(tt.size)})
			rng := rand.New(rand.NewPCG(uint64(tt.size), 7))
			ids := c.broadcastRandom(rng, tt.broadcasts)
			c.quiesce(ids, 20*time.Second)
		})
	}
}

// With 5 % loss, reordering and duplication on every link, every node still
// delivers every message exactly once: Plumtree repairs the losses through
// IHave/Graft, the seen set absorbs the duplicates.
func TestClusterFaultyLinks(t *testing.T) {
	tests := []struct {
		name       string
		size       int
		broadcasts int
		link       memnet.Link
	}{
		{"5 nodes drops dups reorder", 5, 40, memnet.Link{Drop: 0.05, Duplicate: 0.05, Reorder: 0.2, Delay: time.Millisecond, Jitter: time.Millisecond}},
		{"12 nodes drops dups reorder", 12, 40, memnet.Link{Drop: 0.05, Duplicate: 0.05, Reorder: 0.2, Jitter: 2 * time.Millisecond}},
		{"20 nodes drops dups reorder", 20, 60, memnet.Link{Drop: 0.05, Duplicate: 0.05, Reorder: 0.2, Delay: 500 * time.Microsecond, Jitter: time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := startCluster(t, clusterOpts{size: tt.size, seed: uint64(tt.size) + 100, link: tt.link})
			rng := rand.New(rand.NewPCG(uint64(tt.size), 11))
			var ids []core.MessageID
			for range 4 {
				ids = append(ids, c.broadcastRandom(rng, tt.broadcasts/4)...)
				// Let the tree change shape between bursts.
				waitFor(t, 10*time.Second, "the burst to spread", func() bool {
					for _, r := range c.recs {
						if r.distinct() < len(ids)/2 {
							return false
						}
					}
					return true
				})
			}
			c.quiesce(ids, 30*time.Second)
			st := c.net.Stats()
			if st.Dropped == 0 || st.Duplicated == 0 || st.Reordered == 0 {
				t.Errorf("faults not exercised: %+v", st)
			}
			t.Logf("network: %+v", st)
		})
	}
}

// A crashed node stops receiving; the others keep delivering; a restarted
// node under the same name receives the broadcasts made after it rejoined.
func TestClusterCrashRestart(t *testing.T) {
	c := startCluster(t, clusterOpts{size: 6, seed: 42})
	rng := rand.New(rand.NewPCG(42, 1))
	ids := c.broadcastRandom(rng, 10)
	c.quiesce(ids, 10*time.Second)

	const victim = 5
	if err := c.net.Crash(peerName(victim)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	waitFor(t, 5*time.Second, "the victim to notice its transport closed", func() bool {
		return c.nodes[victim].Stats().Runtime.TransportClosed
	})
	if err := c.nodes[victim].Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	c.live[victim] = false
	// Membership would tell the others after its failure detection; until
	// then they keep sending to the dead peer (counted by the network).
	more := c.broadcastRandom(rng, 10)
	for i := range 5 {
		if err := c.nodes[i].RemovePeer(peerName(victim)); err != nil {
			t.Fatal(err)
		}
	}
	more = append(more, c.broadcastRandom(rng, 10)...)
	c.quiesce(append(ids, more...), 10*time.Second)
	if c.net.Stats().Unreachable == 0 {
		t.Error("no frame was sent to the crashed node before its removal")
	}

	// Restart: a new node and transport under the same name.
	tr, err := c.net.Restart(peerName(victim))
	if err != nil {
		t.Fatal(err)
	}
	restarted := newRecorder()
	n, err := node.New(testConfig(99), peerName(victim), tr, restarted)
	if err != nil {
		t.Fatal(err)
	}
	c.nodes[victim], c.recs[victim], c.live[victim] = n, restarted, true
	for i := range 5 {
		if err := n.AddPeer(peerName(i)); err != nil {
			t.Fatal(err)
		}
		if err := c.nodes[i].AddPeer(peerName(victim)); err != nil {
			t.Fatal(err)
		}
	}
	after := c.broadcastRandom(rng, 10)
	waitFor(t, 10*time.Second, "every node, the restarted one included, to deliver the new broadcasts", func() bool {
		for _, r := range c.recs {
			for _, id := range after {
				if r.count(id) == 0 {
					return false
				}
			}
		}
		return true
	})
	if err := restarted.checkExactlyOnce(after); err != nil {
		t.Error(err)
	}
	for i := range 5 {
		for _, id := range after {
			if got := c.recs[i].count(id); got != 1 {
				t.Errorf("%s delivered %s %d times", peerName(i), id, got)
			}
		}
	}
}

// During a partition messages stay on their side; after Heal the tree
// repairs itself and new broadcasts reach everyone.
func TestClusterPartitionHeal(t *testing.T) {
	c := startCluster(t, clusterOpts{size: 6, seed: 5})
	left := []core.PeerID{peerName(0), peerName(1), peerName(2)}
	right := []core.PeerID{peerName(3), peerName(4), peerName(5)}
	c.net.Partition(left, right)
	id, err := c.nodes[0].Broadcast(context.Background(), []byte("left only"))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the left side to deliver", func() bool {
		return c.recs[1].count(id) == 1 && c.recs[2].count(id) == 1
	})
	for i := 3; i < 6; i++ {
		if c.recs[i].count(id) != 0 {
			t.Errorf("%s delivered across the partition", peerName(i))
		}
	}
	c.net.Heal()
	rng := rand.New(rand.NewPCG(5, 5))
	ids := c.broadcastRandom(rng, 10)
	waitFor(t, 10*time.Second, "every node to deliver after the heal", func() bool {
		for _, r := range c.recs {
			for _, id := range ids {
				if r.count(id) == 0 {
					return false
				}
			}
		}
		return true
	})
	for i, r := range c.recs {
		for _, id := range ids {
			if got := r.count(id); got != 1 {
				t.Errorf("%s delivered %s %d times", peerName(i), id, got)
			}
		}
	}
}
