package tracingotel_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/plumtree-go/plumtree/core"
	tracingotel "github.com/plumtree-go/plumtree/tracing-otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// FuzzForward feeds the forward hook arbitrary headers (peer input: the
// core checks only their count and size). It must not panic, must not
// modify its input, and must keep headers within the core's limits.
func FuzzForward(f *testing.F) {
	tp := sdktrace.NewTracerProvider()
	valid := tracingotel.New(tp).Inject(context.Background())
	f.Add("traceparent", valid[0].Value, "tracestate", "k=v,a=b", "app", "x")
	f.Add("Traceparent", "00-00000000000000000000000000000000-0000000000000000-01", "", "", "", "")
	f.Add("traceparent", "ff-"+strings.Repeat("a", 60), "tracestate", strings.Repeat("k=v,", 200), "traceparent", "garbage")
	f.Add("tracestate", "", "traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", "x", strings.Repeat("y", 3000))
	tr := tracingotel.New(tp)
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2, k3, v3 string) {
		in := []core.Header{{Key: k1, Value: v1}, {Key: k2, Value: v2}, {Key: k3, Value: v3}}
		n := 0
		for _, h := range in {
			n += len(h.Key) + len(h.Value)
		}
		if n > core.MaxHeaderBytes {
			return // the core drops such a message before the hook
		}
		keep := slices.Clone(in)
		out := tr.Forward(core.Delivery{ID: core.MessageID{Origin: "o", Seq: 1}, From: "p", Hops: 1, Headers: in})
		if !slices.Equal(in, keep) {
			t.Fatalf("Forward modified its input: %v -> %v", keep, in)
		}
		m := 0
		for _, h := range out {
			m += len(h.Key) + len(h.Value)
		}
		if len(out) > core.MaxHeaders || m > core.MaxHeaderBytes {
			t.Fatalf("Forward produced %d headers, %d bytes from %v", len(out), m, in)
		}
	})
}
