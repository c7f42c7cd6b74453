package tracingotel

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/plumtree-go/plumtree/core"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of the spans.
const ScopeName = "github.com/plumtree-go/plumtree/tracing-otel"

// Span names.
const (
	SpanBroadcast = "plumtree.broadcast"
	SpanDeliver   = "plumtree.deliver"
	SpanGraft     = "plumtree.graft"
	SpanPrune     = "plumtree.prune"
)

// Attribute keys.
const (
	AttrMessagingSystem = attribute.Key("messaging.system")     // "plumtree"
	AttrMessageID       = attribute.Key("messaging.message.id") // "origin/seq"
	AttrPayloadSize     = attribute.Key("messaging.message.body.size")
	AttrNode            = attribute.Key("plumtree.node")           // the node recording the span
	AttrOrigin          = attribute.Key("plumtree.message.origin") // the broadcasting node
	AttrSeq             = attribute.Key("plumtree.message.seq")
	AttrHops            = attribute.Key("plumtree.hops")   // hop count of the delivered copy (1 = from the origin)
	AttrSender          = attribute.Key("plumtree.sender") // the peer the copy came from
	AttrPeer            = attribute.Key("plumtree.peer")   // the peer grafted or pruned
	AttrRetries         = attribute.Key("plumtree.graft.retries")
	AttrOutcome         = attribute.Key("plumtree.graft.outcome") // "success" or "failed"
)

// DefaultMaxTracked is the default bound of the messages a Tracer remembers
// (see WithMaxTracked).
const DefaultMaxTracked = 4096

// Tracer records plumtree spans with an OpenTelemetry TracerProvider and
// carries the W3C trace context in message headers, so that one broadcast
// across a cluster is one trace whose deliver spans form the dissemination
// tree:
//
//   - Inject (for core/node's WithHeaderInjector) starts the broadcast span
//     on the origin and returns the headers that carry it.
//   - Forward (a core.ForwardHook, for core/node's WithForwardHook) starts
//     each node's deliver span as a child of the span in the incoming
//     headers and returns headers carrying this node's span, so the parent
//     links follow the actual hops.
//   - Observe (a core/node Observer) records graft and prune spans; a graft
//     that recovered a traced message joins that message's trace.
//
// When the provider does not sample (a no-op provider, or a sampler that
// drops the span) no header is added and a message without trace context
// passes Forward after a few string comparisons.
//
// A Tracer is safe for concurrent use; use one per node. Forward runs on the
// protocol goroutine: it never blocks on anything but a short mutex.
type Tracer struct {
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
	fields []string
	node   string
	max    int

	mu      sync.Mutex
	recent  map[core.MessageID]traced // deliver spans of recently forwarded traced messages
	order   []core.MessageID          // ring of the keys of recent, oldest at head
	head    int
	pending map[core.MessageID]graftStart // grafts in flight
	now     func() time.Time
}

type traced struct {
	remote trace.SpanContext // the sender's span (parent of the deliver span)
	local  trace.SpanContext // this node's deliver span
}

type graftStart struct {
	at   time.Time
	peer core.PeerID
}

// Option configures a Tracer.
type Option func(*Tracer)

// WithNode sets the node id recorded on every span (attribute plumtree.node).
func WithNode(id core.PeerID) Option { return func(t *Tracer) { t.node = string(id) } }

// WithPropagator replaces the W3C trace context propagator
// (propagation.TraceContext) that reads and writes the headers.
func WithPropagator(p propagation.TextMapPropagator) Option {
	return func(t *Tracer) {
		if p != nil {
			t.prop = p
		}
	}
}

// WithMaxTracked bounds the messages the Tracer remembers to connect graft
// and prune spans to a message's trace, and the grafts in flight it times
// (default DefaultMaxTracked; at least 1).
func WithMaxTracked(n int) Option {
	return func(t *Tracer) {
		if n < 1 {
			n = 1
		}
		t.max = n
	}
}

// New returns a Tracer recording spans with tp (for example
// otel.GetTracerProvider() or an SDK provider; a noop.TracerProvider turns
// tracing off).
func New(tp trace.TracerProvider, opts ...Option) *Tracer {
	t := &Tracer{
		tracer: tp.Tracer(ScopeName),
		prop:   propagation.TraceContext{},
		max:    DefaultMaxTracked,
		now:    time.Now,
	}
	for _, o := range opts {
		o(t)
	}
	t.fields = t.prop.Fields()
	t.recent = make(map[core.MessageID]traced)
	t.pending = make(map[core.MessageID]graftStart)
	return t
}

