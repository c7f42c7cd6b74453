package tracingotel_test

import (
	"context"
	"fmt"

	"github.com/plumtree-go/plumtree/core"
	tracingotel "github.com/plumtree-go/plumtree/tracing-otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// The hooks by hand: the origin injects the broadcast span into the
// headers, each receiving node's forward hook records its deliver span as a
// child of the sender's and forwards headers carrying its own. With
// core/node, pass tr.Inject to node.WithHeaderInjector, tr.Forward to
// node.WithForwardHook and tr to node.WithObserver.
func Example() {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	a := tracingotel.New(tp, tracingotel.WithNode("a"))
	b := tracingotel.New(tp, tracingotel.WithNode("b"))
	c := tracingotel.New(tp, tracingotel.WithNode("c"))

	id := core.MessageID{Origin: "a", Seq: 1}
	h := a.Inject(context.Background())
	h = b.Forward(core.Delivery{ID: id, From: "a", Hops: 1, Headers: h})
	c.Forward(core.Delivery{ID: id, From: "b", Hops: 2, Headers: h})

	spans := exp.GetSpans()
	names := map[string]string{}
	for _, s := range spans {
		names[s.SpanContext.SpanID().String()] = s.Name + " on " + nodeOf(s)
	}
	for _, s := range spans {
		fmt.Printf("%s on %s", s.Name, nodeOf(s))
		if p, ok := names[s.Parent.SpanID().String()]; ok {
			fmt.Printf(" (child of %s)", p)
		}
		fmt.Println()
	}
	// Output:
	// plumtree.broadcast on a
	// plumtree.deliver on b (child of plumtree.broadcast on a)
	// plumtree.deliver on c (child of plumtree.deliver on b)
}

func nodeOf(s tracetest.SpanStub) string {
	for _, kv := range s.Attributes {
		if kv.Key == tracingotel.AttrNode {
			return kv.Value.AsString()
		}
	}
	return "?"
}
