package cache

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
	"pgregory.net/rapid"
)

// modelEntry is the model's view of one stored message.
type modelEntry struct {
	size int64
	at   time.Time
	ins  uint64 // Put order
	use  uint64 // last use (Put or Get hit)
	hops uint16
}

// model is a plain map with linear scans: the specification the Cache is
// checked against.
type model struct {
	cfg   Config
	m     map[core.MessageID]*modelEntry
	tick  uint64
	ins   uint64
	bytes int64
	st    Stats
	level Backpressure

	latest  time.Time // the latest time given to the cache
	roomAt  time.Time // the last removal of a live entry to make room
	hasRoom bool
}

// see records a time given to the cache.
func (md *model) see(now time.Time) {
	if now.After(md.latest) {
		md.latest = now
	}
}

// retention is the TTL unless a live entry was removed for room within the
// last TTL, then the age of the least recently used entry, in [0, TTL].
func (md *model) retention(now time.Time) time.Duration {
	if !md.hasRoom || now.Sub(md.roomAt) > md.cfg.TTL {
		return md.cfg.TTL
	}
	v, ok := md.oldest(byUse)
	if !ok {
		return md.cfg.TTL
	}
	return max(0, min(now.Sub(md.m[v].at), md.cfg.TTL))
}

func (md *model) expired(e *modelEntry, now time.Time) bool { return now.Sub(e.at) > md.cfg.TTL }

func (md *model) del(id core.MessageID) {
	md.bytes -= md.m[id].size
	delete(md.m, id)
}

// oldest returns the id with the smallest key(e).
func (md *model) oldest(key func(*modelEntry) uint64) (core.MessageID, bool) {
	var best core.MessageID
	var bk uint64
	found := false
	for id, e := range md.m {
		if k := key(e); !found || k < bk {
			best, bk, found = id, k, true
		}
	}
	return best, found
}

func byIns(e *modelEntry) uint64 { return e.ins }
func byUse(e *modelEntry) uint64 { return e.use }

func (md *model) put(now time.Time, id core.MessageID, size int64, hops uint16) {
	md.st.Puts++
	if _, ok := md.m[id]; ok {
		md.del(id)
		md.st.Overwrites++
	}
	if size > md.cfg.MaxBytes {
		md.st.Evictions.Bytes++
		return
	}
	for len(md.m) >= md.cfg.MaxEntries || md.bytes+size > md.cfg.MaxBytes {
		if o, ok := md.oldest(byIns); ok && md.expired(md.m[o], now) {
			md.del(o)
			md.st.Evictions.TTL++
			continue
		}
		full := len(md.m) >= md.cfg.MaxEntries
		v, _ := md.oldest(byUse)
		md.del(v)
		md.roomAt, md.hasRoom = now, true
		if full {
			md.st.Evictions.Capacity++
		} else {
			md.st.Evictions.Bytes++
		}
	}
	md.tick++
	md.ins++
	md.m[id] = &modelEntry{size: size, at: now, ins: md.ins, use: md.tick, hops: hops}
	md.bytes += size
}

func (md *model) get(now time.Time, id core.MessageID) (*modelEntry, bool) {
	e, ok := md.m[id]
	if !ok {
		md.st.Misses++
		return nil, false
	}
	if md.expired(e, now) {
		md.del(id)
		md.st.Evictions.TTL++
		md.st.Misses++
		return nil, false
	}
	md.tick++
	e.use = md.tick
	md.st.Hits++
	return e, true
}

// liveUtilization is max(live entries/MaxEntries, live bytes/MaxBytes) over
// the entries not expired at now.
func (md *model) liveUtilization(now time.Time) float64 {
	n, b := 0, int64(0)
	for _, e := range md.m {
		if !md.expired(e, now) {
			n++
			b += e.size
		}
	}
	return max(float64(n)/float64(md.cfg.MaxEntries), float64(b)/float64(md.cfg.MaxBytes))
}

