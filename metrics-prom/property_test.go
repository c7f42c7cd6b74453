package metricsprom

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/core/coretest"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"pgregory.net/rapid"
)

// The property tests below check, for random sequences of source changes
// and scrapes, that every scrape exports exactly the values of the sources
// it read (each field under its own metric name and type) and that no
// counter ever goes down from one scrape to the next.
//
// The expected metric of each field is written out here, independently of
// the collector's tables, so that a metric wired to the wrong field, with
// the wrong type, or missing, fails.

// fieldMetric says which metric exports one field of a source.
type fieldMetric struct {
	field   string // Go field name, dotted for nested structs ("Delivery.GraftFailureRate")
	metric  string // metric name, with {label="value"} for a labelled series
	counter bool
}

func counters(pairs ...string) []fieldMetric {
	var out []fieldMetric
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, fieldMetric{field: pairs[i], metric: pairs[i+1], counter: true})
	}
	return out
}

func gauges(pairs ...string) []fieldMetric {
	var out []fieldMetric
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, fieldMetric{field: pairs[i], metric: pairs[i+1]})
	}
	return out
}

var statsFields = slices.Concat(
	counters(
		"MessagesBroadcast", "plumtree_messages_broadcast_total",
		"MessagesDelivered", "plumtree_messages_delivered_total",
		"MessagesDuplicate", "plumtree_messages_duplicate_total",
		"GossipSent", "plumtree_gossip_sent_total",
		"IHaveSent", "plumtree_ihave_sent_total",
		"GraftSent", "plumtree_graft_sent_total",
		"PruneSent", "plumtree_prune_sent_total",
		"GossipReceived", "plumtree_gossip_received_total",
		"IHaveReceived", "plumtree_ihave_received_total",
		"GraftReceived", "plumtree_graft_received_total",
		"PruneReceived", "plumtree_prune_received_total",
		"PeerPromotions", "plumtree_peer_promotions_total",
		"PeerDemotions", "plumtree_peer_demotions_total",
		"PeerAdded", "plumtree_peer_added_total",
		"PeerRemoved", "plumtree_peer_removed_total",
		"GraftSuccess", "plumtree_graft_success_total",
		"GraftFailed", "plumtree_graft_failed_total",
		"GraftRetries", "plumtree_graft_retries_total",
		"SeenMapEvictions", "plumtree_seen_map_evictions_total",
		"MessagesPartitioned", "plumtree_messages_partitioned_total",
		"GraftRateLimited", "plumtree_graft_rate_limited_total",
		"GraftUnanswerable", "plumtree_graft_unanswerable_total",
		"IHaveDropped", "plumtree_ihave_dropped_total",
		"IHaveSuppressed", "plumtree_ihave_suppressed_total",
		"InvalidMessages", "plumtree_invalid_messages_total",
		"JoinSent", "plumtree_join_sent_total",
		"JoinReceived", "plumtree_join_received_total",
		"JoinRejected", "plumtree_join_rejected_total",
		"DisconnectSent", "plumtree_disconnect_sent_total",
		"DisconnectReceived", "plumtree_disconnect_received_total",
		"GraftsDeferred", "plumtree_grafts_deferred_total",
		"DigestSent", "plumtree_digest_sent_total",
		"DigestReceived", "plumtree_digest_received_total",
		"DigestRateLimited", "plumtree_digest_rate_limited_total",
		"RepairSent", "plumtree_repair_sent_total",
		"RepairReceived", "plumtree_repair_received_total",
		"RepairDuplicate", "plumtree_repair_duplicate_total",
		"AgeRefused", "plumtree_age_refused_total",
		"GapsLost", "plumtree_gaps_lost_total",
		"StreamsForgotten", "plumtree_streams_forgotten_total",
		"StreamsNotLearnt", "plumtree_streams_not_learnt_total",
	),
	gauges(
		"EagerPeers", "plumtree_eager_peers",
		"LazyPeers", "plumtree_lazy_peers",
		"TotalPeers", "plumtree_total_peers",
		"PassivePeers", "plumtree_passive_peers",
		"ProtectedPeers", "plumtree_protected_peers",
		"CacheSize", "plumtree_cache_size",
		"CacheCapacity", "plumtree_cache_capacity",
		"SeenSize", "plumtree_seen_map_size",
		"SeenCapacity", "plumtree_seen_map_capacity",
		"PendingGrafts", "plumtree_pending_grafts",
		"IHaveQueueSize", "plumtree_ihave_queue_size",
		"Streams", "plumtree_streams",
	),
)

