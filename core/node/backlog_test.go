package node_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/core/node"
)

// bulkChan is a chanTransport with a bulk lane (node.BulkSender) that
// reports one frame queued, for good, for the peers in backlog.
type bulkChan struct {
	*chanTransport
	backlog map[core.PeerID]bool // read-only once the node runs
}

func (b *bulkChan) SendBulk(to core.PeerID, frame []byte) error { return b.Send(to, frame) }

func (b *bulkChan) BulkQueueLen(to core.PeerID) int {
	if b.backlog[to] {
		return 1
	}
	return 0
}

// After a Prune to a peer whose bulk lane holds frames, the copies that
// peer had queued before it read the Prune keep coming; a first copy among
// them does not link the peer back. The node tells the protocol which lanes
// hold frames (core.Protocol.SetBacklog; the rule itself is tested in
// package core). Without a backlog, the paper's rule links the sender of a
// first copy at once.
func TestPrunedPeersQueuedCopyDoesNotRelink(t *testing.T) {
	for _, backlog := range []bool{true, false} {
		clk := newManualClock()
		tr := &bulkChan{chanTransport: newChanTransport(), backlog: map[core.PeerID]bool{"c": backlog}}
		cfg := testConfig(1)
		cfg.OptimizationThreshold = 1
		rec := newRecorder()
		n, err := node.New(cfg, "a", tr, rec, node.WithClock(clk))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []core.PeerID{"b", "c"} {
			addLinkedPeer(t, n, tr.chanTransport, p, true)
		}
		waitFor(t, time.Minute, "two eager links", func() bool { return n.Stats().EagerPeers == 2 })

		gossip := func(from core.PeerID, seq uint64) {
			tr.inject(t, from, core.Message{Type: core.MsgGossip, ID: core.MessageID{Origin: "o", Seq: seq},
				OriginTime: clk.Now(), Hops: 1, Payload: []byte("payload")})
		}
		gossip("b", 1)
		gossip("c", 1) // a duplicate: c is pruned
		waitFor(t, time.Minute, "a Prune to c", func() bool {
			return slices.ContainsFunc(tr.sentOf(core.MsgPrune), func(s sentFrame) bool { return s.to == "c" })
		})
		if s := n.Stats(); s.EagerPeers != 1 {
			t.Fatalf("backlog %v: %d eager peers after the Prune, want 1", backlog, s.EagerPeers)
		}
		m2 := core.MessageID{Origin: "o", Seq: 2}
		gossip("c", 2) // the first copy of o/2, from the pruned peer
		waitFor(t, time.Minute, "o/2 delivered", func() bool { return rec.count(m2) == 1 })
		// The delivery follows the protocol step that took the copy: the
		// link decision is made.
		want := 2
		if backlog {
			want = 1
		}
		if s := n.Stats(); s.EagerPeers != want {
			t.Errorf("backlog %v: %d eager peers after a first copy from the pruned peer, want %d", backlog, s.EagerPeers, want)
		}
		if err := n.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}