// anyExpired reports whether an entry has expired at now.
func (md *model) anyExpired(now time.Time) bool {
	for _, e := range md.m {
		if md.expired(e, now) {
			return true
		}
	}
	return false
}

func (md *model) sweep(now time.Time, batch int) int {
	ids := make([]core.MessageID, 0, len(md.m))
	for id := range md.m {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b core.MessageID) int { return int(md.m[a].ins) - int(md.m[b].ins) })
	n := 0
	for _, id := range ids {
		if batch > 0 && n >= batch || !md.expired(md.m[id], now) {
			break
		}
		md.del(id)
		n++
	}
	md.st.Evictions.TTL += uint64(n)
	md.st.Sweeps++
	return n
}

func (md *model) setLevel(l Backpressure) int {
	if l != md.level {
		md.level = l
		md.st.BackpressureChanges++
	}
	if l == BackpressureNone {
		return 0
	}
	target := md.cfg.ShedMostTo
	if l == BackpressureDropSome {
		target = md.cfg.ShedSomeTo
	}
	maxN, maxB := int(target*float64(md.cfg.MaxEntries)), int64(target*float64(md.cfg.MaxBytes))
	n := 0
	for len(md.m) > maxN || md.bytes > maxB {
		v, _ := md.oldest(byUse)
		md.del(v)
		n++
	}
	if n > 0 {
		md.roomAt, md.hasRoom = md.latest, true
	}
	md.st.Evictions.Backpressure += uint64(n)
	return n
}

// lruOrder returns the ids from least to most recently used.
func (md *model) lruOrder() []core.MessageID {
	ids := make([]core.MessageID, 0, len(md.m))
	for id := range md.m {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b core.MessageID) int { return int(md.m[a].use) - int(md.m[b].use) })
	return ids
}

func genConfig(t *rapid.T) Config {
	c := Config{
		MaxEntries: rapid.IntRange(1, 8).Draw(t, "max_entries"),
		MaxBytes:   rapid.Int64Range(1, 300).Draw(t, "max_bytes"),
		TTL:        time.Duration(rapid.IntRange(1, 50).Draw(t, "ttl_ms")) * time.Millisecond,
		ShedMostTo: rapid.Float64Range(0, 1).Draw(t, "shed_most_to"),
	}
	c.ShedSomeTo = rapid.Float64Range(c.ShedMostTo, 1).Draw(t, "shed_some_to")
	return c
}

var modelIDs = func() []core.MessageID {
	var ids []core.MessageID
	for _, o := range []core.PeerID{"a", "b", "c"} {
		for s := uint64(1); s <= 4; s++ {
			ids = append(ids, core.MessageID{Origin: o, Seq: s})
		}
	}
	return ids
}()

