package cache

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/core/large"
)

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func id(n uint64) core.MessageID { return core.MessageID{Origin: "origin", Seq: n} }

func msg(n int) core.StoredMessage { return core.StoredMessage{Payload: make([]byte, n)} }

func newCache(t testing.TB, cfg Config, opts ...Option) *Cache {
	t.Helper()
	c, err := New(cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func smallConfig() Config {
	c := DefaultConfig()
	c.MaxEntries, c.MaxBytes, c.TTL = 4, 100, time.Second
	return c
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		field string
		mod   func(*Config)
	}{
		{"max_entries", func(c *Config) { c.MaxEntries = 0 }},
		{"max_entries", func(c *Config) { c.MaxEntries = 1 << 27 }},
		{"max_bytes", func(c *Config) { c.MaxBytes = 0 }},
		{"max_large_bytes", func(c *Config) { c.MaxLargeBytes = -1 }},
		{"ttl", func(c *Config) { c.TTL = time.Microsecond }},
		{"shed_most_to", func(c *Config) { c.ShedMostTo = 1.1 }},
		{"shed_most_to", func(c *Config) { c.ShedMostTo = -0.1 }},
		{"shed_some_to", func(c *Config) { c.ShedSomeTo = 0.1; c.ShedMostTo = 0.5 }},
		{"min_retention", func(c *Config) { c.MinRetention = -time.Second }},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			c := DefaultConfig()
			tt.mod(&c)
			err := c.Validate()
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tt.field+" ") {
				t.Fatalf("err = %v, want one naming %s", err, tt.field)
			}
			if _, err := New(c); err == nil {
				t.Fatal("New accepted an invalid config")
			}
		})
	}
	d := DefaultConfig()
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	wan := core.WANConfig()
	cc := ConfigFromCore(wan)
	if cc.MaxEntries != 65536 || cc.TTL != 10*time.Minute || cc.MaxBytes != DefaultMaxBytes ||
		cc.MaxLargeBytes != int64(wan.MaxLargeMessageSize)*9/8 ||
		cc.ShedSomeTo != 1 || cc.ShedMostTo != 1 || cc.MinRetention != DefaultMinRetention {
		t.Fatalf("ConfigFromCore: %+v", cc)
	}
}

