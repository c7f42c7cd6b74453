package tracingotel_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/plumtree-go/plumtree/core"
	tracingotel "github.com/plumtree-go/plumtree/tracing-otel"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"pgregory.net/rapid"
)

// traceFields are the header names of the propagators the properties use
// (W3C trace context and baggage).
var traceFields = []string{"traceparent", "tracestate", "baggage"}

func isTraceField(key string) bool {
	for _, f := range traceFields {
		if strings.EqualFold(key, f) {
			return true
		}
	}
	return false
}

// appHeaders draws the application's own headers: up to 6, keys of mixed
// case (some repeated), values of any printable ASCII, never a trace
// context field.
func appHeaders() *rapid.Generator[[]core.Header] {
	key := rapid.StringMatching(`[A-Za-z][A-Za-z0-9-]{0,11}`).Filter(func(k string) bool { return !isTraceField(k) })
	value := rapid.StringMatching(`[ -~]{0,24}`)
	h := rapid.Custom(func(t *rapid.T) core.Header {
		return core.Header{Key: key.Draw(t, "key"), Value: value.Draw(t, "value")}
	})
	return rapid.SliceOfN(h, 0, 6)
}

// bagString returns the members of b sorted (Baggage.String's order is
// not defined).
func bagString(b baggage.Baggage) string {
	var ms []string
	for _, m := range b.Members() {
		ms = append(ms, m.String())
	}
	slices.Sort(ms)
	return strings.Join(ms, ",")
}

// withoutTrace returns the headers that are not trace context fields, in
// order.
func withoutTrace(hs []core.Header) []core.Header {
	var out []core.Header
	for _, h := range hs {
		if !isTraceField(h.Key) {
			out = append(out, h)
		}
	}
	return out
}

