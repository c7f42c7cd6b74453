package metricsprom

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// fullCollector returns a Collector with every source set and one
// observation in every histogram, so that it exports every metric.
func fullCollector(opts ...Option) *Collector {
	opts = append([]Option{
		WithStats(func() core.Stats { return core.Stats{TotalPeers: 1} }),
		WithHealth(func() core.Health { return core.Health{} }),
		WithRuntime(func() RuntimeStats { return RuntimeStats{} }),
		WithTransport(func() TransportStats { return TransportStats{} }),
		WithMembership(func() MembershipStats { return MembershipStats{} }),
		WithCache(func() CacheStats { return CacheStats{} }),
	}, opts...)
	c := New(opts...)
	c.Observe([]core.Event{
		{Kind: core.EventDelivered, Hops: 2, Size: 10},
		{Kind: core.EventGraftSuccess, Latency: time.Millisecond},
		{Kind: core.EventIHaveSent, Count: 3},
	})
	return c
}

// gather registers c with a fresh registry and gathers it.
func gather(t *testing.T, c prometheus.Collector) []*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	return mfs
}

// exportedNames returns every series name a fully wired Collector exports:
// family names plus _bucket, _sum and _count for histograms.
func exportedNames(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	for _, mf := range gather(t, fullCollector()) {
		names[mf.GetName()] = true
		if mf.GetType() == dto.MetricType_HISTOGRAM {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				names[mf.GetName()+s] = true
			}
		}
	}
	return names
}

func TestMetricNamesMatchExposition(t *testing.T) {
	var got []string
	for _, mf := range gather(t, fullCollector()) {
		got = append(got, mf.GetName())
	}
	sort.Strings(got)
	if want := MetricNames(); !slices.Equal(got, want) {
		t.Fatalf("exported families differ from MetricNames()\n got: %v\nwant: %v", got, want)
	}
}

// The metric names of the Rust crate's metrics (rust-crate reference) and
// the series the operations guide queries, verbatim. This module must
// export every one of them.
var guideMetricNames = []string{
	// counters
	"plumtree_messages_broadcast_total",
	"plumtree_messages_delivered_total",
	"plumtree_messages_duplicate_total",
	"plumtree_gossip_sent_total",
	"plumtree_ihave_sent_total",
	"plumtree_graft_sent_total",
	"plumtree_prune_sent_total",
	"plumtree_peer_promotions_total",
	"plumtree_peer_demotions_total",
	"plumtree_peer_added_total",
	"plumtree_peer_removed_total",
	"plumtree_graft_success_total",
	"plumtree_graft_failed_total",
	"plumtree_graft_retries_total",
	"plumtree_seen_map_evictions_total",
	"plumtree_messages_partitioned_total",
	// gauges
	"plumtree_eager_peers",
	"plumtree_lazy_peers",
	"plumtree_total_peers",
	"plumtree_cache_size",
	"plumtree_cache_capacity",
	"plumtree_seen_map_size",
	"plumtree_ihave_queue_size",
	"plumtree_pending_grafts",
	// histograms, and the series the guide's histogram_quantile queries use
	"plumtree_graft_latency_seconds",
	"plumtree_message_size_bytes",
	"plumtree_message_hops",
	"plumtree_ihave_batch_size",
	"plumtree_graft_latency_seconds_bucket",
	"plumtree_message_hops_bucket",
}

func TestGuideMetricNamesExported(t *testing.T) {
	exported := exportedNames(t)
	for _, n := range guideMetricNames {
		if !exported[n] {
			t.Errorf("metric %s named by the operations guide is not exported", n)
		}
	}
}

func TestGuideHistogramBuckets(t *testing.T) {
	want := map[string][]float64{
		"plumtree_graft_latency_seconds": {0.01, 0.05, 0.1, 0.5, 1, 5},
		// The guide writes 100, 1K, 10K, 64K, 256K: K is 1024, so that the
		// default 64 KiB max_message_size lands exactly on a bound.
		"plumtree_message_size_bytes": {100, 1024, 10240, 65536, 262144},
		"plumtree_message_hops":       {1, 2, 3, 5, 10},
		"plumtree_ihave_batch_size":   {1, 4, 8, 16, 32, 64},
	}
	for _, mf := range gather(t, fullCollector()) {
		w, ok := want[mf.GetName()]
		if !ok {
			continue
		}
		delete(want, mf.GetName())
		var got []float64
		for _, b := range mf.GetMetric()[0].GetHistogram().GetBucket() {
			got = append(got, b.GetUpperBound())
		}
		if !slices.Equal(got, w) {
			t.Errorf("%s buckets = %v, want %v", mf.GetName(), got, w)
		}
	}
	if len(want) > 0 {
		t.Errorf("histograms not exported: %v", want)
	}
}

// metricRef matches a plumtree_* series name in any text.
var metricRef = regexp.MustCompile(`\bplumtree_[a-z0-9_]*[a-z0-9]`)

// docsDir is the repository's docs folder, seen from this module.
const docsDir = "../docs"

// TestDocsMetricNamesExported scans every file under docs/ (the alert and
// recording rules, the dashboard, the guides) and this module's README for
// plumtree_* names and checks that each one is exported.
func TestDocsMetricNamesExported(t *testing.T) {
	exported := exportedNames(t)
	files := []string{"README.md"}
	err := filepath.WalkDir(docsDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("docs folder: %v", err)
	}
	seen := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range metricRef.FindAllString(string(b), -1) {
			seen++
			if !exported[name] && !exported[strings.TrimSuffix(name, "_")] {
				t.Errorf("%s names %s, which is not exported", f, name)
			}
		}
	}
	if seen == 0 {
		t.Fatal("no plumtree_* names found under docs/: wrong folder?")
	}
}
