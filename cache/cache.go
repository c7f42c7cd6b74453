package cache

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/core/large"
)

// entry is what the LRU keeps per message.
type entry struct {
	payload []byte
	headers []core.Header
	at      int64  // Put time, nanoseconds since the cache's epoch
	seq     uint64 // Put sequence, matches the expiry record
	size    uint32 // payload + header bytes
	hops    uint16
	class   uint8     // the list holding it: classMessages or classParts
	origin  time.Time // the message's origin time (StoredMessage.OriginTime)
}

// The cache's lists. With Config.MaxLargeBytes set, the parts of large
// messages (stored with the large-message header, core/large.HeaderKey)
// have a list and a byte bound of their own, so that one large message
// neither pushes every ordinary message out nor loses its early parts to
// the ordinary traffic; without it, everything is in classMessages.
const (
	classMessages = 0
	classParts    = 1
)

// class is one LRU list of the cache with its byte bound.
type class struct {
	lru   *simplelru.LRU[core.MessageID, entry]
	bytes int64 // stored payload + header bytes
	max   int64 // byte bound: MaxBytes, or MaxLargeBytes for the parts
	// The last removal of a live entry of this list to make room (Put at a
	// bound, or a shed): its time, and whether there was one. Retention
	// derives from it.
	roomAt  int64
	hasRoom bool
	expB    int64 // bytes of the entries the expired cursor counted
}

// Evictions counts removed entries by reason.
type Evictions struct {
	// TTL: expired entries removed by sweeps, by Get, or by Put to make room.
	TTL uint64 `json:"ttl"`
	// Capacity: least recently used entries removed because MaxEntries was
	// reached.
	Capacity uint64 `json:"capacity"`
	// Bytes: least recently used entries removed because MaxBytes was
	// reached, and messages too large to store at all.
	Bytes uint64 `json:"bytes"`
	// Backpressure: least recently used entries shed at a backpressure
	// level.
	Backpressure uint64 `json:"backpressure"`
}

// Total returns the sum over all reasons.
func (e Evictions) Total() uint64 { return e.TTL + e.Capacity + e.Bytes + e.Backpressure }

// Stats is a snapshot of a Cache. At any time
// Puts == Size + Evictions.Total() + Overwrites.
type Stats struct {
	Size        int           `json:"size"`          // stored messages (expired ones not yet removed included)
	Capacity    int           `json:"capacity"`      // MaxEntries
	Bytes       int64         `json:"bytes"`         // stored payload + header bytes (large messages' parts included)
	MaxBytes    int64         `json:"max_bytes"`     // MaxBytes + MaxLargeBytes: the bound on Bytes
	TTL         time.Duration `json:"ttl_ns"`        // TTL
	Utilization float64       `json:"utilization"`   // max(Size/Capacity, each list's bytes/bound)
	Puts        uint64        `json:"puts"`          // Put calls
	Overwrites  uint64        `json:"overwrites"`    // Puts that replaced a stored id
	Hits        uint64        `json:"hits"`          // Gets that found a live message
	Misses      uint64        `json:"misses"`        // Gets that did not
	Evictions   Evictions     `json:"evictions"`     // removals by reason
	Sweeps      uint64        `json:"sweeps"`        // Sweep calls
	LastSweep   time.Duration `json:"last_sweep_ns"` // duration of the last sweep
	LastRemoved int           `json:"last_removed"`  // expired entries the last sweep removed

	// LargeBytes is the bytes held in large messages' parts under their
	// own bound, MaxLargeBytes (0 without one: parts count as messages).
	LargeBytes    int64 `json:"large_bytes"`
	MaxLargeBytes int64 `json:"max_large_bytes"`

	// Retention is how far back, by origin time, the cache holds messages
	// at the clock's time (WithClock; see Cache.Retention).
	Retention time.Duration `json:"retention_ns"`

	Backpressure        Backpressure `json:"backpressure"`         // current level
	BackpressureChanges uint64       `json:"backpressure_changes"` // level changes
	Rejected            uint64       `json:"rejected"`             // Admit calls refused
}

// SweepResult reports one Sweep.
type SweepResult struct {
	Removed  int           // expired entries removed
	Duration time.Duration // time the sweep held the cache
	// More reports that the sweep stopped at its batch limit while expired
	// entries remained.
	More bool
}