// TestPropertyTraceFollowsHops: one broadcast travels a random
// dissemination tree (each receiving node got the message from a random
// node that already had it), every node with its own Tracer. For any
// application headers, trace state and baggage:
//   - every hop forwards the application's headers unchanged and in order
//     and never modifies the headers it received;
//   - the trace context a node forwards extracts to that node's deliver
//     span, in the origin's trace, with the origin's trace state and
//     baggage;
//   - every deliver span's parent is the span of the node it received the
//     message from (the origin's broadcast span for the first hop), and it
//     records that sender and its hop count.
func TestPropertyTraceFollowsHops(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		rec := tracetest.NewSpanRecorder()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec), sdktrace.WithSampler(sdktrace.AlwaysSample()))
		var prop propagation.TextMapPropagator = propagation.TraceContext{}
		useBaggage := rapid.Bool().Draw(t, "baggage")
		if useBaggage {
			prop = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
		}
		node := func(i int) core.PeerID { return core.PeerID("n" + string(rune('a'+i))) }

		// The origin's context: optionally inside an application span
		// with a trace state, optionally with baggage.
		ctx := context.Background()
		var state trace.TraceState
		if rapid.Bool().Draw(t, "appSpan") {
			var err error
			state, err = trace.ParseTraceState(rapid.StringMatching(`[a-z][a-z0-9]{0,7}=[a-zA-Z0-9]{1,8}`).Draw(t, "tracestate"))
			if err != nil {
				t.Fatal(err)
			}
			var app trace.Span
			ctx, app = tp.Tracer("app").Start(ctx, "request")
			defer app.End()
			ctx = trace.ContextWithSpanContext(ctx, trace.SpanContextFromContext(ctx).WithTraceState(state))
		}
		var bag baggage.Baggage
		if useBaggage {
			var members []baggage.Member
			for i, v := range rapid.SliceOfN(rapid.StringMatching(`[a-zA-Z0-9]{1,8}`), 0, 3).Draw(t, "baggageValues") {
				m, err := baggage.NewMember("k"+string(rune('a'+i)), v)
				if err != nil {
					t.Fatal(err)
				}
				members = append(members, m)
			}
			var err error
			if bag, err = baggage.New(members...); err != nil {
				t.Fatal(err)
			}
			ctx = baggage.ContextWithBaggage(ctx, bag)
		}

		app := appHeaders().Draw(t, "headers")
		origin := tracingotel.New(tp, tracingotel.WithNode(node(0)), tracingotel.WithPropagator(prop))
		// core/node attaches the injector's headers after the caller's.
		sent := append(slices.Clone(app), origin.Inject(ctx)...)
		id := core.MessageID{Origin: node(0), Seq: 1}

		extract := func(hs []core.Header) context.Context {
			return prop.Extract(context.Background(), tracingotel.HeaderCarrier{Headers: &hs})
		}
		root := trace.SpanContextFromContext(extract(sent))
		if !root.IsValid() || !root.IsSampled() {
			t.Fatalf("origin headers %v carry no sampled span", sent)
		}
		if want := trace.SpanContextFromContext(ctx); want.IsValid() && root.TraceID() != want.TraceID() {
			t.Fatalf("broadcast in trace %s, the application's span in %s", root.TraceID(), want.TraceID())
		}

		n := rapid.IntRange(1, 12).Draw(t, "receivers")
		out := [][]core.Header{sent}      // what node i forwards
		span := []trace.SpanContext{root} // node i's span (the broadcast span for the origin)
		parent := []int{-1}
		hops := []int{0}
		for k := 1; k <= n; k++ {
			p := rapid.IntRange(0, k-1).Draw(t, "from")
			in := out[p]
			inCopy := slices.Clone(in)
			tr := tracingotel.New(tp, tracingotel.WithNode(node(k)), tracingotel.WithPropagator(prop))
			fwd := tr.Forward(core.Delivery{ID: id, From: node(p), Hops: uint16(hops[p] + 1), Headers: in, Payload: []byte("x")})
			if !slices.Equal(in, inCopy) {
				t.Fatalf("node %d modified the headers it received: %v, was %v", k, in, inCopy)
			}
			if got := withoutTrace(fwd); !slices.Equal(got, withoutTrace(app)) {
				t.Fatalf("node %d forwards application headers %v, want %v", k, got, app)
			}
			got := extract(fwd)
			sc := trace.SpanContextFromContext(got)
			switch {
			case !sc.IsValid() || !sc.IsSampled():
				t.Fatalf("node %d forwards no sampled trace context: %v", k, fwd)
			case sc.TraceID() != root.TraceID():
				t.Fatalf("node %d forwards trace %s, want %s", k, sc.TraceID(), root.TraceID())
			case sc.SpanID() == span[p].SpanID():
				t.Fatalf("node %d forwards its sender's span", k)
			case sc.TraceState().String() != state.String():
				t.Fatalf("node %d forwards trace state %q, want %q", k, sc.TraceState(), state)
			}
			if useBaggage {
				if b := baggage.FromContext(got); bagString(b) != bagString(bag) {
					t.Fatalf("node %d forwards baggage %q, want %q", k, bagString(b), bagString(bag))
				}
			}
			out = append(out, fwd)
			span = append(span, sc)
			parent = append(parent, p)
			hops = append(hops, hops[p]+1)
		}

		// The recorded deliver spans form the tree.
		delivers := map[string]sdktrace.ReadOnlySpan{}
		for _, s := range rec.Ended() {
			if s.Name() != tracingotel.SpanDeliver {
				continue
			}
			var nodeID string
			for _, kv := range s.Attributes() {
				if kv.Key == tracingotel.AttrNode {
					nodeID = kv.Value.AsString()
				}
			}
			if _, dup := delivers[nodeID]; dup {
				t.Fatalf("two deliver spans on %s", nodeID)
			}
			delivers[nodeID] = s
		}
		if len(delivers) != n {
			t.Fatalf("%d deliver spans for %d receivers", len(delivers), n)
		}
		for k := 1; k <= n; k++ {
			s := delivers[string(node(k))]
			if s == nil {
				t.Fatalf("no deliver span on %s", node(k))
			}
			if s.SpanContext().SpanID() != span[k].SpanID() {
				t.Fatalf("%s: deliver span %s, forwarded %s", node(k), s.SpanContext().SpanID(), span[k].SpanID())
			}
			if s.Parent().SpanID() != span[parent[k]].SpanID() || s.Parent().TraceID() != root.TraceID() {
				t.Fatalf("%s: deliver span's parent %s, want %s's span %s", node(k), s.Parent().SpanID(), node(parent[k]), span[parent[k]].SpanID())
			}
			var sender string
			var hop int64
			for _, kv := range s.Attributes() {
				switch kv.Key {
				case tracingotel.AttrSender:
					sender = kv.Value.AsString()
				case tracingotel.AttrHops:
					hop = kv.Value.AsInt64()
				}
			}
			if sender != string(node(parent[k])) || hop != int64(hops[k]) {
				t.Fatalf("%s: sender %q hops %d, want %q %d", node(k), sender, hop, node(parent[k]), hops[k])
			}
		}
	})
}

