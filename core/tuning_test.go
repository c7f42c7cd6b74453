package core_test

import (
	"errors"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
)

func TestSetTuningBounds(t *testing.T) {
	c := core.LANConfig() // graft 200 ms, ihave 100 ms / 32
	tests := []struct {
		name    string
		in      core.Tuning
		want    core.Tuning
		wantErr bool
	}{
		{"zero leaves all", core.Tuning{}, core.Tuning{GraftTimeout: ms(200), IHaveInterval: ms(100), IHaveBatchSize: 32}, false},
		{"within bounds", core.Tuning{GraftTimeout: ms(700), IHaveInterval: ms(90), IHaveBatchSize: 40}, core.Tuning{GraftTimeout: ms(700), IHaveInterval: ms(90), IHaveBatchSize: 40}, false},
		// The batch is never tuned below the configuration (a batch of 2
		// sent a frame every other message on every lazy link).
		{"below floor clamped", core.Tuning{GraftTimeout: ms(5), IHaveInterval: time.Microsecond, IHaveBatchSize: 2}, core.Tuning{GraftTimeout: ms(200), IHaveInterval: ms(25), IHaveBatchSize: 32}, false},
		{"above ceiling clamped", core.Tuning{GraftTimeout: time.Hour, IHaveInterval: time.Hour, IHaveBatchSize: 1 << 30}, core.Tuning{GraftTimeout: ms(1600), IHaveInterval: ms(400), IHaveBatchSize: core.MaxIHaveBatch}, false},
		{"negative rejected", core.Tuning{GraftTimeout: -1, IHaveBatchSize: 20}, core.Tuning{GraftTimeout: ms(200), IHaveInterval: ms(100), IHaveBatchSize: 32}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := core.New(c, "me", nil, t0)
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.SetTuning(t0, tc.in)
			if (err != nil) != tc.wantErr || (err != nil && !errors.Is(err, core.ErrInvalidConfig)) {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if got != tc.want || p.Tuning() != tc.want {
				t.Fatalf("got %+v (Tuning %+v), want %+v", got, p.Tuning(), tc.want)
			}
		})
	}
}

// The graft timeout set by SetTuning is the one the graft timers use.
func TestSetTuningGraftTimeout(t *testing.T) {
	for _, gt := range []time.Duration{0, ms(1200)} {
		p := fixture(t, nil) // default: graft timeout 500 ms
		if _, err := p.SetTuning(t0, core.Tuning{GraftTimeout: gt}); err != nil {
			t.Fatal(err)
		}
		want := ms(500)
		if gt > 0 {
			want = gt
		}
		p.Receive(t0, "l0", ihave(ann("x", 1, 1)))
		p.Drain()
		if d := p.NextDeadline(); !d.Equal(t0.Add(want)) {
			t.Fatalf("tuning %v: deadline %v after the IHave, want %v", gt, d.Sub(t0), want)
		}
		p.Tick(t0.Add(want - time.Millisecond))
		if g := msgs(p.Drain(), core.MsgGraft); len(g) != 0 {
			t.Fatalf("tuning %v: Graft before the timeout", gt)
		}
		p.Tick(t0.Add(want))
		if g := msgs(p.Drain(), core.MsgGraft); len(g) != 1 {
			t.Fatalf("tuning %v: %d Grafts at the timeout, want 1", gt, len(g))
		}
		// The retry waits the configured timeout (500 ms, doubling after),
		// not from the tuned one.
		if d := p.NextDeadline(); !d.Equal(t0.Add(want + ms(500))) {
			t.Fatalf("tuning %v: retry %v after the Graft, want 500ms", gt, d.Sub(t0.Add(want)))
		}
	}
}

