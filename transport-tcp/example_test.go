package tcp_test

import (
	"context"
	"fmt"

	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/core/node"
	"github.com/plumtree-go/plumtree/core/wire"
	tcp "github.com/plumtree-go/plumtree/transport-tcp"
)

// Two transports on loopback: a frame encoded with core/wire goes from a to
// b over one persistent connection.
func Example() {
	a, err := tcp.New("a", tcp.WithListenAddr("127.0.0.1:0"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer a.Close()
	b, err := tcp.New("b", tcp.WithListenAddr("127.0.0.1:0"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer b.Close()
	a.SetPeerAddr("b", b.Addr().String()) // b needs no address for a: it answers on a's connection

	frame, _ := wire.AppendFrame(nil, &core.Message{
		Type: core.MsgGossip, ID: core.MessageID{Origin: "a", Seq: 1}, Hops: 1, Payload: []byte("hello"),
	})
	if err := a.Send("b", frame); err != nil { // never blocks
		fmt.Println(err)
		return
	}
	f := <-b.Receive()
	var m core.Message
	if err := wire.NewDecoder(wire.DefaultLimits()).Decode(f.Data, &m); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s sent a %s: %q\n", f.From, m.Type, m.Payload)
	// Output: a sent a gossip: "hello"
}

// The transport under a core/node Node: two nodes broadcast to each other.
func Example_node() {
	delivered := make(chan string, 2)
	var nodes []*node.Node
	var trs []*tcp.Transport
	for _, id := range []core.PeerID{"n1", "n2"} {
		tr, err := tcp.New(id, tcp.WithListenAddr("127.0.0.1:0"))
		if err != nil {
			fmt.Println(err)
			return
		}
		self := id
		n, err := node.New(core.LANConfig(), id, tr, node.DeliverFunc(func(d core.Delivery) {
			if d.From != self { // skip the local delivery of a node's own broadcast
				delivered <- fmt.Sprintf("%s got %q from %s", self, d.Payload, d.ID.Origin)
			}
		}))
		if err != nil {
			fmt.Println(err)
			return
		}
		defer n.Shutdown(context.Background()) // closes tr too
		nodes, trs = append(nodes, n), append(trs, tr)
	}
	// Membership (for example the membership module) tells each node about
	// the other: its address for the transport, its id for the protocol.
	trs[0].SetPeerAddr("n2", trs[1].Addr().String())
	trs[1].SetPeerAddr("n1", trs[0].Addr().String())
	nodes[0].AddPeer("n2")
	nodes[1].AddPeer("n1")

	nodes[0].Broadcast(context.Background(), []byte("hello"))
	fmt.Println(<-delivered)
	nodes[1].Broadcast(context.Background(), []byte("hi"))
	fmt.Println(<-delivered)
	// Output:
	// n2 got "hello" from n1
	// n1 got "hi" from n2
}
