package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/plumtree-go/plumtree/cache"
	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/core/node"
	"github.com/plumtree-go/plumtree/membership"
	tcp "github.com/plumtree-go/plumtree/transport-tcp"
	"github.com/plumtree-go/plumtree/tuner"
)

// plumtree is plumtree-go as a user assembles it from the public packages
// (the way the examples' stack does it): memberlist SWIM membership on one
// port shared with the Plumtree TCP transport, the LRU+TTL message cache
// swept on a tuned schedule with backpressure, and the runtime's tuner.
// Preset: Plumtree LAN with memberlist's local timings (loopback).
// plumtree-shaped (shaped) adds tree shaping: shortcut_samples 16 with the
// eager set bounded by the active view only (max_eager_peers 0), the
// setting core/README.md describes.
type plumtree struct {
	env    *env
	nodes  []*ptNode
	shaped bool
}

type ptNode struct {
	n     *node.Node
	m     *membership.Membership
	tr    *tcp.Transport
	store *cache.Cache
}

func (p *plumtree) start(ctx context.Context, e *env) error {
	p.env = e
	installMetrics()
	log := slog.New(slog.DiscardHandler)
	var seed string
	for i := 0; i < e.n; i++ {
		pcfg := core.LANConfig()
		pcfg.Seed = e.seed*1000003 + int64(i) + 1
		if p.shaped {
			pcfg.ShortcutSamples, pcfg.MaxEagerPeers = 16, 0
		}
		self := core.PeerID(fmt.Sprintf("n%02d", i))
		mopts := []membership.Option{
			membership.WithLogger(log),
			membership.WithBindAddr(e.ip + ":0"),
			membership.WithPreset("local"),
		}
		if seed != "" {
			mopts = append(mopts, membership.WithSeeds(seed))
		}
		m, err := membership.New(self, mopts...)
		if err != nil {
			return err
		}
		tr, err := tcp.New(self,
			tcp.WithListener(m.Listener()),
			tcp.WithStreamHandler(m.HandleStream),
			tcp.WithLogger(log),
			tcp.WithMaxFrameSize(tcp.MaxFrameSizeFor(pcfg)))
		if err != nil {
			_ = m.Shutdown(ctx)
			return err
		}
		tun, err := tuner.NewCleanupTuner(tuner.DefaultCleanupConfig())
		if err != nil {
			return errors.Join(err, tr.Close(), m.Shutdown(ctx))
		}
		store, err := cache.New(cache.ConfigFromCore(pcfg), cache.WithScheduler(tun), cache.WithLogger(log))
		if err != nil {
			return errors.Join(err, tr.Close(), m.Shutdown(ctx))
		}
		if err := store.Start(); err != nil {
			return errors.Join(err, tr.Close(), m.Shutdown(ctx))
		}
		ntun, err := tuner.NewNodeTuner(tuner.NodeConfigFor(pcfg.GraftTimeout, pcfg.IHaveInterval, pcfg.IHaveBatchSize))
		if err != nil {
			store.Stop()
			return errors.Join(err, tr.Close(), m.Shutdown(ctx))
		}
		idx := i
		deliver := node.DeliverFunc(func(d core.Delivery) {
			e.rec.hop(d.Payload, int(d.Hops))
			e.rec.deliver(idx, d.Payload)
		})
		n, err := node.New(pcfg, self, tr, deliver,
			node.WithTuner(ntun), node.WithLogger(log), node.WithStore(store),
			node.WithAdmission(store.Admit), node.WithObserver(m))
		if err != nil {
			store.Stop()
			return errors.Join(err, tr.Close(), m.Shutdown(ctx))
		}
		pn := &ptNode{n: n, m: m, tr: tr, store: store}
		p.nodes = append(p.nodes, pn)
		if err := m.Start(ctx, n, tr); err != nil {
			return err
		}
		if seed == "" {
			seed = m.AdvertiseAddr()
		}
	}
	for _, pn := range p.nodes {
		if err := pn.m.WaitForPeers(ctx, e.n-1); err != nil {
			return fmt.Errorf("plumtree: membership did not converge: %w", err)
		}
	}
	return nil
}

func (p *plumtree) publish(ctx context.Context, origin int, payload []byte) error {
	_, err := p.nodes[origin].n.Broadcast(ctx, payload)
	return err
}

// copies counts the Gossip (payload) messages the nodes received.
func (p *plumtree) copies() int64 {
	var c int64
	for _, pn := range p.nodes {
		c += int64(pn.n.Stats().Counters.GossipReceived)
	}
	return c
}

func (p *plumtree) close() {
	ctx := context.Background()
	for _, pn := range p.nodes {
		_ = pn.m.Shutdown(ctx)
	}
	for _, pn := range p.nodes {
		_ = pn.n.Shutdown(ctx)
		pn.store.Stop()
	}
}

// counters sums the protocol's message counters over the nodes.
func (p *plumtree) counters() map[string]int64 {
	c := map[string]int64{}
	for _, pn := range p.nodes {
		s := pn.n.Stats()
		c["gossip_sent"] += int64(s.GossipSent)
		c["ihave_sent"] += int64(s.IHaveSent)
		c["graft_sent"] += int64(s.GraftSent)
		c["graft_success"] += int64(s.GraftSuccess)
		c["peer_promotions"] += int64(s.PeerPromotions)
		c["prune_sent"] += int64(s.PruneSent)
		c["graft_failed"] += int64(s.GraftFailed)
		c["send_errors"] += int64(s.Runtime.SendErrors)
		c["frames_out"] += int64(s.Runtime.FramesOut)
		c["node_wakeups"] += int64(s.Runtime.Wakeups)
		c["timer_fires"] += int64(s.Runtime.TimerFires)
		ts := pn.tr.Stats()
		c["tcp_dials"] += int64(ts.Dials)
		c["tcp_reconnects"] += int64(ts.Reconnects)
	}
	return c
}
