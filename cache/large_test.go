package cache_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/cache"
	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/core/node"
	"github.com/plumtree-go/plumtree/core/node/memnet"
)

// deliveries records what one node delivered.
type deliveries struct {
	node.NopDelegate
	mu  sync.Mutex
	got map[core.MessageID][][32]byte
}

func (d *deliveries) Deliver(m core.Delivery) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.got[m.ID] = append(d.got[m.ID], sha256.Sum256(m.Payload))
}

func (d *deliveries) of(id core.MessageID) [][32]byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.got[id]
}

// A node cut off for a whole large message, larger than the caches' byte
// bound for ordinary messages, gets it once it is back: its peers' caches
// (configured by ConfigFromCore) still hold every part, so anti-entropy
// and pulls bring the parts it missed. With the parts stored as ordinary
// messages (MaxLargeBytes 0) the caches kept only the last quarter of them
// and the node never completed the message.
func TestNodeCutOffForALargeMessageGetsIt(t *testing.T) {
	pc := core.LANConfig()
	pc.IHaveInterval = 10 * time.Millisecond
	pc.GraftTimeout = 25 * time.Millisecond
	pc.MaintenanceInterval = 50 * time.Millisecond
	pc.MaintenanceJitter = 10 * time.Millisecond
	pc.AntiEntropyMinAge = 100 * time.Millisecond
	pc.GraftRateLimitPerSecond, pc.GraftRateLimitBurst = 1000, 1000
	pc.MaxMessageSize = 16 << 10
	pc.MaxLargeMessageSize = 1 << 20
	pc.LargeAssemblyBytes = 2 << 20
	pc.Seed = 5

	net := memnet.New(memnet.Config{Seed: 5})
	defer net.Close()
	const size = 3
	var (
		nodes []*node.Node
		recs  []*deliveries
	)
	for i := range size {
		cc := cache.ConfigFromCore(pc)
		cc.MaxBytes = 256 << 10 // a quarter of the message
		c, err := cache.New(cc)
		if err != nil {
			t.Fatal(err)
		}
		id := core.PeerID(fmt.Sprintf("n%d", i))
		rec := &deliveries{got: map[core.MessageID][][32]byte{}}
		n, err := node.New(pc, id, net.MustJoin(id), rec, node.WithStore(c))
		if err != nil {
			t.Fatal(err)
		}
		defer n.Shutdown(context.Background())
		nodes, recs = append(nodes, n), append(recs, rec)
	}
	for i, n := range nodes {
		for j := range nodes {
			if i != j {
				if err := n.AddPeer(core.PeerID(fmt.Sprintf("n%d", j))); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	net.Isolate("n2")

	payload := bytes.Repeat([]byte("0123456789abcdef"), pc.MaxLargeMessageSize/16)
	want := sha256.Sum256(payload)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	id, err := nodes[0].BroadcastLarge(ctx, bytes.NewReader(payload), int64(len(payload)))
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, time.Minute, "n1 to deliver the large message", func() bool { return len(recs[1].of(id)) > 0 })
	if got := recs[2].of(id); len(got) != 0 {
		t.Fatal("the cut-off node delivered the message while cut off")
	}
	net.Heal()
	waitUntil(t, time.Minute, "n2 to deliver the large message after the heal", func() bool { return len(recs[2].of(id)) > 0 })
	for i, r := range recs {
		if got := r.of(id); len(got) != 1 || got[0] != want {
			t.Errorf("n%d delivered %d copies (digest right: %v)", i, len(got), len(got) > 0 && got[0] == want)
		}
	}
}

// waitUntil polls cond until it holds, or fails the test after timeout (a
// bound for a machine many times slower than the one the test was written
// on, not a measurement).
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
