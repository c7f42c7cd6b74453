package metricsprom

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// scenarioStats is the node state of the scripted scenario: every field a
// distinct value, so that a metric wired to the wrong field shows.
func scenarioStats() core.Stats {
	return core.Stats{
		EagerPeers: 3, LazyPeers: 6, TotalPeers: 9, PassivePeers: 20, ProtectedPeers: 2,
		CacheSize: 950, CacheCapacity: 1000, SeenSize: 5000, SeenCapacity: 100000,
		PendingGrafts: 4, IHaveQueueSize: 12,
		Counters: core.Counters{
			MessagesBroadcast: 10, MessagesDelivered: 110, MessagesDuplicate: 33,
			GossipSent: 300, IHaveSent: 44, GraftSent: 9, PruneSent: 5,
			GossipReceived: 143, IHaveReceived: 61, GraftReceived: 7, PruneReceived: 6,
			PeerPromotions: 8, PeerDemotions: 11, PeerAdded: 12, PeerRemoved: 2,
			GraftSuccess: 6, GraftFailed: 1, GraftRetries: 3, SeenMapEvictions: 13,
			MessagesPartitioned: 1, GraftRateLimited: 14, GraftUnanswerable: 15,
			IHaveDropped: 16, IHaveSuppressed: 26, InvalidMessages: 17,
			DigestSent: 18, DigestReceived: 19, RepairSent: 20, RepairReceived: 21,
			RepairDuplicate: 22, AgeRefused: 23, GapsLost: 24, StreamsForgotten: 25, DigestRateLimited: 27,
			StreamsNotLearnt: 28,
		},
		Streams: 26,
	}
}

// scenarioEvents are the events of the scripted scenario: this node
// broadcasts one 100-byte message and delivers five from others at hops
// 1, 2, 3, 7 and 12 (sizes 1, 1024, 5000, 65536, 300000 bytes), recovers
// two by Graft (20 ms and 2 s) and sends IHave batches of 1, 16 and 70.
func scenarioEvents() []core.Event {
	return []core.Event{
		{Kind: core.EventBroadcast, ID: core.MessageID{Origin: "n1", Seq: 1}, Size: 100},
		{Kind: core.EventDelivered, Peer: "n1", ID: core.MessageID{Origin: "n1", Seq: 1}, Hops: 0, Size: 100},
		{Kind: core.EventDelivered, Peer: "n2", Hops: 1, Size: 1},
		{Kind: core.EventDelivered, Peer: "n2", Hops: 2, Size: 1024},
		{Kind: core.EventGossipSent, Peer: "n3"},
		{Kind: core.EventDelivered, Peer: "n3", Hops: 3, Size: 5000},
		{Kind: core.EventDelivered, Peer: "n3", Hops: 7, Size: 65536},
		{Kind: core.EventDelivered, Peer: "n4", Hops: 12, Size: 300000},
		{Kind: core.EventGraftSuccess, Peer: "n4", Latency: 20 * time.Millisecond},
		{Kind: core.EventGraftSuccess, Peer: "n4", Latency: 2 * time.Second, Retries: 2},
		{Kind: core.EventGraftFailed, Retries: 5},
		{Kind: core.EventIHaveSent, Peer: "n5", Count: 1},
		{Kind: core.EventIHaveSent, Peer: "n5", Count: 16},
		{Kind: core.EventIHaveSent, Peer: "n6", Count: 70},
		{Kind: core.EventDuplicate, Peer: "n6", Hops: 4},
	}
}

