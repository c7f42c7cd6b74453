package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
)

// gossipsub is go-libp2p-pubsub's GossipSub with its default parameters
// (D = 6) on libp2p hosts over TCP (Noise, yamux: libp2p's defaults), one
// topic, per-peer outbound and validation queues raised to 4096 (the
// default 32 drops messages in a burst). Each node connects to up to gsDial random earlier nodes. signed:
// the default (every message signed by its author and verified); unsigned:
// StrictNoSign, no author, message id = the payload's message number.
type gossipsub struct {
	env    *env
	signed bool
	hosts  []host.Host
	topics []*pubsub.Topic
	cancel context.CancelFunc
	dups   atomic.Int64
}

const (
	gsDial  = 6
	gsQueue = 4096
)

// gsTracer counts the duplicate payloads a node dropped.
type gsTracer struct{ g *gossipsub }

func (t gsTracer) AddPeer(peer.ID, protocol.ID)                         {}
func (t gsTracer) RemovePeer(peer.ID)                                   {}
func (t gsTracer) OnNewOutboundStream(peer.ID, protocol.ID)             {}
func (t gsTracer) OnClosedOutboundStream(peer.ID)                       {}
func (t gsTracer) Join(string)                                          {}
func (t gsTracer) Leave(string)                                         {}
func (t gsTracer) Graft(peer.ID, string)                                {}
func (t gsTracer) Prune(peer.ID, string)                                {}
func (t gsTracer) ValidateMessage(*pubsub.Message)                      {}
func (t gsTracer) DeliverMessage(*pubsub.Message)                       {}
func (t gsTracer) RejectMessage(*pubsub.Message, string)                {}
func (t gsTracer) DuplicateMessage(*pubsub.Message)                     { t.g.dups.Add(1) }
func (t gsTracer) ThrottlePeer(peer.ID)                                 {}
func (t gsTracer) RecvRPC(*pubsub.RPC)                                  {}
func (t gsTracer) SendRPC(*pubsub.RPC, peer.ID)                         {}
func (t gsTracer) SendRPCCompleted(*pubsub.RPC, peer.ID, time.Duration) {}
func (t gsTracer) DropRPC(*pubsub.RPC, peer.ID)                         {}
func (t gsTracer) UndeliverableMessage(*pubsub.Message)                 {}

func (g *gossipsub) start(ctx context.Context, e *env) error {
	g.env = e
	rctx, cancel := context.WithCancel(context.Background())
	g.cancel = cancel
	rng := rand.New(rand.NewPCG(uint64(e.seed), 77))
	for i := 0; i < e.n; i++ {
		var kseed [32]byte
		binary.LittleEndian.PutUint64(kseed[:], rng.Uint64())
		binary.LittleEndian.PutUint64(kseed[8:], uint64(i))
		priv, _, err := crypto.GenerateEd25519Key(newByteReader(kseed))
		if err != nil {
			return err
		}
		h, err := libp2p.New(
			libp2p.Identity(priv),
			libp2p.ListenAddrStrings(fmt.Sprintf("/ip4/%s/tcp/0", e.ip)),
			libp2p.Transport(tcp.NewTCPTransport),
			libp2p.ResourceManager(&network.NullResourceManager{}),
			libp2p.DisableRelay(),
			libp2p.DisableMetrics(),
		)
		if err != nil {
			return err
		}
		g.hosts = append(g.hosts, h)
		opts := []pubsub.Option{
			pubsub.WithRawTracer(gsTracer{g}),
			// Queues deep enough for a burst: the defaults (32) drop
			// messages under back-to-back publishing.
			pubsub.WithPeerOutboundQueueSize(gsQueue),
			pubsub.WithValidateQueueSize(gsQueue),
		}
		if !g.signed {
			opts = append(opts,
				pubsub.WithMessageSignaturePolicy(pubsub.StrictNoSign),
				pubsub.WithNoAuthor(),
				pubsub.WithMessageIdFn(func(m *pb.Message) string {
					if len(m.Data) < 8 {
						return string(m.Data)
					}
					return string(m.Data[:8])
				}))
		}
		ps, err := pubsub.NewGossipSub(rctx, h, opts...)
		if err != nil {
			return err
		}
		t, err := ps.Join("bench")
		if err != nil {
			return err
		}
		g.topics = append(g.topics, t)
		sub, err := t.Subscribe()
		if err != nil {
			return err
		}
		idx := i
		go func() {
			for {
				m, err := sub.Next(rctx)
				if err != nil {
					return
				}
				e.rec.deliver(idx, m.Data)
			}
		}()
		// Connect to up to gsDial random earlier nodes.
		perm := rng.Perm(i)
		for k := 0; k < len(perm) && k < gsDial; k++ {
			o := g.hosts[perm[k]]
			if err := h.Connect(ctx, peer.AddrInfo{ID: o.ID(), Addrs: o.Addrs()}); err != nil {
				return fmt.Errorf("gossipsub: connect: %w", err)
			}
		}
	}
	// Wait until every node knows a subscribed peer per connection.
	for i, t := range g.topics {
		want := len(g.hosts[i].Network().Peers())
		for len(t.ListPeers()) < want {
			select {
			case <-ctx.Done():
				return fmt.Errorf("gossipsub: topic peers did not converge: %w", ctx.Err())
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	return nil
}

func (g *gossipsub) publish(ctx context.Context, origin int, payload []byte) error {
	return g.topics[origin].Publish(ctx, payload)
}

// copies: first receptions (deliveries, measured by the recorder) plus the
// duplicates GossipSub dropped.
func (g *gossipsub) copies() int64 { return g.env.rec.total.Load() + g.dups.Load() }

func (g *gossipsub) close() {
	g.cancel()
	for _, h := range g.hosts {
		_ = h.Close()
	}
}

// byteReader is a deterministic key source (same peer ids for a seed).
type byteReader struct {
	rng *rand.ChaCha8
}

func newByteReader(seed [32]byte) *byteReader { return &byteReader{rand.NewChaCha8(seed)} }

func (b *byteReader) Read(p []byte) (int, error) { return b.rng.Read(p) }
