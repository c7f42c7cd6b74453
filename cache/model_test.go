package cache

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/core/large"
	"pgregory.net/rapid"
)

// modelEntry is the model's view of one stored message.
type modelEntry struct {
	size int64
	at   time.Time
	ins  uint64 // Put order
	use  uint64 // last use (Put or Get hit)
	hops uint16
	cls  int // classMessages, or classParts for a large message's part (with MaxLargeBytes)
}

// model is a plain map with linear scans: the specification the Cache is
// checked against.
type model struct {
	cfg   Config
	m     map[core.MessageID]*modelEntry
	tick  uint64
	ins   uint64
	bytes [2]int64 // per list
	st    Stats
	level Backpressure

	latest  time.Time    // the latest time given to the cache
	roomAt  [2]time.Time // per list, the last removal of a live entry to make room
	hasRoom [2]bool
}

// classes is the number of lists: 2 with MaxLargeBytes.
func (md *model) classes() int {
	if md.cfg.MaxLargeBytes > 0 {
		return 2
	}
	return 1
}

// bound is list k's byte bound.
func (md *model) bound(k int) int64 {
	if k == classParts {
		return md.cfg.MaxLargeBytes
	}
	return md.cfg.MaxBytes
}

// classOf is the list of a message with these headers.
func (md *model) classOf(hs []core.Header) int {
	for _, h := range hs {
		if h.Key == large.HeaderKey && md.classes() == 2 {
			return classParts
		}
	}
	return classMessages
}

// oldestIn returns list k's least recently used id.
func (md *model) oldestIn(k int) (core.MessageID, bool) {
	var best core.MessageID
	found := false
	for id, e := range md.m {
		if e.cls == k && (!found || e.use < md.m[best].use) {
			best, found = id, true
		}
	}
	return best, found
}

// olderClass is the list to take from at the entry bound: the one whose
// least recently used entry was put first.
func (md *model) olderClass() int {
	a, okA := md.oldestIn(classMessages)
	b, okB := md.oldestIn(classParts)
	if !okA || okB && md.m[b].ins < md.m[a].ins {
		return classParts
	}
	return classMessages
}

// see records a time given to the cache.
func (md *model) see(now time.Time) {
	if now.After(md.latest) {
		md.latest = now
	}
}

// retention is the TTL, or less: for each list that removed a live entry
// for room within the last TTL, the age of its least recently used entry,
// in [0, TTL].
func (md *model) retention(now time.Time) time.Duration {
	r := md.cfg.TTL
	for k := range md.classes() {
		if !md.hasRoom[k] || now.Sub(md.roomAt[k]) > md.cfg.TTL {
			continue
		}
		if v, ok := md.oldestIn(k); ok {
			r = min(r, max(0, min(now.Sub(md.m[v].at), md.cfg.TTL)))
		}
	}
	return r
}

func (md *model) expired(e *modelEntry, now time.Time) bool { return now.Sub(e.at) > md.cfg.TTL }

