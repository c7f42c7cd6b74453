package node_test

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/core/node"
	"github.com/plumtree-go/plumtree/core/node/memnet"
	"github.com/plumtree-go/plumtree/core/wire"
)

// partsTransport gives a memnet transport node.PartsSender: it records
// every two-part frame and sends head‖body joined.
type partsTransport struct {
	*memnet.Transport
	mu    sync.Mutex
	parts []sentParts
	whole []core.MessageID // ids of the Gossip and Repair frames sent whole
	dec   *wire.Decoder
}

type sentParts struct {
	head, body []byte
}

func (p *partsTransport) Send(to core.PeerID, frame []byte) error {
	var m core.Message
	if p.dec.Decode(frame, &m) == nil && (m.Type == core.MsgGossip || m.Type == core.MsgRepair) {
		p.mu.Lock()
		p.whole = append(p.whole, m.ID)
		p.mu.Unlock()
	}
	return p.Transport.Send(to, frame)
}

func (p *partsTransport) SendParts(to core.PeerID, head, body []byte) error {
	p.mu.Lock()
	p.parts = append(p.parts, sentParts{head, body})
	p.mu.Unlock()
	return p.Transport.Send(to, append(append([]byte(nil), head...), body...))
}

// SendBulkParts is never called: memnet has no bulk lane.
func (p *partsTransport) SendBulkParts(to core.PeerID, head, body []byte) error {
	panic("SendBulkParts on a transport without a bulk lane")
}

// A node whose transport takes frames in two parts sends a payload of
// PartsMinPayload bytes or more (any payload) without copying it: the body
// it hands over is the very payload it received and delivered (relays) or
// stored (the origin), and head‖body decodes to the message. Empty payloads
// go as one frame.
func TestPayloadsAreSentWithoutCopy(t *testing.T) {
	const nodes = 6
	trs := make([]*partsTransport, nodes)
	c := startCluster(t, clusterOpts{size: nodes, seed: 23,
		transport: func(i int, tr *memnet.Transport) node.Transport {
			trs[i] = &partsTransport{Transport: tr, dec: wire.NewDecoder(wire.LimitsFor(testConfig(0)))}
			return trs[i]
		}})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rng := rand.New(rand.NewPCG(23, 1))
	inParts := map[core.MessageID]bool{}
	var ids []core.MessageID
	for k := range 24 {
		size := node.PartsMinPayload + rng.IntN(8<<10)
		if k%3 == 1 {
			size = 0
		}
		payload := make([]byte, size)
		for i := range payload {
			payload[i] = byte(rng.Uint32())
		}
		id, err := c.nodes[rng.IntN(nodes)].Broadcast(ctx, payload)
		if err != nil {
			t.Fatal(err)
		}
		inParts[id] = size >= node.PartsMinPayload
		ids = append(ids, id)
	}
	c.quiesce(ids, 2*time.Minute)

	relayed := 0
	dec := wire.NewDecoder(wire.LimitsFor(testConfig(0)))
	for i, tr := range trs {
		tr.mu.Lock()
		parts, whole := append([]sentParts(nil), tr.parts...), append([]core.MessageID(nil), tr.whole...)
		tr.mu.Unlock()
		for _, id := range whole {
			if inParts[id] {
				t.Errorf("%s sent %v (a payload of %d bytes or more) as one frame", peerName(i), id, node.PartsMinPayload)
			}
		}
		for _, p := range parts {
			var m core.Message
			if err := dec.Decode(append(append([]byte(nil), p.head...), p.body...), &m); err != nil {
				t.Fatalf("%s: head‖body does not decode: %v", peerName(i), err)
			}
			if !inParts[m.ID] {
				t.Errorf("%s sent %v (%d bytes) in two parts", peerName(i), m.ID, len(m.Payload))
				continue
			}
			delivered := c.recs[i].payload(m.ID)
			if len(delivered) == 0 || len(p.body) != len(delivered) || &p.body[0] != &delivered[0] {
				t.Errorf("%s: the body sent for %v is not the payload it delivered (a copy)", peerName(i), m.ID)
			}
			if m.ID.Origin != peerName(i) {
				relayed++
			}
		}
	}
	if relayed == 0 {
		t.Error("no node forwarded another's payload: the relay path was not exercised")
	}
}

// payload returns the payload r delivered for id (nil if none).
func (r *recorder) payload(id core.MessageID) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.payloads[id]
}
