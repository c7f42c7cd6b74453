package metricsprom

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/promqltest"
	"github.com/prometheus/prometheus/storage"
)

// The guide's queries, the recording rules and the alert rules evaluated by
// Prometheus' own PromQL engine over what a Collector exports, scraped once a
// minute for ten minutes: the queries do not only parse, they return the
// right numbers (the crate's histograms had no buckets, so its
// histogram_quantile queries returned nothing).

// minute is one minute of a scripted node: how its state moves and which
// events it observes.
type minute struct {
	stats      func(s *core.Stats)
	health     core.HealthStatus
	events     []core.Event
	membership func(s *MembershipStats) // nil: unchanged
	transport  func(s *TransportStats)  // nil: unchanged
	cache      func(s *CacheStats)      // nil: no cache module's series
}

// scrapeSeries runs a Collector through eleven scrapes (t = 0, 1m, ... 10m),
// applying m before each scrape after the first, and returns a promqltest
// load command.
func scrapeSeries(t *testing.T, m minute) string {
	t.Helper()
	var s core.Stats
	var health core.HealthStatus
	var ms MembershipStats
	var ts TransportStats
	var cs CacheStats
	opts := []Option{WithNode("n1"),
		WithStats(func() core.Stats { return s }),
		WithHealth(func() core.Health { return core.Health{Status: health} }),
		WithMembership(func() MembershipStats { return ms }),
		WithTransport(func() TransportStats { return ts })}
	if m.cache != nil {
		opts = append(opts, WithCache(func() CacheStats { return cs }))
	}
	c := New(opts...)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	series := map[string][]string{}
	const scrapes = 11
	for k := range scrapes {
		if k > 0 {
			m.stats(&s)
			if m.membership != nil {
				m.membership(&ms)
			}
			if m.transport != nil {
				m.transport(&ts)
			}
			if m.cache != nil {
				m.cache(&cs)
			}
			health = m.health
			c.Observe(m.events)
		}
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for name, v := range samples(mfs) {
			series[name] = append(series[name], v)
		}
	}
	names := make([]string, 0, len(series))
	for n, vs := range series {
		if len(vs) != scrapes {
			t.Fatalf("%s: %d samples", n, len(vs))
		}
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("load 1m\n")
	for _, n := range names {
		fmt.Fprintf(&b, "  %s %s\n", n, strings.Join(series[n], " "))
	}
	return b.String()
}

// samples flattens gathered families into series -> value, histograms as
// _bucket, _sum and _count series.
func samples(mfs []*dto.MetricFamily) map[string]string {
	out := map[string]string{}
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			key := func(suffix string, extra ...string) string {
				return mf.GetName() + suffix + "{" + strings.Join(append(append([]string(nil), ls...), extra...), ",") + "}"
			}
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				out[key("")] = f(m.GetCounter().GetValue())
			case dto.MetricType_GAUGE:
				out[key("")] = f(m.GetGauge().GetValue())
			case dto.MetricType_HISTOGRAM:
				h := m.GetHistogram()
				for _, bk := range h.GetBucket() {
					out[key("_bucket", fmt.Sprintf("le=%q", f(bk.GetUpperBound())))] = f(float64(bk.GetCumulativeCount()))
				}
				out[key("_bucket", `le="+Inf"`)] = f(float64(h.GetSampleCount()))
				out[key("_sum")] = f(h.GetSampleSum())
				out[key("_count")] = f(float64(h.GetSampleCount()))
			}
		}
	}
	return out
}

type evaluator struct {
	t   *testing.T
	eng *promql.Engine
	st  storage.Storage
	at  time.Time
}

func newEvaluator(t *testing.T, load string) *evaluator {
	st := promqltest.LoadedStorage(t, load)
	t.Cleanup(func() { st.Close() })
	return &evaluator{t: t, eng: promqltest.NewTestEngine(t, false, 0, promqltest.DefaultMaxSamplesPerQuery),
		st: st, at: time.Unix(0, 0).Add(10 * time.Minute)}
}

