package tcp

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/core/node"
)

// clusterConfig is the LAN preset with an IHave interval short enough for
// tests. The graft timeout stays long (a payload slower than it, as on a
// loaded machine, costs a Graft and an extra copy) and prunes are not
// delayed (a random delay makes the warm-up depend on wall time); the tests
// broadcast one message at a time, so prunes cannot oscillate.
func clusterConfig(seed int64) core.Config {
	c := core.LANConfig()
	c.IHaveInterval = 10 * time.Millisecond
	c.GraftTimeout = time.Second
	c.PruneDelay = 0
	c.GraftMaxRetries = 8
	c.GraftRateLimitPerSecond = 1000
	c.GraftRateLimitBurst = 1000
	c.MaintenanceInterval = 100 * time.Millisecond
	c.MaintenanceJitter = 20 * time.Millisecond
	c.Seed = seed
	return c
}

// counter is a Delegate that counts deliveries per message.
type counter struct {
	node.NopDelegate
	mu    sync.Mutex
	got   map[core.MessageID]int
	total atomic.Int64
	onDel func(core.MessageID)
}

func (c *counter) Deliver(d core.Delivery) {
	c.mu.Lock()
	c.got[d.ID]++
	c.mu.Unlock()
	c.total.Add(1)
	if c.onDel != nil {
		c.onDel(d.ID)
	}
}

func (c *counter) count(id core.MessageID) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.got[id]
}

// tcpCluster is n nodes over loopback TCP, every node a peer of every other.
type tcpCluster struct {
	t      testing.TB
	nodes  []*node.Node
	trs    []*Transport
	counts []*counter
}

func startTCPCluster(t testing.TB, size int, cfg func(seed int64) core.Config, onDel func(core.MessageID)) *tcpCluster {
	t.Helper()
	return startTCPClusterOpts(t, size, cfg, onDel, nil)
}

// startTCPClusterOpts is startTCPCluster with extra node options per node.
func startTCPClusterOpts(t testing.TB, size int, cfg func(seed int64) core.Config, onDel func(core.MessageID), opts func(c core.Config) []node.Option) *tcpCluster {
	t.Helper()
	c := &tcpCluster{t: t}
	for i := range size {
		id := core.PeerID(fmt.Sprintf("n%02d", i))
		tr := newTransport(t, id, WithSendQueue(4096))
		cnt := &counter{got: map[core.MessageID]int{}, onDel: onDel}
		var nopts []node.Option
		if opts != nil {
			nopts = opts(cfg(int64(i + 1)))
		}
		nd, err := node.New(cfg(int64(i+1)), id, tr, cnt, nopts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := nd.Shutdown(ctx); err != nil {
				t.Errorf("Shutdown %s: %v", id, err)
			}
		})
		c.nodes = append(c.nodes, nd)
		c.trs = append(c.trs, tr)
		c.counts = append(c.counts, cnt)
	}
	for i, nd := range c.nodes {
		for j, tr := range c.trs {
			if i != j {
				c.trs[i].SetPeerAddr(tr.Self(), tr.Addr().String())
				if err := nd.AddPeer(tr.Self()); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	return c
}

// broadcast sends a 1 KiB payload from node i, retrying on backpressure.
func (c *tcpCluster) broadcast(i int, payload []byte) core.MessageID {
	c.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		id, err := c.nodes[i].Broadcast(context.Background(), payload)
		if err == nil {
			return id
		}
		if !errors.Is(err, node.ErrBackpressure) || time.Now().After(deadline) {
			c.t.Fatalf("Broadcast from %d: %v", i, err)
		}
		time.Sleep(time.Millisecond)
	}
}

// delivered reports whether every node delivered id.
func (c *tcpCluster) delivered(id core.MessageID) bool {
	for _, cnt := range c.counts {
		if cnt.count(id) == 0 {
			return false
		}
	}
	return true
}

// payloadReceipts sums the payload (Gossip) messages received by all nodes.
func (c *tcpCluster) payloadReceipts() uint64 {
	var sum uint64
	for _, nd := range c.nodes {
		sum += nd.Stats().GossipReceived
	}
	return sum
}

// frameTotals snapshots every node (each Stats call runs on the node's
// protocol goroutine, so frames it counted before have been processed and
// their answers sent) and returns the frames all nodes sent and received
// and the payload copies they received.
func (c *tcpCluster) frameTotals() (out, in, payloads uint64) {
	for _, nd := range c.nodes {
		s := nd.Stats()
		out += s.Runtime.FramesOut
		in += s.Runtime.FramesIn
		payloads += s.GossipReceived
	}
	return out, in, payloads
}

// quiesce waits until no frame is in flight between the nodes and every
// received frame has been processed, and returns the payload receipts then.
// Quiet is three snapshots in a row in which the frames sent stay the same
// and the frames received in the middle one equal them: every frame sent
// has arrived and has been processed, and processing it sent nothing. No
// timing is assumed; the deadline only bounds a hang.
func (c *tcpCluster) quiesce() uint64 {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		out1, _, _ := c.frameTotals()
		_, in2, _ := c.frameTotals()
		out3, _, payloads := c.frameTotals()
		if out1 == in2 && out3 == out1 {
			return payloads
		}
		if time.Now().After(deadline) {
			var s []Stats
			for _, tr := range c.trs {
				s = append(s, tr.Stats())
			}
			c.t.Fatalf("not quiet after 2 minutes: sent %d, received %d; transports: %+v", out3, in2, s)
		}
		time.Sleep(time.Millisecond) // poll
	}
}