// The IHave batch size set by SetTuning flushes queues early.
func TestSetTuningIHaveBatch(t *testing.T) {
	p := fixture(t, func(c *core.Config) { c.IHaveBatchSize = 1 })
	if _, err := p.SetTuning(t0, core.Tuning{IHaveBatchSize: 2}); err != nil {
		t.Fatal(err)
	}
	p.Receive(t0, "e0", gossip("x", 1, 1))
	if n := len(msgs(p.Drain(), core.MsgIHave)); n != 0 {
		t.Fatalf("%d IHaves after one message, want 0 (queued)", n)
	}
	p.Receive(t0, "e0", gossip("x", 2, 1))
	if n := len(msgs(p.Drain(), core.MsgIHave)); n != 6 {
		t.Fatalf("%d IHaves after the second message, want 6 (one per lazy peer, batch of 2)", n)
	}
}

// EventIHaveLag reports how late the first copy came after the first
// announcement, unless it is the answer to our Graft.
func TestIHaveLagEvent(t *testing.T) {
	p := fixture(t, nil)
	p.Receive(t0, "l0", ihave(ann("x", 1, 1)))
	p.Receive(t0.Add(ms(30)), "l1", ihave(ann("x", 1, 1)))
	p.Drain()
	p.Receive(t0.Add(ms(120)), "e0", gossip("x", 1, 3))
	lags := events(p.Drain(), core.EventIHaveLag)
	if len(lags) != 1 || lags[0].Latency != ms(120) || lags[0].Peer != "e0" || lags[0].Retries != 0 {
		t.Fatalf("lag events %+v, want one of 120 ms from e0", lags)
	}

	// Grafted, answered by the Graft's target: a graft success, no lag.
	p.Receive(t0.Add(time.Second), "l0", ihave(ann("x", 2, 1)))
	p.Tick(t0.Add(time.Second + ms(500)))
	g := msgs(p.Drain(), core.MsgGraft)
	if len(g) != 1 {
		t.Fatalf("%d Grafts, want 1", len(g))
	}
	p.Receive(t0.Add(time.Second+ms(510)), g[0].To, gossip("x", 2, 2))
	out := p.Drain()
	if n := len(events(out, core.EventIHaveLag)); n != 0 {
		t.Fatalf("%d lag events for a Graft's answer, want 0", n)
	}
	if s := events(out, core.EventGraftSuccess); len(s) != 1 || s[0].Latency != ms(10) {
		t.Fatalf("graft success %+v, want one of 10 ms", s)
	}

	// Grafted, but the tree's copy beats the answer: a lag beyond the
	// timeout (the Graft was spurious).
	p.Receive(t0.Add(2*time.Second), "l2", ihave(ann("x", 3, 1)))
	p.Tick(t0.Add(2*time.Second + ms(500)))
	p.Drain()
	p.Receive(t0.Add(2*time.Second+ms(600)), "e1", gossip("x", 3, 4))
	if lags := events(p.Drain(), core.EventIHaveLag); len(lags) != 1 || lags[0].Latency != ms(600) || lags[0].Retries != 1 {
		t.Fatalf("lag events %+v, want one of 600 ms after 1 Graft", lags)
	}
}

// IHaveFanout bounds the lazy peers each message is announced to; 0
// announces to all.
func TestIHaveFanout(t *testing.T) {
	for _, tc := range []struct{ fanout, want int }{{0, 6}, {2, 2}, {6, 6}, {10, 6}} {
		p := fixture(t, func(c *core.Config) { c.IHaveFanout = tc.fanout; c.IHaveBatchSize = 1 })
		seen := map[core.PeerID]bool{}
		for seq := uint64(1); seq <= 20; seq++ {
			p.Receive(t0, "e0", gossip("x", seq, 1))
			ih := msgs(p.Drain(), core.MsgIHave)
			if len(ih) != tc.want {
				t.Fatalf("fanout %d: message %d announced to %d peers, want %d", tc.fanout, seq, len(ih), tc.want)
			}
			for _, m := range ih {
				seen[m.To] = true
			}
		}
		if len(seen) != 6 {
			t.Fatalf("fanout %d: announced to %d distinct lazy peers over 20 messages, want all 6 (a random subset per message)", tc.fanout, len(seen))
		}
	}
}