func TestPutGetExpiry(t *testing.T) {
	c := newCache(t, smallConfig())
	m := core.StoredMessage{Payload: []byte("hello"), Headers: []core.Header{{Key: "tp", Value: "x"}}, Hops: 3}
	c.Put(t0, id(1), m)
	got, ok := c.Get(t0.Add(time.Second), id(1)) // exactly TTL old: still there
	if !ok || string(got.Payload) != "hello" || got.Hops != 3 || len(got.Headers) != 1 {
		t.Fatalf("Get = %+v, %v", got, ok)
	}
	if c.Bytes() != 8 || c.Len() != 1 || c.Capacity() != 4 {
		t.Fatalf("bytes %d len %d", c.Bytes(), c.Len())
	}
	if _, ok := c.Get(t0.Add(time.Second+1), id(1)); ok {
		t.Fatal("expired message returned")
	}
	if c.Len() != 0 || c.Bytes() != 0 {
		t.Fatal("expired message not removed by Get")
	}
	if _, ok := c.Get(t0, id(2)); ok {
		t.Fatal("unknown id found")
	}
	st := c.Stats()
	if st.Hits != 1 || st.Misses != 2 || st.Evictions.TTL != 1 || st.Puts != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestLRUEviction(t *testing.T) {
	c := newCache(t, smallConfig())
	for i := uint64(1); i <= 4; i++ {
		c.Put(t0, id(i), msg(1))
	}
	c.Get(t0, id(1)) // 2 is now least recently used
	c.Put(t0, id(5), msg(1))
	if _, ok := c.Get(t0, id(2)); ok {
		t.Fatal("least recently used entry kept")
	}
	for _, i := range []uint64{1, 3, 4, 5} {
		if _, ok := c.Get(t0, id(i)); !ok {
			t.Fatalf("%d evicted", i)
		}
	}
	if st := c.Stats(); st.Evictions.Capacity != 1 || st.Size != 4 {
		t.Fatalf("stats %+v", st)
	}
}

func TestByteBound(t *testing.T) {
	c := newCache(t, smallConfig()) // 100 bytes
	c.Put(t0, id(1), msg(40))
	c.Put(t0, id(2), msg(40))
	c.Put(t0, id(3), msg(40)) // evicts 1
	if _, ok := c.Get(t0, id(1)); ok || c.Bytes() != 80 {
		t.Fatalf("bytes %d", c.Bytes())
	}
	c.Put(t0, id(4), msg(101)) // larger than the bound: not stored
	if _, ok := c.Get(t0, id(4)); ok || c.Bytes() != 80 {
		t.Fatal("oversized message stored")
	}
	c.Put(t0, id(2), msg(100)) // overwrite: replaces 2 and evicts 3
	if c.Len() != 1 || c.Bytes() != 100 {
		t.Fatalf("len %d bytes %d", c.Len(), c.Bytes())
	}
	st := c.Stats()
	if st.Evictions.Bytes != 3 || st.Overwrites != 1 || st.Puts != uint64(st.Size)+st.Evictions.Total()+st.Overwrites {
		t.Fatalf("stats %+v", st)
	}
}

func TestPutPrefersExpiredOverLRU(t *testing.T) {
	c := newCache(t, smallConfig())
	for i := uint64(1); i <= 4; i++ {
		c.Put(t0.Add(time.Duration(i)*100*time.Millisecond), id(i), msg(1))
	}
	c.Get(t0, id(1)) // 1 is most recently used, but the oldest Put
	c.Put(t0.Add(1150*time.Millisecond), id(5), msg(1))
	if _, ok := c.Get(t0.Add(1150*time.Millisecond), id(2)); !ok {
		t.Fatal("live entry evicted while an expired one was stored")
	}
	if st := c.Stats(); st.Evictions.TTL != 1 || st.Evictions.Capacity != 0 {
		t.Fatalf("stats %+v", st.Evictions)
	}
}

func TestSweepBatchAndLog(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: dropTime}))
	cfg := smallConfig()
	cfg.MaxEntries = 100
	cfg.MaxBytes = 1000
	c := newCache(t, cfg, WithLogger(log))
	for i := uint64(1); i <= 10; i++ {
		c.Put(t0.Add(time.Duration(i)*time.Millisecond), id(i), msg(1))
	}
	if r := c.Sweep(t0.Add(time.Second), 0); r.Removed != 0 || buf.Len() != 0 {
		t.Fatalf("nothing expired yet: %+v, log %q", r, buf.String())
	}
	now := t0.Add(time.Second + 7*time.Millisecond) // 1..6 expired
	r := c.Sweep(now, 4)
	if r.Removed != 4 || !r.More {
		t.Fatalf("first sweep %+v", r)
	}
	want := `level=DEBUG msg="Evicting 4 messages from cache (TTL expired)" count=4` + "\n"
	if buf.String() != want {
		t.Fatalf("log %q, want %q", buf.String(), want)
	}
	if r = c.Sweep(now, 4); r.Removed != 2 || r.More {
		t.Fatalf("second sweep %+v", r)
	}
	if r = c.Sweep(now, 0); r.Removed != 0 {
		t.Fatalf("third sweep %+v", r)
	}
	st := c.Stats()
	if st.Size != 4 || st.Evictions.TTL != 6 || st.Sweeps != 4 || st.LastRemoved != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func dropTime(_ []string, a slog.Attr) slog.Attr {
	if a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}