// Cache is an LRU + TTL message store bounded by entry count and by bytes.
// It implements core.Store.
//
// Time is passed in: Put, Get and Sweep take now, so expiry is
// deterministic. Only Run reads a clock (WithClock). Times are kept as
// offsets from the first time the cache is given (monotonic readings are
// used when present), so all times given to one Cache must lie within
// ±292 years of it (the range of time.Duration).
//
// A Cache is safe for concurrent use: the protocol goroutine calls Put and
// Get while the sweeper and metrics scrapes run. One mutex guards a
// non-thread-safe simplelru.LRU (two with Config.MaxLargeBytes: ordinary
// messages, and large messages' parts) and an expiry queue in Put order; Admit is
// lock-free. Payloads and headers are owned by the cache after Put and are
// returned by Get without copying: nobody may modify them.
type Cache struct {
	cfg    Config
	ttl    int64
	logger *slog.Logger
	sched  Scheduler
	clock  func() time.Time

	mu        sync.Mutex
	cls       [2]class // classMessages, classParts
	nCls      int      // lists in use: 1, or 2 with MaxLargeBytes
	fifo      ring
	epoch     time.Time
	hasEpoch  bool
	lastAt    int64 // largest record time queued
	seq       uint64
	puts      uint64
	overwr    uint64
	hits      uint64
	misses    uint64
	ev        Evictions
	sweeps    uint64
	lastSweep time.Duration
	lastRem   int
	changes   uint64

	latest int64 // the latest time given to any method

	// The expired cursor: the live entries whose expiry records up to seq
	// expSeq were found expired at expNow (expN entries, and each list's
	// expB bytes). The
	// records are in time and seq order, so the cursor only moves forward
	// while time does; every removal of a counted entry uncounts it.
	expSeq uint64
	expNow int64
	expN   int

	level    atomic.Int32 // Backpressure
	rejected atomic.Uint64

	stepMu  sync.Mutex // serialises Step (the Scheduler is not shared)
	running atomic.Bool
	runMu   sync.Mutex
	cancel  context.CancelFunc
	done    chan struct{}
}

var _ core.RetentionStore = (*Cache)(nil)

// New returns a Cache with a copy of cfg, or an error wrapping
// ErrInvalidConfig. It starts nothing: call Run or Start for background
// sweeps, or Step from a loop of your own.
func New(cfg Config, opts ...Option) (*Cache, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Cache{
		cfg:    cfg,
		ttl:    int64(cfg.TTL),
		logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		sched:  FixedScheduler{Interval: max(cfg.TTL/4, time.Millisecond), Batch: cfg.MaxEntries},
		clock:  time.Now,
		nCls:   1,
	}
	if cfg.MaxLargeBytes > 0 {
		c.nCls = 2
	}
	for k := range c.nCls {
		// Each list may hold every entry; MaxEntries bounds their sum.
		lru, err := simplelru.NewLRU[core.MessageID, entry](cfg.MaxEntries, nil)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
		}
		c.cls[k].lru = lru
	}
	c.cls[classMessages].max = cfg.MaxBytes
	c.cls[classParts].max = cfg.MaxLargeBytes
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// Config returns the cache's configuration.
func (c *Cache) Config() Config { return c.cfg }

// offset converts now to nanoseconds since the epoch (the first time the
// cache was given) and keeps the latest. Caller holds mu.
func (c *Cache) offset(now time.Time) int64 {
	if !c.hasEpoch {
		c.epoch, c.hasEpoch = now, true
	}
	off := int64(now.Sub(c.epoch))
	c.latest = max(c.latest, off)
	return off
}

// expired reports whether something stored at offset at is older than the
// TTL at offset now.
func (c *Cache) expired(at, now int64) bool {
	d := now - at
	if now > at && d < 0 { // overflow: very far apart
		return true
	}
	return d > c.ttl
}

func messageSize(m *core.StoredMessage) int64 {
	n := int64(len(m.Payload))
	for i := range m.Headers {
		n += int64(len(m.Headers[i].Key) + len(m.Headers[i].Value))
	}
	return n
}

