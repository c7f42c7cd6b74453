package tracingotel_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
	tracingotel "github.com/plumtree-go/plumtree/tracing-otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// newProvider returns an SDK provider that exports synchronously to an
// in-memory exporter.
func newProvider(s sdktrace.Sampler) (*sdktrace.TracerProvider, *tracetest.InMemoryExporter) {
	exp := tracetest.NewInMemoryExporter()
	return sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithSampler(s)), exp
}

func attr(s tracetest.SpanStub, k attribute.Key) attribute.Value {
	for _, kv := range s.Attributes {
		if kv.Key == k {
			return kv.Value
		}
	}
	return attribute.Value{}
}

func header(hs []core.Header, key string) string {
	for _, h := range hs {
		if h.Key == key {
			return h.Value
		}
	}
	return ""
}

func TestHeaderCarrier(t *testing.T) {
	hs := []core.Header{{Key: "a", Value: "1"}, {Key: "Traceparent", Value: "old"}}
	c := tracingotel.HeaderCarrier{Headers: &hs}
	if got := c.Get("traceparent"); got != "old" {
		t.Errorf("Get is case-insensitive: got %q", got)
	}
	c.Set("traceparent", "new")
	c.Set("tracestate", "k=v")
	if len(hs) != 3 || hs[1].Value != "new" || hs[2] != (core.Header{Key: "tracestate", Value: "k=v"}) {
		t.Errorf("Set: %v", hs)
	}
	if got := c.Keys(); len(got) != 3 || got[0] != "a" {
		t.Errorf("Keys: %v", got)
	}
	if c.Get("missing") != "" {
		t.Error("Get of a missing key")
	}
}

func TestInjectOff(t *testing.T) {
	never, exp := newProvider(sdktrace.NeverSample())
	for _, tc := range []struct {
		name string
		tp   trace.TracerProvider
	}{
		{"noop provider", noop.NewTracerProvider()},
		{"never sample", never},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := tracingotel.New(tc.tp)
			if hs := tr.Inject(context.Background()); hs != nil {
				t.Errorf("Inject = %v, want no headers", hs)
			}
			ctx, span := tr.StartBroadcast(context.Background())
			if hs := tr.Inject(ctx); hs != nil {
				t.Errorf("Inject(StartBroadcast) = %v, want no headers", hs)
			}
			tracingotel.EndBroadcast(span, core.MessageID{Origin: "a", Seq: 1}, nil)
		})
	}
	if n := len(exp.GetSpans()); n != 0 {
		t.Errorf("%d spans exported with sampling off", n)
	}
}

func TestInjectStartsBroadcastSpan(t *testing.T) {
	tp, exp := newProvider(sdktrace.AlwaysSample())
	tr := tracingotel.New(tp, tracingotel.WithNode("a"))

	// A caller's span becomes the broadcast span's parent.
	ctx, parent := tp.Tracer("app").Start(context.Background(), "request")
	hs := tr.Inject(ctx)
	parent.End()
	tparent := header(hs, "traceparent")
	if tparent == "" {
		t.Fatalf("no traceparent in %v", hs)
	}
	spans := exp.GetSpans()
	var b tracetest.SpanStub
	for _, s := range spans {
		if s.Name == tracingotel.SpanBroadcast {
			b = s
		}
	}
	if b.Name == "" {
		t.Fatalf("no broadcast span in %v", spans)
	}
	if b.Parent.SpanID() != parent.SpanContext().SpanID() || b.SpanContext.TraceID() != parent.SpanContext().TraceID() {
		t.Error("broadcast span is not a child of the caller's span")
	}
	if b.SpanKind != trace.SpanKindProducer || attr(b, tracingotel.AttrNode).AsString() != "a" {
		t.Errorf("broadcast span: kind %v, attrs %v", b.SpanKind, b.Attributes)
	}
	want := "00-" + b.SpanContext.TraceID().String() + "-" + b.SpanContext.SpanID().String() + "-01"
	if tparent != want {
		t.Errorf("traceparent = %q, want %q", tparent, want)
	}
}

