package membership_test

import (
	"context"
	"log"
	"time"

	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/core/node"
	"github.com/plumtree-go/plumtree/membership"
	tcp "github.com/plumtree-go/plumtree/transport-tcp"
)

// A full node on one port: memberlist (UDP and TCP) and Plumtree frames
// (TCP) share 7946.
func Example() {
	self := core.PeerID("node-1")
	m, err := membership.New(self,
		membership.WithBindAddr("0.0.0.0:7946"),
		membership.WithSeeds("10.0.0.2:7946", "10.0.0.3"))
	if err != nil {
		log.Fatal(err)
	}
	tr, err := tcp.New(self, tcp.WithListener(m.Listener()), tcp.WithStreamHandler(m.HandleStream))
	if err != nil {
		log.Fatal(err)
	}
	n, err := node.New(core.LANConfig(), self, tr, node.DeliverFunc(func(d core.Delivery) {
		log.Printf("%s: %s", d.ID, d.Payload)
	}), node.WithObserver(m))
	if err != nil {
		log.Fatal(err)
	}
	if err := m.Start(context.Background(), n, tr); err != nil {
		log.Fatal(err)
	}

	// ... n.Broadcast(ctx, payload) ...

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = m.Leave(5 * time.Second) // the others remove this node at once
	_ = m.Shutdown(ctx)
	_ = n.Shutdown(ctx) // closes the transport and the shared listener
}
