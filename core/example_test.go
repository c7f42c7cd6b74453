package core_test

import (
	"fmt"
	"time"

	"github.com/plumtree-go/plumtree/core"
)

// Two nodes wired by hand: the caller moves each Output's messages to the
// receiving Protocol (a runtime would encode and send them), hands the
// deliveries to the application, and calls Tick at NextDeadline.
func Example() {
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	cfg := core.DefaultConfig()
	names := []core.PeerID{"alice", "bob"}
	nodes := map[core.PeerID]*core.Protocol{}
	for _, n := range names {
		p, err := core.New(cfg, n, nil, now)
		if err != nil {
			panic(err)
		}
		nodes[n] = p
	}
	exchange := func() {
		for busy := true; busy; {
			busy = false
			for _, n := range names {
				out := nodes[n].Drain()
				for _, m := range out.Messages { // 1. send
					nodes[m.To].Receive(now, n, m.Msg)
					busy = true
				}
				for _, d := range out.Deliveries { // 2. deliver
					fmt.Printf("%s delivered %q from %s (hops %d)\n", n, d.Payload, d.From, d.Hops)
				}
			}
		}
	}
	nodes["alice"].AddPeer(now, "bob")
	nodes["bob"].AddPeer(now, "alice")
	exchange() // the link handshake (Join, JoinReply)
	if _, err := nodes["alice"].Broadcast(now, []byte("hello"), nil); err != nil {
		panic(err)
	}
	exchange()
	fmt.Println("alice eager:", nodes["alice"].EagerPeers(), "bob eager:", nodes["bob"].EagerPeers())
	// Output:
	// alice delivered "hello" from alice (hops 0)
	// bob delivered "hello" from alice (hops 1)
	// alice eager: [bob] bob eager: [alice]
}

func ExampleConfig_Validate() {
	cfg := core.DefaultConfig()
	cfg.IHaveBatchSize = 2000
	fmt.Println(cfg.Validate())
	// Output: core: invalid config: ihave_batch_size is 2000, must be at most 1024
}

func ExamplePreset() {
	cfg, err := core.Preset("wan")
	if err != nil {
		panic(err)
	}
	fmt.Println(cfg.EagerFanout, cfg.LazyFanout, cfg.GraftTimeout, cfg.UseHashRing)
	// Output: 3 4 1s true
}

func ExampleProtocol_Health() {
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	p, _ := core.New(core.DefaultConfig(), "n1", nil, now)
	h := p.Health(now)
	fmt.Println(h.Status, "-", h.Message)
	for _, peer := range []core.PeerID{"n2", "n3", "n4", "n5"} {
		p.AddPeer(now, peer)
		// Each peer accepts the link the node asks for.
		for _, m := range p.Drain().Messages {
			if m.Msg.Type == core.MsgJoin {
				p.Receive(now, m.To, core.Message{Type: core.MsgJoinReply, Accepted: true, Eager: m.Msg.Eager})
			}
		}
	}
	h = p.Health(now)
	fmt.Println(h.Status, "-", h.Message, "- eager", h.Peers.EagerCount, "lazy", h.Peers.LazyCount)
	// Output:
	// Unhealthy - No peers connected
	// Healthy - Operating normally - eager 2 lazy 2
}
