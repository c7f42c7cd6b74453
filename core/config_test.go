package core_test

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
)

func TestPresetsValid(t *testing.T) {
	for _, name := range []string{"default", "lan", "wan", "large"} {
		c, err := core.Preset(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := core.Preset("huge"); !errors.Is(err, core.ErrInvalidConfig) {
		t.Errorf("unknown preset: %v", err)
	}
	// The Rust crate's table, except the overlay and lazy-push values, which
	// are ours (bounded symmetric active view of eager_fanout+lazy_fanout
	// links; see docs/design.md).
	d, l, w, g := core.DefaultConfig(), core.LANConfig(), core.WANConfig(), core.LargeClusterConfig()
	check := func(name string, got, want any) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	check("default eager_fanout", d.EagerFanout, 2)
	check("default lazy_fanout", d.LazyFanout, 3)
	check("wan eager_fanout", w.EagerFanout, 3)
	check("large eager_fanout", g.EagerFanout, 3)
	check("default ihave_interval", d.IHaveInterval, 200*time.Millisecond)
	check("lan ihave_interval", l.IHaveInterval, 100*time.Millisecond)
	check("large ihave_batch_size", g.IHaveBatchSize, 128)
	check("wan message_cache_max_size", w.MessageCacheMaxSize, 65536)
	check("default message_cache_ttl", d.MessageCacheTTL, 10*time.Minute)
	check("lan message_cache_ttl", l.MessageCacheTTL, 10*time.Minute)
	check("default clock_skew", d.ClockSkew, 30*time.Second)
	check("lan optimization_threshold", l.OptimizationThreshold, 2)
	check("wan graft_timeout", w.GraftTimeout, time.Second)
	check("lan graft_max_retries", l.GraftMaxRetries, 3)
	check("wan graft_rate_limit_burst", w.GraftRateLimitBurst, 15)
	check("large maintenance_jitter", g.MaintenanceJitter, 750*time.Millisecond)
	check("lan protect_ring_neighbors", l.ProtectRingNeighbors, false)
	check("wan use_hash_ring", w.UseHashRing, true)
	check("large max_eager_peers", g.MaxEagerPeers, 4)
	check("default max_grafts_per_interval", d.MaxGraftsPerInterval, 64)
	check("default max_message_size", d.MaxMessageSize, 64<<10)
}

func TestConfigValidateNamesField(t *testing.T) {
	cases := []struct {
		field string
		mod   func(c *core.Config)
	}{
		{"eager_fanout", func(c *core.Config) { c.EagerFanout = 0 }},
		{"eager_fanout", func(c *core.Config) { c.EagerFanout = 5000 }},
		{"lazy_fanout", func(c *core.Config) { c.LazyFanout = -1 }},
		{"max_peers", func(c *core.Config) { c.MaxPeers = -1 }},
		{"max_peers", func(c *core.Config) { c.MaxPeers = 4 }},
		{"max_eager_peers", func(c *core.Config) { c.MaxEagerPeers = 1 }},
		{"max_eager_peers", func(c *core.Config) { c.MaxEagerPeers = -1 }},
		{"max_passive_peers", func(c *core.Config) { c.MaxPassivePeers = 0 }},
		{"ihave_interval", func(c *core.Config) { c.IHaveInterval = 0 }},
		{"ihave_batch_size", func(c *core.Config) { c.IHaveBatchSize = 0 }},
		{"ihave_batch_size", func(c *core.Config) { c.IHaveBatchSize = core.MaxIHaveBatch + 1 }},
		{"max_grafts_per_interval", func(c *core.Config) { c.MaxGraftsPerInterval = 0 }},
		{"message_cache_ttl", func(c *core.Config) { c.MessageCacheTTL = 0 }},
		{"message_cache_max_size", func(c *core.Config) { c.MessageCacheMaxSize = 0 }},
		{"seen_ttl", func(c *core.Config) { c.SeenTTL = time.Second }},
		{"seen_ttl", func(c *core.Config) { c.SeenTTL = -1 }},
		{"seen_max_size", func(c *core.Config) { c.SeenMaxSize = 0 }},
		{"optimization_threshold", func(c *core.Config) { c.OptimizationThreshold = 0 }},
		{"hop_optimization_threshold", func(c *core.Config) { c.HopOptimizationThreshold = -1 }},
		{"graft_timeout", func(c *core.Config) { c.GraftTimeout = 0 }},
		{"graft_timeout", func(c *core.Config) { c.GraftTimeout = 1 << 62 }},
		{"message_cache_ttl", func(c *core.Config) { c.MessageCacheTTL = 1 << 62 }},
		{"health.window", func(c *core.Config) { c.Health.Window = 1 << 62 }},
		{"graft_max_retries", func(c *core.Config) { c.GraftMaxRetries = -1 }},
		{"graft_max_retries", func(c *core.Config) { c.GraftMaxRetries = 65 }},
		{"graft_rate_limit_per_second", func(c *core.Config) { c.GraftRateLimitPerSecond = 0 }},
		{"graft_rate_limit_per_second", func(c *core.Config) { c.GraftRateLimitPerSecond = math.NaN() }},
		{"graft_rate_limit_burst", func(c *core.Config) { c.GraftRateLimitBurst = 0 }},
		{"max_pending_grafts", func(c *core.Config) { c.MaxPendingGrafts = 0 }},
		{"max_announcers", func(c *core.Config) { c.MaxAnnouncers = 0 }},
		{"anti_entropy_batch", func(c *core.Config) { c.AntiEntropyBatch = -1 }},
		{"anti_entropy_batch", func(c *core.Config) { c.AntiEntropyBatch = 1<<16 + 1 }},
		{"anti_entropy_bytes", func(c *core.Config) { c.AntiEntropyBytes = 0 }},
		{"anti_entropy_digest_bytes", func(c *core.Config) { c.AntiEntropyDigestBytes = 100 }},
		{"max_streams", func(c *core.Config) { c.MaxStreams = 0 }},
		{"max_stream_gaps", func(c *core.Config) { c.MaxStreamGaps = 0 }},
		{"max_stream_gaps", func(c *core.Config) { c.MaxStreamGaps = core.MaxDigestRuns + 1 }},
		{"clock_skew", func(c *core.Config) { c.ClockSkew = -1 }},
		{"clock_skew", func(c *core.Config) { c.ClockSkew = 25 * time.Hour }},
		{"max_message_size", func(c *core.Config) { c.MaxMessageSize = 0 }},
		{"max_message_size", func(c *core.Config) { c.MaxMessageSize = core.MaxMessageSizeLimit + 1 }},
		{"max_message_size", func(c *core.Config) { c.MaxMessageSize = core.MinMessageSizeForLarge - 1 }},
		{"anti_entropy_min_age", func(c *core.Config) { c.MessageCacheTTL = c.AntiEntropyMinAge }},
		{"health.failure_rate_degraded", func(c *core.Config) { c.Health.FailureRateDegraded = c.Health.FailureRateUnhealthy + 0.1 }},
		{"maintenance_interval", func(c *core.Config) { c.MaintenanceInterval = 0 }},
		{"maintenance_jitter", func(c *core.Config) { c.MaintenanceJitter = -1 }},
		{"maintenance_jitter", func(c *core.Config) { c.MaintenanceJitter = c.MaintenanceInterval }},
		{"max_protected_neighbors", func(c *core.Config) { c.MaxProtectedNeighbors = 5 }},
		{"max_protected_neighbors", func(c *core.Config) {
			c.UseHashRing, c.EagerFanout, c.LazyFanout, c.MaxProtectedNeighbors = true, 1, 1, 2
		}},
		{"health.failure_rate_unhealthy", func(c *core.Config) { c.Health.FailureRateUnhealthy = 1.5 }},
		{"health.failure_rate_degraded", func(c *core.Config) { c.Health.FailureRateDegraded = -0.1 }},
		{"health.pending_grafts_degraded", func(c *core.Config) { c.Health.PendingGraftsDegraded = -1 }},
		{"health.cache_utilization_degraded", func(c *core.Config) { c.Health.CacheUtilizationDegraded = math.Inf(1) }},
		{"health.min_peers_degraded", func(c *core.Config) { c.Health.MinPeersDegraded = -1 }},
		{"health.window", func(c *core.Config) { c.Health.Window = 0 }},
		{"health.cache_retention_degraded", func(c *core.Config) { c.Health.CacheRetentionDegraded = -time.Second }},
		{"health.min_graft_samples", func(c *core.Config) { c.Health.MinGraftSamples = -1 }},
	}
	for _, tc := range cases {
		c := core.DefaultConfig()
		tc.mod(&c)
		err := c.Validate()
		if err == nil {
			t.Errorf("%s: no error", tc.field)
			continue
		}
		if !errors.Is(err, core.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.field+" ") {
			t.Errorf("%s: error %q does not name the field", tc.field, err)
		}
		if _, err := core.New(c, "me", nil, t0); err == nil {
			t.Errorf("%s: New accepted the config", tc.field)
		}
	}
	var zero core.Config
	if err := zero.Validate(); err == nil {
		t.Error("zero Config valid")
	}
}
