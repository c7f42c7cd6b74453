package tracingotel_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/core/node"
	"github.com/plumtree-go/plumtree/core/node/memnet"
	tracingotel "github.com/plumtree-go/plumtree/tracing-otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// deliveries records what each node's delegate was given.
type deliveries struct {
	mu  sync.Mutex
	got map[core.PeerID]map[core.MessageID]core.Delivery
}

func (d *deliveries) delegate(self core.PeerID) node.DeliverFunc {
	return func(x core.Delivery) {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.got[self] == nil {
			d.got[self] = map[core.MessageID]core.Delivery{}
		}
		x.Headers = append([]core.Header(nil), x.Headers...)
		d.got[self][x.ID] = x
	}
}

func (d *deliveries) count(id core.MessageID) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, m := range d.got {
		if _, ok := m[id]; ok {
			n++
		}
	}
	return n
}

func (d *deliveries) get(p core.PeerID, id core.MessageID) core.Delivery {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.got[p][id]
}

func testConfig(seed int64) core.Config {
	c := core.LANConfig()
	c.IHaveInterval = 10 * time.Millisecond
	c.GraftTimeout = 25 * time.Millisecond
	c.GraftMaxRetries = 8
	c.GraftRateLimitPerSecond = 1000
	c.GraftRateLimitBurst = 1000
	c.MaintenanceInterval = 100 * time.Millisecond
	c.MaintenanceJitter = 20 * time.Millisecond
	c.Seed = seed
	return c
}

func peerName(i int) core.PeerID { return core.PeerID(fmt.Sprintf("n%02d", i)) }

type tracedCluster struct {
	nodes []*node.Node
	dels  *deliveries
}

// startCluster starts size nodes in a full mesh over a memnet network, each
// with its own Tracer on provider(i).
func startCluster(t *testing.T, size int, link memnet.Link, provider func(i int) trace.TracerProvider) *tracedCluster {
	t.Helper()
	net := memnet.New(memnet.Config{Seed: 7, Link: link})
	c := &tracedCluster{dels: &deliveries{got: map[core.PeerID]map[core.MessageID]core.Delivery{}}}
	for i := range size {
		tr, err := net.Join(peerName(i))
		if err != nil {
			t.Fatal(err)
		}
		tracer := tracingotel.New(provider(i), tracingotel.WithNode(peerName(i)))
		n, err := node.New(testConfig(int64(i)), peerName(i), tr, c.dels.delegate(peerName(i)),
			node.WithHeaderInjector(tracer.Inject),
			node.WithForwardHook(tracer.Forward),
			node.WithObserver(tracer))
		if err != nil {
			t.Fatal(err)
		}
		c.nodes = append(c.nodes, n)
	}
	for i, n := range c.nodes {
		for j := range c.nodes {
			if i != j {
				if err := n.AddPeer(peerName(j)); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, n := range c.nodes {
			if err := n.Shutdown(ctx); err != nil {
				t.Errorf("shutdown: %v", err)
			}
		}
		net.Close()
	})
	return c
}

func (c *tracedCluster) waitDelivered(t *testing.T, ids []core.MessageID) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for _, id := range ids {
		for c.dels.count(id) < len(c.nodes) {
			if time.Now().After(deadline) {
				t.Fatalf("message %v reached %d of %d nodes", id, c.dels.count(id), len(c.nodes))
			}
			time.Sleep(2 * time.Millisecond) // polling with a deadline
		}
	}
}

