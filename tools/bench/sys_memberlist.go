package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// mlBroadcast is memberlist's gossip broadcast the way serf sends user
// events: the application queues each message in a TransmitLimitedQueue,
// memberlist piggybacks queued messages on its gossip packets (GossipNodes
// random members every GossipInterval, each sent RetransmitMult·log(N+1)
// times), and a node that receives a message it has not seen delivers it
// and queues it again. The queue is bounded as serf bounds it
// (MaxQueueDepth 4096, oldest dropped). Timings: memberlist's local preset.
type mlBroadcast struct {
	env   *env
	nodes []*mlNode
	recv  atomic.Int64 // benchmark payloads received, duplicates included
}

const mlMaxQueue = 4096

type mlNode struct {
	idx int
	ml  *memberlist.Memberlist
	q   *memberlist.TransmitLimitedQueue
	b   *mlBroadcast
}

type mlMsg []byte

func (m mlMsg) Invalidates(memberlist.Broadcast) bool { return false }
func (m mlMsg) Message() []byte                       { return m }
func (m mlMsg) Finished()                             {}

func (n *mlNode) NodeMeta(int) []byte { return nil }
func (n *mlNode) NotifyMsg(b []byte) {
	n.b.recv.Add(1)
	// The application delivers what it has not seen (memberlist calls
	// NotifyMsg of one node from one goroutine).
	if !n.b.env.rec.has(n.idx, b) && n.b.env.rec.deliver(n.idx, b) {
		n.queue(append([]byte(nil), b...))
	}
}
func (n *mlNode) GetBroadcasts(overhead, limit int) [][]byte {
	return n.q.GetBroadcasts(overhead, limit)
}
func (n *mlNode) LocalState(bool) []byte        { return nil }
func (n *mlNode) MergeRemoteState([]byte, bool) {}
func (n *mlNode) queue(b []byte) {
	n.q.QueueBroadcast(mlMsg(b))
	if n.q.NumQueued() > mlMaxQueue {
		n.q.Prune(mlMaxQueue)
	}
}

func (m *mlBroadcast) start(ctx context.Context, e *env) error {
	m.env = e
	installMetrics()
	var seed string
	for i := 0; i < e.n; i++ {
		nd := &mlNode{idx: i, b: m}
		conf := memberlist.DefaultLocalConfig()
		conf.Name = fmt.Sprintf("n%02d", i)
		conf.BindAddr = e.ip
		conf.BindPort = 0
		conf.AdvertisePort = 0
		conf.Delegate = nd
		conf.Logger = log.New(io.Discard, "", 0)
		ml, err := memberlist.Create(conf)
		if err != nil {
			return err
		}
		nd.ml = ml
		nd.q = &memberlist.TransmitLimitedQueue{NumNodes: ml.NumMembers, RetransmitMult: conf.RetransmitMult}
		m.nodes = append(m.nodes, nd)
		if seed == "" {
			seed = ml.LocalNode().Address()
			continue
		}
		if _, err := ml.Join([]string{seed}); err != nil {
			return fmt.Errorf("memberlist: join: %w", err)
		}
	}
	for _, nd := range m.nodes {
		for nd.ml.NumMembers() < e.n {
			select {
			case <-ctx.Done():
				return fmt.Errorf("memberlist: did not converge: %w", ctx.Err())
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	return nil
}

func (m *mlBroadcast) publish(_ context.Context, origin int, payload []byte) error {
	m.nodes[origin].queue(payload)
	return nil
}

func (m *mlBroadcast) copies() int64 { return m.recv.Load() }

func (m *mlBroadcast) close() {
	for _, nd := range m.nodes {
		_ = nd.ml.Shutdown()
	}
}