// Put implements core.Store. It stores m under id at time now (the
// protocol passes the message's origin time, so the TTL counts from it),
// replacing
// (and restarting the TTL of) a message stored under the same id. To make
// room it removes expired entries first (oldest Put first), then least
// recently used ones. A message larger than MaxBytes is not stored. Put
// never fails and never blocks on anything but the cache's mutex.
func (c *Cache) Put(now time.Time, id core.MessageID, m core.StoredMessage) {
	size := messageSize(&m)
	k := c.classOf(m.Headers)
	c.mu.Lock()
	defer c.mu.Unlock()
	nowOff := c.offset(now)
	c.puts++
	if old, ok := c.peek(id); ok {
		c.removeEntry(id, &old)
		c.overwr++
	}
	if size > min(c.cls[k].max, math.MaxUint32) {
		c.ev.Bytes++
		return
	}
	c.makeRoom(nowOff, size, k)
	c.seq++
	at := max(nowOff, c.lastAt) // the queue stays in time order
	c.lastAt = at
	c.cls[k].lru.Add(id, entry{payload: m.Payload, headers: m.Headers, at: nowOff, seq: c.seq, size: uint32(size), hops: m.Hops, class: uint8(k), origin: m.OriginTime})
	c.cls[k].bytes += size
	c.enqueue(record{id: id, at: at, seq: c.seq})
}

// classOf returns the list a message with these headers goes to: the
// parts' list for a large message's part when the cache has one.
func (c *Cache) classOf(hs []core.Header) int {
	if c.nCls > 1 {
		for i := range hs {
			if hs[i].Key == large.HeaderKey {
				return classParts
			}
		}
	}
	return classMessages
}

// peek looks id up in every list without touching the LRU order. Caller
// holds mu.
func (c *Cache) peek(id core.MessageID) (entry, bool) {
	for k := range c.nCls {
		if v, ok := c.cls[k].lru.Peek(id); ok {
			return v, true
		}
	}
	return entry{}, false
}

// count is the number of stored entries, in all lists. Caller holds mu.
func (c *Cache) count() int {
	n := 0
	for k := range c.nCls {
		n += c.cls[k].lru.Len()
	}
	return n
}

// totalBytes is the bytes stored in all lists. Caller holds mu.
func (c *Cache) totalBytes() int64 {
	var b int64
	for k := range c.nCls {
		b += c.cls[k].bytes
	}
	return b
}

// olderClass returns the list to take an entry from at the entry bound:
// the one whose least recently used entry was put first. Caller holds mu;
// some list is not empty.
func (c *Cache) olderClass() int {
	if c.nCls == 1 {
		return classMessages
	}
	_, a, okA := c.cls[classMessages].lru.GetOldest()
	_, b, okB := c.cls[classParts].lru.GetOldest()
	if !okA || okB && b.seq < a.seq {
		return classParts
	}
	return classMessages
}

// makeRoom removes entries until one more of size bytes fits in list k.
// Caller holds mu.
func (c *Cache) makeRoom(now, size int64, k int) {
	for c.count() >= c.cfg.MaxEntries || c.cls[k].bytes+size > c.cls[k].max {
		if c.expireOldest(now) {
			c.ev.TTL++
			continue
		}
		full := c.count() >= c.cfg.MaxEntries
		from := k
		if full {
			from = c.olderClass()
		}
		cl := &c.cls[from]
		_, v, ok := cl.lru.RemoveOldest()
		if !ok {
			return
		}
		c.forget(&v)
		cl.roomAt, cl.hasRoom = now, true
		if full {
			c.ev.Capacity++
		} else {
			c.ev.Bytes++
		}
	}
}

// expireOldest removes the entry of the oldest live record if it has
// expired at now, dropping stale records on the way. Caller holds mu.
func (c *Cache) expireOldest(now int64) bool {
	for {
		r := c.fifo.front()
		if r == nil || !c.expired(r.at, now) {
			return false
		}
		if c.removeRecorded(r) {
			c.fifo.pop()
			return true
		}
		c.fifo.pop() // stale
	}
}

// removeRecorded removes the entry r was queued for, if it is still stored,
// and reports whether it was. The caller pops r. Caller holds mu.
func (c *Cache) removeRecorded(r *record) bool {
	// Usually the oldest record is also a list's least recently used
	// entry: remove it from the list's tail without a map lookup.
	for k := range c.nCls {
		cl := &c.cls[k]
		if id, v, ok := cl.lru.GetOldest(); ok && v.seq == r.seq && id == r.id {
			cl.lru.RemoveOldest()
			cl.bytes -= int64(v.size)
			c.uncount(&v)
			return true
		}
	}
	if v, ok := c.peek(r.id); ok && v.seq == r.seq {
		cl := &c.cls[v.class]
		cl.lru.Remove(r.id)
		cl.bytes -= int64(v.size)
		c.uncount(&v)
		return true
	}
	return false
}

