package tcp

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/core/node"
)

// SendQueueLen counts the frames waiting for a peer: here one that accepts
// the connection but never answers the handshake, so the writer holds at
// most the first frame and the rest wait in the queue.
func TestSendQueueLen(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	holdConns(t, ln, nil)
	a := newTransport(t, "a", WithHandshakeTimeout(time.Hour), WithSendQueue(64))
	if n := a.SendQueueLen("b"); n != 0 {
		t.Fatalf("unknown peer: %d", n)
	}
	a.SetPeerAddr("b", ln.Addr().String())
	const k = 10
	for i := range k {
		if err := a.Send("b", testFrame(uint64(i), 100)); err != nil {
			t.Fatal(err)
		}
	}
	if n := a.SendQueueLen("b"); n != k && n != k-1 {
		t.Fatalf("SendQueueLen = %d, want %d or %d", n, k-1, k)
	}
	if n := a.SentTo("b"); n != 0 {
		t.Fatalf("SentTo = %d before the handshake, want 0", n)
	}
	var _ node.SendQueueLener = a
}

// SentTo counts the frames written to a peer, in both lanes; 0 for an
// unknown peer.
func TestSentTo(t *testing.T) {
	a := newTransport(t, "a")
	b := newTransport(t, "b")
	if n := a.SentTo("b"); n != 0 {
		t.Fatalf("unknown peer: %d", n)
	}
	a.SetPeerAddr("b", b.Addr().String())
	const k = 20
	for i := range k {
		if i%2 == 0 {
			sendRetry(t, a, "b", testFrame(uint64(i), 100), time.Second)
		} else {
			retrySend(t, a.SendBulk, "b", testFrame(uint64(i), 100), time.Second)
		}
	}
	recvN(t, b, k, 30*time.Second)
	// Received means written; the count follows the flush: poll.
	eventually(t, 30*time.Second, "SentTo to count every frame", func() bool { return a.SentTo("b") == k })
	var _ node.SendProgresser = a
}

// digests is a Delegate that records how often each message was delivered
// and the SHA-256 of its payload.
type digests struct {
	node.NopDelegate
	mu   sync.Mutex
	n    map[core.MessageID]int
	sums map[core.MessageID][32]byte
}

func (d *digests) Deliver(m core.Delivery) {
	sum := sha256.Sum256(m.Payload)
	d.mu.Lock()
	d.n[m.ID]++
	d.sums[m.ID] = sum
	d.mu.Unlock()
}

func (d *digests) get(id core.MessageID) (int, [32]byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.n[id], d.sums[id]
}

// A large message (node.BroadcastLarge) over real TCP connections: every
// node delivers it exactly once, with its digest.
func TestBroadcastLargeOverTCP(t *testing.T) {
	const size = 6
	var (
		nodes []*node.Node
		trs   []*Transport
		dels  []*digests
	)
	for i := range size {
		id := core.PeerID(fmt.Sprintf("n%02d", i))
		c := clusterConfig(int64(i + 1))
		c.MaxLargeMessageSize = 16 << 20
		c.LargeAssemblyBytes = 32 << 20
		tr := newTransport(t, id, WithSendQueue(4096))
		d := &digests{n: map[core.MessageID]int{}, sums: map[core.MessageID][32]byte{}}
		nd, err := node.New(c, id, tr, d)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := nd.Shutdown(ctx); err != nil {
				t.Errorf("Shutdown %s: %v", id, err)
			}
		})
		nodes, trs, dels = append(nodes, nd), append(trs, tr), append(dels, d)
	}
	for i, nd := range nodes {
		for j, tr := range trs {
			if i != j {
				trs[i].SetPeerAddr(tr.Self(), tr.Addr().String())
				if err := nd.AddPeer(tr.Self()); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	payload := make([]byte, 6<<20+777)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range payload {
		payload[i] = byte(rng.Uint32())
	}
	want := sha256.Sum256(payload)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	id, err := nodes[2].BroadcastLarge(ctx, bytes.NewReader(payload), int64(len(payload)))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Minute, "every node to deliver the large message", func() bool {
		for _, d := range dels {
			if n, _ := d.get(id); n == 0 {
				return false
			}
		}
		return true
	})
	for i, d := range dels {
		if n, sum := d.get(id); n != 1 || sum != want {
			t.Errorf("n%02d delivered it %d times, digest ok %v", i, n, sum == want)
		}
		if s := nodes[i].Stats().Large; s.Delivered != 1 || s.DigestFailures != 0 {
			t.Errorf("n%02d large stats %+v", i, s)
		}
	}
}