func scenarioCollector() *Collector {
	c := New(WithNode("n1"),
		WithStats(scenarioStats),
		WithHealth(func() core.Health {
			return core.Health{Status: core.Degraded, Peers: core.PeerHealth{TargetEager: 3},
				Delivery: core.DeliveryHealth{GraftFailureRate: 0.125}, Cache: core.CacheHealth{Utilization: 0.95}}
		}),
		WithRuntime(func() RuntimeStats {
			return RuntimeStats{DeliveryQueueLen: 1, DeliveryQueueCap: 4096, DeliveryOverflow: 2, DeliveryOverflowBytes: 2048, DeliveryQueueBytes: 1024, ObserverQueueLen: 3,
				IntakePaused: true, Backpressure: 4, AdmissionRefused: 5, IntakePauses: 6, HookDrops: 7,
				FramesIn: 8, FramesOut: 9, DecodeErrors: 10, EncodeErrors: 11, SendErrors: 12, ObserverDrops: 13,
				LargeInFlight: 2, LargeBytes: 3 << 20, LargeDelivered: 4, LargeDeliveredBytes: 5 << 20,
				LargeDigestFailures: 1, LargeEvicted: 6, LargeExpired: 7, LargeRefused: 8, LargeRepairs: 9}
		}),
		WithTransport(func() TransportStats {
			return TransportStats{BytesIn: 1000, BytesOut: 2000, FramesIn: 10, FramesOut: 20, Drops: 3, QueueFull: 1,
				TooLarge: 2, Dials: 4, DialFailures: 1, Reconnects: 2, HandshakeFailures: 1, BadFrames: 5,
				Rejected: 6, Evicted: 14, ReceiveDrops: 11, AuthFailures: 12, StreamConns: 13, QueueDepth: 7, ConnectedPeers: 8,
				Writers: 10, Conns: 9, Streams: 2, ReceiveQueueBytes: 4096}
		}),
		WithMembership(func() MembershipStats {
			return MembershipStats{Members: 10, Alive: 9, Ignored: 1, QueueLen: 2, JoinFailures: 3,
				SeedRejoinAttempts: 4, SeedRejoins: 3, PartitionSuspicions: 2, StreamsAccepted: 40,
				StreamsRefusedBusy: 1, StreamsRefusedNodes: 2, StreamsRefusedSize: 3, StreamsRefusedMalformed: 4,
				StreamsRefusedDecrypt: 5, StreamsOpen: 2, StreamBytes: 4096}
		}),
		WithCache(func() CacheStats {
			return CacheStats{Bytes: 123456, MaxBytes: 1 << 20, LargeBytes: 65536, MaxLargeBytes: 1 << 19, Puts: 500, Hits: 40, Misses: 4, EvictedTTL: 8,
				EvictedCapacity: 7, EvictedBytes: 6, EvictedBackpressure: 5, Sweeps: 9, LastSweep: 1500 * time.Microsecond,
				Retention: 90 * time.Second, Backpressure: 2, Rejected: 3}
		}),
	)
	c.Observe(scenarioEvents())
	return c
}

// TestExpositionScriptedScenario compares the whole exposition of a
// scripted scenario with testdata/scenario.prom.
func TestExpositionScriptedScenario(t *testing.T) {
	f, err := os.Open("testdata/scenario.prom")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := testutil.CollectAndCompare(scenarioCollector(), f); err != nil {
		t.Fatal(err)
	}
}

func TestCollectAndLint(t *testing.T) {
	for name, c := range map[string]*Collector{
		"full":     fullCollector(),
		"scenario": scenarioCollector(),
		"empty":    New(),
	} {
		problems, err := testutil.CollectAndLint(c)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, p := range problems {
			t.Errorf("%s: lint: %s: %s", name, p.Metric, p.Text)
		}
	}
}

func TestUnsetSourcesExportOnlyHistograms(t *testing.T) {
	mfs := gather(t, New())
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	want := "plumtree_graft_latency_seconds plumtree_ihave_batch_size plumtree_message_hops plumtree_message_size_bytes"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("families = %s, want %s", got, want)
	}
}

// TestReadAtScrapeTime: gauges and counters come from the source at each
// scrape, so they are never stale.
func TestReadAtScrapeTime(t *testing.T) {
	var s core.Stats
	c := New()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	c.SetStats(func() core.Stats { return s }) // set after registration, like a Node built after its observer
	for _, eager := range []int{3, 0, 5} {
		s.EagerPeers = eager
		s.GraftFailed += 2
		if n, err := testutil.GatherAndCount(reg, "plumtree_eager_peers"); err != nil || n != 1 {
			t.Fatalf("count %d, %v", n, err)
		}
		want := "# HELP plumtree_eager_peers Peers in the eager set (payload is pushed to them).\n# TYPE plumtree_eager_peers gauge\n" +
			"plumtree_eager_peers " + strconv.Itoa(eager) + "\n" +
			"# HELP plumtree_graft_failed_total Missing messages given up after the last Graft retry.\n# TYPE plumtree_graft_failed_total counter\n" +
			"plumtree_graft_failed_total " + strconv.FormatUint(s.GraftFailed, 10) + "\n"
		if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "plumtree_eager_peers", "plumtree_graft_failed_total"); err != nil {
			t.Error(err)
		}
	}
}