func TestBackpressureLevels(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: dropTime}))
	cfg := DefaultConfig()
	cfg.MaxEntries, cfg.MaxBytes = 100, 1<<20
	cfg.ShedSomeTo, cfg.ShedMostTo = 0.85, 0.6
	c := newCache(t, cfg, WithLogger(log))
	fill := func() {
		for i := uint64(0); i < 100; i++ {
			c.Put(t0, id(1000+i+uint64(c.Stats().Puts)), msg(10))
		}
	}
	steps := []struct {
		level    Backpressure
		wantSize int
		admit    bool
	}{
		{BackpressureNone, 100, true},
		{BackpressureDropSome, 85, true},
		{BackpressureDropMost, 60, true},
		{BackpressureBlockNew, 60, false},
		{BackpressureBlockNew, 60, false},
		{BackpressureNone, 100, true},
	}
	for i, s := range steps {
		fill()
		c.SetBackpressure(s.level)
		if c.Len() != s.wantSize || (c.Admit() == nil) != s.admit || c.Backpressure() != s.level {
			t.Fatalf("step %d (%v): len %d admit %v", i, s.level, c.Len(), c.Admit())
		}
		if !s.admit && !errors.Is(c.Admit(), core.ErrBackpressure) {
			t.Fatal("Admit error is not ErrBackpressure")
		}
	}
	st := c.Stats()
	if st.BackpressureChanges != 4 || st.Evictions.Backpressure != 15+40+40+40 || st.Rejected != 4 {
		t.Fatalf("stats %+v", st)
	}
	logs := buf.String()
	for _, want := range []string{
		`level=WARN msg="Cache backpressure raised" from=none to=drop-some`,
		`level=WARN msg="Cache backpressure raised" from=drop-most to=block-new`,
		`level=INFO msg="Cache backpressure eased" from=block-new to=none`,
	} {
		if !strings.Contains(logs, want) {
			t.Fatalf("log lacks %q:\n%s", want, logs)
		}
	}
	if n := strings.Count(logs, "Cache backpressure"); n != 4 {
		t.Fatalf("%d level-change lines, want 4:\n%s", n, logs)
	}
	if c.SetBackpressure(42); c.Backpressure() != BackpressureBlockNew {
		t.Fatal("level not clamped")
	}
}

// scriptSched is a Scheduler returning fixed values and recording calls.
type scriptSched struct {
	mu       sync.Mutex
	interval time.Duration
	batch    int
	level    int
	nexts    []float64 // utilizations seen
	puts     []uint64
	removed  []int
}

func (s *scriptSched) Next(_ time.Time, u float64, _ time.Duration, puts uint64) (time.Duration, int, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nexts = append(s.nexts, u)
	s.puts = append(s.puts, puts)
	return s.interval, s.batch, s.level
}

func (s *scriptSched) Observe(_ time.Time, _ time.Duration, removed int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.removed = append(s.removed, removed)
}

func TestStepDrivesScheduler(t *testing.T) {
	sch := &scriptSched{interval: 0, batch: 3, level: int(BackpressureDropMost)}
	cfg := DefaultConfig()
	cfg.MaxEntries, cfg.TTL = 10, time.Second
	cfg.ShedMostTo = 0.6
	c := newCache(t, cfg, WithScheduler(sch))
	for i := uint64(1); i <= 10; i++ {
		c.Put(t0, id(i), msg(1))
	}
	if d := c.Step(t0.Add(2 * time.Second)); d != time.Millisecond {
		t.Fatalf("interval %v, want the 1ms floor", d)
	}
	// Next saw the live utilization of a cache full of expired entries, 0;
	// the sweep removed 3 of the 10 expired entries (More: the 1 ms backlog
	// interval); drop-most then shed down to 6 entries (7 were left: 1 shed).
	if sch.nexts[0] != 0 || sch.puts[0] != 10 || sch.removed[0] != 3 || c.Len() != 6 {
		t.Fatalf("sched %+v len %d", sch, c.Len())
	}
	st := c.Stats()
	if st.Evictions.TTL != 3 || st.Evictions.Backpressure != 1 || st.Backpressure != BackpressureDropMost {
		t.Fatalf("stats %+v", st)
	}
	sch.batch = 0 // raised to 1
	c.Step(t0.Add(2 * time.Second))
	if sch.removed[1] != 1 {
		t.Fatalf("batch 0 removed %d", sch.removed[1])
	}
	// Live entries count: 5 stored 1.5 s later than the expired ones.
	sch.level, sch.batch, sch.interval = 0, 1, time.Minute
	for i := uint64(11); i <= 15; i++ {
		c.Put(t0.Add(1500*time.Millisecond), id(i), msg(1))
	}
	if d := c.Step(t0.Add(2 * time.Second)); d != time.Millisecond || sch.nexts[2] != 0.5 {
		t.Fatalf("interval %v (want 1ms: 4 expired entries left), utilization %v (want 5/10)", d, sch.nexts[2])
	}
	c.Sweep(t0.Add(2*time.Second), 0)
	if d := c.Step(t0.Add(2 * time.Second)); d != time.Minute || sch.nexts[3] != 0.5 {
		t.Fatalf("interval %v (want the scheduler's minute: no backlog), utilization %v", d, sch.nexts[3])
	}
}

