package node_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
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

// pair starts two connected nodes a and b over a fresh network.
func pair(t *testing.T, cfgA core.Config, delA node.Delegate, optsA []node.Option, delB node.Delegate, optsB ...node.Option) (a, b *node.Node, nw *memnet.Network) {
	t.Helper()
	nw = memnet.New(memnet.Config{Seed: 1})
	ta, tb := nw.MustJoin("a"), nw.MustJoin("b")
	var err error
	a, err = node.New(cfgA, "a", ta, delA, optsA...)
	if err != nil {
		t.Fatal(err)
	}
	b, err = node.New(testConfig(2), "b", tb, delB, optsB...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.Shutdown(ctx); err != nil {
			t.Errorf("shutdown a: %v", err)
		}
		if err := b.Shutdown(ctx); err != nil {
			t.Errorf("shutdown b: %v", err)
		}
		nw.Close()
	})
	if err := a.AddPeer("b"); err != nil {
		t.Fatal(err)
	}
	if err := b.AddPeer("a"); err != nil {
		t.Fatal(err)
	}
	// Links open through the Join handshake: wait until each holds the
	// other, so a broadcast right after goes over the link.
	linked := func(n *node.Node, p core.PeerID) bool {
		return slices.Contains(n.EagerPeers(), p) || slices.Contains(n.LazyPeers(), p)
	}
	waitFor(t, time.Minute, "the link between a and b", func() bool { return linked(a, "b") && linked(b, "a") })
	return a, b, nw
}

// A slow delegate makes Broadcast fail fast with ErrBackpressure and raises
// the counter; deliveries from peers keep being accepted into the overflow,
// then the node stops reading its transport; once the delegate catches up,
// every message is delivered exactly once.
func TestBackpressureSlowDelegate(t *testing.T) {
	cfg := testConfig(1)
	cfg.MessageCacheMaxSize = 16 // overflow limit: max(16, queue 8)
	recA := newRecorder()
	recA.gate = make(chan struct{})
	recA.entered = make(chan struct{}, 1)
	recB := newRecorder()
	a, b, _ := pair(t, cfg, recA, []node.Option{node.WithDeliveryQueue(8)}, recB)

	var accepted []core.MessageID
	var refused error
	for i := 0; refused == nil; i++ {
		if i > 100 {
			t.Fatal("Broadcast never refused")
		}
		id, err := a.Broadcast(context.Background(), fmt.Appendf(nil, "a%d", i))
		switch {
		case err == nil:
			accepted = append(accepted, id)
		case errors.Is(err, node.ErrBackpressure):
			refused = err
		default:
			t.Fatal(err)
		}
	}
	if !errors.Is(refused, core.ErrBackpressure) {
		t.Fatalf("error %v is not core.ErrBackpressure", refused)
	}
	s := a.Stats().Runtime
	if s.Backpressure != 1 || s.DeliveryQueueCap != 8 || s.DeliveryHighWater != 6 {
		t.Fatalf("runtime stats after refusal: %+v", s)
	}
	if len(accepted) == 0 {
		t.Fatal("no broadcast accepted")
	}

	// b broadcasts 40 messages: a's protocol delivers them into the
	// overflow, then stops reading its transport at 16.
	var fromB []core.MessageID
	for i := range 40 {
		id, err := b.Broadcast(context.Background(), fmt.Appendf(nil, "b%d", i))
		if err != nil {
			t.Fatal(err)
		}
		fromB = append(fromB, id)
	}
	waitFor(t, 10*time.Second, "a to pause its intake", func() bool { return a.Stats().Runtime.IntakePaused })
	s = a.Stats().Runtime
	if s.IntakePauses == 0 || s.DeliveryOverflow < s.DeliveryOverflowLimit || s.DeliveryOverflowLimit != 16 {
		t.Fatalf("runtime stats while paused: %+v", s)
	}
	if _, err := a.Broadcast(context.Background(), []byte("x")); !errors.Is(err, node.ErrBackpressure) {
		t.Fatalf("Broadcast while paused: %v", err)
	}
	// b is not affected by a's slow delegate.
	waitFor(t, 10*time.Second, "b to deliver its own messages", func() bool {
		return recB.distinct() >= len(fromB)
	})

	close(recA.gate) // the delegate catches up
	all := append(slices.Clone(accepted), fromB...)
	waitFor(t, 20*time.Second, "a to deliver everything", func() bool {
		s := a.Stats()
		return recA.distinct() == len(all) && s.Runtime.DeliveryQueueLen == 0 && s.PendingGrafts == 0
	})
	if err := recA.checkExactlyOnce(all); err != nil {
		t.Fatal(err)
	}
	s = a.Stats().Runtime
	if s.Backpressure != 2 || s.HookDrops != 0 || s.IntakePaused {
		t.Fatalf("runtime stats after catching up: %+v", s)
	}
	if _, err := a.Broadcast(context.Background(), []byte("again")); err != nil {
		t.Fatalf("Broadcast after catching up: %v", err)
	}
}

