package membership_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/core/node"
	"github.com/plumtree-go/plumtree/membership"
	tcp "github.com/plumtree-go/plumtree/transport-tcp"
)

// fullNode is memberlist + transport-tcp + the runtime on one port.
type fullNode struct {
	m  *membership.Membership
	tr *tcp.Transport
	n  *node.Node

	mu  sync.Mutex
	got map[core.MessageID]int
}

func startFullNode(t *testing.T, name string, seeds ...string) *fullNode {
	t.Helper()
	f := &fullNode{got: make(map[core.MessageID]int)}
	m, err := membership.New(core.PeerID(name),
		membership.WithBindAddr("127.0.0.1:0"), membership.WithPreset("local"), membership.WithSeeds(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	tr, err := tcp.New(core.PeerID(name), tcp.WithListener(m.Listener()), tcp.WithStreamHandler(m.HandleStream))
	if err != nil {
		t.Fatal(err)
	}
	n, err := node.New(core.LANConfig(), core.PeerID(name), tr, node.DeliverFunc(func(d core.Delivery) {
		f.mu.Lock()
		f.got[d.ID]++
		f.mu.Unlock()
	}), node.WithObserver(m))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(context.Background(), n, tr); err != nil {
		t.Fatal(err)
	}
	f.m, f.tr, f.n = m, tr, n
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = m.Leave(time.Second)
		_ = m.Shutdown(ctx)
		_ = n.Shutdown(ctx)
	})
	return f
}

func (f *fullNode) count(id core.MessageID) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.got[id]
}

// TestOnePort: memberlist's streams and Plumtree's frames share each node's
// TCP port (transport-tcp hands memberlist's connections to HandleStream);
// memberlist's packets use UDP on the same port number.
func TestOnePort(t *testing.T) {
	a := startFullNode(t, "a")
	b := startFullNode(t, "b", a.m.AdvertiseAddr())
	c := startFullNode(t, "c", b.m.AdvertiseAddr())
	nodes := []*fullNode{a, b, c}
	deadline := time.Now().Add(60 * time.Second) // generous: a loaded machine
	for _, f := range nodes {
		for f.m.Stats().Alive != 2 || f.n.PeerCount() != 2 {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %+v, %d protocol peers", f.n.Self(), f.m.Stats(), f.n.PeerCount())
			}
			time.Sleep(20 * time.Millisecond)
		}
		if f.m.TransportAddr() != f.m.AdvertiseAddr() || f.tr.Addr().String() != f.m.AdvertiseAddr() {
			t.Fatalf("%s: transport %s, memberlist %s, listener %s", f.n.Self(), f.m.TransportAddr(), f.m.AdvertiseAddr(), f.tr.Addr())
		}
	}
	var ids []core.MessageID
	for i, f := range nodes {
		id, err := f.n.Broadcast(context.Background(), fmt.Appendf(nil, "m%d", i))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	for _, f := range nodes {
		for _, id := range ids {
			for f.count(id) != 1 {
				if time.Now().After(deadline) {
					t.Fatalf("%s got %v %d times", f.n.Self(), id, f.count(id))
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
	if a.tr.Stats().StreamConns == 0 {
		t.Fatal("no memberlist stream went through the shared listener")
	}
	if st := a.m.Stats(); st.RTTSamples == 0 && st.PeersAdded != 2 {
		t.Fatalf("%+v", st)
	}
}
