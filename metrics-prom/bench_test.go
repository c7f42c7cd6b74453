package metricsprom

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkReceiveGossipNew measures the protocol's hot path — a first copy
// of a message received from a peer, delivered and pushed to 3 eager and 6
// lazy peers, then drained — with and without the Collector observing the
// events. The runtime does the same per protocol step (core/node hands
// Output.Events to its observers).
//
//	go test -run='^$' -bench=ReceiveGossipNew -count=5 .
func BenchmarkReceiveGossipNew(b *testing.B) {
	for _, on := range []bool{false, true} {
		b.Run(fmt.Sprintf("metrics=%v", map[bool]string{false: "off", true: "on"}[on]), func(b *testing.B) {
			var observe func([]core.Event)
			if on {
				c := New(WithNode("bench"))
				reg := prometheus.NewRegistry()
				reg.MustRegister(c)
				observe = c.Observe
			}
			benchReceive(b, observe)
		})
	}
}

// BenchmarkReceiveGossipNewPaired runs the two variants of
// BenchmarkReceiveGossipNew in alternating chunks of 256 steps within one
// benchmark, so that both see the same load on a shared machine, and reports
// each one's ns per step and the overhead of metrics in percent (chunks
// alternate their order as well).
func BenchmarkReceiveGossipNewPaired(b *testing.B) {
	c := New(WithNode("bench"))
	off, on := newReceiver(b, nil), newReceiver(b, c.Observe)
	b.ReportAllocs()
	b.ResetTimer()
	for done, chunk := 0, 0; done < b.N; chunk++ {
		k := min(256, b.N-done)
		first, second := off, on
		if chunk%2 == 1 { // alternate the order too
			first, second = on, off
		}
		start := time.Now()
		first.steps(k)
		mid := time.Now()
		second.steps(k)
		end := time.Now()
		first.chunks = append(first.chunks, float64(mid.Sub(start).Nanoseconds())/float64(k))
		second.chunks = append(second.chunks, float64(end.Sub(mid).Nanoseconds())/float64(k))
		done += k
	}
	reportPaired(b, off.chunks, on.chunks)
}

// receiver is a core.Protocol with 3 eager and 6 lazy peers receiving first
// copies from peer-0.
type receiver struct {
	p       *core.Protocol
	now     time.Time
	seq     uint64
	payload []byte
	observe func([]core.Event)
	chunks  []float64 // ns per step of each timed chunk
}

func newReceiver(b *testing.B, observe func([]core.Event)) *receiver {
	cfg := core.DefaultConfig()
	r := &receiver{now: time.Unix(1_700_000_000, 0), payload: make([]byte, 1024), observe: observe}
	p, err := core.New(cfg, "self", nil, r.now)
	if err != nil {
		b.Fatal(err)
	}
	for i := range cfg.EagerFanout + cfg.LazyFanout {
		p.AddPeer(r.now, core.PeerID(fmt.Sprintf("peer-%d", i)))
	}
	p.Drain()
	r.p = p
	// Run to the steady state first: the seen set and the store full and
	// evicting, so the cost per step no longer depends on b.N.
	r.steps(cfg.SeenMaxSize + cfg.MessageCacheMaxSize)
	return r
}

func (r *receiver) steps(n int) {
	for range n {
		r.now = r.now.Add(time.Microsecond)
		if d := r.p.NextDeadline(); !d.IsZero() && !r.now.Before(d) {
			r.p.Tick(r.now)
		}
		r.seq++
		r.p.Receive(r.now, "peer-0", core.Message{
			Type:       core.MsgGossip,
			ID:         core.MessageID{Origin: "origin", Seq: r.seq},
			OriginTime: r.now,
			Hops:       1,
			Payload:    r.payload,
		})
		out := r.p.Drain()
		if r.observe != nil {
			r.observe(out.Events)
		}
	}
}

func benchReceive(b *testing.B, observe func([]core.Event)) {
	r := newReceiver(b, observe)
	b.ReportAllocs()
	b.ResetTimer()
	r.steps(b.N)
}

// BenchmarkObserve measures Collector.Observe alone on the events of one
// BenchmarkReceiveGossipNew step: the whole cost metrics add to the hot path.
func BenchmarkObserve(b *testing.B) {
	cfg := core.DefaultConfig()
	now := time.Unix(1_700_000_000, 0)
	p, err := core.New(cfg, "self", nil, now)
	if err != nil {
		b.Fatal(err)
	}
	for i := range cfg.EagerFanout + cfg.LazyFanout {
		p.AddPeer(now, core.PeerID(fmt.Sprintf("peer-%d", i)))
	}
	p.Drain()
	p.Receive(now, "peer-0", core.Message{Type: core.MsgGossip, ID: core.MessageID{Origin: "origin", Seq: 1}, OriginTime: now, Hops: 1, Payload: make([]byte, 1024)})
	events := append([]core.Event(nil), p.Drain().Events...)
	c := New(WithNode("bench"))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		c.Observe(events)
	}
	b.ReportMetric(float64(len(events)), "events/op")
}

// reportPaired reports the median ns per step of each variant's chunks and
// the overhead of the second in percent. Medians, not sums: a chunk that
// lost the CPU to another process says nothing about either variant.
func reportPaired(b *testing.B, off, on []float64) {
	if len(off) == 0 {
		return
	}
	mOff, mOn := median(off), median(on)
	b.ReportMetric(mOff, "off-ns/step")
	b.ReportMetric(mOn, "on-ns/step")
	b.ReportMetric(100*(mOn/mOff-1), "overhead-%")
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