type broadcastKey struct{}

// StartBroadcast starts the broadcast span as a child of the span in ctx.
// Pass the returned context to Node.Broadcast (Inject then carries this
// span instead of starting one) and end the span with EndBroadcast, which
// records the message id. Using StartBroadcast is optional: without it,
// Inject starts and ends a broadcast span by itself.
func (t *Tracer) StartBroadcast(ctx context.Context) (context.Context, trace.Span) {
	ctx, span := t.tracer.Start(ctx, SpanBroadcast,
		trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(AttrMessagingSystem.String("plumtree"), AttrNode.String(t.node)))
	return context.WithValue(ctx, broadcastKey{}, span), span
}

// EndBroadcast records the outcome of a broadcast on a span from
// StartBroadcast and ends it.
func EndBroadcast(span trace.Span, id core.MessageID, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	} else if span.IsRecording() {
		span.SetAttributes(AttrMessageID.String(id.String()), AttrOrigin.String(string(id.Origin)),
			AttrSeq.String(strconv.FormatUint(id.Seq, 10)))
	}
	span.End()
}

// Inject returns the headers carrying the trace context of a broadcast made
// with ctx; it has the signature of core/node's WithHeaderInjector. If ctx
// comes from StartBroadcast its span is carried; otherwise Inject starts a
// broadcast span as a child of ctx's span, carries it and ends it. It
// returns nil when that span is not sampled.
func (t *Tracer) Inject(ctx context.Context) []core.Header {
	span, ok := ctx.Value(broadcastKey{}).(trace.Span)
	if !ok {
		ctx, span = t.tracer.Start(ctx, SpanBroadcast,
			trace.WithSpanKind(trace.SpanKindProducer),
			trace.WithAttributes(AttrMessagingSystem.String("plumtree"), AttrNode.String(t.node)))
		defer span.End()
	}
	if !span.SpanContext().IsSampled() {
		return nil
	}
	var hs []core.Header
	t.prop.Inject(ctx, HeaderCarrier{Headers: &hs})
	return hs
}

// Forward is the forward hook (core.ForwardHook; core/node's
// WithForwardHook). For a received message whose headers carry a trace
// context it records this node's deliver span — a child of the sender's
// span, with the hop count, the sender and the message id — and returns the
// headers with the trace context replaced by the deliver span's, so that the
// next hops become its children. Otherwise, or when the span is not
// sampled, it returns d.Headers unchanged. It never modifies d.Headers.
func (t *Tracer) Forward(d core.Delivery) []core.Header {
	// The fast path: no trace context. A message without headers returns
	// before touching the Tracer, whose memory is likely cold by now.
	if len(d.Headers) == 0 || !hasAnyField(d.Headers, t.fields) {
		return d.Headers
	}
	return t.forward(&d)
}

// forward is Forward's slow path, kept apart so that the fast path has a
// small stack frame.
func (t *Tracer) forward(d *core.Delivery) []core.Header {
	in := d.Headers
	parent := t.prop.Extract(context.Background(), HeaderCarrier{Headers: &in})
	remote := trace.SpanContextFromContext(parent)
	if !remote.IsValid() {
		return d.Headers
	}
	ctx, span := t.tracer.Start(parent, SpanDeliver,
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			AttrMessagingSystem.String("plumtree"),
			AttrNode.String(t.node),
			AttrMessageID.String(d.ID.String()),
			AttrOrigin.String(string(d.ID.Origin)),
			AttrSeq.String(strconv.FormatUint(d.ID.Seq, 10)),
			AttrHops.Int(int(d.Hops)),
			AttrSender.String(string(d.From)),
			AttrPayloadSize.Int(len(d.Payload)),
		))
	defer span.End()
	local := span.SpanContext()
	if !local.IsSampled() {
		return d.Headers
	}
	out := withoutFields(d.Headers, t.fields)
	t.prop.Inject(ctx, HeaderCarrier{Headers: &out})
	if !withinLimits(out) {
		// A propagator that grows the headers past the wire limits: pass
		// the incoming trace context on rather than make the message
		// unforwardable.
		return d.Headers
	}
	t.remember(d.ID, traced{remote: remote, local: local})
	return out
}

// withinLimits reports whether hs respects the core's header limits.
func withinLimits(hs []core.Header) bool {
	if len(hs) > core.MaxHeaders {
		return false
	}
	n := 0
	for _, h := range hs {
		n += len(h.Key) + len(h.Value)
	}
	return n <= core.MaxHeaderBytes
}

