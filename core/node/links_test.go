package node_test

import (
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
	kept  []core.PeerID
	calls int
}

func (k *keepTransport) KeepPeers(ids []core.PeerID) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.kept = ids
	k.calls++
}

func (k *keepTransport) last() ([]core.PeerID, int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.kept, k.calls
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
	for i, n := range c.nodes {
		waitFor(t, 30*time.Second, "node "+string(peerName(i))+" to keep its links", func() bool {
			links := append(n.EagerPeers(), n.LazyPeers()...)
			slices.Sort(links)
			kept, _ := keepers[i].last()
			return len(links) > 0 && slices.Equal(kept, links)
		})
	}
	// The links do not change any more: a quiet node does not repeat
	// itself every maintenance round (100 ms here).
	_, calls := keepers[0].last()
	links := append(c.nodes[0].EagerPeers(), c.nodes[0].LazyPeers()...)
	time.Sleep(500 * time.Millisecond) // five maintenance rounds
	slices.Sort(links)
	now := append(c.nodes[0].EagerPeers(), c.nodes[0].LazyPeers()...)
	slices.Sort(now)
	if _, after := keepers[0].last(); slices.Equal(links, now) && after != calls {
		t.Errorf("KeepPeers called %d times more with unchanged links", after-calls)
	}
}
