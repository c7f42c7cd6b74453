package node_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/core/node"
	"github.com/plumtree-go/plumtree/core/node/memnet"
	"github.com/plumtree-go/plumtree/core/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testConfig is the LAN preset with timers short enough for tests.
func testConfig(seed int64) core.Config {
	c := core.LANConfig()
	c.IHaveInterval = 10 * time.Millisecond
	c.GraftTimeout = 25 * time.Millisecond
	c.GraftMaxRetries = 8
	c.GraftRateLimitPerSecond = 1000
	c.GraftRateLimitBurst = 1000
	c.MaintenanceInterval = 100 * time.Millisecond
	c.MaintenanceJitter = 20 * time.Millisecond
	// Prune at the threshold-th duplicate without the random spread, so
	// tests that count prunes and demotions see them within a short burst
	// (the spread itself is tested in package core).
	c.PruneDelay = 0
	c.Seed = seed
	return c
}

// recorder is a Delegate that counts everything.
type recorder struct {
	mu         sync.Mutex
	got        map[core.MessageID]int
	payloads   map[core.MessageID][]byte
	headers    map[core.MessageID][]core.Header
	promotions int
	demotions  int
	graftsSent int
	prunesSent int
	failed     int
	gate       chan struct{} // when non-nil, Deliver waits for a value (or close)
	entered    chan struct{} // when non-nil, Deliver signals here before waiting on gate
}

func newRecorder() *recorder {
	return &recorder{got: map[core.MessageID]int{}, payloads: map[core.MessageID][]byte{}, headers: map[core.MessageID][]core.Header{}}
}

func (r *recorder) Deliver(d core.Delivery) {
	if r.entered != nil {
		select {
		case r.entered <- struct{}{}:
		default:
		}
	}
	if r.gate != nil {
		<-r.gate
	}
	r.mu.Lock()
	r.got[d.ID]++
	r.payloads[d.ID] = d.Payload
	r.headers[d.ID] = d.Headers
	r.mu.Unlock()
}
func (r *recorder) EagerPromotion(core.PeerID) { r.mu.Lock(); r.promotions++; r.mu.Unlock() }
func (r *recorder) LazyDemotion(core.PeerID)   { r.mu.Lock(); r.demotions++; r.mu.Unlock() }
func (r *recorder) GraftSent(core.PeerID, core.MessageID) {
	r.mu.Lock()
	r.graftsSent++
	r.mu.Unlock()
}
func (r *recorder) PruneSent(core.PeerID) { r.mu.Lock(); r.prunesSent++; r.mu.Unlock() }
func (r *recorder) GraftFailed(core.MessageID, int) {
	r.mu.Lock()
	r.failed++
	r.mu.Unlock()
}

func (r *recorder) count(id core.MessageID) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.got[id]
}

func (r *recorder) distinct() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

// checkExactlyOnce reports ids delivered other than once, and ids not in want.
func (r *recorder) checkExactlyOnce(want []core.MessageID) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []string
	wanted := map[core.MessageID]bool{}
	for _, id := range want {
		wanted[id] = true
		if c := r.got[id]; c != 1 {
			errs = append(errs, fmt.Sprintf("%s delivered %d times", id, c))
		}
	}
	for id := range r.got {
		if !wanted[id] {
			errs = append(errs, fmt.Sprintf("unexpected %s", id))
		}
	}
	if len(errs) > 0 {
		sort.Strings(errs)
		if len(errs) > 5 {
			errs = append(errs[:5], fmt.Sprintf("... %d more", len(errs)-5))
		}
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		<-tick.C
	}
}

func newRNG(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed+1)) }

func peerName(i int) core.PeerID { return core.PeerID(fmt.Sprintf("n%02d", i)) }

type cluster struct {
	t     testing.TB
	net   *memnet.Network
	nodes []*node.Node
	recs  []*recorder
	live  []bool
}

type clusterOpts struct {
	size    int
	link    memnet.Link
	seed    uint64
	cfg     func(seed int64) core.Config
	nodeOpt func(i int) []node.Option
	// transport, if set, wraps node i's memnet transport.
	transport func(i int, tr *memnet.Transport) node.Transport
}