func (md *model) del(id core.MessageID) {
	md.bytes[md.m[id].cls] -= md.m[id].size
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

func (md *model) put(now time.Time, id core.MessageID, size int64, hops uint16, k int) {
	md.st.Puts++
	if _, ok := md.m[id]; ok {
		md.del(id)
		md.st.Overwrites++
	}
	if size > md.bound(k) {
		md.st.Evictions.Bytes++
		return
	}
	for len(md.m) >= md.cfg.MaxEntries || md.bytes[k]+size > md.bound(k) {
		if o, ok := md.oldest(byIns); ok && md.expired(md.m[o], now) {
			md.del(o)
			md.st.Evictions.TTL++
			continue
		}
		full := len(md.m) >= md.cfg.MaxEntries
		from := k
		if full {
			from = md.olderClass()
		}
		v, _ := md.oldestIn(from)
		md.del(v)
		md.roomAt[from], md.hasRoom[from] = now, true
		if full {
			md.st.Evictions.Capacity++
		} else {
			md.st.Evictions.Bytes++
		}
	}
	md.tick++
	md.ins++
	md.m[id] = &modelEntry{size: size, at: now, ins: md.ins, use: md.tick, hops: hops, cls: k}
	md.bytes[k] += size
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

// liveUtilization is max(live entries/MaxEntries, each list's live
// bytes/its bound) over the entries not expired at now.
func (md *model) liveUtilization(now time.Time) float64 {
	n, b := 0, [2]int64{}
	for _, e := range md.m {
		if !md.expired(e, now) {
			n++
			b[e.cls] += e.size
		}
	}
	u := float64(n) / float64(md.cfg.MaxEntries)
	for k := range md.classes() {
		u = max(u, float64(b[k])/float64(md.bound(k)))
	}
	return u
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
	n := 0
	drop := func(k int) {
		v, _ := md.oldestIn(k)
		md.del(v)
		md.roomAt[k], md.hasRoom[k] = md.latest, true
		n++
	}
	// Each list down to target times its byte bound, then entries down
	// to target times MaxEntries from the list put into first.
	for k := range md.classes() {
		for maxB := int64(target * float64(md.bound(k))); md.bytes[k] > maxB; {
			drop(k)
		}
	}
	for maxN := int(target * float64(md.cfg.MaxEntries)); len(md.m) > maxN; {
		drop(md.olderClass())
	}
	md.st.Evictions.Backpressure += uint64(n)
	return n
}

// lruOrder returns list k's ids from least to most recently used.
func (md *model) lruOrder(k int) []core.MessageID {
	ids := make([]core.MessageID, 0, len(md.m))
	for id, e := range md.m {
		if e.cls == k {
			ids = append(ids, id)
		}
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
	if rapid.Bool().Draw(t, "parts_list") {
		c.MaxLargeBytes = rapid.Int64Range(1, 300).Draw(t, "max_large_bytes")
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
				n := rapid.IntRange(0, int(max(cfg.MaxBytes, cfg.MaxLargeBytes))+10).Draw(t, "payload")
				hs := genHeaders(t)
				hops++
				m := core.StoredMessage{Payload: make([]byte, n), Headers: hs, Hops: hops}
				c.Put(now, id, m)
				md.see(now)
				md.put(now, id, messageSize(&m), hops, md.classOf(hs))
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
				if st.Size > cfg.MaxEntries || st.Bytes-st.LargeBytes > cfg.MaxBytes || st.LargeBytes > cfg.MaxLargeBytes {
					t.Fatalf("over bounds: %d entries, %d bytes (%d in parts)", st.Size, st.Bytes, st.LargeBytes)
				}
				want := md.st
				want.Size, want.Bytes, want.LargeBytes = len(md.m), md.bytes[0]+md.bytes[1], md.bytes[1]
				want.Retention = md.retention(now) // Stats reads the clock: now
				got := st
				got.Capacity, got.MaxBytes, got.MaxLargeBytes, got.TTL, got.Utilization, got.LastSweep, got.LastRemoved, got.Backpressure = 0, 0, 0, 0, 0, 0, 0, 0
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
				var keys [2][]core.MessageID
				for k := range c.nCls {
					keys[k] = c.cls[k].lru.Keys()
				}
				fifo := c.fifo.len()
				c.mu.Unlock()
				for k := range 2 {
					if order := md.lruOrder(k); !slices.Equal(keys[k], order) {
						t.Fatalf("list %d's LRU order %v, model %v", k, keys[k], order)
					}
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
				c.Put(now, id, core.StoredMessage{Payload: make([]byte, rapid.IntRange(0, int(cfg.MaxBytes)).Draw(t, "n")), Headers: genHeaders(t)})
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
				before := allKeys(c)
				c.mu.Unlock()
				c.Sweep(now, rapid.IntRange(0, 5).Draw(t, "batch"))
				c.mu.Lock()
				defer c.mu.Unlock()
				// A sweep only removes entries expired at now.
				for _, id := range before {
					if _, ok := c.peek(id); !ok && now.Sub(putAt[id]) <= cfg.TTL {
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
				n, b, notExpired, recLive := c.count()-c.expN, c.totalBytes()-c.cls[0].expB-c.cls[1].expB, 0, 0
				var recBytes int64
				for i := 0; i < c.fifo.len(); i++ {
					r := c.fifo.at(i)
					if v, ok := c.peek(r.id); ok && v.seq == r.seq && !c.expired(r.at, nowOff) {
						recLive++
						recBytes += int64(v.size)
					}
				}
				for _, id := range allKeys(c) {
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
				if st.Size > cfg.MaxEntries || st.Bytes-st.LargeBytes > cfg.MaxBytes || st.LargeBytes > cfg.MaxLargeBytes {
					t.Fatalf("over bounds: %+v", st)
				}
				if st.Puts != uint64(st.Size)+st.Evictions.Total()+st.Overwrites {
					t.Fatalf("stats inconsistent: %+v", st)
				}
				var sum int64
				c.mu.Lock()
				for _, id := range allKeys(c) {
					v, _ := c.peek(id)
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

// genHeaders draws a message's headers: none, an application's, or the
// large-message header of a part.
func genHeaders(t *rapid.T) []core.Header {
	switch rapid.IntRange(0, 5).Draw(t, "headers") {
	case 0:
		return []core.Header{{Key: "k", Value: "v"}}
	case 1:
		return []core.Header{{Key: large.HeaderKey, Value: large.HeaderValue}}
	}
	return nil
}

// allKeys returns the ids in every list. Caller holds c.mu.
func allKeys(c *Cache) []core.MessageID {
	var ids []core.MessageID
	for k := range c.nCls {
		ids = append(ids, c.cls[k].lru.Keys()...)
	}
	return ids
}

func ExampleBackpressure_String() {
	for l := BackpressureNone; l <= BackpressureBlockNew; l++ {
		fmt.Print(l, " ")
	}
	fmt.Println()
	// Output: none drop-some drop-most block-new
}
