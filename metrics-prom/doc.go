// Package metricsprom exports a plumtree node's metrics to Prometheus under
// the names of the operations guide (plumtree_*).
//
// A Collector reads the node's statistics when the registry is scraped — the
// pattern of client_golang's DBStatsCollector — so counters and gauges are
// never stale, and feeds four histograms (graft latency, message size, hop
// count, IHave batch size) from the core's observer events through Observe,
// which has the shape of core/node's Observer. Transport, membership, cache
// and runtime statistics come in through small struct-returning functions
// defined in this package, so it imports core only.
//
// Setup with core/node (the Collector must exist before the Node, which
// takes it as an observer; its stats source is set once the Node exists):
//
//	reg := prometheus.NewRegistry()
//	m, _ := metricsprom.Register(reg, metricsprom.WithNode("node-1"))
//	n, _ := node.New(cfg, "node-1", tr, d, node.WithObserver(m))
//	m.SetStats(func() core.Stats { return n.Stats().Stats }); m.SetHealth(n.Health)
//	srv, _ := metricsprom.Listen(metricsprom.DefaultAddr, reg)
//
// Collectors never use the global registry. Several nodes in one process
// each get their own registry, or share one with distinct WithNode labels.
//
// Concurrency: Collector and Server are safe for concurrent use. Observe
// keeps nothing of the event slice it is given.
package metricsprom
