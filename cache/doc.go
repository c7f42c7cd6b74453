// Package cache is the production message store of a Plumtree node: an LRU
// + TTL cache of payloads, bounded by entry count and by bytes, that
// implements core.Store so the protocol can answer Grafts from it.
//
// # Bounds
//
// A Cache never holds more than Config.MaxEntries messages or more than
// Config.MaxBytes payload and header bytes. Put makes room by removing
// expired entries first (oldest Put first), then least recently used ones,
// and counts each removal by reason (TTL, capacity, bytes, backpressure).
//
// # Time
//
// Put, Get and Sweep take the current time as an argument; expiry is a pure
// function of those times, so tests and the simulator are deterministic. A
// message expires when more than Config.TTL has passed since its Put. Get
// never returns an expired message.
//
// # Sweeps and the Scheduler
//
// Expired entries are removed in the background by Run (or Start/Stop), in
// batches, on a schedule asked from a Scheduler: Next(now, utilization,
// ttl, puts) returns the interval, the batch size and the backpressure
// level; Observe(now, took, removed) reports the sweep. *tuner.CleanupTuner
// from module github.com/plumtree-go/plumtree/tuner satisfies Scheduler
// structurally (the two modules do not import each other):
//
//	t, _ := tuner.NewCleanupTuner(tuner.DefaultCleanupConfig())
//	c, _ := cache.New(cache.ConfigFromCore(cfg), cache.WithScheduler(t), cache.WithLogger(log))
//	c.Start()
//	defer c.Stop()
//
// Each sweep that removes entries logs at DEBUG, with the text of the
// operations guide: "Evicting {count} messages from cache (TTL expired)".
//
// # Backpressure
//
// The Scheduler's level acts: at drop-some and drop-most the cache sheds
// least recently used entries down to Config.ShedSomeTo / ShedMostTo after
// each sweep (by default 1: nothing, since the bounds already bound the
// memory and shedding would only shorten retention); at block-new it also
// makes Admit return ErrBackpressure, which a node uses to refuse new
// broadcasts. Block-new is applied only while the cache's Retention (how
// far back it still holds messages) is below Config.MinRetention, 30 s by
// default: a cache that is merely full refuses nothing. Every level change
// is logged (WARN when raised, INFO when eased) and counted in Stats.
//
// # Concurrency
//
// All methods are safe for concurrent use. One mutex guards the
// non-thread-safe golang-lru simplelru.LRU lists and the expiry queue; Admit and
// Backpressure are lock-free. Stored payloads and headers are shared, not
// copied: after Put nobody may modify them.
package cache