// removeEntry removes a stored entry. Caller holds mu.
func (c *Cache) removeEntry(id core.MessageID, v *entry) {
	c.cls[v.class].lru.Remove(id)
	c.forget(v)
}

// forget accounts for an entry that left its list. Its record is dropped
// now when it is the oldest (the usual case: LRU order is mostly Put
// order), otherwise when it reaches the front or at the next compaction.
func (c *Cache) forget(v *entry) {
	c.cls[v.class].bytes -= int64(v.size)
	c.uncount(v)
	if r := c.fifo.front(); r != nil && r.seq == v.seq {
		c.fifo.pop()
	}
}

// uncount takes a removed entry out of the expired cursor's counts if the
// cursor counted it. Caller holds mu.
func (c *Cache) uncount(v *entry) {
	if v.seq <= c.expSeq {
		c.expN--
		c.cls[v.class].expB -= int64(v.size)
	}
}

// advanceExpired moves the expired cursor to now: it counts the live
// entries whose records expired since the last call, oldest first. Each
// record is visited once while time moves forward, so the cost is one map
// lookup per Put, amortised; if time went back the cursor restarts. Caller
// holds mu.
func (c *Cache) advanceExpired(now int64) {
	if now < c.expNow {
		c.expSeq, c.expN = 0, 0
		for k := range c.nCls {
			c.cls[k].expB = 0
		}
	}
	c.expNow = now
	seq := c.expSeq
	for i := c.fifo.search(func(r *record) bool { return r.seq > seq }); i < c.fifo.len(); i++ {
		r := c.fifo.at(i)
		if !c.expired(r.at, now) {
			break
		}
		if v, ok := c.peek(r.id); ok && v.seq == r.seq {
			c.expN++
			c.cls[v.class].expB += int64(v.size)
		}
		c.expSeq = r.seq
	}
}

// liveUtilization is max(live entries/MaxEntries, each list's live
// bytes/its bound) with the entries the expired cursor counted left out.
// Caller holds mu.
func (c *Cache) liveUtilization() float64 {
	u := float64(c.count()-c.expN) / float64(c.cfg.MaxEntries)
	for k := range c.nCls {
		cl := &c.cls[k]
		u = max(u, float64(cl.bytes-cl.expB)/float64(cl.max))
	}
	return u
}

// LiveUtilization returns the utilization at time now without the expired
// entries no sweep, Get or Put removed yet: max(live entries/MaxEntries,
// live bytes/MaxBytes, and live parts' bytes/MaxLargeBytes with that
// bound). Step gives it to the Scheduler, so backpressure follows the live
// entries only. An entry counts as expired when its expiry
// record (its Put time, or a later one if Put times went back) is older
// than the TTL. The cost is amortised O(1) per Put plus O(log n).
func (c *Cache) LiveUtilization(now time.Time) float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.advanceExpired(c.offset(now))
	return c.liveUtilization()
}

// clockOffset is the clock's time (WithClock) as an offset from the epoch,
// without making it the latest time given. Caller holds mu.
func (c *Cache) clockOffset() int64 {
	if !c.hasEpoch {
		return 0
	}
	return int64(c.clock().Sub(c.epoch))
}

// Retention returns how far back, by origin time, the cache holds messages
// at time now: the TTL, unless within the last TTL it removed a live
// message to make room (at a bound, or shedding at a backpressure level);
// then the age of its least recently used message, the next to go, capped
// at the TTL; with the parts' list (Config.MaxLargeBytes), the shorter of
// the two lists' retentions. It is how long the cache currently keeps an
// untouched message before evicting it, and it grows back to the TTL when
// the evictions stop. A cache that holds less than a TTL's worth of traffic reports
// less: with the defaults (65,536 entries, 64 MiB), 1 KiB messages at
// 200 msg/s give about 5½ minutes. Ages are measured from the times given
// to Put (the protocol gives origin times), so an origin whose clock runs
// ahead makes its messages look younger.
func (c *Cache) Retention(now time.Time) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.retention(c.offset(now))
}