func TestStartEndBroadcast(t *testing.T) {
	tp, exp := newProvider(sdktrace.AlwaysSample())
	tr := tracingotel.New(tp)
	ctx, span := tr.StartBroadcast(context.Background())
	hs := tr.Inject(ctx)
	id := core.MessageID{Origin: "a", Seq: 7}
	tracingotel.EndBroadcast(span, id, nil)
	_, span2 := tr.StartBroadcast(context.Background())
	tracingotel.EndBroadcast(span2, core.MessageID{}, errors.New("core: message too large"))

	spans := exp.GetSpans()
	if len(spans) != 2 {
		t.Fatalf("%d spans, want 2 (Inject must reuse the StartBroadcast span)", len(spans))
	}
	if header(hs, "traceparent") == "" || !spans[0].SpanContext.Equal(span.SpanContext()) {
		t.Error("Inject did not carry the StartBroadcast span")
	}
	if got := attr(spans[0], tracingotel.AttrMessageID).AsString(); got != "a/7" {
		t.Errorf("message id attribute = %q", got)
	}
	if spans[1].Status.Code != codes.Error {
		t.Errorf("failed broadcast status = %v", spans[1].Status)
	}
}

func TestForwardWithoutTraceContext(t *testing.T) {
	tp, exp := newProvider(sdktrace.AlwaysSample())
	tr := tracingotel.New(tp)
	in := []core.Header{{Key: "app", Value: "x"}}
	out := tr.Forward(core.Delivery{ID: core.MessageID{Origin: "a", Seq: 1}, From: "a", Hops: 1, Headers: in})
	if len(out) != 1 || &out[0] != &in[0] {
		t.Errorf("Forward changed headers without trace context: %v", out)
	}
	if out := tr.Forward(core.Delivery{}); out != nil {
		t.Errorf("Forward(nil headers) = %v", out)
	}
	if n := len(exp.GetSpans()); n != 0 {
		t.Errorf("%d spans for untraced messages", n)
	}
}

func TestForwardChainsSpans(t *testing.T) {
	tp, exp := newProvider(sdktrace.AlwaysSample())
	origin := tracingotel.New(tp, tracingotel.WithNode("a"))
	relay := tracingotel.New(tp, tracingotel.WithNode("b"))
	leaf := tracingotel.New(tp, tracingotel.WithNode("c"))

	id := core.MessageID{Origin: "a", Seq: 1}
	h0 := append([]core.Header{{Key: "app", Value: "x"}}, origin.Inject(context.Background())...)
	keep := append([]core.Header(nil), h0...)
	h1 := relay.Forward(core.Delivery{ID: id, From: "a", Hops: 1, Payload: []byte("p"), Headers: h0})
	h2 := leaf.Forward(core.Delivery{ID: id, From: "b", Hops: 2, Payload: []byte("p"), Headers: h1})

	for i := range keep {
		if h0[i] != keep[i] {
			t.Fatalf("Forward modified its input headers: %v", h0)
		}
	}
	if header(h1, "app") != "x" || header(h2, "app") != "x" {
		t.Error("application headers lost")
	}
	spans := exp.GetSpans()
	if len(spans) != 3 {
		t.Fatalf("%d spans, want broadcast + 2 deliver", len(spans))
	}
	b, d1, d2 := spans[0], spans[1], spans[2]
	for _, s := range spans[1:] {
		if s.Name != tracingotel.SpanDeliver || s.SpanKind != trace.SpanKindConsumer {
			t.Errorf("span %s kind %v", s.Name, s.SpanKind)
		}
		if s.SpanContext.TraceID() != b.SpanContext.TraceID() {
			t.Error("deliver span in another trace")
		}
	}
	if d1.Parent.SpanID() != b.SpanContext.SpanID() || d2.Parent.SpanID() != d1.SpanContext.SpanID() {
		t.Error("parent links do not follow the hops a -> b -> c")
	}
	if !d1.Parent.IsRemote() {
		t.Error("deliver span's parent should be remote")
	}
	if attr(d2, tracingotel.AttrHops).AsInt64() != 2 || attr(d2, tracingotel.AttrSender).AsString() != "b" ||
		attr(d2, tracingotel.AttrMessageID).AsString() != "a/1" || attr(d2, tracingotel.AttrNode).AsString() != "c" {
		t.Errorf("deliver attributes: %v", d2.Attributes)
	}
	if want := d2.SpanContext.SpanID().String(); !containsSpanID(header(h2, "traceparent"), want) {
		t.Errorf("forwarded traceparent %q does not carry the deliver span %s", header(h2, "traceparent"), want)
	}
}

func containsSpanID(traceparent, spanID string) bool {
	return len(traceparent) == 55 && traceparent[36:52] == spanID
}

func TestForwardUnsampledPassesThrough(t *testing.T) {
	on, _ := newProvider(sdktrace.AlwaysSample())
	off, exp := newProvider(sdktrace.NeverSample())
	hs := tracingotel.New(on).Inject(context.Background())
	out := tracingotel.New(off).Forward(core.Delivery{ID: core.MessageID{Origin: "a", Seq: 1}, From: "a", Hops: 1, Headers: hs})
	if header(out, "traceparent") != header(hs, "traceparent") {
		t.Error("a node that does not sample must pass the trace context through unchanged")
	}
	if len(exp.GetSpans()) != 0 {
		t.Error("spans exported by a node that does not sample")
	}
}