// The overflow behind a slow delegate is bounded in bytes too: with the
// length bound alone it held up to the store's capacity of deliveries
// whatever their size (65,536 of 64 KiB: 4 GiB; a process flooded with
// 60 KiB messages reached 6.3 GB). At WithDeliveryOverflowBytes the node
// stops reading, and loses nothing. The bound is checked before each frame
// a receive batch takes, and the batch's deliveries join the overflow
// after it, so the overflow may pass it by one batch (maxReceiveBatch, 64
// frames).
func TestOverflowBoundedInBytes(t *testing.T) {
	const limit = 64 << 10
	stalledDelegate(t, []node.Option{node.WithDeliveryQueue(8), node.WithDeliveryOverflowBytes(limit)}, func(s node.RuntimeStats) {
		if most := int64(limit + 64*stalledSize); s.DeliveryOverflowBytesLimit != limit || s.DeliveryOverflowBytes < limit || s.DeliveryOverflowBytes > most ||
			s.DeliveryOverflow >= s.DeliveryOverflowLimit {
			t.Fatalf("runtime stats while paused: %+v (want %d ≤ overflow bytes ≤ %d, overflow below its length bound)", s, limit, most)
		}
	})
}

// The delivery queue is bounded in bytes as well as in items
// (WithDeliveryQueueBytes): beyond the bound deliveries wait in the
// overflow, whose own bounds then pause the intake; nothing is lost, and
// the queue's bytes go back to zero as the delegate catches up.
func TestDeliveryQueueBoundedInBytes(t *testing.T) {
	const qlimit, olimit = 32 << 10, 64 << 10
	opts := []node.Option{node.WithDeliveryQueue(1000), node.WithDeliveryQueueBytes(qlimit), node.WithDeliveryOverflowBytes(olimit)}
	stalledDelegate(t, opts, func(s node.RuntimeStats) {
		if s.DeliveryQueueBytesLimit != qlimit || s.DeliveryQueueBytes > qlimit || s.DeliveryQueueBytes < qlimit-stalledSize ||
			s.DeliveryOverflowBytes < olimit || s.DeliveryQueueLen >= 100 {
			t.Fatalf("runtime stats while paused: %+v (want the queue within %d bytes, the overflow at %d, far below 1,000 items)", s, qlimit, olimit)
		}
	})
}

// stalledSize is the payload size stalledDelegate broadcasts.
const stalledSize = 8 << 10