// retention implements Retention at offset now: the shortest over the
// lists that removed a live entry for room within the last TTL. Caller
// holds mu.
func (c *Cache) retention(now int64) time.Duration {
	r := c.cfg.TTL
	for k := range c.nCls {
		r = min(r, c.classRetention(k, now))
	}
	return r
}

// classRetention is list k's retention at offset now: the TTL, or the age
// of its least recently used entry within a TTL after it removed a live
// entry for room. Caller holds mu.
func (c *Cache) classRetention(k int, now int64) time.Duration {
	cl := &c.cls[k]
	if !cl.hasRoom || c.expired(cl.roomAt, now) {
		return c.cfg.TTL
	}
	if _, v, ok := cl.lru.GetOldest(); ok {
		return time.Duration(max(0, min(now-v.at, c.ttl)))
	}
	return c.cfg.TTL
}

// enqueue queues a record, compacting stale records away when more than
// half the full buffer is stale, so the queue holds at most about four
// records per stored entry. Caller holds mu.
func (c *Cache) enqueue(r record) {
	if c.fifo.full() {
		if c.fifo.len()-c.count() > c.fifo.len()/2 {
			c.fifo.compact(func(r *record) bool {
				v, ok := c.peek(r.id)
				return ok && v.seq == r.seq
			})
		}
		if c.fifo.full() {
			c.fifo.grow()
		}
	}
	c.fifo.push(r)
}

// Get implements core.Store. A hit makes id the most recently used entry.
// An expired entry is removed and reported as a miss.
func (c *Cache) Get(now time.Time, id core.MessageID) (core.StoredMessage, bool) {
	c.mu.Lock()
	nowOff := c.offset(now)
	v, ok := c.cls[classMessages].lru.Get(id)
	if !ok && c.nCls > 1 {
		v, ok = c.cls[classParts].lru.Get(id)
	}
	if !ok {
		c.misses++
		c.mu.Unlock()
		return core.StoredMessage{}, false
	}
	if c.expired(v.at, nowOff) {
		c.removeEntry(id, &v)
		c.ev.TTL++
		c.misses++
		c.mu.Unlock()
		return core.StoredMessage{}, false
	}
	c.hits++
	c.mu.Unlock()
	return core.StoredMessage{Payload: v.payload, Headers: v.headers, Hops: v.hops, OriginTime: v.origin}, true
}

// Len implements core.Store: the stored messages, including expired ones
// that no sweep, Get or Put removed yet.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.count()
}

// Capacity implements core.Store: MaxEntries.
func (c *Cache) Capacity() int { return c.cfg.MaxEntries }

// Bytes returns the stored payload and header bytes (large messages' parts
// included).
func (c *Cache) Bytes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.totalBytes()
}

// Utilization returns max(Len/MaxEntries, each list's bytes/its bound:
// MaxBytes, and MaxLargeBytes for the parts of large messages when set).
func (c *Cache) Utilization() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.utilization()
}

func (c *Cache) utilization() float64 {
	u := float64(c.count()) / float64(c.cfg.MaxEntries)
	for k := range c.nCls {
		u = max(u, float64(c.cls[k].bytes)/float64(c.cls[k].max))
	}
	return u
}

// Sweep removes at most maxBatch expired entries (all of them when maxBatch
// is 0 or less), oldest Put first, and reports how many it removed and how
// long it held the cache. When it removed any it logs at DEBUG
// "Evicting {count} messages from cache (TTL expired)" with the count
// substituted and a "count" attribute.
func (c *Cache) Sweep(now time.Time, maxBatch int) SweepResult {
	c.mu.Lock()
	start := time.Now()
	nowOff := c.offset(now)
	removed := 0
	for maxBatch <= 0 || removed < maxBatch {
		r := c.fifo.front()
		if r == nil || !c.expired(r.at, nowOff) {
			break
		}
		if c.removeRecorded(r) {
			removed++
		}
		c.fifo.pop()
	}
	more := false
	if removed > 0 && removed == maxBatch {
		// Drop stale expired records at the front (each costs one map
		// lookup and is dropped once), so that More means expired entries.
		for r := c.fifo.front(); r != nil && c.expired(r.at, nowOff); r = c.fifo.front() {
			if v, ok := c.peek(r.id); ok && v.seq == r.seq {
				more = true
				break
			}
			c.fifo.pop()
		}
	}
	took := time.Since(start)
	c.ev.TTL += uint64(removed)
	c.sweeps++
	c.lastSweep, c.lastRem = took, removed
	c.mu.Unlock()
	if removed > 0 && c.logger.Enabled(context.Background(), slog.LevelDebug) {
		c.logger.Debug(fmt.Sprintf("Evicting %d messages from cache (TTL expired)", removed), "count", removed)
	}
	return SweepResult{Removed: removed, Duration: took, More: more}
}