func TestObserveGraftAndPrune(t *testing.T) {
	tp, exp := newProvider(sdktrace.AlwaysSample())
	tr := tracingotel.New(tp, tracingotel.WithNode("c"))
	sender := tracingotel.New(tp, tracingotel.WithNode("b"))

	id := core.MessageID{Origin: "a", Seq: 1}
	lost := core.MessageID{Origin: "a", Seq: 2}
	// c grafts id from b; b's copy arrives with b's trace context.
	tr.Observe([]core.Event{
		{Kind: core.EventGraftSent, ID: id, Peer: "b"},
		{Kind: core.EventGraftSent, Peer: "d"}, // link-only: no span
		{Kind: core.EventGraftSent, ID: lost, Peer: "b"},
	})
	hs := sender.Inject(context.Background())
	tr.Forward(core.Delivery{ID: id, From: "b", Hops: 2, Headers: hs})
	tr.Observe([]core.Event{
		{Kind: core.EventDelivered, ID: id, Peer: "b", Hops: 2},
		{Kind: core.EventGraftSuccess, ID: id, Peer: "b", Latency: 30 * time.Millisecond, Retries: 1},
		{Kind: core.EventGraftFailed, ID: lost, Retries: 5},
		{Kind: core.EventDuplicate, ID: id, Peer: "e"},
		{Kind: core.EventPruneSent, Peer: "e"},
		{Kind: core.EventPruneSent, Peer: "f"},
	})

	byName := map[string][]tracetest.SpanStub{}
	for _, s := range exp.GetSpans() {
		byName[s.Name] = append(byName[s.Name], s)
	}
	broadcast, deliver := byName[tracingotel.SpanBroadcast][0], byName[tracingotel.SpanDeliver][0]
	grafts := byName[tracingotel.SpanGraft]
	if len(grafts) != 2 {
		t.Fatalf("%d graft spans, want 2", len(grafts))
	}
	ok, failed := grafts[0], grafts[1]
	if attr(ok, tracingotel.AttrOutcome).AsString() != "success" || attr(ok, tracingotel.AttrRetries).AsInt64() != 1 {
		t.Errorf("graft success attributes: %v", ok.Attributes)
	}
	if ok.SpanContext.TraceID() != broadcast.SpanContext.TraceID() || ok.Parent.SpanID() != broadcast.SpanContext.SpanID() {
		t.Error("successful graft span should join the message's trace beside the deliver span")
	}
	if d := ok.EndTime.Sub(ok.StartTime); d != 30*time.Millisecond {
		t.Errorf("graft span lasts %v, want the 30ms latency", d)
	}
	if attr(failed, tracingotel.AttrOutcome).AsString() != "failed" || failed.Status.Code != codes.Error ||
		attr(failed, tracingotel.AttrPeer).AsString() != "b" || failed.Parent.IsValid() {
		t.Errorf("failed graft span: status %v attrs %v parent %v", failed.Status, failed.Attributes, failed.Parent)
	}
	prunes := byName[tracingotel.SpanPrune]
	if len(prunes) != 2 {
		t.Fatalf("%d prune spans, want 2", len(prunes))
	}
	if prunes[0].Parent.SpanID() != deliver.SpanContext.SpanID() || attr(prunes[0], tracingotel.AttrPeer).AsString() != "e" {
		t.Error("prune after a duplicate of a traced message should be a child of its deliver span")
	}
	if prunes[1].Parent.IsValid() {
		t.Error("prune without a traced duplicate should be a root span")
	}
}

func TestMaxTrackedBoundsMemory(t *testing.T) {
	tp, _ := newProvider(sdktrace.AlwaysSample())
	tr := tracingotel.New(tp, tracingotel.WithMaxTracked(2))
	src := tracingotel.New(tp)
	for i := range 10 {
		id := core.MessageID{Origin: "a", Seq: uint64(i)}
		tr.Forward(core.Delivery{ID: id, From: "a", Hops: 1, Headers: src.Inject(context.Background())})
		tr.Observe([]core.Event{{Kind: core.EventGraftSent, ID: id, Peer: "a"}})
	}
	if n := tracingotel.TrackedForTest(tr); n > 2*2 {
		t.Errorf("%d entries tracked, bound is 2 + 2", n)
	}
}
