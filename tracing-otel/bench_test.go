package tracingotel_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
	tracingotel "github.com/plumtree-go/plumtree/tracing-otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// BenchmarkReceiveGossipNew measures the protocol's hot path — a first copy
// of a message received from a peer, delivered and pushed to 3 eager and 6
// lazy peers, then drained — with the Tracer's forward hook and observer:
//
//   - off: no hook, no observer.
//
//   - on-unsampled: an SDK provider that samples nothing, so origins add no
//     trace context and the hook only looks for one (the 10 % budget).
//
//   - on-sampled: every message carries a sampled trace context and every
//     node records a deliver span (for reference; spans go to a no-op
//     exporter).
//
//     go test -run='^$' -bench=ReceiveGossipNew -count=5 .
func BenchmarkReceiveGossipNew(b *testing.B) {
	never := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.NeverSample())))
	always := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()),
		sdktrace.WithSyncer(tracetest.NewNoopExporter()))
	b.Cleanup(func() {
		_ = never.Shutdown(context.Background())
		_ = always.Shutdown(context.Background())
	})

	b.Run("tracing=off", func(b *testing.B) { benchReceive(b, nil, nil) })
	b.Run("tracing=on-unsampled", func(b *testing.B) {
		tr := tracingotel.New(never, tracingotel.WithNode("self"))
		benchReceive(b, tr, tr.Inject(context.Background())) // nil: nothing sampled
	})
	b.Run("tracing=on-sampled", func(b *testing.B) {
		tr := tracingotel.New(always, tracingotel.WithNode("self"))
		benchReceive(b, tr, tracingotel.New(always).Inject(context.Background()))
	})
}

// BenchmarkReceiveGossipNewPaired runs tracing=off and tracing=on-unsampled
// of BenchmarkReceiveGossipNew in alternating chunks of 256 steps (in
// alternating order) within one benchmark, so that both see the same load
// on a shared machine, and reports each one's ns per step and the overhead
// in percent.
func BenchmarkReceiveGossipNewPaired(b *testing.B) {
	never := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.NeverSample())))
	b.Cleanup(func() { _ = never.Shutdown(context.Background()) })
	tr := tracingotel.New(never, tracingotel.WithNode("self"))
	off, on := newReceiver(b, nil, nil), newReceiver(b, tr, tr.Inject(context.Background()))
	b.ReportAllocs()
	b.ResetTimer()
	for done, chunk := 0, 0; done < b.N; chunk++ {
		k := min(256, b.N-done)
		first, second := off, on
		if chunk%2 == 1 {
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
// copies from peer-0, optionally traced.
type receiver struct {
	p       *core.Protocol
	tr      *tracingotel.Tracer
	headers []core.Header
	now     time.Time
	seq     uint64
	payload []byte
	chunks  []float64 // ns per step of each timed chunk
}

func newReceiver(b *testing.B, tr *tracingotel.Tracer, headers []core.Header) *receiver {
	cfg := core.DefaultConfig()
	r := &receiver{tr: tr, headers: headers, now: time.Unix(1_700_000_000, 0), payload: make([]byte, 1024)}
	p, err := core.New(cfg, "self", nil, r.now)
	if err != nil {
		b.Fatal(err)
	}
	if tr != nil {
		p.SetForwardHook(tr.Forward)
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
		var hs []core.Header
		if r.headers != nil {
			hs = append(hs, r.headers...) // the protocol owns what it receives
		}
		r.seq++
		r.p.Receive(r.now, "peer-0", core.Message{
			Type:       core.MsgGossip,
			ID:         core.MessageID{Origin: "origin", Seq: r.seq},
			OriginTime: r.now,
			Hops:       1,
			Payload:    r.payload,
			Headers:    hs,
		})
		out := r.p.Drain()
		if r.tr != nil {
			r.tr.Observe(out.Events)
		}
	}
}

func benchReceive(b *testing.B, tr *tracingotel.Tracer, headers []core.Header) {
	r := newReceiver(b, tr, headers)
	b.ReportAllocs()
	b.ResetTimer()
	r.steps(b.N)
}

// BenchmarkHooksUnsampled measures the Tracer alone on one
// BenchmarkReceiveGossipNew step with tracing on but not sampling: the
// forward hook on a message without trace context plus Observe on the step's
// events. It is the whole cost tracing adds to the hot path.
func BenchmarkHooksUnsampled(b *testing.B) {
	never := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.NeverSample())))
	b.Cleanup(func() { _ = never.Shutdown(context.Background()) })
	tr := tracingotel.New(never, tracingotel.WithNode("self"))
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
	d := core.Delivery{ID: core.MessageID{Origin: "origin", Seq: 1}, From: "peer-0", Hops: 1, Payload: make([]byte, 1024)}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		tr.Forward(d)
		tr.Observe(events)
	}
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