// Admit returns ErrBackpressure at BackpressureBlockNew and nil otherwise.
// Give it to the node as its admission check (node.WithAdmission(c.Admit))
// so that new local broadcasts are refused, not silently dropped, while the
// cache holds less than MinRetention of traffic (Step applies block-new only
// then). It is lock-free.
func (c *Cache) Admit() error {
	if Backpressure(c.level.Load()) >= BackpressureBlockNew {
		c.rejected.Add(1)
		return ErrBackpressure
	}
	return nil
}

// Backpressure returns the current backpressure level.
func (c *Cache) Backpressure() Backpressure { return Backpressure(c.level.Load()) }

// Stats returns a snapshot of the cache's counters.
func (c *Cache) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Stats{
		Size:                c.count(),
		Capacity:            c.cfg.MaxEntries,
		Bytes:               c.totalBytes(),
		MaxBytes:            c.cfg.MaxBytes + c.cfg.MaxLargeBytes,
		LargeBytes:          c.cls[classParts].bytes,
		MaxLargeBytes:       c.cfg.MaxLargeBytes,
		TTL:                 c.cfg.TTL,
		Utilization:         c.utilization(),
		Puts:                c.puts,
		Overwrites:          c.overwr,
		Hits:                c.hits,
		Misses:              c.misses,
		Evictions:           c.ev,
		Sweeps:              c.sweeps,
		Retention:           c.retention(c.clockOffset()),
		LastSweep:           c.lastSweep,
		LastRemoved:         c.lastRem,
		Backpressure:        Backpressure(c.level.Load()),
		BackpressureChanges: c.changes,
		Rejected:            c.rejected.Load(),
	}
}

// SetBackpressure applies level as the scheduler's Next result would (Step
// calls it): it records and logs a level change, and at
// BackpressureDropSome or above sheds least recently used entries down to
// ShedSomeTo or ShedMostTo. It returns the number of entries shed. Levels
// outside the known range are clamped.
func (c *Cache) SetBackpressure(level Backpressure) int {
	level = max(BackpressureNone, min(BackpressureBlockNew, level))
	c.mu.Lock()
	old := Backpressure(c.level.Load())
	if level != old {
		c.level.Store(int32(level))
		c.changes++
	}
	target := 1.0
	switch level {
	case BackpressureDropSome:
		target = c.cfg.ShedSomeTo
	case BackpressureDropMost, BackpressureBlockNew:
		target = c.cfg.ShedMostTo
	}
	shed := 0
	if level > BackpressureNone {
		shed = c.shed(target)
	}
	util, ret := c.liveUtilization(), c.retention(c.latest)
	c.mu.Unlock()
	if level != old {
		lvl := slog.LevelInfo
		msg := "Cache backpressure eased"
		if level > old {
			lvl, msg = slog.LevelWarn, "Cache backpressure raised"
		}
		c.logger.Log(context.Background(), lvl, msg, "from", old.String(), "to", level.String(), "utilization", util, "retention", ret, "shed", shed)
	}
	return shed
}

// shed removes least recently used entries until the utilization is at most
// target: each list's down to target times its byte bound, then, from the
// list whose least recently used entry was put first, down to target times
// MaxEntries. Caller holds mu.
func (c *Cache) shed(target float64) int {
	n := 0
	drop := func(k int) bool {
		cl := &c.cls[k]
		_, v, ok := cl.lru.RemoveOldest()
		if !ok {
			return false
		}
		c.forget(&v)
		cl.roomAt, cl.hasRoom = c.latest, true
		n++
		return true
	}
	for k := range c.nCls {
		maxB := int64(target * float64(c.cls[k].max))
		for c.cls[k].bytes > maxB {
			if !drop(k) {
				break
			}
		}
	}
	maxN := int(target * float64(c.cfg.MaxEntries))
	for c.count() > maxN {
		if !drop(c.olderClass()) {
			break
		}
	}
	c.ev.Backpressure += uint64(n)
	return n
}