// TestCacheStateMachine runs random Put/Get/advance-time/Sweep/backpressure
// sequences against the model: never over capacity or bytes, never an
// expired entry, LRU order as the model's, stats equal.
func TestCacheStateMachine(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cfg := genConfig(t)
		now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
		c, err := New(cfg, WithClock(func() time.Time { return now }))
		if err != nil {
			t.Fatal(err)
		}
		md := &model{cfg: cfg, m: map[core.MessageID]*modelEntry{}}
		var hops uint16

		t.Repeat(map[string]func(*rapid.T){
			"put": func(t *rapid.T) {
				id := rapid.SampledFrom(modelIDs).Draw(t, "id")
				n := rapid.IntRange(0, int(cfg.MaxBytes)+10).Draw(t, "payload")
				var hs []core.Header
				if rapid.IntRange(0, 3).Draw(t, "with_header") == 0 {
					hs = []core.Header{{Key: "k", Value: "v"}}
				}
				hops++
				m := core.StoredMessage{Payload: make([]byte, n), Headers: hs, Hops: hops}
				c.Put(now, id, m)
				md.see(now)
				md.put(now, id, messageSize(&m), hops)
			},
			"get": func(t *rapid.T) {
				id := rapid.SampledFrom(modelIDs).Draw(t, "id")
				got, ok := c.Get(now, id)
				md.see(now)
				want, wok := md.get(now, id)
				if ok != wok {
					t.Fatalf("Get(%v) found=%v, model %v", id, ok, wok)
				}
				if ok && (got.Hops != want.hops || messageSize(&got) != want.size || md.expired(want, now)) {
					t.Fatalf("Get(%v) = hops %d size %d, model hops %d size %d", id, got.Hops, messageSize(&got), want.hops, want.size)
				}
			},
			"advance": func(t *rapid.T) {
				now = now.Add(time.Duration(rapid.IntRange(0, 2*int(cfg.TTL/time.Millisecond)).Draw(t, "ms")) * time.Millisecond)
			},
			"sweep": func(t *rapid.T) {
				batch := rapid.IntRange(0, 5).Draw(t, "batch")
				got := c.Sweep(now, batch)
				md.see(now)
				want := md.sweep(now, batch)
				if got.Removed != want {
					t.Fatalf("Sweep removed %d, model %d", got.Removed, want)
				}
				if wantMore := batch > 0 && want == batch && md.anyExpired(now); got.More != wantMore {
					t.Fatalf("Sweep(batch %d) More=%v, model %v", batch, got.More, wantMore)
				}
			},
			"live": func(t *rapid.T) {
				md.see(now)
				if got, want := c.LiveUtilization(now), md.liveUtilization(now); got != want {
					t.Fatalf("LiveUtilization %v, model %v", got, want)
				}
			},
			"retention": func(t *rapid.T) {
				md.see(now)
				if got, want := c.Retention(now), md.retention(now); got != want {
					t.Fatalf("Retention %v, model %v", got, want)
				}
			},
			"backpressure": func(t *rapid.T) {
				l := Backpressure(rapid.IntRange(0, 3).Draw(t, "level"))
				if got, want := c.SetBackpressure(l), md.setLevel(l); got != want {
					t.Fatalf("SetBackpressure(%v) shed %d, model %d", l, got, want)
				}
				if err := c.Admit(); (err != nil) != (l == BackpressureBlockNew) {
					t.Fatalf("Admit at %v: %v", l, err)
				}
				if l == BackpressureBlockNew {
					md.st.Rejected++
				}
			},
			"": func(t *rapid.T) {
				st := c.Stats()
				if st.Size > cfg.MaxEntries || st.Bytes > cfg.MaxBytes {
					t.Fatalf("over bounds: %d entries, %d bytes", st.Size, st.Bytes)
				}
				want := md.st
				want.Size, want.Bytes = len(md.m), md.bytes
				want.Retention = md.retention(now) // Stats reads the clock: now
				got := st
				got.Capacity, got.MaxBytes, got.TTL, got.Utilization, got.LastSweep, got.LastRemoved, got.Backpressure = 0, 0, 0, 0, 0, 0, 0
				if got != want {
					t.Fatalf("stats\n got %+v\nwant %+v", got, want)
				}
				if st.Puts != uint64(st.Size)+st.Evictions.Total()+st.Overwrites {
					t.Fatalf("stats inconsistent: %+v", st)
				}
				if st.Backpressure != md.level {
					t.Fatalf("level %v, model %v", st.Backpressure, md.level)
				}
				c.mu.Lock()
				keys := c.lru.Keys()
				fifo := c.fifo.len()
				c.mu.Unlock()
				if order := md.lruOrder(); !slices.Equal(keys, order) {
					t.Fatalf("LRU order %v, model %v", keys, order)
				}
				if fifo > 4*cfg.MaxEntries+16 {
					t.Fatalf("expiry queue holds %d records for %d entries", fifo, cfg.MaxEntries)
				}
			},
		})
	})
}