// healthFields: the health report has more fields than metrics; these are
// the ones exported.
var healthFields = gauges(
	"Status", "plumtree_health_status",
	"Delivery.GraftFailureRate", "plumtree_graft_failure_rate",
	"Cache.Utilization", "plumtree_cache_utilization",
	"Peers.TargetEager", "plumtree_target_eager_peers",
)

var runtimeFields = slices.Concat(
	counters(
		"Backpressure", "plumtree_broadcast_backpressure_total",
		"AdmissionRefused", "plumtree_broadcast_admission_refused_total",
		"IntakePauses", "plumtree_intake_pauses_total",
		"HookDrops", "plumtree_hook_dropped_total",
		"FramesIn", "plumtree_frames_received_total",
		"FramesOut", "plumtree_frames_sent_total",
		"DecodeErrors", "plumtree_decode_errors_total",
		"EncodeErrors", "plumtree_encode_errors_total",
		"SendErrors", "plumtree_send_errors_total",
		"ObserverDrops", "plumtree_observer_dropped_events_total",
		"LargeDelivered", "plumtree_large_delivered_total",
		"LargeDeliveredBytes", "plumtree_large_delivered_bytes_total",
		"LargeDigestFailures", "plumtree_large_digest_failures_total",
		"LargeEvicted", "plumtree_large_evicted_total",
		"LargeExpired", "plumtree_large_expired_total",
		"LargeRefused", "plumtree_large_refused_total",
		"LargeRepairs", "plumtree_large_part_repairs_total",
	),
	gauges(
		"LargeInFlight", "plumtree_large_in_flight",
		"LargeBytes", "plumtree_large_assembly_bytes",
		"DeliveryQueueLen", "plumtree_delivery_queue_length",
		"DeliveryQueueCap", "plumtree_delivery_queue_capacity",
		"DeliveryOverflow", "plumtree_delivery_overflow",
		"DeliveryOverflowBytes", "plumtree_delivery_overflow_bytes",
		"DeliveryQueueBytes", "plumtree_delivery_queue_bytes",
		"ObserverQueueLen", "plumtree_observer_queue_length",
		"IntakePaused", "plumtree_intake_paused",
	),
)

var transportFields = slices.Concat(
	counters(
		"BytesIn", "plumtree_transport_received_bytes_total",
		"BytesOut", "plumtree_transport_sent_bytes_total",
		"FramesIn", "plumtree_transport_received_frames_total",
		"FramesOut", "plumtree_transport_sent_frames_total",
		"Drops", "plumtree_transport_dropped_frames_total",
		"QueueFull", "plumtree_transport_queue_full_total",
		"TooLarge", "plumtree_transport_too_large_total",
		"Dials", "plumtree_transport_dials_total",
		"DialFailures", "plumtree_transport_dial_failures_total",
		"Reconnects", "plumtree_transport_reconnects_total",
		"HandshakeFailures", "plumtree_transport_handshake_failures_total",
		"BadFrames", "plumtree_transport_bad_frames_total",
		"Rejected", "plumtree_transport_rejected_connections_total",
		"Evicted", "plumtree_transport_evicted_connections_total",
		"ReceiveDrops", "plumtree_transport_receive_dropped_frames_total",
		"AuthFailures", "plumtree_transport_auth_failures_total",
		"StreamConns", "plumtree_transport_stream_connections_total",
	),
	gauges(
		"QueueDepth", "plumtree_transport_queue_depth",
		"ReceiveQueueBytes", "plumtree_transport_receive_queue_bytes",
		"ConnectedPeers", "plumtree_transport_connected_peers",
		"Writers", "plumtree_transport_writers",
		"Conns", "plumtree_transport_connections",
		"Streams", "plumtree_transport_streams",
	),
)

