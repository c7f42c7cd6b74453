package tracingotel

import (
	"context"
	"strings"

	"github.com/plumtree-go/plumtree/core"
	"go.opentelemetry.io/otel/propagation"
)

// HeaderCarrier adapts a message's headers to propagation.TextMapCarrier, so
// any OpenTelemetry propagator can read and write them. Keys are compared
// case-insensitively (W3C trace context fields are lower case); Set replaces
// an existing key or appends.
type HeaderCarrier struct {
	Headers *[]core.Header
}

var _ propagation.TextMapCarrier = HeaderCarrier{}

// Get returns the value of the first header named key, or "".
func (c HeaderCarrier) Get(key string) string {
	for _, h := range *c.Headers {
		if strings.EqualFold(h.Key, key) {
			return h.Value
		}
	}
	return ""
}

// Set sets the header key to value.
func (c HeaderCarrier) Set(key, value string) {
	hs := *c.Headers
	for i := range hs {
		if strings.EqualFold(hs[i].Key, key) {
			hs[i].Value = value
			return
		}
	}
	*c.Headers = append(hs, core.Header{Key: key, Value: value})
}

// Keys returns the header names.
func (c HeaderCarrier) Keys() []string {
	keys := make([]string, len(*c.Headers))
	for i, h := range *c.Headers {
		keys[i] = h.Key
	}
	return keys
}

// ContextFromHeaders returns ctx carrying the remote span context found in
// headers by the W3C trace context propagator (for example in a
// Delegate.Deliver, to continue a delivered message's trace). ctx is
// returned unchanged when headers carry none.
func ContextFromHeaders(ctx context.Context, headers []core.Header) context.Context {
	return propagation.TraceContext{}.Extract(ctx, HeaderCarrier{Headers: &headers})
}

// hasAnyField reports whether headers hold one of fields. It is the fast
// path of the forward hook: a message without trace context costs a few
// string comparisons.
func hasAnyField(headers []core.Header, fields []string) bool {
	for _, h := range headers {
		for _, f := range fields {
			if len(h.Key) == len(f) && strings.EqualFold(h.Key, f) {
				return true
			}
		}
	}
	return false
}

// withoutFields returns a copy of headers without the propagator's fields,
// with room for them to be added again.
func withoutFields(headers []core.Header, fields []string) []core.Header {
	out := make([]core.Header, 0, len(headers)+len(fields))
	for _, h := range headers {
		keep := true
		for _, f := range fields {
			if strings.EqualFold(h.Key, f) {
				keep = false
				break
			}
		}
		if keep {
			out = append(out, h)
		}
	}
	return out
}
