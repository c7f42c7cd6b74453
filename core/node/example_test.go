package node_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"sort"

	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/core/node"
	"github.com/plumtree-go/plumtree/core/node/memnet"
)

// Three nodes over an in-memory network: one broadcast, delivered once by
// every node, the origin included.
func Example() {
	network := memnet.New(memnet.Config{Seed: 1})
	defer network.Close()
	delivered := make(chan string, 3)
	ids := []core.PeerID{"a", "b", "c"}
	var nodes []*node.Node
	for _, id := range ids {
		self := id
		deliver := node.DeliverFunc(func(d core.Delivery) {
			delivered <- fmt.Sprintf("%s got %q from %s", self, d.Payload, d.ID.Origin)
		})
		n, err := node.New(core.LANConfig(), id, network.MustJoin(id), deliver)
		if err != nil {
			panic(err)
		}
		defer n.Shutdown(context.Background())
		nodes = append(nodes, n)
	}
	for _, n := range nodes {
		for _, p := range ids {
			if p != n.Self() {
				n.AddPeer(p) // membership does this in a real cluster
			}
		}
	}
	if _, err := nodes[0].Broadcast(context.Background(), []byte("hello")); err != nil {
		panic(err)
	}
	var lines []string
	for range ids {
		lines = append(lines, <-delivered)
	}
	sort.Strings(lines)
	for _, l := range lines {
		fmt.Println(l)
	}
	// Output:
	// a got "hello" from a
	// b got "hello" from a
	// c got "hello" from a
}

func ExampleAdminHandler() {
	network := memnet.New(memnet.Config{})
	defer network.Close()
	n, err := node.New(core.DefaultConfig(), "a", network.MustJoin("a"), nil)
	if err != nil {
		panic(err)
	}
	defer n.Shutdown(context.Background())

	h := node.AdminHandler(n, node.WithSection("topology", func() any { return []string{"a"} }))
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, httptest.NewRequest("GET", "/health", nil))
	fmt.Println(rr.Code)
	rr = httptest.NewRecorder()
	h.ServeHTTP(rr, httptest.NewRequest("GET", "/peers", nil))
	fmt.Print(rr.Body.String())
	// Output:
	// 503
	// {
	//   "self": "a",
	//   "eager": [],
	//   "lazy": [],
	//   "protected": [],
	//   "count": 0
	// }
}
