package node_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/core/large"
	"github.com/plumtree-go/plumtree/core/node"
	"github.com/plumtree-go/plumtree/core/node/memnet"
	"github.com/plumtree-go/plumtree/core/wire"
)

// largeConfig is testConfig with 16 KiB messages, so a few MiB make a few
// hundred chunks.
func largeConfig(seed int64) core.Config {
	c := testConfig(seed)
	c.MaxMessageSize = 16 << 10
	c.MaxLargeMessageSize = 8 << 20
	c.LargeAssemblyBytes = 16 << 20
	return c
}

func randomPayload(seed uint64, n int) []byte {
	b := make([]byte, n)
	rng := rand.New(rand.NewPCG(seed, 7))
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// waitLarge waits until every node delivered id and checks that each did so
// exactly once, with want's bytes and no large message left in flight.
func (c *cluster) waitLarge(id core.MessageID, want []byte, timeout time.Duration) {
	c.t.Helper()
	waitFor(c.t, timeout, "every node to deliver the large message", func() bool {
		for i, r := range c.recs {
			if c.live[i] && r.count(id) == 0 {
				return false
			}
		}
		return true
	})
	sum := sha256.Sum256(want)
	for i, r := range c.recs {
		if !c.live[i] {
			continue
		}
		r.mu.Lock()
		got, n := r.payloads[id], r.got[id]
		hs := r.headers[id]
		r.mu.Unlock()
		if n != 1 || sha256.Sum256(got) != sum {
			c.t.Errorf("%s: delivered %d times, %d bytes, digest ok: %v", peerName(i), n, len(got), sha256.Sum256(got) == sum)
		}
		for _, h := range hs {
			if h.Key == large.HeaderKey {
				c.t.Errorf("%s: the delivery carries the internal header %q", peerName(i), h.Key)
			}
		}
		waitFor(c.t, timeout, "no large message in flight", func() bool {
			s := c.nodes[i].Stats().Large
			return s.InFlight == 0 && s.Bytes == 0
		})
	}
}

func TestBroadcastLargeDeliversExactlyOnce(t *testing.T) {
	tests := []struct {
		name  string
		nodes int
		bytes int
		link  memnet.Link
	}{
		{"6 nodes 3 MiB", 6, 3<<20 + 12345, memnet.Link{}},
		{"6 nodes 2 MiB 5% loss", 6, 2<<20 + 1, memnet.Link{Drop: 0.05, Jitter: 200 * time.Microsecond}},
		{"4 nodes one byte", 4, 1, memnet.Link{}},
		{"4 nodes empty", 4, 0, memnet.Link{}},
	}
	for k, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := startCluster(t, clusterOpts{size: tt.nodes, seed: uint64(40 + k), link: tt.link, cfg: largeConfig})
			payload := randomPayload(uint64(k), tt.bytes)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			id, err := c.nodes[1].BroadcastLargeWithHeaders(ctx, bytes.NewReader(payload), int64(len(payload)), []core.Header{{Key: "app", Value: "v1"}})
			if err != nil {
				t.Fatal(err)
			}
			c.waitLarge(id, payload, 2*time.Minute)
			for i, r := range c.recs {
				r.mu.Lock()
				hs := r.headers[id]
				r.mu.Unlock()
				if len(hs) != 1 || hs[0] != (core.Header{Key: "app", Value: "v1"}) {
					t.Errorf("%s: headers %v", peerName(i), hs)
				}
			}
			s := c.nodes[1].Stats().Large
			if s.Sent != 1 || s.SentBytes != uint64(tt.bytes) {
				t.Errorf("sender stats: %+v", s)
			}
			if tt.link.Drop > 0 {
				// Every message here is a chunk or the manifest: the
				// protocol's pull and repair counters count chunk repairs.
				var pulled, repaired, partRepairs uint64
				for i, n := range c.nodes {
					s := n.Stats()
					pulled += s.GraftSuccess
					repaired += s.RepairReceived
					partRepairs += s.Large.Repairs
					// Every first copy after a Graft is a part the tree
					// did not push (anti-entropy first copies add to it).
					if s.Large.Repairs < s.GraftSuccess {
						t.Errorf("%s: %d part repairs counted, %d copies came after a Graft", peerName(i), s.Large.Repairs, s.GraftSuccess)
					}
				}
				if pulled+repaired == 0 || partRepairs == 0 {
					t.Error("frames were lost but no chunk was pulled or repaired")
				}
				t.Logf("network %+v; chunks pulled %d, repair copies received %d, part repairs %d", c.net.Stats(), pulled, repaired, partRepairs)
			}
		})
	}
}

