package node_test

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/core/large"
	"github.com/plumtree-go/plumtree/core/node"
	"github.com/plumtree-go/plumtree/core/node/memnet"
	"github.com/plumtree-go/plumtree/core/wire"
)

// gatedLanes gives a memnet transport a bulk lane (node.BulkSender) that
// holds every frame until it is opened, and records which lane each frame
// took.
type gatedLanes struct {
	*memnet.Transport
	dec *wire.Decoder

	mu     sync.Mutex
	open   bool
	held   []heldFrame
	sent   []laneFrame // every frame handed over, in order
	broken []string    // frames that did not decode
}

type heldFrame struct {
	to    core.PeerID
	frame []byte
}

type laneFrame struct {
	to   core.PeerID
	bulk bool
	typ  core.MessageType
	id   core.MessageID
	part bool // carries a large-message part
}

func newGatedLanes(tr *memnet.Transport, cfg core.Config) *gatedLanes {
	return &gatedLanes{Transport: tr, dec: wire.NewDecoder(wire.LimitsFor(cfg))}
}

// note records frame; g.mu is held.
func (g *gatedLanes) note(to core.PeerID, frame []byte, bulk bool) {
	var m core.Message
	if err := g.dec.Decode(frame, &m); err != nil {
		g.broken = append(g.broken, err.Error())
		return
	}
	part := false
	for _, h := range m.Headers {
		part = part || h.Key == large.HeaderKey
	}
	g.sent = append(g.sent, laneFrame{to: to, bulk: bulk, typ: m.Type, id: m.ID, part: part})
}

func (g *gatedLanes) Send(to core.PeerID, frame []byte) error {
	g.mu.Lock()
	g.note(to, frame, false)
	g.mu.Unlock()
	return g.Transport.Send(to, frame)
}

func (g *gatedLanes) SendBulk(to core.PeerID, frame []byte) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.note(to, frame, true)
	if !g.open {
		g.held = append(g.held, heldFrame{to, frame})
		return nil
	}
	return g.Transport.Send(to, frame)
}

func (g *gatedLanes) BulkQueueLen(to core.PeerID) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, h := range g.held {
		if h.to == to {
			n++
		}
	}
	return n
}

// release opens the bulk lane and sends what it held, in order.
func (g *gatedLanes) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.open = true
	for _, h := range g.held {
		g.Transport.Send(h.to, h.frame)
	}
	g.held = nil
}

func (g *gatedLanes) frames() []laneFrame {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]laneFrame(nil), g.sent...)
}

// TestSmallMessagesOvertakeALargeTransfer: with a transport that has a bulk
// lane, a large message's parts go into it and ordinary messages do not, so
// small broadcasts are delivered everywhere while every chunk of a large
// transfer is still queued (here: held back until the end). The origin's
// own small broadcast follows its chunks (one origin's copies keep their
// order on a link), and the large message is delivered once the lane
// drains.
func TestSmallMessagesOvertakeALargeTransfer(t *testing.T) {
	const nodes = 4
	lanes := make([]*gatedLanes, nodes)
	c := startCluster(t, clusterOpts{size: nodes, seed: 91, cfg: largeConfig,
		transport: func(i int, tr *memnet.Transport) node.Transport {
			lanes[i] = newGatedLanes(tr, largeConfig(0))
			return lanes[i]
		}})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	payload := randomPayload(5, 1<<20+777)
	largeID, err := c.nodes[0].BroadcastLarge(ctx, bytes.NewReader(payload), int64(len(payload)))
	if err != nil {
		t.Fatal(err)
	}
	// Every part is queued (held) now. Small messages from another node
	// and from the origin itself:
	other, err := c.nodes[1].Broadcast(ctx, []byte("small from n01"))
	if err != nil {
		t.Fatal(err)
	}
	own, err := c.nodes[0].Broadcast(ctx, []byte("small from the origin"))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Minute, "every node to deliver the small message while the chunks are held", func() bool {
		for _, r := range c.recs {
			if r.count(other) == 0 {
				return false
			}
		}
		return true
	})
	for i := 1; i < nodes; i++ {
		if n := c.recs[i].count(largeID); n != 0 {
			t.Fatalf("%s delivered the large message while its chunks were held (%d)", peerName(i), n)
		}
	}

	// Which lane each frame took, so far.
	for i, g := range lanes {
		g.mu.Lock()
		broken := g.broken
		g.mu.Unlock()
		if len(broken) > 0 {
			t.Fatalf("%s sent frames that do not decode: %v", peerName(i), broken)
		}
		gotParts := map[core.PeerID]bool{} // peers this node sent parts to
		for _, f := range g.frames() {
			if f.part {
				gotParts[f.to] = true
			}
			switch {
			case f.part && !f.bulk:
				t.Errorf("%s: part %v (%v) sent to %s in the urgent lane", peerName(i), f.id, f.typ, f.to)
			case f.id == other && f.bulk:
				t.Errorf("%s: the small message %v sent to %s in the bulk lane", peerName(i), f.id, f.to)
			case f.id == own && gotParts[f.to] && !f.bulk:
				t.Errorf("%s: the origin's small message %v overtook its parts to %s (urgent lane)", peerName(i), f.id, f.to)
			case f.bulk && !f.part && f.id != own && f.typ != core.MsgPrune && f.typ != core.MsgIHave:
				t.Errorf("%s: %v %v sent to %s in the bulk lane", peerName(i), f.typ, f.id, f.to)
			}
		}
	}
	if lanes[0].BulkQueueLen(peerName(1))+lanes[0].BulkQueueLen(peerName(2))+lanes[0].BulkQueueLen(peerName(3)) == 0 {
		t.Fatal("the origin queued nothing in its bulk lane")
	}

	for _, g := range lanes {
		g.release()
	}
	c.waitLarge(largeID, payload, 2*time.Minute)
	waitFor(t, 2*time.Minute, "every node to deliver the origin's small message", func() bool {
		for _, r := range c.recs {
			if r.count(own) != 1 {
				return false
			}
		}
		return true
	})
}
