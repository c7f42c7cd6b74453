package cache

import (
	"runtime"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
)

const benchOrigin core.PeerID = "node-1"

func benchCache(b testing.TB, entries int) *Cache {
	cfg := DefaultConfig()
	cfg.MaxEntries = entries
	cfg.MaxBytes = 1 << 40
	cfg.TTL = time.Hour
	return newCache(b, cfg)
}

// BenchmarkCachePut stores new messages into a full cache (10,000 entries),
// so every Put also evicts: the steady state of a busy node. The payload is
// shared, so allocs/op counts the cache's own allocations.
func BenchmarkCachePut(b *testing.B) { benchPut(b, benchCache(b, 10000)) }

// BenchmarkCachePutPartsList is BenchmarkCachePut with the large messages'
// parts list on (MaxLargeBytes, as ConfigFromCore sets it): an ordinary
// Put then also looks its id up in the parts' list.
func BenchmarkCachePutPartsList(b *testing.B) {
	cfg := DefaultConfig()
	cfg.MaxEntries, cfg.MaxBytes, cfg.MaxLargeBytes, cfg.TTL = 10000, 1<<40, 1<<40, time.Hour
	benchPut(b, newCache(b, cfg))
}

// benchPut fills c (10,000 entries), then measures Puts of new messages.
func benchPut(b *testing.B, c *Cache) {
	m := core.StoredMessage{Payload: make([]byte, 1024)}
	for i := 0; i < 10000; i++ {
		c.Put(t0, core.MessageID{Origin: benchOrigin, Seq: uint64(i)}, m)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.Put(t0, core.MessageID{Origin: benchOrigin, Seq: uint64(10000 + i)}, m)
	}
}

// BenchmarkCacheGetHit reads stored messages (10,000 entries).
func BenchmarkCacheGetHit(b *testing.B) {
	c := benchCache(b, 10000)
	m := core.StoredMessage{Payload: make([]byte, 1024)}
	ids := make([]core.MessageID, 10000)
	for i := range ids {
		ids[i] = core.MessageID{Origin: benchOrigin, Seq: uint64(i)}
		c.Put(t0, ids[i], m)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, ok := c.Get(t0, ids[i%len(ids)]); !ok {
			b.Fatal("miss")
		}
	}
}

// BenchmarkCacheSweep sweeps a cache of 100,000 expired entries: all at
// once, and in the batches of 500 the default CleanupTuner uses at most.
func BenchmarkCacheSweep(b *testing.B) {
	const n = 100000
	m := core.StoredMessage{Payload: make([]byte, 64)}
	fill := func(c *Cache) {
		for i := 0; i < n; i++ {
			c.Put(t0, core.MessageID{Origin: benchOrigin, Seq: uint64(i)}, m)
		}
	}
	later := t0.Add(2 * time.Hour)
	b.Run("all-100k", func(b *testing.B) {
		c := benchCache(b, n)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			fill(c)
			b.StartTimer()
			if r := c.Sweep(later, 0); r.Removed != n {
				b.Fatalf("removed %d", r.Removed)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/entry")
	})
	b.Run("batch-500-of-100k", func(b *testing.B) {
		c := benchCache(b, n)
		fill(c)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if c.Len() < 500 {
				b.StopTimer()
				fill(c)
				b.StartTimer()
			}
			if r := c.Sweep(later, 500); r.Removed != 500 {
				b.Fatalf("removed %d", r.Removed)
			}
		}
	})
}

// memoryOverhead stores 10,000 messages of 1 KiB (each its own allocation,
// as received from the network) and returns the heap the cache holds
// beyond the payload bytes, per entry.
func memoryOverhead(tb testing.TB) (perEntry, ratio float64) {
	const n, size = 10000, 1024
	before := heapInUse()
	c := benchCache(tb, n)
	for i := 0; i < n; i++ {
		c.Put(t0, core.MessageID{Origin: benchOrigin, Seq: uint64(i)}, core.StoredMessage{Payload: make([]byte, size)})
	}
	after := heapInUse()
	runtime.KeepAlive(c)
	held := float64(after) - float64(before)
	return (held - n*size) / n, held / (n * size)
}

// BenchmarkCacheMemory reports the heap held by 10,000 cached 1 KiB
// messages: bytes of overhead per entry and the ratio to the payload bytes
// (bound: 1.5).
func BenchmarkCacheMemory(b *testing.B) {
	var per, ratio float64
	for i := 0; i < b.N; i++ {
		per, ratio = memoryOverhead(b)
	}
	b.ReportMetric(per, "overhead-B/entry")
	b.ReportMetric(ratio, "heap/payload")
	if ratio > 1.5 {
		b.Fatalf("cache holds %.2f× its payload bytes, bound 1.5×", ratio)
	}
}

// TestMemoryOverhead keeps the memory bound in the ordinary test run.
func TestMemoryOverhead(t *testing.T) {
	per, ratio := memoryOverhead(t)
	t.Logf("overhead %.0f B/entry, heap %.3f× payload", per, ratio)
	if ratio > 1.5 {
		t.Fatalf("cache holds %.2f× its payload bytes, bound 1.5×", ratio)
	}
}

// BenchmarkBaselineMapChurn is not the cache: it is the floor under
// BenchmarkCachePut on the same machine, a bare Go map doing what any
// bounded map store must do per insert at capacity (a miss lookup, an insert
// with one 160-byte allocation, a delete). Compare the two when judging Put
// numbers from a busy machine.
func BenchmarkBaselineMapChurn(b *testing.B) {
	m := make(map[core.MessageID]*[160]byte)
	for i := 0; i < 10000; i++ {
		m[core.MessageID{Origin: benchOrigin, Seq: uint64(i)}] = new([160]byte)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k := core.MessageID{Origin: benchOrigin, Seq: uint64(10000 + i)}
		if _, ok := m[k]; !ok {
			m[k] = new([160]byte)
		}
		delete(m, core.MessageID{Origin: benchOrigin, Seq: uint64(i)})
	}
}