var membershipFields = slices.Concat(
	counters(
		"JoinFailures", "plumtree_membership_join_failures_total",
		"SeedRejoinAttempts", "plumtree_membership_seed_rejoin_attempts_total",
		"SeedRejoins", "plumtree_membership_seed_rejoins_total",
		"PartitionSuspicions", "plumtree_membership_partition_suspicions_total",
		"StreamsAccepted", "plumtree_membership_streams_accepted_total",
		"StreamsRefusedBusy", `plumtree_membership_streams_refused_total{reason="busy"}`,
		"StreamsRefusedNodes", `plumtree_membership_streams_refused_total{reason="nodes"}`,
		"StreamsRefusedSize", `plumtree_membership_streams_refused_total{reason="size"}`,
		"StreamsRefusedMalformed", `plumtree_membership_streams_refused_total{reason="malformed"}`,
		"StreamsRefusedDecrypt", `plumtree_membership_streams_refused_total{reason="decrypt"}`,
	),
	gauges(
		"StreamsOpen", "plumtree_membership_streams_open",
		"StreamBytes", "plumtree_membership_stream_bytes",
		"Members", "plumtree_membership_members",
		"Alive", "plumtree_membership_alive_peers",
		"Ignored", "plumtree_membership_ignored_members",
		"QueueLen", "plumtree_membership_queue_length",
	),
)

var cacheFields = slices.Concat(
	counters(
		"Puts", "plumtree_cache_puts_total",
		"Hits", "plumtree_cache_hits_total",
		"Misses", "plumtree_cache_misses_total",
		"EvictedTTL", `plumtree_cache_evictions_total{reason="ttl"}`,
		"EvictedCapacity", `plumtree_cache_evictions_total{reason="capacity"}`,
		"EvictedBytes", `plumtree_cache_evictions_total{reason="bytes"}`,
		"EvictedBackpressure", `plumtree_cache_evictions_total{reason="backpressure"}`,
		"Sweeps", "plumtree_cache_sweeps_total",
		"Rejected", "plumtree_cache_admission_rejected_total",
	),
	gauges(
		"Bytes", "plumtree_cache_bytes",
		"MaxBytes", "plumtree_cache_max_bytes",
		"LargeBytes", "plumtree_cache_large_bytes",
		"MaxLargeBytes", "plumtree_cache_large_max_bytes",
		"LastSweep", "plumtree_cache_last_sweep_duration_seconds",
		"Retention", "plumtree_cache_retention_seconds",
		"Backpressure", "plumtree_cache_backpressure_level",
	),
)

// leafFields lists the Go names of every non-struct field of a struct
// type, embedded structs flattened, nested ones dotted.
func leafFields(t reflect.Type, prefix string) []string {
	var out []string
	for f := range t.Fields() {
		if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeFor[time.Time]() {
			p := prefix + f.Name + "."
			if f.Anonymous {
				p = prefix
			}
			out = append(out, leafFields(f.Type, p)...)
			continue
		}
		out = append(out, prefix+f.Name)
	}
	return out
}

// TestPropertyTablesCoverSources: every field of every source has its
// metric in the tables above (the health report excepted: only part of it
// is exported), so the property tests check all of them.
func TestPropertyTablesCoverSources(t *testing.T) {
	for _, c := range []struct {
		typ    reflect.Type
		fields []fieldMetric
	}{
		{reflect.TypeFor[core.Stats](), statsFields},
		{reflect.TypeFor[RuntimeStats](), runtimeFields},
		{reflect.TypeFor[TransportStats](), transportFields},
		{reflect.TypeFor[MembershipStats](), membershipFields},
		{reflect.TypeFor[CacheStats](), cacheFields},
	} {
		var listed []string
		for _, f := range c.fields {
			listed = append(listed, f.field)
		}
		for _, f := range leafFields(c.typ, "") {
			if !slices.Contains(listed, f) {
				t.Errorf("%s.%s has no metric in the property tables", c.typ, f)
			}
		}
	}
	var names []string
	for _, fs := range [][]fieldMetric{statsFields, healthFields, runtimeFields, transportFields, membershipFields, cacheFields} {
		for _, f := range fs {
			if i := strings.IndexByte(f.metric, '{'); i >= 0 {
				names = append(names, f.metric[:i])
			} else {
				names = append(names, f.metric)
			}
		}
	}
	names = append(names, graftLatencyName, messageSizeName, messageHopsName, ihaveBatchName)
	slices.Sort(names)
	names = slices.Compact(names)
	for _, n := range names {
		if !slices.Contains(MetricNames(), n) {
			t.Errorf("%s is in the property tables but not in MetricNames", n)
		}
	}
	for _, n := range MetricNames() {
		if !slices.Contains(names, n) {
			t.Errorf("%s is in MetricNames but not in the property tables", n)
		}
	}
}