func TestZeroAndOddTimes(t *testing.T) {
	c := newCache(t, smallConfig())
	var zero time.Time
	c.Put(zero, id(1), msg(1))
	if _, ok := c.Get(zero, id(1)); !ok {
		t.Fatal("zero time")
	}
	if _, ok := c.Get(zero.Add(2*time.Second), id(1)); ok {
		t.Fatal("expired at zero+2s")
	}
	// Put with a time before earlier Puts: the expiry queue stays ordered
	// and nothing live is swept; the early entry is expired for Get at
	// once and swept with the later one.
	c = newCache(t, smallConfig())
	c.Put(t0.Add(time.Hour), id(2), msg(1))
	c.Put(t0, id(3), msg(1))
	if r := c.Sweep(t0.Add(time.Hour), 0); r.Removed != 0 {
		t.Fatalf("swept %d", r.Removed)
	}
	if _, ok := c.Get(t0.Add(time.Hour), id(3)); ok {
		t.Fatal("expired entry returned")
	}
	if _, ok := c.Get(t0.Add(time.Hour), id(2)); !ok {
		t.Fatal("live entry lost")
	}
	c.Put(t0, id(4), msg(1))
	if r := c.Sweep(t0.Add(time.Hour+2*time.Second), 0); r.Removed != 2 || c.Len() != 0 {
		t.Fatalf("swept %d, %d left", r.Removed, c.Len())
	}
}

// TestExpiryQueueBounded gets old entries (so LRU order differs from Put
// order) while overfilling: stale records are compacted away.
func TestExpiryQueueBounded(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxEntries = 64
	c := newCache(t, cfg)
	for i := uint64(0); i < 100000; i++ {
		c.Put(t0, id(i), msg(1))
		if i%3 == 0 && i > 60 {
			c.Get(t0, id(i-60))
		}
		if n := c.fifo.len(); n > 4*cfg.MaxEntries+16 || len(c.fifo.buf) > 4*cfg.MaxEntries+16 {
			t.Fatalf("queue %d records, buffer %d, for %d entries", n, len(c.fifo.buf), cfg.MaxEntries)
		}
	}
}

// TestOverfillKeepsMemoryBounded fills the cache with ten times its byte
// bound and its entry bound: the bounds hold at every step and the heap does
// not grow past the bound plus a fixed per-entry overhead.
func TestOverfillKeepsMemoryBounded(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxEntries, cfg.MaxBytes = 2000, 1<<20 // ~1 MiB: the byte bound binds first
	c := newCache(t, cfg)
	before := heapInUse()
	var maxHeap uint64
	for i := uint64(0); i < 20000; i++ { // ~10 MiB of payload, 10× entries
		c.Put(t0, id(i), msg(int(256+i%1024)))
		if c.Len() > cfg.MaxEntries || c.Bytes() > cfg.MaxBytes {
			t.Fatalf("put %d: %d entries, %d bytes", i, c.Len(), c.Bytes())
		}
		if i%2000 == 1999 {
			maxHeap = max(maxHeap, heapInUse())
		}
	}
	st := c.Stats()
	if st.Evictions.Bytes == 0 || st.Puts != uint64(st.Size)+st.Evictions.Total() {
		t.Fatalf("stats %+v", st)
	}
	// Payload bound + 512 B per entry of overhead + slack for the runtime.
	limit := uint64(cfg.MaxBytes) + uint64(cfg.MaxEntries)*512 + 1<<20
	if grown := maxHeap - min(before, maxHeap); grown > limit {
		t.Fatalf("heap grew by %d bytes, bound %d", grown, limit)
	}
}

