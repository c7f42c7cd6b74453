package node_test

import (
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/core/node"
	"github.com/plumtree-go/plumtree/core/node/memnet"
)

// keepTransport is a memnet transport that records the links the node
// tells it to keep (node.LinkKeeper).
type keepTransport struct {
	*memnet.Transport
	mu    sync.Mutex
	calls [][]core.PeerID // every set passed, in order
}

func (k *keepTransport) KeepPeers(ids []core.PeerID) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.calls = append(k.calls, ids)
}

// last returns the set passed last.
func (k *keepTransport) last() []core.PeerID {
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.calls) == 0 {
		return nil
	}
	return k.calls[len(k.calls)-1]
}

// A node tells a transport that closes idle connections which peers are its
// overlay links, eager and lazy, so that their connections survive quiet
// spells; it tells it again only when they change. Without it a quiet
// cluster's tree would lose its connections and the next broadcast would
// dial at every hop.
func TestNodeTellsTheTransportItsLinks(t *testing.T) {
	keepers := make([]*keepTransport, 6)
	c := startCluster(t, clusterOpts{size: 6, seed: 3, transport: func(i int, tr *memnet.Transport) node.Transport {
		keepers[i] = &keepTransport{Transport: tr}
		return keepers[i]
	}})
	c.broadcastRandom(rand.New(rand.NewPCG(3, 3)), 20)
	links := func(n *node.Node) []core.PeerID {
		l := append(n.EagerPeers(), n.LazyPeers()...)
		slices.Sort(l)
		return l
	}
	for i, n := range c.nodes {
		waitFor(t, 30*time.Second, "node "+string(peerName(i))+" to keep its links", func() bool {
			l := links(n)
			return len(l) > 0 && slices.Equal(keepers[i].last(), l)
		})
	}
	// Ten more timer fires of node 0 (maintenance rounds, 100 ms here):
	// a node repeats nothing while its links stay as they are.
	fires := c.nodes[0].Stats().Runtime.TimerFires
	waitFor(t, 30*time.Second, "ten more timer fires", func() bool {
		return c.nodes[0].Stats().Runtime.TimerFires >= fires+10
	})
	for i, k := range keepers {
		k.mu.Lock()
		for j := 1; j < len(k.calls); j++ {
			if slices.Equal(k.calls[j], k.calls[j-1]) {
				t.Errorf("node %s passed the same links twice in a row: %v", peerName(i), k.calls[j])
			}
		}
		k.mu.Unlock()
	}
}

// keepChan is a chanTransport that records the links it is told to keep.
type keepChan struct {
	*chanTransport
	mu   sync.Mutex
	kept []core.PeerID
}

func (k *keepChan) KeepPeers(ids []core.PeerID) {
	k.mu.Lock()
	k.kept = ids
	k.mu.Unlock()
}

func (k *keepChan) isKept(id core.PeerID) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Contains(k.kept, id)
}

// A link is reported to the transport as soon as it is made, whatever the
// maintenance interval: with an interval above the transport's idle
// timeout (one minute by default), a new link used to wait for the next
// round to be reported, and its quiet connection was closed meanwhile.
func TestNewLinksAreKeptAtOnce(t *testing.T) {
	for _, interval := range []time.Duration{2 * time.Second, 5 * time.Minute} {
		clk := newManualClock()
		tr := &keepChan{chanTransport: newChanTransport()}
		cfg := testConfig(1)
		cfg.MaintenanceInterval, cfg.MaintenanceJitter = interval, 0
		n, err := node.New(cfg, "a", tr, nil, node.WithClock(clk))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []core.PeerID{"b", "c"} {
			addLinkedPeer(t, n, tr.chanTransport, p, false)
			// The clock does not move: only the link itself can report it.
			waitFor(t, time.Minute, "the link with "+string(p)+" to be kept", func() bool { return tr.isKept(p) })
		}
		if err := n.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}