// stalledDelegate runs a pair whose node a (options opts, a store of 1,000
// messages: the overflow's length bound far away) has a delegate that
// blocks: b broadcasts 300 payloads of stalledSize, a pauses its intake,
// check gets a's runtime stats then; then the delegate runs again and a
// must deliver every message once and hold no payload in its queue or
// overflow afterwards.
func stalledDelegate(t *testing.T, opts []node.Option, check func(node.RuntimeStats)) {
	t.Helper()
	cfg := testConfig(1)
	cfg.MessageCacheMaxSize = 1000
	recA := newRecorder()
	recA.gate = make(chan struct{})
	recA.entered = make(chan struct{}, 1)
	a, b, _ := pair(t, cfg, recA, opts, newRecorder())
	release := sync.OnceFunc(func() { close(recA.gate) })
	t.Cleanup(release) // before pair's shutdowns (LIFO), should check fail
	var fromB []core.MessageID
	for i := range 300 {
		p := make([]byte, stalledSize)
		p[0] = byte(i)
		id, err := b.Broadcast(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		fromB = append(fromB, id)
	}
	waitFor(t, 10*time.Second, "a to pause its intake", func() bool { return a.Stats().Runtime.IntakePaused })
	check(a.Stats().Runtime)
	release()
	waitFor(t, 20*time.Second, "a to deliver everything", func() bool {
		s := a.Stats()
		return recA.distinct() == len(fromB) && s.Runtime.DeliveryQueueLen == 0 && s.PendingGrafts == 0
	})
	if err := recA.checkExactlyOnce(fromB); err != nil {
		t.Fatal(err)
	}
	if s := a.Stats().Runtime; s.IntakePaused || s.DeliveryQueueBytes != 0 || s.DeliveryOverflowBytes != 0 {
		t.Fatalf("runtime stats after catching up: %+v", s)
	}
}

func TestBroadcastErrors(t *testing.T) {
	var refuse error
	admit := func() error { return refuse }
	tr := newChanTransport()
	n, err := node.New(testConfig(1), "a", tr, nil, node.WithAdmission(admit))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	big := make([]byte, n.Config().MaxMessageSize+1)
	if _, err := n.Broadcast(ctx, big); !errors.Is(err, node.ErrMessageTooLarge) || !errors.Is(err, core.ErrMessageTooLarge) {
		t.Errorf("too large: %v", err)
	}
	if _, err := n.Broadcast(ctx, big[:len(big)-1]); err != nil {
		t.Errorf("max size: %v", err)
	}
	refuse = fmt.Errorf("cache full: %w", core.ErrBackpressure)
	if _, err := n.Broadcast(ctx, []byte("x")); !errors.Is(err, node.ErrBackpressure) {
		t.Errorf("admission: %v", err)
	}
	refuse = errors.New("maintenance window")
	if _, err := n.Broadcast(ctx, []byte("x")); err != refuse {
		t.Errorf("admission: %v", err)
	}
	refuse = nil
	if s := n.Stats().Runtime; s.Backpressure != 1 || s.AdmissionRefused != 2 {
		t.Errorf("counters: %+v", s)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := n.Broadcast(cctx, []byte("x")); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: %v", err)
	}
	headers := []core.Header{{Key: strings.Repeat("k", core.MaxHeaderBytes+1), Value: "v"}}
	if _, err := n.BroadcastWithHeaders(ctx, []byte("x"), headers); !errors.Is(err, core.ErrInvalidHeaders) {
		t.Errorf("invalid headers: %v", err)
	}
	for _, p := range []core.PeerID{"", "a", core.PeerID(strings.Repeat("p", core.MaxPeerIDLen+1))} {
		if err := n.AddPeer(p); !errors.Is(err, node.ErrInvalidPeer) {
			t.Errorf("AddPeer(%q): %v", p, err)
		}
	}

	if err := n.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Broadcast(ctx, []byte("x")); !errors.Is(err, node.ErrClosed) || !errors.Is(err, core.ErrClosed) {
		t.Errorf("after shutdown: %v", err)
	}
	if err := n.AddPeer("b"); !errors.Is(err, node.ErrClosed) {
		t.Errorf("AddPeer after shutdown: %v", err)
	}
	if err := n.RemovePeer("b"); !errors.Is(err, node.ErrClosed) {
		t.Errorf("RemovePeer after shutdown: %v", err)
	}
	n.RecordRTT("b", time.Millisecond) // ignored, must not block
}

func TestNewErrors(t *testing.T) {
	bad := testConfig(1)
	bad.EagerFanout = 0
	tests := []struct {
		name string
		cfg  core.Config
		tr   node.Transport
		opts []node.Option
		want error
	}{
		{"nil transport", testConfig(1), nil, nil, nil},
		{"invalid config", bad, newChanTransport(), nil, core.ErrInvalidConfig},
		{"zero delivery queue", testConfig(1), newChanTransport(), []node.Option{node.WithDeliveryQueue(0)}, nil},
		{"zero observer queue", testConfig(1), newChanTransport(), []node.Option{node.WithObserverQueue(0)}, nil},
		{"invalid self", testConfig(1), newChanTransport(), nil, core.ErrInvalidPeer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			self := core.PeerID("a")
			if tt.name == "invalid self" {
				self = ""
			}
			n, err := node.New(tt.cfg, self, tt.tr, nil, tt.opts...)
			if err == nil {
				n.Shutdown(context.Background())
				t.Fatal("no error")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
		})
	}
}

func TestShutdownStopsEverything(t *testing.T) {
	obs := node.ObserverFunc(func([]core.Event) {})
	c := startCluster(t, clusterOpts{size: 4, seed: 3, nodeOpt: func(int) []node.Option {
		return []node.Option{node.WithObserver(obs)}
	}})
	rng := newRNG(3)
	ids := c.broadcastRandom(rng, 5)
	c.quiesce(ids, 10*time.Second)
	ctx := context.Background()
	for _, n := range c.nodes {
		if err := n.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		if err := n.Shutdown(ctx); err != nil {
			t.Fatalf("second Shutdown: %v", err)
		}
	}
	c.net.Close()
	goleak.VerifyNone(t)

	n := c.nodes[0]
	h := n.Health()
	if h.Status != core.Unhealthy || h.Message != "Protocol is shutting down" {
		t.Errorf("health after shutdown: %+v", h)
	}
	if n.PeerCount() != 3 || len(n.EagerPeers())+len(n.LazyPeers()) != 3 {
		t.Errorf("frozen peers: %d %v %v", n.PeerCount(), n.EagerPeers(), n.LazyPeers())
	}
	if s := n.Stats(); s.MessagesDelivered != uint64(len(ids)) || s.Runtime.Delivered != uint64(len(ids)) {
		t.Errorf("frozen stats: delivered %d, runtime %d", s.MessagesDelivered, s.Runtime.Delivered)
	}
}

// Shutdown lets a slow delegate finish what is queued when ctx allows.
func TestShutdownFlushesDelegate(t *testing.T) {
	rec := newRecorder()
	rec.gate = make(chan struct{})
	n, err := node.New(testConfig(1), "a", newChanTransport(), rec, node.WithDeliveryQueue(4))
	if err != nil {
		t.Fatal(err)
	}
	var ids []core.MessageID
	for i := range 3 {
		id, err := n.Broadcast(context.Background(), fmt.Appendf(nil, "%d", i))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	done := make(chan error, 1)
	go func() { done <- n.Shutdown(context.Background()) }()
	waitFor(t, 5*time.Second, "the protocol to close", func() bool {
		return n.Health().Message == "Protocol is shutting down"
	})
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned %v before the delegate finished", err)
	default:
	}
	close(rec.gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := rec.checkExactlyOnce(ids); err != nil {
		t.Fatal(err)
	}
	if s := n.Stats().Runtime; s.Delivered != 3 || s.DeliveriesDiscarded != 0 {
		t.Fatalf("runtime stats: %+v", s)
	}
}

// A Shutdown whose ctx expires discards what is queued and returns; the
// goroutines exit when the blocked delegate call returns.
func TestShutdownContextExpires(t *testing.T) {
	rec := newRecorder()
	rec.gate = make(chan struct{})
	rec.entered = make(chan struct{}, 1)
	n, err := node.New(testConfig(1), "a", newChanTransport(), rec, node.WithDeliveryQueue(2))
	if err != nil {
		t.Fatal(err)
	}
	// Fill the queue and the overflow: the first delivery blocks in the
	// delegate, two wait in the queue, and the next ones are refused.
	for i := range 3 {
		if _, err := n.Broadcast(context.Background(), fmt.Appendf(nil, "%d", i)); err != nil && !errors.Is(err, node.ErrBackpressure) {
			t.Fatal(err)
		}
		if i == 0 {
			<-rec.entered
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := n.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v", err)
	}
	close(rec.gate)
	if err := n.Shutdown(context.Background()); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	s := n.Stats().Runtime
	if s.Delivered != 1 || s.DeliveriesDiscarded == 0 {
		t.Fatalf("runtime stats: %+v", s)
	}
}

func TestHeaderInjectorAndForwardHook(t *testing.T) {
	type ctxKey struct{}
	inject := func(ctx context.Context) []core.Header {
		v, _ := ctx.Value(ctxKey{}).(string)
		if v == "" {
			return nil
		}
		return []core.Header{{Key: "traceparent", Value: v}}
	}
	hook := func(d core.Delivery) []core.Header {
		return append(slices.Clone(d.Headers), core.Header{Key: "via", Value: string(d.From)})
	}
	recA, recB := newRecorder(), newRecorder()
	a, _, _ := pair(t, testConfig(1), recA, []node.Option{node.WithHeaderInjector(inject)}, recB, node.WithForwardHook(hook))
	ctx := context.WithValue(context.Background(), ctxKey{}, "00-abc-01")
	id, err := a.BroadcastWithHeaders(ctx, []byte("hello"), []core.Header{{Key: "k", Value: "v"}})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Minute, "both deliveries", func() bool { return recA.count(id) == 1 && recB.count(id) == 1 })
	wantA := []core.Header{{Key: "k", Value: "v"}, {Key: "traceparent", Value: "00-abc-01"}}
	wantB := append(slices.Clone(wantA), core.Header{Key: "via", Value: "a"})
	recA.mu.Lock()
	gotA := recA.headers[id]
	recA.mu.Unlock()
	recB.mu.Lock()
	gotB, payload := recB.headers[id], recB.payloads[id]
	recB.mu.Unlock()
	if !slices.Equal(gotA, wantA) || !slices.Equal(gotB, wantB) || string(payload) != "hello" {
		t.Fatalf("a headers %v, b headers %v payload %q", gotA, gotB, payload)
	}
}

// The payload is copied by Broadcast: the caller may reuse its buffer.
func TestBroadcastCopiesPayload(t *testing.T) {
	recA, recB := newRecorder(), newRecorder()
	a, _, _ := pair(t, testConfig(1), recA, nil, recB)
	buf := []byte("original")
	id, err := a.Broadcast(context.Background(), buf)
	if err != nil {
		t.Fatal(err)
	}
	copy(buf, "XXXXXXXX")
	waitFor(t, 5*time.Second, "delivery at b", func() bool { return recB.count(id) == 1 })
	recB.mu.Lock()
	defer recB.mu.Unlock()
	if string(recB.payloads[id]) != "original" {
		t.Fatalf("payload %q", recB.payloads[id])
	}
}

type eventLog struct {
	mu    sync.Mutex
	kinds map[core.EventKind]int
	block chan struct{}
}

func (e *eventLog) Observe(events []core.Event) {
	if e.block != nil {
		<-e.block
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, ev := range events {
		e.kinds[ev.Kind]++
	}
}

func (e *eventLog) count(k core.EventKind) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.kinds[k]
}

func TestObservers(t *testing.T) {
	first, second := &eventLog{kinds: map[core.EventKind]int{}}, &eventLog{kinds: map[core.EventKind]int{}}
	a, _, _ := pair(t, testConfig(1), nil, []node.Option{node.WithObserver(first), node.WithObserver(second)}, nil)
	for range 5 {
		if _, err := a.Broadcast(context.Background(), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 5*time.Second, "the observers to see the broadcasts", func() bool {
		return first.count(core.EventBroadcast) == 5 && second.count(core.EventBroadcast) == 5
	})
	if d := a.Stats().Runtime.ObserverDrops; d != 0 {
		t.Fatalf("ObserverDrops = %d", d)
	}
}

// A stuck observer costs dropped (and counted) events, never a stalled
// protocol.
func TestObserverDrops(t *testing.T) {
	stuck := &eventLog{kinds: map[core.EventKind]int{}, block: make(chan struct{})}
	a, _, _ := pair(t, testConfig(1), nil, []node.Option{node.WithObserver(stuck), node.WithObserverQueue(1)}, nil)
	for range 10 {
		if _, err := a.Broadcast(context.Background(), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	s := a.Stats().Runtime
	if s.ObserverDrops == 0 {
		t.Fatalf("no observer drops: %+v", s)
	}
	close(stuck.block)
}

func TestSendAndDecodeErrors(t *testing.T) {
	tr := newChanTransport()
	tr.fail = true
	n, err := node.New(testConfig(1), "a", tr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown(context.Background())
	if err := n.AddPeer("b"); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Broadcast(context.Background(), []byte("x")); err != nil {
		t.Fatalf("a send error must not fail Broadcast: %v", err)
	}
	if s := n.Stats().Runtime; s.SendErrors == 0 || s.FramesOut != 0 {
		t.Fatalf("runtime stats: %+v", s)
	}
	tr.in <- node.Frame{From: "b", Data: []byte("garbage")}
	tr.in <- node.Frame{From: "b", Data: nil}
	waitFor(t, 5*time.Second, "two decode errors", func() bool { return n.Stats().Runtime.DecodeErrors == 2 })
	if s := n.Stats().Runtime; s.FramesIn != 2 {
		t.Fatalf("runtime stats: %+v", s)
	}
}

// manualNode starts node "a" on a test transport and a manual clock, with
// peer "b" added; it is shut down when the test ends.
func manualNode(t *testing.T) (*node.Node, *chanTransport, *node.ManualClock, core.Config) {
	t.Helper()
	clk := newManualClock()
	tr := newChanTransport()
	cfg := testConfig(1)
	n, err := node.New(cfg, "a", tr, nil, node.WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Shutdown(context.Background()) })
	if err := n.AddPeer("b"); err != nil {
		t.Fatal(err)
	}
	return n, tr, clk, cfg
}

// The node arms its timer at the protocol's next deadline, on the injected
// clock: no Graft before graft_timeout has passed on that clock.
func TestTimerFollowsNextDeadline(t *testing.T) {
	n, tr, clk, cfg := manualNode(t)
	missing := core.MessageID{Origin: "c", Seq: 1}
	start := clk.Now()
	tr.inject(t, "b", core.Message{Type: core.MsgIHave, IHaves: []core.Announcement{{ID: missing, Hops: 1, OriginTime: clk.Now()}}})
	waitFor(t, 5*time.Second, "the announcement to be pending", func() bool { return n.Stats().PendingGrafts == 1 })
	at, ok := clk.Armed()
	if !ok || at.After(start.Add(cfg.GraftTimeout)) {
		t.Fatalf("timer armed=%v at %v, want by %v", ok, at, start.Add(cfg.GraftTimeout))
	}
	grafted := func() bool {
		for _, s := range tr.sentOf(core.MsgGraft) {
			if s.to == "b" && slices.Contains(s.msg.IDs, missing) {
				return true
			}
		}
		return false
	}
	if grafted() {
		t.Fatal("Graft sent before graft_timeout")
	}
	// Move the clock in small steps until the Graft goes out: it must not
	// before graft_timeout.
	step := cfg.GraftTimeout / 5
	for !grafted() {
		if clk.Now().Sub(start) > 2*cfg.GraftTimeout {
			t.Fatal("no Graft after 2 × graft_timeout")
		}
		clk.Advance(step)
		_ = n.Stats() // a round trip through the protocol goroutine
	}
	if el := clk.Now().Sub(start); el < cfg.GraftTimeout {
		t.Fatalf("Graft after %v, before graft_timeout %v", el, cfg.GraftTimeout)
	}
}

func TestDelegateHooks(t *testing.T) {
	c := startCluster(t, clusterOpts{size: 5, seed: 9})
	ids := c.broadcastRandom(newRNG(9), 30)
	c.quiesce(ids, 10*time.Second)
	// The hooks run on the delegate goroutine, after the protocol counted
	// what they report (and the tree may still prune a late duplicate after
	// the last delivery), so they catch up with the stats, not at once.
	var promotions, demotions, prunes int
	var mismatch string
	waitFor(t, 30*time.Second, "the hooks to catch up with the stats", func() bool {
		promotions, demotions, prunes = 0, 0, 0
		last := mismatch
		mismatch = ""
		for i, r := range c.recs {
			s := c.nodes[i].Stats()
			r.mu.Lock()
			promotions += r.promotions
			demotions += r.demotions
			prunes += r.prunesSent
			if mismatch == "" && (uint64(r.prunesSent) != s.PruneSent || uint64(r.demotions) != s.PeerDemotions || uint64(r.promotions) != s.PeerPromotions) {
				mismatch = fmt.Sprintf("%s: hooks prune %d demote %d promote %d, stats %d %d %d", peerName(i),
					r.prunesSent, r.demotions, r.promotions, s.PruneSent, s.PeerDemotions, s.PeerPromotions)
			}
			r.mu.Unlock()
		}
		if mismatch != "" && mismatch != last {
			t.Logf("not yet: %s", mismatch)
		}
		return mismatch == ""
	})
	if prunes == 0 || demotions == 0 {
		t.Errorf("the tree never pruned: %d prunes, %d demotions", prunes, demotions)
	}
	t.Logf("promotions %d, demotions %d, prunes %d", promotions, demotions, prunes)
}

func TestStatsJSON(t *testing.T) {
	a, _, _ := pair(t, testConfig(1), nil, nil, nil)
	b, err := json.Marshal(a.Stats())
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	rt, _ := m["runtime"].(map[string]any)
	if _, ok := m["messages_delivered"]; !ok || rt == nil || rt["delivery_queue_cap"] != float64(node.DefaultDeliveryQueue) {
		t.Fatalf("stats JSON: %s", b)
	}
}

// A node whose frames waited more than half the graft timeout before it
// took them (a starved CPU: the queue need not be full) is overloaded: it
// pulls nothing while that lasts, and pulls again once frames come in
// without waiting.
func TestLateFramesHoldPulls(t *testing.T) {
	n, tr, clk, cfg := manualNode(t)
	missing := core.MessageID{Origin: "c", Seq: 1}
	frame := func(m core.Message, received time.Time) node.Frame {
		b, err := wire.AppendFrame(nil, &m)
		if err != nil {
			t.Fatal(err)
		}
		return node.Frame{From: "b", Data: b, Received: received}
	}
	// The announcement waited an hour in the queue.
	tr.in <- frame(core.Message{Type: core.MsgIHave, IHaves: []core.Announcement{{ID: missing, Hops: 1, OriginTime: clk.Now()}}}, time.Now().Add(-time.Hour))
	waitFor(t, 5*time.Second, "the announcement to be pending", func() bool { return n.Stats().PendingGrafts == 1 })
	grafted := func() bool {
		for _, s := range tr.sentOf(core.MsgGraft) {
			if slices.Contains(s.msg.IDs, missing) {
				return true
			}
		}
		return false
	}
	clk.Advance(2 * cfg.GraftTimeout)
	waitFor(t, 5*time.Second, "the due Graft to be deferred", func() bool { return n.Stats().GraftsDeferred > 0 })
	if grafted() {
		t.Fatal("a node behind on its frames pulled")
	}
	// A frame that did not wait: the node keeps up again and pulls.
	tr.in <- frame(core.Message{Type: core.MsgIHave, IHaves: []core.Announcement{{ID: core.MessageID{Origin: "c", Seq: 2}, Hops: 1, OriginTime: clk.Now()}}}, time.Now())
	waitFor(t, 5*time.Second, "the second announcement", func() bool { return n.Stats().PendingGrafts == 2 })
	for k := 0; !grafted(); k++ {
		if k > 20 {
			t.Fatal("no Graft after the node caught up")
		}
		clk.Advance(cfg.GraftTimeout)
		_ = n.Stats() // a round trip through the protocol goroutine
	}
}

// A node with nothing to do arms its timer only for the maintenance round:
// moved along in small steps over many rounds, its timer fires once per
// round (never for nothing in between), and it wakes for nothing else.
func TestIdleNodeWakesOncePerMaintenance(t *testing.T) {
	n, _, clk, cfg := manualNode(t)
	if err := n.AddPeer("c"); err != nil {
		t.Fatal(err)
	}
	s0 := n.Stats().Runtime
	const rounds = 40
	step := cfg.MaintenanceInterval / 10
	steps := 0
	for elapsed := time.Duration(0); elapsed < rounds*cfg.MaintenanceInterval; elapsed += step {
		clk.Advance(step)
		steps++
		if at, ok := clk.Armed(); !ok {
			// Only while the protocol goroutine handles a fire: wait for
			// it to arm the next round.
			waitFor(t, 30*time.Second, "the timer to be armed again", func() bool { _, ok := clk.Armed(); return ok })
		} else if d := at.Sub(clk.Now()); d > cfg.MaintenanceInterval+cfg.MaintenanceJitter {
			t.Fatalf("timer armed %v ahead, beyond one maintenance interval", d)
		}
	}
	s1 := n.Stats().Runtime
	fires := s1.TimerFires - s0.TimerFires
	// Rounds are MaintenanceInterval ± MaintenanceJitter apart.
	most := uint64(rounds*cfg.MaintenanceInterval/(cfg.MaintenanceInterval-cfg.MaintenanceJitter)) + 1
	least := uint64(rounds*cfg.MaintenanceInterval/(cfg.MaintenanceInterval+cfg.MaintenanceJitter)) - 1
	if fires < least || fires > most {
		t.Fatalf("timer fired %d times in %d maintenance intervals, want %d..%d", fires, rounds, least, most)
	}
	// Besides the fires, only the last Stats call woke it.
	if other := s1.Wakeups - s0.Wakeups - fires; other != 1 {
		t.Fatalf("%d wake-ups besides %d timer fires and one call, want 1", other, fires)
	}
	t.Logf("%d timer fires in %d maintenance intervals (%d steps)", fires, rounds, steps)
}

// kindObserver records what it observes; with kinds set it implements
// node.EventFilter.
type kindObserver struct {
	mu      sync.Mutex
	batches int
	kinds   map[core.EventKind]int
}

func (o *kindObserver) Observe(events []core.Event) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.batches++
	for _, e := range events {
		o.kinds[e.Kind]++
	}
}

func (o *kindObserver) seen() (int, map[core.EventKind]int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.batches, maps.Clone(o.kinds)
}

type filteringObserver struct{ *kindObserver }

func (filteringObserver) Observes(k core.EventKind) bool { return k == core.EventGraftFailed }

// Observers that implement EventFilter get only the kinds they want, and
// are not woken for a protocol step without one: an idle node's maintenance
// rounds reach a plain observer, not a filtering one.
func TestEventFilter(t *testing.T) {
	for _, filtering := range []bool{false, true} {
		t.Run(fmt.Sprint("filtering=", filtering), func(t *testing.T) {
			clk := newManualClock()
			tr := newChanTransport()
			cfg := testConfig(1)
			rec := &kindObserver{kinds: map[core.EventKind]int{}}
			var ob node.Observer = rec
			if filtering {
				ob = filteringObserver{rec}
			}
			n, err := node.New(cfg, "a", tr, nil, node.WithClock(clk), node.WithObserver(ob))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { n.Shutdown(context.Background()) })
			for _, p := range []core.PeerID{"b", "c"} {
				if err := n.AddPeer(p); err != nil {
					t.Fatal(err)
				}
			}
			// Idle maintenance rounds: digests go out.
			for range 20 {
				clk.Advance(cfg.MaintenanceInterval)
				_ = n.Stats()
			}
			waitFor(t, 30*time.Second, "digests", func() bool { return n.Stats().DigestSent > 0 })
			// A pull that fails: an IHave whose Grafts nobody answers.
			missing := core.MessageID{Origin: "o", Seq: 1}
			tr.inject(t, "b", core.Message{Type: core.MsgIHave, IHaves: []core.Announcement{{ID: missing, Hops: 1, OriginTime: clk.Now()}}})
			waitFor(t, 30*time.Second, "the graft to fail", func() bool {
				clk.Advance(cfg.GraftTimeout)
				return n.Stats().GraftFailed > 0
			})
			waitFor(t, 30*time.Second, "the failure to be observed", func() bool {
				_, kinds := rec.seen()
				return kinds[core.EventGraftFailed] > 0
			})
			batches, kinds := rec.seen()
			if !filtering {
				if kinds[core.EventDigestSent] == 0 {
					t.Fatalf("plain observer saw %v, no digest sent", kinds)
				}
				return
			}
			if len(kinds) != 1 || batches != 1 {
				t.Fatalf("filtering observer: %d batches of %v, want one of graft_failed only", batches, kinds)
			}
		})
	}
}
