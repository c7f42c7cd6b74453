package node

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
)

func testNode(queue, ovLimit int, logBuf *bytes.Buffer) *Node {
	return &Node{
		dq:      make(chan item, queue),
		ovLimit: ovLimit,
		log:     slog.New(slog.NewTextHandler(logBuf, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

// Every event that maps to a delegate hook is queued, in order; only the
// two log lines of the operations guide are written, with its exact text.
func TestHandleEvents(t *testing.T) {
	var buf bytes.Buffer
	n := testNode(16, 16, &buf)
	id := core.MessageID{Origin: "o", Seq: 42}
	n.handleEvents([]core.Event{
		{Kind: core.EventPeerPromoted, Peer: "p1", Reason: core.ReasonGraftSent},
		{Kind: core.EventPeerDemoted, Peer: "p2", Reason: core.ReasonOptimization},
		{Kind: core.EventPeerDemoted, Peer: "p3", Reason: core.ReasonPruneReceived},
		{Kind: core.EventGraftSent, Peer: "p4", ID: id},
		{Kind: core.EventPruneSent, Peer: "p5"},
		{Kind: core.EventGraftFailed, ID: id, Retries: 5},
		{Kind: core.EventDelivered, Peer: "p6", ID: id},
		{Kind: core.EventDuplicate, Peer: "p6", ID: id},
	})
	want := []item{
		hook(itemPromote, "p1", core.MessageID{}, 0),
		hook(itemDemote, "p2", core.MessageID{}, 0),
		hook(itemDemote, "p3", core.MessageID{}, 0),
		hook(itemGraftSent, "p4", id, 0),
		hook(itemPruneSent, "p5", core.MessageID{}, 0),
		hook(itemGraftFailed, "", id, 5),
	}
	if len(n.dq) != len(want) {
		t.Fatalf("%d items queued, want %d", len(n.dq), len(want))
	}
	for i, w := range want {
		if got := <-n.dq; got.kind != w.kind || got.d.From != w.d.From || got.d.ID != w.d.ID || got.retries != w.retries {
			t.Errorf("item %d = %+v, want %+v", i, got, w)
		}
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	wantLines := []string{
		`level=DEBUG msg="Demoting peer p2 to lazy (optimization threshold reached)" peer=p2`,
		`level=WARN msg="Graft failed for message o/42 after 5 retries" msg_id=o/42 retries=5`,
	}
	if len(lines) != len(wantLines) {
		t.Fatalf("log:\n%s", buf.String())
	}
	for i, w := range wantLines {
		if !strings.HasSuffix(lines[i], w) {
			t.Errorf("line %d = %q, want suffix %q", i, lines[i], w)
		}
	}
}

// The protocol goroutine never blocks on the delegate: beyond the queue,
// items go to the overflow; deliveries are never dropped, hooks only beyond
// twice the overflow limit.
func TestEnqueueOverflow(t *testing.T) {
	var buf bytes.Buffer
	n := testNode(2, 3, &buf)
	deliver := func(seq uint64) item {
		return item{kind: itemDeliver, d: core.Delivery{ID: core.MessageID{Origin: "o", Seq: seq}}}
	}
	for i := range 10 {
		n.enqueue(deliver(uint64(i)))
	}
	if len(n.dq) != 2 || n.ovLen() != 8 || n.c.overflowLen.Load() != 8 {
		t.Fatalf("queue %d overflow %d", len(n.dq), n.ovLen())
	}
	n.enqueue(hook(itemPruneSent, "p", core.MessageID{}, 0)) // overflow 8 >= 2*3: dropped
	if n.ovLen() != 8 || n.c.hookDrops.Load() != 1 {
		t.Fatalf("hook not dropped: overflow %d drops %d", n.ovLen(), n.c.hookDrops.Load())
	}
	// Drain in order: the queue first, then the overflow as room frees.
	for want := range 10 {
		got := <-n.dq
		if got.d.ID.Seq != uint64(want) {
			t.Fatalf("got seq %d, want %d", got.d.ID.Seq, want)
		}
		n.refill()
	}
	if n.ovLen() != 0 || len(n.dq) != 0 || n.c.overflowLen.Load() != 0 {
		t.Fatalf("left: queue %d overflow %d", len(n.dq), n.ovLen())
	}
	// With the overflow empty, items go straight to the queue again.
	n.enqueue(hook(itemPruneSent, "p", core.MessageID{}, 0))
	if len(n.dq) != 1 || n.ovLen() != 0 {
		t.Fatalf("queue %d overflow %d", len(n.dq), n.ovLen())
	}
}

func TestSameGossip(t *testing.T) {
	payload := []byte("payload")
	headers := []core.Header{{Key: "k", Value: "v"}}
	id := core.MessageID{Origin: "o", Seq: 1}
	base := core.Message{Type: core.MsgGossip, ID: id, Hops: 2, Payload: payload, Headers: headers}
	tests := []struct {
		name string
		b    core.Message
		want bool
	}{
		{"same", base, true},
		{"other hops", core.Message{Type: core.MsgGossip, ID: id, Hops: 3, Payload: payload, Headers: headers}, false},
		{"other id", core.Message{Type: core.MsgGossip, ID: core.MessageID{Origin: "o", Seq: 2}, Hops: 2, Payload: payload, Headers: headers}, false},
		{"copied payload", core.Message{Type: core.MsgGossip, ID: id, Hops: 2, Payload: []byte("payload"), Headers: headers}, false},
		{"other headers", core.Message{Type: core.MsgGossip, ID: id, Hops: 2, Payload: payload}, false},
		{"ihave", core.Message{Type: core.MsgIHave}, false},
	}
	for _, tt := range tests {
		if got := sameGossip(&base, &tt.b); got != tt.want {
			t.Errorf("%s: %v", tt.name, got)
		}
	}
}

// RecordRTT neither waits for nor wakes the protocol goroutine: the samples
// ride on its next wake-up, and are given to the protocol before that
// wake-up's work (a call made after RecordRTT sees them).
func TestRecordRTTRidesNextWakeup(t *testing.T) {
	clk := NewManualClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	cfg := core.LANConfig()
	cfg.Seed = 1
	n, err := New(cfg, "a", newIdleTransport(), nil, WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Shutdown(context.Background()) })
	if err := n.AddPeer("b"); err != nil {
		t.Fatal(err)
	}
	w0 := n.Stats().Runtime.Wakeups
	for i := range 10 {
		n.RecordRTT("b", time.Duration(i+1)*time.Millisecond)
	}
	var pending int
	n.call(func(time.Time) {
		n.rttMu.Lock()
		pending = len(n.rttPend)
		n.rttMu.Unlock()
	})
	if pending != 0 {
		t.Fatalf("%d RTT samples still queued when a later call ran", pending)
	}
	// Stats, RecordRTT ×10, call, Stats: the two calls woke the goroutine
	// (the manual clock does not move: no timer), the samples did not.
	if got := n.Stats().Runtime.Wakeups - w0; got != 2 {
		t.Fatalf("%d wake-ups for 10 RTT samples and two calls, want 2", got)
	}
}

// The queue of RTT samples is bounded while the protocol goroutine sleeps.
func TestRecordRTTBounded(t *testing.T) {
	clk := NewManualClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	n, err := New(core.LANConfig(), "a", newIdleTransport(), nil, WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Shutdown(context.Background()) })
	for range 3 * maxPendingRTT {
		n.RecordRTT("b", time.Millisecond)
	}
	n.rttMu.Lock()
	l := len(n.rttPend)
	n.rttMu.Unlock()
	if l > maxPendingRTT {
		t.Fatalf("%d samples queued, bound %d", l, maxPendingRTT)
	}
}

// idleTransport receives nothing and accepts every frame.
type idleTransport struct {
	in   chan Frame
	once sync.Once
}

func newIdleTransport() *idleTransport { return &idleTransport{in: make(chan Frame)} }

func (t *idleTransport) Send(core.PeerID, []byte) error { return nil }
func (t *idleTransport) Receive() <-chan Frame          { return t.in }
func (t *idleTransport) Close() error                   { t.once.Do(func() { close(t.in) }); return nil }