func TestConcurrentUse(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxEntries, cfg.MaxBytes, cfg.TTL = 500, 64<<10, 10*time.Millisecond
	c := newCache(t, cfg)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				now := t0.Add(time.Duration(i) * time.Millisecond)
				switch g {
				case 0:
					c.Put(now, id(uint64(i)), msg(i%300))
				case 1:
					c.Get(now, id(uint64(i/2)))
				case 2:
					c.Sweep(now, 10)
					c.SetBackpressure(Backpressure(i % 4))
				default:
					_ = c.Stats()
					_ = c.Admit()
					_ = c.Utilization()
				}
			}
		}(g)
	}
	wg.Wait()
	st := c.Stats()
	if st.Size > cfg.MaxEntries || st.Bytes > cfg.MaxBytes || st.Puts != uint64(st.Size)+st.Evictions.Total()+st.Overwrites {
		t.Fatalf("stats %+v", st)
	}
}

// The protocol stores a message stamped with its origin time: the TTL counts
// from it (a copy stored late expires as early as the origin's), and Get
// returns it.
func TestOriginTimeStampAndExpiry(t *testing.T) {
	cfg := DefaultConfig()
	cfg.TTL = time.Minute
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_700_000_000, 0)
	origin := now.Add(-50 * time.Second) // received 50 s after its broadcast
	id := core.MessageID{Origin: "o", Seq: 1}
	c.Put(origin, id, core.StoredMessage{Payload: []byte("p"), OriginTime: origin})
	m, ok := c.Get(now, id)
	if !ok || !m.OriginTime.Equal(origin) {
		t.Fatalf("Get = %+v, %v", m, ok)
	}
	if _, ok := c.Get(now.Add(11*time.Second), id); ok {
		t.Fatal("kept past origin time + TTL")
	}
}

// The default retention covers a realistic partition: a store built from
// core.DefaultConfig keeps 5 minutes of 1 KiB messages at 20 msg/s (and 10
// minutes, its TTL) — every one still served at the end.
func TestDefaultRetentionCoversFiveMinutesAt20PerSecond(t *testing.T) {
	c, err := New(ConfigFromCore(core.DefaultConfig()))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Unix(1_700_000_000, 0)
	payload := make([]byte, 1024)
	const rate, span = 20, 10 * time.Minute
	n := int(span.Seconds()) * rate
	at := func(i int) time.Time { return start.Add(time.Duration(i) * time.Second / rate) }
	for i := range n {
		c.Put(at(i), core.MessageID{Origin: "o", Seq: uint64(i + 1)}, core.StoredMessage{Payload: payload, OriginTime: at(i)})
	}
	end := at(n - 1)
	for i := range n {
		// Everything younger than the TTL at the end is there: the whole
		// 10 minutes, so in particular the last 5.
		if _, ok := c.Get(end, core.MessageID{Origin: "o", Seq: uint64(i + 1)}); !ok {
			t.Fatalf("message %d of %d (age %v) not served", i, n, end.Sub(at(i)))
		}
	}
	if ev := c.Stats().Evictions; ev.Total() != 0 {
		t.Fatalf("evictions %+v", ev)
	}
}

