// Package tracingotel traces plumtree broadcasts with OpenTelemetry: one
// broadcast across a cluster is one distributed trace whose spans form the
// dissemination tree.
//
// The W3C trace context (traceparent, tracestate) travels in the message
// headers (core.Header). A Tracer provides the three hooks of core/node:
//
//	tr := tracingotel.New(otel.GetTracerProvider(), tracingotel.WithNode("node-1"))
//	n, _ := node.New(cfg, "node-1", transport, delegate,
//		node.WithHeaderInjector(tr.Inject), // broadcast span on the origin
//		node.WithForwardHook(tr.Forward),   // deliver span on every node, parent = the sender's span
//		node.WithObserver(tr))              // graft and prune spans
//
// The package depends on the OpenTelemetry API only (go.opentelemetry.io/otel
// and its trace package); the program chooses the SDK and exporter. With a
// no-op provider or a sampler that drops the broadcast, no header is added
// and the forward hook costs a few string comparisons per message.
//
// Concurrency: a Tracer is safe for concurrent use; use one per node. Forward
// runs on the protocol goroutine and never blocks except on a short mutex.
package tracingotel