// TestPropertyHeaderCarrier: for any headers (keys of any case, repeated
// or not, stale trace context fields included), injecting a span context
// through a HeaderCarrier and extracting it again gives that span context;
// the other headers keep their values and order, and the carrier holds at
// most one header per injected field.
func TestPropertyHeaderCarrier(t *testing.T) {
	field := rapid.SampledFrom([]string{"traceparent", "TraceParent", "TRACESTATE", "tracestate", "baggage", "Baggage"})
	stale := rapid.Custom(func(t *rapid.T) core.Header {
		return core.Header{Key: field.Draw(t, "field"), Value: rapid.StringMatching(`[ -~]{0,60}`).Draw(t, "stale")}
	})
	rapid.Check(t, func(t *rapid.T) {
		app := appHeaders().Draw(t, "headers")
		hs := slices.Clone(app)
		// Stale trace context fields at random places, at most one per
		// name (case-insensitively), as a sender's carrier would leave.
		seen := map[string]bool{}
		for _, h := range rapid.SliceOfN(stale, 0, 3).Draw(t, "staleFields") {
			if seen[strings.ToLower(h.Key)] {
				continue
			}
			seen[strings.ToLower(h.Key)] = true
			at := rapid.IntRange(0, len(hs)).Draw(t, "at")
			hs = slices.Insert(hs, at, h)
		}

		var tid trace.TraceID
		var sid trace.SpanID
		copy(tid[:], rapid.SliceOfN(rapid.Byte(), 16, 16).Filter(func(b []byte) bool { return slices.ContainsFunc(b, func(x byte) bool { return x != 0 }) }).Draw(t, "traceID"))
		copy(sid[:], rapid.SliceOfN(rapid.Byte(), 8, 8).Filter(func(b []byte) bool { return slices.ContainsFunc(b, func(x byte) bool { return x != 0 }) }).Draw(t, "spanID"))
		// An empty trace state writes no tracestate header, so a stale
		// one would survive the injection (the carrier only overwrites
		// what the propagator sets): with a stale tracestate the state
		// drawn is not empty. Tracer.Forward removes the stale fields
		// before it injects (withoutFields), so it has no such case.
		states := []string{"", "a=1", "vendor=x,other=y"}
		if seen["tracestate"] {
			states = states[1:]
		}
		state, err := trace.ParseTraceState(rapid.SampledFrom(states).Draw(t, "state"))
		if err != nil {
			t.Fatal(err)
		}
		want := trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: tid, SpanID: sid, TraceState: state, Remote: true,
			TraceFlags: trace.TraceFlags(0).WithSampled(rapid.Bool().Draw(t, "sampled")),
		})
		m, err := baggage.NewMember("user", rapid.StringMatching(`[a-zA-Z0-9]{1,8}`).Draw(t, "user"))
		if err != nil {
			t.Fatal(err)
		}
		bag, err := baggage.New(m)
		if err != nil {
			t.Fatal(err)
		}
		prop := propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
		ctx := baggage.ContextWithBaggage(trace.ContextWithRemoteSpanContext(context.Background(), want), bag)
		prop.Inject(ctx, tracingotel.HeaderCarrier{Headers: &hs})

		got := prop.Extract(context.Background(), tracingotel.HeaderCarrier{Headers: &hs})
		if sc := trace.SpanContextFromContext(got); !sc.Equal(want) {
			t.Fatalf("extracted %+v, injected %+v (headers %v)", sc, want, hs)
		}
		if b := baggage.FromContext(got); bagString(b) != bagString(bag) {
			t.Fatalf("extracted baggage %q, injected %q", bagString(b), bagString(bag))
		}
		if got := withoutTrace(hs); !slices.Equal(got, app) {
			t.Fatalf("application headers %v, want %v", got, app)
		}
		count := map[string]int{}
		for _, h := range hs {
			if isTraceField(h.Key) {
				count[strings.ToLower(h.Key)]++
			}
		}
		for f, c := range count {
			if c > 1 {
				t.Fatalf("%d %s headers: %v", c, f, hs)
			}
		}
	})
}