// eval returns the values of an instant query at t = 10m.
func (e *evaluator) eval(expr string) []float64 {
	e.t.Helper()
	q, err := e.eng.NewInstantQuery(context.Background(), e.st, nil, expr, e.at)
	if err != nil {
		e.t.Fatalf("%s: %v", expr, err)
	}
	defer q.Close()
	res := q.Exec(context.Background())
	if res.Err != nil {
		e.t.Fatalf("%s: %v", expr, res.Err)
	}
	var out []float64
	switch v := res.Value.(type) {
	case promql.Vector:
		for _, s := range v {
			out = append(out, s.F)
		}
	case promql.Scalar:
		out = append(out, v.V)
	}
	return out
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

// healthyMinute: 100 deliveries a minute at hops 1 (50), 2 (30), 3 (15),
// 4 (5); 25 duplicates; 10 grafts, 9 recovered in 20 ms and 1 in 300 ms, 1
// failed; the cache 96 % full.
func healthyMinute() minute {
	var ev []core.Event
	for h, n := range map[uint16]int{1: 50, 2: 30, 3: 15, 4: 5} {
		for range n {
			ev = append(ev, core.Event{Kind: core.EventDelivered, Hops: h, Size: 512})
		}
	}
	for range 9 {
		ev = append(ev, core.Event{Kind: core.EventGraftSuccess, Latency: 20 * time.Millisecond})
	}
	ev = append(ev, core.Event{Kind: core.EventGraftSuccess, Latency: 300 * time.Millisecond})
	return minute{
		stats: func(s *core.Stats) {
			s.EagerPeers, s.LazyPeers, s.TotalPeers = 3, 6, 9
			s.CacheSize, s.CacheCapacity = 960, 1000
			s.MessagesDelivered += 100
			s.GossipReceived += 125
			s.MessagesDuplicate += 25
			s.PruneSent += 2
			s.GraftSuccess += 10
			s.GraftFailed++
		},
		health: core.Degraded,
		events: ev,
	}
}

func TestGuideQueriesEvaluate(t *testing.T) {
	e := newEvaluator(t, scrapeSeries(t, healthyMinute()))
	for _, tc := range []struct {
		expr string
		want float64
	}{
		{"rate(plumtree_graft_failed_total[5m])", 1.0 / 60},
		{"plumtree_eager_peers", 3},
		{"plumtree_lazy_peers", 6},
		{"plumtree_messages_partitioned_total", 0},
		{"100 * rate(plumtree_messages_duplicate_total[5m]) /\n      rate(plumtree_messages_delivered_total[5m])", 25},
		{"rate(plumtree_prune_sent_total[5m])", 2.0 / 60},
		{"plumtree_cache_size / plumtree_cache_capacity", 0.96},
		{"rate(plumtree_messages_delivered_total[5m])", 100.0 / 60},
		// 99th of 10 per minute: 9 at or below 0.05 s, the 10th in (0.1, 0.5].
		{"histogram_quantile(0.99, rate(plumtree_graft_latency_seconds_bucket[5m]))", 0.1 + 0.4*0.9},
		// 99th of 100 per minute: 95 at or below 3 hops, 5 in (3, 5].
		{"histogram_quantile(0.99, rate(plumtree_message_hops_bucket[5m]))", 3 + 2*0.8},
		{"plumtree_messages_delivered_total", 1000},
	} {
		got := e.eval(tc.expr)
		if len(got) != 1 || !near(got[0], tc.want) {
			t.Errorf("%s = %v, want %v", tc.expr, got, tc.want)
		}
	}
}

func TestRulesEvaluate(t *testing.T) {
	troubled := minute{
		stats: func(s *core.Stats) {
			s.EagerPeers, s.LazyPeers, s.TotalPeers = 0, 4, 4
			s.CacheSize, s.CacheCapacity = 500, 1000
			s.MessagesBroadcast += 10
			s.MessagesDelivered += 10
			s.MessagesDuplicate += 5
			s.GraftSuccess += 2
			s.GraftFailed += 8
			s.MessagesPartitioned++
		},
		health: core.Unhealthy,
	}
	allAlerts := []string{"PlumtreeCacheNearCapacity", "PlumtreeHighDuplicateRate", "PlumtreeHighGraftFailureRate",
		"PlumtreeNoEagerPeers", "PlumtreeNodeIsolated", "PlumtreeNodeUnhealthy", "PlumtreePartitionSuspected"}
	// A healthy node that refuses streams for other reasons, then one that
	// meets a key it does not have, on either port.
	refusing := healthyMinute()
	refusing.membership = func(s *MembershipStats) {
		s.StreamsAccepted += 20
		s.StreamsRefusedBusy++
		s.StreamsRefusedMalformed++
	}
	strangerGossip := healthyMinute()
	strangerGossip.membership = func(s *MembershipStats) { s.StreamsAccepted += 20; s.StreamsRefusedDecrypt++ }
	// The cache module's node: full, holding its TTL (10 minutes), then
	// holding 20 s.
	fullHolding := healthyMinute()
	fullHolding.cache = func(s *CacheStats) { s.Retention = 10 * time.Minute }
	fullShort := healthyMinute()
	fullShort.cache = func(s *CacheStats) { s.Retention = 20 * time.Second }
	strangerPlumtree := healthyMinute()
	strangerPlumtree.transport = func(s *TransportStats) { s.HandshakeFailures++; s.AuthFailures++ }
	for _, tc := range []struct {
		name   string
		minute minute
		firing []string
	}{
		{"healthy", healthyMinute(), []string{"PlumtreeCacheNearCapacity"}},
		{"troubled", troubled, allAlerts[1:]},
		{"refusing", refusing, []string{"PlumtreeCacheNearCapacity"}},
		{"stranger-gossip", strangerGossip, []string{"PlumtreeCacheNearCapacity", "PlumtreeKeyMismatch"}},
		{"stranger-plumtree", strangerPlumtree, []string{"PlumtreeCacheNearCapacity", "PlumtreeKeyMismatch"}},
		{"full-cache-holding", fullHolding, nil},
		{"full-cache-short", fullShort, []string{"PlumtreeCacheRetentionShort"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEvaluator(t, scrapeSeries(t, tc.minute))
			var firing []string
			for _, g := range parseRuleFile(t, "alerts.yml").Groups {
				for _, r := range g.Rules {
					if len(e.eval(r.Expr)) > 0 {
						firing = append(firing, r.Alert)
					}
				}
			}
			sort.Strings(firing)
			if strings.Join(firing, " ") != strings.Join(tc.firing, " ") {
				t.Errorf("firing %v, want %v", firing, tc.firing)
			}
			// Every recording rule yields a series.
			for _, g := range parseRuleFile(t, "recording-rules.yml").Groups {
				for _, r := range g.Rules {
					if got := e.eval(r.Expr); len(got) != 1 {
						t.Errorf("record %s: %v", r.Record, got)
					}
				}
			}
		})
	}
}