func (c *tcpCluster) checkExactlyOnce(ids []core.MessageID) {
	c.t.Helper()
	for i, cnt := range c.counts {
		cnt.mu.Lock()
		for _, id := range ids {
			if n := cnt.got[id]; n != 1 {
				c.t.Errorf("node %d delivered %s %d times", i, id, n)
			}
		}
		if len(cnt.got) != len(ids) {
			c.t.Errorf("node %d delivered %d distinct messages, want %d", i, len(cnt.got), len(ids))
		}
		cnt.mu.Unlock()
	}
}

// Every node delivers every broadcast exactly once; after a burst and at
// most 40 sequential warm-up broadcasts, 10 consecutive broadcasts from
// random origins travel with RMR 0 (each non-origin node receives exactly one
// payload copy).
func TestClusterOverTCP(t *testing.T) {
	const (
		burst      = 30
		maxWarmup  = 40
		stableRun  = 10
		rmrTimeout = time.Minute
	)
	for _, size := range []int{3, 8, 20} {
		t.Run(fmt.Sprintf("%d nodes", size), func(t *testing.T) {
			c := startTCPCluster(t, size, clusterConfig, nil)
			rng := rand.New(rand.NewPCG(uint64(size), 1))
			payload := make([]byte, 1024)

			// A burst from random origins.
			var ids []core.MessageID
			for range burst {
				ids = append(ids, c.broadcast(rng.IntN(size), payload))
			}
			eventually(t, 2*time.Minute, "the burst to be delivered everywhere", func() bool {
				for _, id := range ids {
					if !c.delivered(id) {
						return false
					}
				}
				return true
			})
			before := c.quiesce()

			// Sequential broadcasts: RMR of each.
			var rmrs []string
			run := 0
			for k := 0; k < maxWarmup+stableRun && run < stableRun; k++ {
				id := c.broadcast(rng.IntN(size), payload)
				ids = append(ids, id)
				eventually(t, rmrTimeout, "a broadcast to be delivered everywhere", func() bool { return c.delivered(id) })
				after := c.quiesce()
				rmr := float64(after-before)/float64(size-1) - 1
				before = after
				rmrs = append(rmrs, fmt.Sprintf("%.2f", rmr))
				if rmr == 0 {
					run++
				} else {
					run = 0
				}
			}
			t.Logf("RMR per sequential broadcast: %s", strings.Join(rmrs, " "))
			if run < stableRun {
				t.Errorf("no %d consecutive broadcasts with RMR 0 within %d", stableRun, maxWarmup+stableRun)
			}
			c.checkExactlyOnce(ids)
			var s Stats
			for _, tr := range c.trs {
				st := tr.Stats()
				s.BadFrames += st.BadFrames
				s.HandshakeFailures += st.HandshakeFailures
				s.Drops += st.Drops
				s.Conns += st.Conns
			}
			if s.BadFrames != 0 || s.HandshakeFailures != 0 || s.Drops != 0 {
				t.Errorf("transport trouble: %+v", s)
			}
			if s.Conns > size*(size-1) {
				t.Errorf("%d connection ends for %d pairs: duplicates kept", s.Conns, size*(size-1)/2)
			}
			t.Logf("%d nodes: %d connections (%d pairs)", size, s.Conns, size*(size-1)/2)
		})
	}
}