func TestBroadcastLargeConcurrentOrigins(t *testing.T) {
	c := startCluster(t, clusterOpts{size: 6, seed: 77, cfg: largeConfig})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	type sent struct {
		id      core.MessageID
		payload []byte
	}
	res := make(chan sent, 3)
	errs := make(chan error, 3)
	for i := range 3 {
		go func() {
			p := randomPayload(uint64(100+i), 1<<20+i*1000)
			id, err := c.nodes[i].BroadcastLarge(ctx, bytes.NewReader(p), int64(len(p)))
			if err != nil {
				errs <- err
				return
			}
			res <- sent{id, p}
		}()
	}
	for range 3 {
		select {
		case err := <-errs:
			t.Fatal(err)
		case s := <-res:
			c.waitLarge(s.id, s.payload, 2*time.Minute)
		}
	}
}

// One origin sending four large messages at once, together above twice
// max_large_message_size (a receiver's share for one origin): they take
// turns (each waits while the sizes in progress would exceed
// max_large_message_size), and every node delivers all four; none is
// evicted.
func TestBroadcastLargeConcurrentFromOneOrigin(t *testing.T) {
	c := startCluster(t, clusterOpts{size: 3, seed: 78, cfg: largeConfig})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	size := c.nodes[0].Config().MaxLargeMessageSize * 6 / 10
	var payloads [][]byte
	for k := range 4 {
		payloads = append(payloads, randomPayload(uint64(201+k), size))
	}
	ids := make(chan core.MessageID, len(payloads))
	errs := make(chan error, len(payloads))
	for _, p := range payloads {
		go func() {
			id, err := c.nodes[0].BroadcastLarge(ctx, bytes.NewReader(p), int64(len(p)))
			if err != nil {
				errs <- err
				return
			}
			ids <- id
		}()
	}
	got := map[core.MessageID]bool{}
	for range payloads {
		select {
		case err := <-errs:
			t.Fatal(err)
		case id := <-ids:
			got[id] = true
		}
	}
	waitFor(t, 2*time.Minute, "every node to deliver the four messages", func() bool {
		for i, n := range c.nodes {
			if s := n.Stats().Large; s.Evicted != 0 {
				t.Fatalf("%s evicted %d partial messages: one of them is lost there", peerName(i), s.Evicted)
			}
		}
		for _, r := range c.recs {
			for id := range got {
				if r.count(id) == 0 {
					return false
				}
			}
		}
		return true
	})
}

// dropManifestOnce is node i's memnet transport, dropping the first
// large-message manifest it sends to one peer.
type dropManifestOnce struct {
	*memnet.Transport
	to      core.PeerID
	dropped atomic.Bool
}

func (d *dropManifestOnce) Send(to core.PeerID, frame []byte) error {
	if to == d.to && !d.dropped.Load() {
		var m core.Message
		lim := wire.LimitsFor(largeConfig(0))
		if wire.NewDecoder(lim).Decode(frame, &m) == nil && m.Type == core.MsgGossip {
			if p, err := large.Decode(m.Payload, large.Limits{MaxSize: 1 << 30, MaxChunkSize: 1 << 20}); err == nil && p.Kind == large.KindManifest && d.dropped.CompareAndSwap(false, true) {
				return nil // lost on the way
			}
		}
	}
	return d.Transport.Send(to, frame)
}