// Hook returns Forward as a core.ForwardHook.
func (t *Tracer) Hook() core.ForwardHook { return t.Forward }

func (t *Tracer) remember(id core.MessageID, tr traced) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.recent[id]; ok {
		t.recent[id] = tr
		return
	}
	if len(t.order) < t.max {
		t.order = append(t.order, id)
	} else {
		delete(t.recent, t.order[t.head])
		t.order[t.head] = id
		t.head = (t.head + 1) % t.max
	}
	t.recent[id] = tr
}

// Observe records graft and prune spans from a batch of core events; it has
// the shape of core/node's Observer. A successful graft becomes a span from
// the first Graft to the message's arrival, a child of the span that carried
// the recovered message (so it sits in that message's trace next to this
// node's deliver span); a failed graft becomes a root span with an error
// status. A prune becomes a span under this node's deliver span of the
// message whose duplicate caused it, when that message was traced.
func (t *Tracer) Observe(events []core.Event) {
	var now time.Time // read once, and only for a batch that needs it
	var lastDup map[core.PeerID]core.MessageID
	for i := range events {
		e := &events[i]
		switch e.Kind {
		case core.EventGraftSent, core.EventGraftSuccess, core.EventGraftFailed, core.EventPruneSent:
			if now.IsZero() {
				now = t.now()
			}
		}
		switch e.Kind {
		case core.EventGraftSent:
			if e.ID.IsZero() {
				continue // a link-only Graft
			}
			t.mu.Lock()
			if _, ok := t.pending[e.ID]; !ok {
				if len(t.pending) >= t.max {
					for id := range t.pending { // forget one (its outcome was never reported)
						delete(t.pending, id)
						break
					}
				}
				t.pending[e.ID] = graftStart{at: now, peer: e.Peer}
			}
			t.mu.Unlock()
		case core.EventGraftSuccess, core.EventGraftFailed:
			t.graftSpan(e, now)
		case core.EventDuplicate:
			if lastDup == nil {
				lastDup = make(map[core.PeerID]core.MessageID)
			}
			lastDup[e.Peer] = e.ID
		case core.EventPruneSent:
			t.pruneSpan(e, now, lastDup)
		}
	}
}

func (t *Tracer) graftSpan(e *core.Event, now time.Time) {
	t.mu.Lock()
	st, started := t.pending[e.ID]
	delete(t.pending, e.ID)
	tr, isTraced := t.recent[e.ID]
	t.mu.Unlock()

	start := now
	switch {
	case e.Latency > 0:
		start = now.Add(-e.Latency)
	case started:
		start = st.at
	}
	ctx := context.Background()
	if isTraced && e.Kind == core.EventGraftSuccess {
		ctx = trace.ContextWithRemoteSpanContext(ctx, tr.remote)
	}
	outcome, peer := "success", e.Peer
	if e.Kind == core.EventGraftFailed {
		outcome = "failed"
		if peer == "" {
			peer = st.peer
		}
	}
	_, span := t.tracer.Start(ctx, SpanGraft,
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithTimestamp(start),
		trace.WithAttributes(
			AttrMessagingSystem.String("plumtree"),
			AttrNode.String(t.node),
			AttrMessageID.String(e.ID.String()),
			AttrPeer.String(string(peer)),
			AttrRetries.Int(e.Retries),
			AttrOutcome.String(outcome),
		))
	if e.Kind == core.EventGraftFailed {
		span.SetStatus(codes.Error, "graft failed after "+strconv.Itoa(e.Retries)+" retries")
	}
	span.End(trace.WithTimestamp(now))
}

func (t *Tracer) pruneSpan(e *core.Event, now time.Time, lastDup map[core.PeerID]core.MessageID) {
	ctx := context.Background()
	attrs := []attribute.KeyValue{
		AttrMessagingSystem.String("plumtree"),
		AttrNode.String(t.node),
		AttrPeer.String(string(e.Peer)),
	}
	if id, ok := lastDup[e.Peer]; ok {
		attrs = append(attrs, AttrMessageID.String(id.String()))
		t.mu.Lock()
		tr, isTraced := t.recent[id]
		t.mu.Unlock()
		if isTraced {
			ctx = trace.ContextWithSpanContext(ctx, tr.local)
		}
	}
	_, span := t.tracer.Start(ctx, SpanPrune,
		trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithTimestamp(now),
		trace.WithAttributes(attrs...))
	span.End(trace.WithTimestamp(now))
}