// A cache built from the protocol's config keeps every part of the largest
// large message the node accepts until the transfer ends, beside a full
// byte bound of ordinary messages, and neither pushes the other out: a node
// that missed an early part can still pull it after the last one was sent.
// With parts stored as ordinary messages (MaxLargeBytes 0, as before), the
// first parts were gone before the transfer ended (the defaults: 256 MiB
// in 64 KiB parts against 64 MiB), taking the ordinary messages with them.
func TestConfigFromCoreHoldsTheLargestMessage(t *testing.T) {
	pc := core.DefaultConfig()
	for _, tc := range []struct {
		name  string
		parts bool // MaxLargeBytes as ConfigFromCore sets it
	}{{"own list", true}, {"parts as messages", false}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ConfigFromCore(pc)
			if !tc.parts {
				cfg.MaxLargeBytes = 0
			}
			c, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			at := time.Unix(1_700_000_000, 0)
			// Ordinary traffic first: 60 MiB in 16 KiB messages. The
			// buffers are shared: the cache counts bytes, it does not copy.
			small := make([]byte, 16<<10)
			const smalls = 60 << 6
			for i := range smalls {
				c.Put(at, core.MessageID{Origin: "other", Seq: uint64(i + 1)}, core.StoredMessage{Payload: small, OriginTime: at})
			}
			// Then every part of the largest message, each a full
			// max_message_size (more than its share of the payload: a
			// part's framing is inside that size), and the manifest.
			part := make([]byte, pc.MaxMessageSize)
			hdr := []core.Header{{Key: large.HeaderKey, Value: large.HeaderValue}}
			parts := pc.MaxLargeMessageSize/(pc.MaxMessageSize-64) + 2
			for i := range parts {
				at := at.Add(time.Duration(i) * time.Millisecond)
				c.Put(at, core.MessageID{Origin: "big", Seq: uint64(i + 1)}, core.StoredMessage{Payload: part, Headers: hdr, OriginTime: at})
			}
			end := at.Add(time.Duration(parts) * time.Millisecond)
			lost := 0
			for i := range parts {
				if _, ok := c.Get(end, core.MessageID{Origin: "big", Seq: uint64(i + 1)}); !ok {
					lost++
				}
			}
			kept := 0
			for i := range smalls {
				if _, ok := c.Get(end, core.MessageID{Origin: "other", Seq: uint64(i + 1)}); ok {
					kept++
				}
			}
			st := c.Stats()
			t.Logf("%d of %d parts lost, %d of %d ordinary messages kept; %+v", lost, parts, kept, smalls, st.Evictions)
			if !tc.parts {
				if lost == 0 || kept != 0 {
					t.Fatalf("parts stored as messages: %d parts lost, %d ordinary messages kept; want some lost and none kept (the behaviour ConfigFromCore avoids)", lost, kept)
				}
				return
			}
			if lost != 0 || kept != smalls || st.Evictions.Total() != 0 {
				t.Fatalf("%d parts lost, %d of %d ordinary messages kept, evictions %+v", lost, kept, smalls, st.Evictions)
			}
			if r := c.Retention(end); r != cfg.TTL {
				t.Errorf("retention %v, want the TTL: nothing was evicted for room", r)
			}
			// More ordinary traffic than its bound: it evicts ordinary
			// messages only, and the parts stay.
			for i := range 8 << 6 {
				c.Put(end, core.MessageID{Origin: "more", Seq: uint64(i + 1)}, core.StoredMessage{Payload: small, OriginTime: end})
			}
			for i := range parts {
				if _, ok := c.Get(end, core.MessageID{Origin: "big", Seq: uint64(i + 1)}); !ok {
					t.Fatalf("part %d evicted by ordinary traffic", i)
				}
			}
			if st := c.Stats(); st.Bytes-st.LargeBytes > cfg.MaxBytes || st.LargeBytes > cfg.MaxLargeBytes || st.MaxBytes != cfg.MaxBytes+cfg.MaxLargeBytes {
				t.Fatalf("bounds: %+v", st)
			}
		})
	}
}