// An origin's next large message starts while a receiver still pulls the
// last part of the one before (its manifest was lost on the eager link):
// the two together are above max_large_message_size, and the receiver keeps
// both — the older one is not evicted for the newer — and delivers both.
func TestBroadcastLargeNextMessageWhileOneIsRepaired(t *testing.T) {
	var drop *dropManifestOnce
	c := startCluster(t, clusterOpts{size: 3, seed: 79, cfg: largeConfig, transport: func(i int, tr *memnet.Transport) node.Transport {
		if i != 0 {
			return tr
		}
		drop = &dropManifestOnce{Transport: tr, to: "n01"}
		return drop
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	size := c.nodes[0].Config().MaxLargeMessageSize * 6 / 10
	var ids []core.MessageID
	for k := range 2 {
		p := randomPayload(uint64(301+k), size)
		id, err := c.nodes[0].BroadcastLarge(ctx, bytes.NewReader(p), int64(len(p)))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	waitFor(t, 2*time.Minute, "every node to deliver both messages", func() bool {
		if s := c.nodes[1].Stats().Large; s.Evicted != 0 {
			t.Fatalf("n01 evicted %d partial messages (manifest dropped: %v)", s.Evicted, drop.dropped.Load())
		}
		for _, r := range c.recs {
			for _, id := range ids {
				if r.count(id) == 0 {
					return false
				}
			}
		}
		return true
	})
	if !drop.dropped.Load() {
		t.Fatal("no manifest was dropped: the test did not test anything")
	}
}

func TestBroadcastLargeTooLarge(t *testing.T) {
	c := startCluster(t, clusterOpts{size: 2, seed: 5, cfg: largeConfig})
	n := c.nodes[0]
	limit := n.Config().MaxLargeMessageSize
	before := n.Stats()
	// A reader that fails if read: nothing may be read, let alone sent.
	_, err := n.BroadcastLarge(context.Background(), iotestErrReader{}, int64(limit)+1)
	if !errors.Is(err, node.ErrMessageTooLarge) {
		t.Fatalf("err = %v, want ErrMessageTooLarge", err)
	}
	for _, want := range []string{fmt.Sprint(limit + 1), fmt.Sprint(limit), "max_large_message_size"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	// Payload copies, not all frames: the young cluster's link protocol
	// and digests may send frames meanwhile (frames 1 -> 2 under -race).
	after := n.Stats()
	if after.MessagesBroadcast != before.MessagesBroadcast || after.GossipSent != before.GossipSent {
		t.Errorf("something was sent: broadcasts %d -> %d, payload copies %d -> %d", before.MessagesBroadcast, after.MessagesBroadcast, before.GossipSent, after.GossipSent)
	}
}

type iotestErrReader struct{}

func (iotestErrReader) Read([]byte) (int, error) { return 0, errors.New("read") }

// A reader shorter than the declared size: an error, and no node delivers
// anything (the manifest is never sent).
func TestBroadcastLargeShortReader(t *testing.T) {
	c := startCluster(t, clusterOpts{size: 3, seed: 6, cfg: largeConfig})
	payload := randomPayload(1, 100_000)
	_, err := c.nodes[0].BroadcastLarge(context.Background(), bytes.NewReader(payload[:70_000]), int64(len(payload)))
	if err == nil || !strings.Contains(err.Error(), "70000 of 100000") {
		t.Fatalf("err = %v", err)
	}
	// The chunks that were sent reach every node (they are ordinary
	// messages) and wait there for a manifest that never comes.
	waitFor(t, time.Minute, "the chunks sent to be taken", func() bool {
		for _, n := range c.nodes {
			if n.Stats().Large.InFlight != 1 {
				return false
			}
		}
		return true
	})
	// Then a complete message from the same origin still goes through.
	id, err := c.nodes[0].BroadcastLarge(context.Background(), bytes.NewReader(payload), int64(len(payload)))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Minute, "the complete message", func() bool {
		for _, r := range c.recs {
			if r.count(id) != 1 {
				return false
			}
		}
		return true
	})
	for i, r := range c.recs {
		if d := r.distinct(); d != 1 {
			t.Errorf("%s delivered %d messages, want 1", peerName(i), d)
		}
	}
}

func TestBroadcastReservedHeader(t *testing.T) {
	c := startCluster(t, clusterOpts{size: 2, seed: 8, cfg: largeConfig})
	hs := []core.Header{{Key: large.HeaderKey, Value: "x"}}
	if _, err := c.nodes[0].BroadcastWithHeaders(context.Background(), []byte("x"), hs); !errors.Is(err, core.ErrInvalidHeaders) {
		t.Errorf("Broadcast: %v", err)
	}
	if _, err := c.nodes[0].BroadcastLargeWithHeaders(context.Background(), bytes.NewReader(nil), 0, hs); !errors.Is(err, core.ErrInvalidHeaders) {
		t.Errorf("BroadcastLarge: %v", err)
	}
}

// Headers a large message's manifest cannot carry (it adds the marker
// header) are refused before anything is read or sent; one header and the
// marker's bytes less go through and are delivered.
func TestBroadcastLargeHeadersAtTheLimit(t *testing.T) {
	c := startCluster(t, clusterOpts{size: 2, seed: 9, cfg: largeConfig})
	n := c.nodes[0]
	markerBytes := len(large.HeaderKey) + len(large.HeaderValue)
	many := func(k int) []core.Header {
		hs := make([]core.Header, k)
		for i := range hs {
			hs[i] = core.Header{Key: fmt.Sprintf("k%d", i), Value: "v"}
		}
		return hs
	}
	big := func(bytes int) []core.Header {
		return []core.Header{{Key: "k", Value: strings.Repeat("v", bytes-1)}}
	}
	for name, hs := range map[string][]core.Header{
		"MaxHeaders headers":     many(core.MaxHeaders),
		"MaxHeaderBytes bytes":   big(core.MaxHeaderBytes),
		"one byte over the room": big(core.MaxHeaderBytes - markerBytes + 1),
	} {
		before := n.Stats()
		_, err := n.BroadcastLargeWithHeaders(context.Background(), iotestErrReader{}, 3*int64(n.Config().MaxMessageSize), hs)
		if !errors.Is(err, core.ErrInvalidHeaders) || !strings.Contains(err.Error(), large.HeaderKey) {
			t.Errorf("%s: err = %v, want ErrInvalidHeaders naming the marker", name, err)
		}
		if after := n.Stats(); after.MessagesBroadcast != before.MessagesBroadcast {
			t.Errorf("%s: %d parts published before the error", name, after.MessagesBroadcast-before.MessagesBroadcast)
		}
	}
	payload := randomPayload(9, 3*n.Config().MaxMessageSize)
	for name, hs := range map[string][]core.Header{
		"MaxHeaders-1 headers":        many(core.MaxHeaders - 1),
		"MaxHeaderBytes-marker bytes": big(core.MaxHeaderBytes - markerBytes),
	} {
		id, err := n.BroadcastLargeWithHeaders(context.Background(), bytes.NewReader(payload), int64(len(payload)), hs)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		c.waitLarge(id, payload, time.Minute)
	}
}

// A forward hook that replaces every header (as a careless tracing hook
// would) does not break large messages: the node keeps the marker.
func TestBroadcastLargeSurvivesForwardHook(t *testing.T) {
	hook := func(core.Delivery) []core.Header { return []core.Header{{Key: "hop", Value: "x"}} }
	c := startCluster(t, clusterOpts{size: 5, seed: 9, cfg: largeConfig, nodeOpt: func(int) []node.Option {
		return []node.Option{node.WithForwardHook(hook)}
	}})
	payload := randomPayload(3, 300_000)
	id, err := c.nodes[0].BroadcastLarge(context.Background(), bytes.NewReader(payload), int64(len(payload)))
	if err != nil {
		t.Fatal(err)
	}
	c.waitLarge(id, payload, 2*time.Minute)
}

// The ctx of BroadcastLarge ends while it waits for room: it returns ctx's
// error.
func TestBroadcastLargeContext(t *testing.T) {
	c := startCluster(t, clusterOpts{size: 2, seed: 10, cfg: largeConfig})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.nodes[0].BroadcastLarge(ctx, bytes.NewReader(make([]byte, 100)), 100); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	_ = io.EOF
}

// large_send_rate caps the bytes a node publishes in large messages, across
// all of its BroadcastLarge calls: two messages of 512 KiB sent at once at
// 1 MiB/s take at least about a second together (a lower bound: a slow
// machine only makes it longer), where the adaptive pace alone starts at
// 16 MiB/s; both are still delivered everywhere.
func TestBroadcastLargeSendRate(t *testing.T) {
	const rate = 1 << 20
	c := startCluster(t, clusterOpts{size: 4, seed: 91, cfg: func(seed int64) core.Config {
		c := largeConfig(seed)
		c.LargeSendRate = rate
		return c
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	type sent struct {
		id      core.MessageID
		payload []byte
	}
	res := make(chan sent, 2)
	errs := make(chan error, 2)
	start := time.Now()
	for i := range 2 {
		go func() {
			p := randomPayload(uint64(300+i), 512<<10)
			id, err := c.nodes[0].BroadcastLarge(ctx, bytes.NewReader(p), int64(len(p)))
			if err != nil {
				errs <- err
				return
			}
			res <- sent{id, p}
		}()
	}
	var got []sent
	for range 2 {
		select {
		case err := <-errs:
			t.Fatal(err)
		case s := <-res:
			got = append(got, s)
		}
	}
	took := time.Since(start)
	// 1 MiB of chunks plus headers and two manifests, less the bucket's
	// burst (one max_message_size) and one part of debt.
	cfg := largeConfig(0)
	if min := time.Duration(float64(1<<20-2*cfg.MaxMessageSize) / rate * float64(time.Second)); took < min {
		t.Fatalf("two 512 KiB messages at %d bytes/s were published in %v, want at least %v", rate, took, min)
	}
	if s := c.nodes[0].Stats().Large; s.RateWaits == 0 || s.SendWaits < s.RateWaits {
		t.Fatalf("rate waits %d, send waits %d", s.RateWaits, s.SendWaits)
	}
	for _, s := range got {
		c.waitLarge(s.id, s.payload, 2*time.Minute)
	}
}