// startCluster starts a full mesh of nodes over a memnet network; the test's
// cleanup shuts everything down.
func startCluster(t testing.TB, o clusterOpts) *cluster {
	t.Helper()
	if o.cfg == nil {
		o.cfg = testConfig
	}
	c := &cluster{t: t, net: memnet.New(memnet.Config{Seed: o.seed, Link: o.link})}
	for i := range o.size {
		c.add(i, o)
	}
	for i, n := range c.nodes {
		for j := range c.nodes {
			if i != j {
				if err := n.AddPeer(peerName(j)); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	t.Cleanup(c.close)
	return c
}

func (c *cluster) add(i int, o clusterOpts) {
	c.t.Helper()
	tr, err := c.net.Join(peerName(i))
	if err != nil {
		c.t.Fatal(err)
	}
	rec := newRecorder()
	var opts []node.Option
	if o.nodeOpt != nil {
		opts = o.nodeOpt(i)
	}
	var ntr node.Transport = tr
	if o.transport != nil {
		ntr = o.transport(i, tr)
	}
	n, err := node.New(o.cfg(int64(o.seed)*1000+int64(i)), peerName(i), ntr, rec, opts...)
	if err != nil {
		c.t.Fatal(err)
	}
	c.nodes = append(c.nodes, n)
	c.recs = append(c.recs, rec)
	c.live = append(c.live, true)
}

func (c *cluster) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i, n := range c.nodes {
		if err := n.Shutdown(ctx); err != nil {
			c.t.Errorf("shutdown %s: %v", peerName(i), err)
		}
	}
	c.net.Close()
}

// broadcastRandom broadcasts count messages from random live origins.
func (c *cluster) broadcastRandom(rng *rand.Rand, count int) []core.MessageID {
	c.t.Helper()
	var ids []core.MessageID
	for k := range count {
		i := rng.IntN(len(c.nodes))
		for !c.live[i] {
			i = rng.IntN(len(c.nodes))
		}
		id, err := c.nodes[i].Broadcast(context.Background(), fmt.Appendf(nil, "msg %d from %d", k, i))
		if err != nil {
			c.t.Fatalf("broadcast %d from %s: %v", k, peerName(i), err)
		}
		ids = append(ids, id)
	}
	return ids
}

// quiesce waits until every live node delivered every id, has no pending
// graft, and its delegate has returned from every delivery the protocol made;
// then it checks exactly-once delivery.
func (c *cluster) quiesce(ids []core.MessageID, timeout time.Duration) {
	c.t.Helper()
	waitFor(c.t, timeout, "every live node to deliver every message", func() bool {
		for i, n := range c.nodes {
			if !c.live[i] {
				continue
			}
			for _, id := range ids {
				if c.recs[i].count(id) == 0 {
					return false
				}
			}
			s := n.Stats()
			if s.PendingGrafts != 0 || s.Runtime.Delivered != s.MessagesDelivered || s.Runtime.DeliveryQueueLen != 0 {
				return false
			}
		}
		return true
	})
	for i := range c.nodes {
		if !c.live[i] {
			continue
		}
		if err := c.recs[i].checkExactlyOnce(ids); err != nil {
			c.t.Errorf("%s: %v", peerName(i), err)
		}
	}
}

// syncBuffer is a goroutine-safe bytes.Buffer for slog handlers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func debugLogger(buf *syncBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// chanTransport is a Transport driven by the test: it records sent frames
// and receives the frames the test injects.
type chanTransport struct {
	in     chan node.Frame
	mu     sync.Mutex
	sent   []sentFrame
	closed bool
	fail   bool // Send returns an error
}

type sentFrame struct {
	to  core.PeerID
	msg core.Message
}

func newChanTransport() *chanTransport { return &chanTransport{in: make(chan node.Frame, 1024)} }

func (c *chanTransport) Send(to core.PeerID, frame []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return fmt.Errorf("closed")
	}
	if c.fail {
		return fmt.Errorf("send refused")
	}
	var m core.Message
	if err := wire.NewDecoder(wire.DefaultLimits()).Decode(frame, &m); err != nil {
		return err
	}
	c.sent = append(c.sent, sentFrame{to, m})
	return nil
}

func (c *chanTransport) Receive() <-chan node.Frame { return c.in }

func (c *chanTransport) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed = true
		close(c.in)
	}
	return nil
}

func (c *chanTransport) inject(t testing.TB, from core.PeerID, m core.Message) {
	t.Helper()
	b, err := wire.AppendFrame(nil, &m)
	if err != nil {
		t.Fatal(err)
	}
	c.in <- node.Frame{From: from, Data: b}
}

// addLinkedPeer adds peer p to n, waits for n's Join to it and accepts it:
// as the link n asked for, or as an eager one with eager set.
func addLinkedPeer(t testing.TB, n *node.Node, tr *chanTransport, p core.PeerID, eager bool) {
	t.Helper()
	if err := n.AddPeer(p); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Minute, "a Join to "+string(p), func() bool {
		return slices.ContainsFunc(tr.sentOf(core.MsgJoin), func(s sentFrame) bool { return s.to == p })
	})
	for _, s := range tr.sentOf(core.MsgJoin) {
		if s.to == p {
			tr.inject(t, p, core.Message{Type: core.MsgJoinReply, Accepted: true, Eager: eager || s.msg.Eager})
		}
	}
}

// sentOf returns the messages of type typ sent so far.
func (c *chanTransport) sentOf(typ core.MessageType) []sentFrame {
	c.mu.Lock()
	defer c.mu.Unlock()
	var r []sentFrame
	for _, s := range c.sent {
		if s.msg.Type == typ {
			r = append(r, s)
		}
	}
	return r
}

func newManualClock() *node.ManualClock {
	return node.NewManualClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
}