// value reads a field as the metric should export it.
func value(v reflect.Value, field string) float64 {
	for name := range strings.SplitSeq(field, ".") {
		v = v.FieldByName(name)
	}
	if d, ok := v.Interface().(time.Duration); ok {
		return d.Seconds()
	}
	switch v.Kind() {
	case reflect.Bool:
		if v.Bool() {
			return 1
		}
		return 0
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return float64(v.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return float64(v.Uint())
	case reflect.Float32, reflect.Float64:
		return v.Float()
	}
	panic(fmt.Sprintf("field %s of kind %s", field, v.Kind()))
}

// sample is one exported series: its value and whether it is a counter.
type sample struct {
	v       float64
	counter bool
}

// scrape gathers reg into series keyed by name{labels} (the node label,
// constant, left out).
func scrape(t interface{ Fatalf(string, ...any) }, reg *prometheus.Registry) map[string]sample {
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := map[string]sample{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				if l.GetName() != "node" {
					key += fmt.Sprintf("{%s=%q}", l.GetName(), l.GetValue())
				}
			}
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				out[key] = sample{v: m.GetCounter().GetValue(), counter: true}
			case dto.MetricType_GAUGE:
				out[key] = sample{v: m.GetGauge().GetValue()}
			}
		}
	}
	return out
}

// recorder wraps a source and remembers what it returned last, and how
// often it was called.
type recorder[S any] struct {
	src   func() S
	last  S
	calls int
}

func (r *recorder[S]) read() S { r.last = r.src(); r.calls++; return r.last }

// checker compares scrapes with what the sources returned.
type checker struct {
	prev map[string]sample
}

// check compares one scrape with the values the sources returned during
// it: counters first (never below the previous scrape), then every
// field's value and type, then that nothing else is exported.
func (c *checker) check(t interface {
	Fatalf(string, ...any)
}, got map[string]sample, read []any, tables [][]fieldMetric) {
	for k, s := range got {
		if p, ok := c.prev[k]; ok && s.counter && s.v < p.v {
			t.Fatalf("counter %s went down from %v to %v", k, p.v, s.v)
		}
	}
	want := map[string]bool{}
	for i, fs := range tables {
		v := reflect.ValueOf(read[i])
		for _, f := range fs {
			want[f.metric] = true
			s, ok := got[f.metric]
			if !ok {
				t.Fatalf("%s (%T.%s) not exported", f.metric, read[i], f.field)
			}
			if w := value(v, f.field); s.v != w {
				t.Fatalf("%s = %v, but the scrape read %T.%s = %v", f.metric, s.v, read[i], f.field, w)
			}
			if s.counter != f.counter {
				t.Fatalf("%s: counter=%v, want %v", f.metric, s.counter, f.counter)
			}
		}
	}
	for k := range got {
		if !want[k] {
			t.Fatalf("%s exported but not read from any source", k)
		}
	}
	c.prev = got
}

// bump changes a source struct at random: each counter grows by a random
// amount (often zero), each gauge takes a random value.
func bump(t *rapid.T, p any, fs []fieldMetric) {
	v := reflect.ValueOf(p).Elem()
	for _, f := range fs {
		fv := v
		for name := range strings.SplitSeq(f.field, ".") {
			fv = fv.FieldByName(name)
		}
		label := f.metric
		switch {
		case f.counter:
			fv.SetUint(fv.Uint() + rapid.Uint64Range(0, 1<<20).Draw(t, label))
		case fv.Kind() == reflect.Bool:
			fv.SetBool(rapid.Bool().Draw(t, label))
		case fv.Kind() == reflect.Float64:
			fv.SetFloat(rapid.Float64Range(0, 1).Draw(t, label))
		case fv.Kind() == reflect.Uint8: // HealthStatus
			fv.SetUint(uint64(rapid.IntRange(0, 2).Draw(t, label)))
		default: // ints, durations
			fv.SetInt(rapid.Int64Range(0, 1<<40).Draw(t, label))
		}
	}
}

