package main

import (
	"context"
	"fmt"
	"io"

	"github.com/plumtree-go/plumtree/cache"
	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/examples/internal/stack"
	"github.com/plumtree-go/plumtree/membership"
	metricsprom "github.com/plumtree-go/plumtree/metrics-prom"
	tracingotel "github.com/plumtree-go/plumtree/tracing-otel"
	tcp "github.com/plumtree-go/plumtree/transport-tcp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// newMetrics returns a registry with the plumtree collector (an observer the
// node must be built with) and the Go and process collectors.
func newMetrics(name string) (*prometheus.Registry, *metricsprom.Collector, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	c, err := metricsprom.Register(reg, metricsprom.WithNode(name))
	if err != nil {
		return nil, nil, err
	}
	return reg, c, nil
}

// connectMetrics points the collector at the running stack's statistics.
func connectMetrics(c *metricsprom.Collector, s *stack.Stack) {
	c.SetStats(func() core.Stats { return s.Node.Stats().Stats })
	c.SetHealth(s.Node.Health)
	c.SetRuntime(func() metricsprom.RuntimeStats {
		st := s.Node.Stats()
		r, l := st.Runtime, st.Large
		return metricsprom.RuntimeStats{
			DeliveryQueueLen: r.DeliveryQueueLen, DeliveryQueueCap: r.DeliveryQueueCap,
			DeliveryOverflow: r.DeliveryOverflow, DeliveryOverflowBytes: r.DeliveryOverflowBytes, DeliveryQueueBytes: r.DeliveryQueueBytes, ObserverQueueLen: r.ObserverQueueLen,
			IntakePaused: r.IntakePaused, Backpressure: r.Backpressure, AdmissionRefused: r.AdmissionRefused,
			IntakePauses: r.IntakePauses, HookDrops: r.HookDrops, FramesIn: r.FramesIn, FramesOut: r.FramesOut,
			DecodeErrors: r.DecodeErrors, EncodeErrors: r.EncodeErrors, SendErrors: r.SendErrors,
			ObserverDrops: r.ObserverDrops,
			LargeInFlight: l.InFlight, LargeBytes: l.Bytes, LargeDelivered: l.Delivered,
			LargeDeliveredBytes: l.DeliveredBytes, LargeDigestFailures: l.DigestFailures,
			LargeEvicted: l.Evicted, LargeExpired: l.Expired, LargeRefused: l.Refused + l.Invalid, LargeRepairs: l.Repairs,
		}
	})
	c.SetTransport(func() metricsprom.TransportStats { return transportMetrics(s.Transport.Stats()) })
	c.SetMembership(func() metricsprom.MembershipStats { return membershipMetrics(s.Membership.Stats()) })
	c.SetCache(func() metricsprom.CacheStats { return cacheMetrics(s.Cache.Stats()) })
}

// cacheMetrics is the cache's part of the metrics: its Stats by name, the
// evictions flattened (Evictions.TTL is EvictedTTL).
func cacheMetrics(cs cache.Stats) metricsprom.CacheStats {
	return metricsprom.CacheStats{
		Bytes: cs.Bytes, MaxBytes: cs.MaxBytes, LargeBytes: cs.LargeBytes, MaxLargeBytes: cs.MaxLargeBytes, Puts: cs.Puts, Hits: cs.Hits, Misses: cs.Misses,
		EvictedTTL: cs.Evictions.TTL, EvictedCapacity: cs.Evictions.Capacity,
		EvictedBytes: cs.Evictions.Bytes, EvictedBackpressure: cs.Evictions.Backpressure,
		Sweeps: cs.Sweeps, LastSweep: cs.LastSweep, Retention: cs.Retention, Backpressure: int(cs.Backpressure), Rejected: cs.Rejected,
	}
}

// transportMetrics is the transport's part of the metrics: the fields
// metricsprom.TransportStats shares with transport-tcp's Stats, by name.
func transportMetrics(t tcp.Stats) metricsprom.TransportStats {
	return metricsprom.TransportStats{
		BytesIn: t.BytesIn, BytesOut: t.BytesOut, FramesIn: t.FramesIn, FramesOut: t.FramesOut,
		Drops: t.Drops, QueueFull: t.QueueFull, TooLarge: t.TooLarge, Dials: t.Dials,
		DialFailures: t.DialFailures, Reconnects: t.Reconnects, HandshakeFailures: t.HandshakeFailures,
		BadFrames: t.BadFrames, Rejected: t.Rejected, Evicted: t.Evicted, ReceiveDrops: t.ReceiveDrops,
		AuthFailures: t.AuthFailures, StreamConns: t.StreamConns, QueueDepth: t.QueueDepth,
		ReceiveQueueBytes: int(t.ReceiveQueueBytes), ConnectedPeers: t.ConnectedPeers, Writers: t.Writers,
		Conns: t.Conns, Streams: t.Streams,
	}
}

// membershipMetrics is the membership layer's part of the metrics: the
// fields metricsprom.MembershipStats shares with membership's Stats, by name.
func membershipMetrics(m membership.Stats) metricsprom.MembershipStats {
	return metricsprom.MembershipStats{
		Members: m.Members, Alive: m.Alive, Ignored: m.Ignored, QueueLen: m.QueueLen,
		JoinFailures: m.JoinFailures, SeedRejoinAttempts: m.SeedRejoinAttempts,
		SeedRejoins: m.SeedRejoins, PartitionSuspicions: m.PartitionSuspicions,
		StreamsAccepted: m.StreamsAccepted, StreamsRefusedBusy: m.StreamsRefusedBusy,
		StreamsRefusedNodes: m.StreamsRefusedNodes, StreamsRefusedSize: m.StreamsRefusedSize,
		StreamsRefusedMalformed: m.StreamsRefusedMalformed, StreamsRefusedDecrypt: m.StreamsRefusedDecrypt,
		StreamsOpen: m.StreamsOpen, StreamBytes: m.StreamBytes,
	}
}

// newTracing returns the tracer of the node and a shutdown function that
// flushes the exporter, or a nil tracer when tracing is off. "otlp" exports
// over OTLP/HTTP as configured by the standard OTEL_EXPORTER_OTLP_* and
// OTEL_SERVICE_NAME variables.
func newTracing(ctx context.Context, mode, name string, stdout io.Writer) (*tracingotel.Tracer, func(context.Context) error, error) {
	var exp sdktrace.SpanExporter
	var err error
	switch mode {
	case "off", "":
		return nil, func(context.Context) error { return nil }, nil
	case "stdout":
		exp, err = stdouttrace.New(stdouttrace.WithWriter(stdout))
	case "otlp":
		exp, err = otlptracehttp.New(ctx)
	default:
		err = fmt.Errorf("unknown tracing mode %q", mode)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("tracing: %w", err)
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(
		attribute.String("service.name", "plumtree-node"), attribute.String("service.instance.id", name)))
	if err != nil {
		res = resource.Default()
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	return tracingotel.New(tp, tracingotel.WithNode(core.PeerID(name))), tp.Shutdown, nil
}