// TestCacheNonMonotoneTime lets time jump back and forth: the bounds hold,
// the stats add up, and Get never returns a message older than the TTL
// measured from its own Put.
func TestCacheNonMonotoneTime(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cfg := genConfig(t)
		c, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
		putAt := map[core.MessageID]time.Time{}
		at := func(t *rapid.T) time.Time {
			return base.Add(time.Duration(rapid.IntRange(-100, 100).Draw(t, "ms")) * time.Millisecond)
		}
		t.Repeat(map[string]func(*rapid.T){
			"put": func(t *rapid.T) {
				id := rapid.SampledFrom(modelIDs).Draw(t, "id")
				now := at(t)
				c.Put(now, id, core.StoredMessage{Payload: make([]byte, rapid.IntRange(0, int(cfg.MaxBytes)).Draw(t, "n"))})
				putAt[id] = now
			},
			"get": func(t *rapid.T) {
				id := rapid.SampledFrom(modelIDs).Draw(t, "id")
				now := at(t)
				if _, ok := c.Get(now, id); ok && now.Sub(putAt[id]) > cfg.TTL {
					t.Fatalf("Get returned %v put at %v at %v (ttl %v)", id, putAt[id].Sub(base), now.Sub(base), cfg.TTL)
				}
			},
			"sweep": func(t *rapid.T) {
				now := at(t)
				c.mu.Lock()
				before := c.lru.Keys()
				c.mu.Unlock()
				c.Sweep(now, rapid.IntRange(0, 5).Draw(t, "batch"))
				c.mu.Lock()
				defer c.mu.Unlock()
				// A sweep only removes entries expired at now.
				for _, id := range before {
					if _, ok := c.lru.Peek(id); !ok && now.Sub(putAt[id]) <= cfg.TTL {
						t.Fatalf("Sweep at %v removed %v put at %v (ttl %v)", now.Sub(base), id, putAt[id].Sub(base), cfg.TTL)
					}
				}
			},
			"live": func(t *rapid.T) {
				// The live count leaves out only entries expired at now
				// (judged by their own Put time), and exactly those whose
				// expiry record has expired.
				now := at(t)
				c.mu.Lock()
				defer c.mu.Unlock()
				nowOff := c.offset(now)
				c.advanceExpired(nowOff)
				n, b, notExpired, recLive := c.lru.Len()-c.expN, c.bytes-c.expB, 0, 0
				var recBytes int64
				for i := 0; i < c.fifo.len(); i++ {
					r := c.fifo.at(i)
					if v, ok := c.lru.Peek(r.id); ok && v.seq == r.seq && !c.expired(r.at, nowOff) {
						recLive++
						recBytes += int64(v.size)
					}
				}
				for _, id := range c.lru.Keys() {
					if now.Sub(putAt[id]) <= cfg.TTL {
						notExpired++
					}
				}
				if n != recLive || b != recBytes || n < notExpired {
					t.Fatalf("live %d entries %d bytes; by records %d, %d; not expired by own time %d", n, b, recLive, recBytes, notExpired)
				}
			},
			"": func(t *rapid.T) {
				st := c.Stats()
				if st.Size > cfg.MaxEntries || st.Bytes > cfg.MaxBytes {
					t.Fatalf("over bounds: %+v", st)
				}
				if st.Puts != uint64(st.Size)+st.Evictions.Total()+st.Overwrites {
					t.Fatalf("stats inconsistent: %+v", st)
				}
				var sum int64
				c.mu.Lock()
				for _, id := range c.lru.Keys() {
					v, _ := c.lru.Peek(id)
					sum += int64(v.size)
				}
				c.mu.Unlock()
				if sum != st.Bytes {
					t.Fatalf("bytes %d, entries hold %d", st.Bytes, sum)
				}
			},
		})
	})
}

func ExampleBackpressure_String() {
	for l := BackpressureNone; l <= BackpressureBlockNew; l++ {
		fmt.Print(l, " ")
	}
	fmt.Println()
	// Output: none drop-some drop-most block-new
}