// TestPropertyScrapesAgreeWithSources drives every source of a Collector
// with random changes between random scrapes.
func TestPropertyScrapesAgreeWithSources(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var (
			st core.Stats
			he core.Health
			rt RuntimeStats
			tr TransportStats
			me MembershipStats
			ca CacheStats
		)
		rs := &recorder[core.Stats]{src: func() core.Stats { return st }}
		rh := &recorder[core.Health]{src: func() core.Health { return he }}
		rr := &recorder[RuntimeStats]{src: func() RuntimeStats { return rt }}
		rtr := &recorder[TransportStats]{src: func() TransportStats { return tr }}
		rm := &recorder[MembershipStats]{src: func() MembershipStats { return me }}
		rc := &recorder[CacheStats]{src: func() CacheStats { return ca }}
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(New(WithNode("n"), WithStats(rs.read), WithHealth(rh.read), WithRuntime(rr.read),
			WithTransport(rtr.read), WithMembership(rm.read), WithCache(rc.read)))
		tables := [][]fieldMetric{statsFields, healthFields, runtimeFields, transportFields, membershipFields, cacheFields}
		var c checker
		scrapes := 0
		t.Repeat(map[string]func(*rapid.T){
			"stats":      func(t *rapid.T) { bump(t, &st, statsFields) },
			"health":     func(t *rapid.T) { bump(t, &he, healthFields) },
			"runtime":    func(t *rapid.T) { bump(t, &rt, runtimeFields) },
			"transport":  func(t *rapid.T) { bump(t, &tr, transportFields) },
			"membership": func(t *rapid.T) { bump(t, &me, membershipFields) },
			"cache":      func(t *rapid.T) { bump(t, &ca, cacheFields) },
			"scrape": func(t *rapid.T) {
				got := scrape(t, reg)
				scrapes++
				for _, n := range []int{rs.calls, rh.calls, rr.calls, rtr.calls, rm.calls, rc.calls} {
					if n != scrapes {
						t.Fatalf("a source was read %d times in %d scrapes", n, scrapes)
					}
				}
				c.check(t, got, []any{rs.last, rh.last, rr.last, rtr.last, rm.last, rc.last}, tables)
			},
		})
	})
}

// TestPropertyScrapesOfARealProtocol: the Stats source is node 0 of a
// simulated network of real core.Protocols (core/coretest) driven by
// random broadcasts, crashes, restarts, losses, partitions and time; node
// 0 itself never restarts, so its counters must never go down, and each
// scrape must agree with the Stats it read.
func TestPropertyScrapesOfARealProtocol(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		const nodes = 6
		cfg := core.LANConfig()
		cfg.Seed = rapid.Int64().Draw(t, "protocolSeed")
		net, err := coretest.New(coretest.Config{
			Nodes: nodes, Protocol: cfg, Seed: rapid.Int64().Draw(t, "netSeed"),
			Latency: time.Millisecond, Jitter: 2 * time.Millisecond, DetectionDelay: 50 * time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		rs := &recorder[core.Stats]{src: net.Node(0).Stats}
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(New(WithStats(rs.read)))
		var c checker
		other := rapid.IntRange(1, nodes-1)
		t.Repeat(map[string]func(*rapid.T){
			"broadcast": func(t *rapid.T) {
				i := rapid.IntRange(0, nodes-1).Draw(t, "from")
				if net.Alive(i) {
					if _, err := net.Broadcast(i, []byte("payload")); err != nil {
						t.Fatalf("broadcast from %d: %v", i, err)
					}
				}
			},
			"run": func(t *rapid.T) {
				net.RunFor(time.Duration(rapid.Int64Range(0, int64(2*time.Second)).Draw(t, "for")))
			},
			"crash": func(t *rapid.T) {
				if i := other.Draw(t, "node"); net.Alive(i) {
					net.Crash(i)
				}
			},
			"restart": func(t *rapid.T) {
				if i := other.Draw(t, "node"); !net.Alive(i) {
					if err := net.Restart(i); err != nil {
						t.Fatal(err)
					}
				}
			},
			"drops": func(t *rapid.T) { net.SetDropRate(rapid.Float64Range(0, 0.3).Draw(t, "rate")) },
			"partition": func(t *rapid.T) {
				cut := rapid.IntRange(1, nodes-1).Draw(t, "cut")
				a, b := []int{}, []int{}
				for i := range nodes {
					if i < cut {
						a = append(a, i)
					} else {
						b = append(b, i)
					}
				}
				net.Partition(a, b)
			},
			"heal": func(t *rapid.T) { net.Heal() },
			"scrape": func(t *rapid.T) {
				got := scrape(t, reg)
				// Only the stats source is set; the histograms are empty.
				c.check(t, got, []any{rs.last}, [][]fieldMetric{statsFields})
			},
		})
	})
}