// TestClusterTraceFollowsTree broadcasts over an 8-node cluster (with lossy,
// reordering links so that some copies arrive through grafts) and checks
// that each broadcast is one trace whose deliver spans form the actual
// dissemination tree.
func TestClusterTraceFollowsTree(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	provider := func(i int) trace.TracerProvider {
		return sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithSampler(sdktrace.AlwaysSample()))
	}
	const size = 8
	c := startCluster(t, size, memnet.Link{Drop: 0.05, Jitter: 2 * time.Millisecond}, provider)

	var ids []core.MessageID
	for k := range 6 {
		origin := c.nodes[k%size]
		id, err := origin.Broadcast(context.Background(), fmt.Appendf(nil, "message %d", k))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	c.waitDelivered(t, ids)

	// The deliver span of a node is recorded on the protocol goroutine
	// before the delivery reaches the delegate, so every span is exported.
	spans := exp.GetSpans()
	broadcasts := map[core.MessageID]tracetest.SpanStub{}
	delivers := map[core.MessageID]map[core.PeerID]tracetest.SpanStub{}
	for _, s := range spans {
		id := core.MessageID{Origin: core.PeerID(attr(s, tracingotel.AttrOrigin).AsString())}
		switch s.Name {
		case tracingotel.SpanBroadcast:
			// The origin of an Inject-started broadcast span is its node.
			id.Origin = core.PeerID(attr(s, tracingotel.AttrNode).AsString())
			for _, want := range ids {
				if want.Origin == id.Origin {
					if _, dup := broadcasts[want]; !dup {
						broadcasts[want] = s
						break
					}
				}
			}
		case tracingotel.SpanDeliver:
			fmt.Sscan(attr(s, tracingotel.AttrSeq).AsString(), &id.Seq)
			if delivers[id] == nil {
				delivers[id] = map[core.PeerID]tracetest.SpanStub{}
			}
			self := core.PeerID(attr(s, tracingotel.AttrNode).AsString())
			if _, dup := delivers[id][self]; dup {
				t.Errorf("%v: two deliver spans on %s", id, self)
			}
			delivers[id][self] = s
		}
	}

	for _, id := range ids {
		b, ok := broadcasts[id]
		if !ok {
			t.Fatalf("%v: no broadcast span", id)
		}
		ds := delivers[id]
		if len(ds) != size-1 {
			t.Errorf("%v: %d deliver spans, want one per receiving node (%d)", id, len(ds), size-1)
		}
		for self, d := range ds {
			// One trace per broadcast.
			if d.SpanContext.TraceID() != b.SpanContext.TraceID() {
				t.Errorf("%v on %s: trace %s, broadcast trace %s", id, self, d.SpanContext.TraceID(), b.SpanContext.TraceID())
			}
			// The parent is the span of the node the copy came from.
			sender := core.PeerID(attr(d, tracingotel.AttrSender).AsString())
			hops := attr(d, tracingotel.AttrHops).AsInt64()
			parent, parentHops := b, int64(0)
			if sender != id.Origin {
				var ok bool
				if parent, ok = ds[sender]; !ok {
					t.Errorf("%v on %s: sender %s has no deliver span", id, self, sender)
					continue
				}
				parentHops = attr(parent, tracingotel.AttrHops).AsInt64()
			}
			if d.Parent.SpanID() != parent.SpanContext.SpanID() {
				t.Errorf("%v on %s: parent span %s, want %s's span %s", id, self, d.Parent.SpanID(), sender, parent.SpanContext.SpanID())
			}
			if hops != parentHops+1 {
				t.Errorf("%v on %s: hops %d, sender's %d", id, self, hops, parentHops)
			}
			// The application sees this node's span in the delivered headers.
			got := c.dels.get(self, id)
			sc := trace.SpanContextFromContext(tracingotel.ContextFromHeaders(context.Background(), got.Headers))
			if sc.SpanID() != d.SpanContext.SpanID() {
				t.Errorf("%v on %s: delivered headers carry span %s, want %s", id, self, sc.SpanID(), d.SpanContext.SpanID())
			}
		}
	}
	// Graft spans, if any repair happened, belong to message traces or are
	// failures.
	for _, s := range spans {
		if s.Name == tracingotel.SpanGraft && attr(s, tracingotel.AttrOutcome).AsString() == "success" && !s.Parent.IsValid() {
			t.Errorf("successful graft span of %s has no parent", attr(s, tracingotel.AttrMessageID).AsString())
		}
	}
}

// TestClusterNoHeadersWhenOff checks that a cluster with tracing off (a
// no-op provider, or an SDK that samples nothing) adds no header at all.
func TestClusterNoHeadersWhenOff(t *testing.T) {
	for _, tc := range []struct {
		name     string
		provider func(exp *tracetest.InMemoryExporter) trace.TracerProvider
	}{
		{"noop", func(*tracetest.InMemoryExporter) trace.TracerProvider { return noop.NewTracerProvider() }},
		{"never sample", func(exp *tracetest.InMemoryExporter) trace.TracerProvider {
			return sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithSampler(sdktrace.NeverSample()))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			exp := tracetest.NewInMemoryExporter()
			c := startCluster(t, 4, memnet.Link{}, func(int) trace.TracerProvider { return tc.provider(exp) })
			id, err := c.nodes[0].Broadcast(context.Background(), []byte("quiet"))
			if err != nil {
				t.Fatal(err)
			}
			c.waitDelivered(t, []core.MessageID{id})
			for i := range c.nodes {
				if hs := c.dels.get(peerName(i), id).Headers; len(hs) != 0 {
					t.Errorf("%s got headers %v with tracing off", peerName(i), hs)
				}
			}
			if n := len(exp.GetSpans()); n != 0 {
				t.Errorf("%d spans exported with sampling off", n)
			}
		})
	}
}
