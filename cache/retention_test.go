package cache

import (
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
)

// retentionRig drives a cache in virtual time: Puts at a steady rate, and
// Step whenever the interval it returned has passed, as Run does. It
// records when Admit refused.
type retentionRig struct {
	c    *Cache
	now  time.Time
	next time.Time // the next Step
	seq  uint64

	refused      time.Duration // total time Admit refused, by Step
	firstRefusal time.Time
	lastRefusal  time.Time
}

func newRetentionRig(t *testing.T, cfg Config) *retentionRig {
	r := &retentionRig{now: t0, next: t0}
	r.c = newCache(t, cfg, WithScheduler(&tunerLikeSched{}), WithClock(func() time.Time { return r.now }))
	return r
}

// run puts rate messages per second (0: none) for d, stepping on schedule.
func (r *retentionRig) run(rate int, d time.Duration) {
	end := r.now.Add(d)
	every := d + 1
	if rate > 0 {
		every = time.Second / time.Duration(rate)
	}
	m := core.StoredMessage{Payload: make([]byte, 64)}
	for nextPut := r.now.Add(every); ; nextPut = nextPut.Add(every) {
		upTo := nextPut
		if upTo.After(end) {
			upTo = end
		}
		for !r.next.After(upTo) {
			at := r.next
			r.next = at.Add(r.c.Step(at))
			if r.c.Admit() != nil {
				if r.firstRefusal.IsZero() {
					r.firstRefusal = at
				}
				r.lastRefusal = at
				r.refused += r.next.Sub(at)
			}
		}
		if nextPut.After(end) {
			break
		}
		r.now = nextPut
		r.seq++
		r.c.Put(r.now, core.MessageID{Origin: "o", Seq: r.seq}, m)
	}
	r.now = end
}

// TestFullCacheKeepsServingAndAdmitting: a cache that receives more than its
// bounds hold for a TTL is full, and its scheduler asks for block-new, but
// it still holds min_retention and more. With the defaults it neither sheds
// nor refuses broadcasts. Before retention gated block-new, and with
// shedding to 85 % / 60 % by default, this load shed the cache to 60 % at
// each block-new and refused broadcasts for a sweep at a time.
func TestFullCacheKeepsServingAndAdmitting(t *testing.T) {
	cfg := DefaultConfig() // TTL 10 min, min_retention 30 s
	cfg.MaxEntries = 10000
	r := newRetentionRig(t, cfg)
	r.run(100, 5*time.Minute) // full after 100 s; then holds the last 100 s
	st := r.c.Stats()
	if st.Rejected != 0 || r.refused != 0 || st.Evictions.Backpressure != 0 {
		t.Fatalf("a full cache holding 100 s refused or shed: refused for %v, stats %+v", r.refused, st)
	}
	if st.Evictions.Capacity == 0 || st.Size != cfg.MaxEntries {
		t.Fatalf("the cache never filled: %+v", st)
	}
	// The least recently used message was put 9,999 messages before the
	// last: 99.99 s.
	if want := 9999 * 10 * time.Millisecond; st.Retention != want {
		t.Fatalf("retention %v, want %v", st.Retention, want)
	}
	if st.Backpressure != BackpressureDropMost {
		t.Fatalf("level %v, want drop-most (block-new asked, retention above min_retention)", st.Backpressure)
	}
}

// TestShortRetentionRefusesUntilItRecovers: at ten times the rate the same
// cache holds 10 s, under min_retention (30 s), and refuses new broadcasts;
// when the rate falls, it admits again once it holds 30 s.
func TestShortRetentionRefusesUntilItRecovers(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxEntries = 10000
	r := newRetentionRig(t, cfg)
	r.run(100, 2*time.Minute)
	if r.refused != 0 {
		t.Fatalf("refused for %v at 100 msg/s", r.refused)
	}
	overload := r.now
	r.run(1000, time.Minute)
	st := r.c.Stats()
	if st.Retention > 10*time.Second || r.c.Admit() == nil {
		t.Fatalf("at 1,000 msg/s: retention %v, Admit %v; want at most 10 s and refused", st.Retention, r.c.Admit())
	}
	// The 100 msg/s messages leave at 1,000/s: the least recently used is
	// then 100 s - 9 s per second old, under 30 s after 7.8 s, and the next
	// Step (5 s apart) refuses.
	if d := r.firstRefusal.Sub(overload); d < 7*time.Second || d > 13*time.Second {
		t.Fatalf("first refusal %v after the rate rose, want 7.8 s to one 5 s step later", d)
	}
	quiet := r.now
	r.run(10, 2*time.Minute)
	// Retention grows from 10 s by a second per second (10 msg/s fill no
	// room that 1,000 msg/s did not already use): 30 s after 20 s, admitted
	// at the next Step.
	if d := r.lastRefusal.Sub(quiet); d < 15*time.Second || d > 20*time.Second {
		t.Fatalf("last refusal %v after the rate fell, want under 20 s", d)
	}
	if r.c.Admit() != nil || r.c.Stats().Evictions.Backpressure != 0 {
		t.Fatalf("after the overload: Admit %v, stats %+v", r.c.Admit(), r.c.Stats())
	}
}

// TestBurstRefusesForAtMostMinRetention: one burst larger than the cache
// (as a large message's chunks are) leaves it holding a second of traffic.
// It refuses until it holds min_retention again, and no longer.
func TestBurstRefusesForAtMostMinRetention(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxEntries = 10000
	r := newRetentionRig(t, cfg)
	r.run(10, 5*time.Minute) // 3,000 entries: not full
	if st := r.c.Stats(); st.Retention != cfg.TTL || r.refused != 0 {
		t.Fatalf("before the burst: retention %v, refused for %v", st.Retention, r.refused)
	}
	burst := r.now
	r.run(20000, time.Second)
	r.run(10, 2*time.Minute)
	if r.firstRefusal.IsZero() {
		t.Fatal("the burst left the cache holding 1 s and Admit never refused")
	}
	// Retention is 0.5 s after the burst and grows a second per second:
	// 30 s is reached 29.5 s later; Steps are 5 s apart.
	if d := r.lastRefusal.Sub(burst); d > 31*time.Second+5*time.Second {
		t.Fatalf("refused until %v after the burst, want at most min_retention and one step", d)
	}
	if r.c.Admit() != nil {
		t.Fatal("still refusing two minutes after the burst")
	}
}

// TestMinRetentionZeroNeverRefuses: min_retention 0 turns refusal off.
func TestMinRetentionZeroNeverRefuses(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxEntries, cfg.MinRetention = 1000, 0
	r := newRetentionRig(t, cfg)
	r.run(2000, 10*time.Second) // holds half a second
	if r.refused != 0 || r.c.Stats().Retention > time.Second {
		t.Fatalf("refused for %v, retention %v", r.refused, r.c.Stats().Retention)
	}
}

// TestRetentionWithoutRoomEvictions: a cache that never evicted a live
// message for room holds its whole TTL, however full; once it did, its
// retention is the least recently used message's age, and it returns to the
// TTL a TTL after the last such eviction.
func TestRetentionWithoutRoomEvictions(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxEntries, cfg.TTL = 10, time.Minute
	c := newCache(t, cfg)
	m := core.StoredMessage{Payload: []byte("x")}
	for i := range 10 {
		c.Put(t0.Add(time.Duration(i)*time.Second), id(uint64(i)), m)
	}
	if got := c.Retention(t0.Add(20 * time.Second)); got != time.Minute {
		t.Fatalf("full, nothing evicted: retention %v, want the TTL", got)
	}
	c.Put(t0.Add(20*time.Second), id(10), m) // evicts id 0; LRU is id 1, put at 1 s
	if got := c.Retention(t0.Add(20 * time.Second)); got != 19*time.Second {
		t.Fatalf("after one eviction: retention %v, want 19s", got)
	}
	if _, ok := c.Get(t0.Add(21*time.Second), id(1)); !ok { // id 2 is now the LRU
		t.Fatal("id 1 gone")
	}
	if got := c.Retention(t0.Add(21 * time.Second)); got != 19*time.Second {
		t.Fatalf("after a Get: retention %v, want 19s (id 2, put at 2 s)", got)
	}
	if got := c.Retention(t0.Add(80*time.Second + 1)); got != time.Minute {
		t.Fatalf("a TTL after the eviction: retention %v, want the TTL", got)
	}
}

// Parts of large messages overflowing their own list shorten the cache's
// retention, which the health report reads, but do not make Step refuse the
// node's broadcasts: they go to the other list. Ordinary messages that
// overflow theirs do.
func TestPartsOverflowDoesNotRefuse(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxEntries, cfg.MaxBytes, cfg.MaxLargeBytes = 10000, 1<<20, 1<<20
	now := t0
	c := newCache(t, cfg, WithScheduler(blockNewSched{}), WithClock(func() time.Time { return now }))
	part := core.StoredMessage{Payload: make([]byte, 64<<10), Headers: []core.Header{{Key: "plumtree-large", Value: "1"}}}
	for i := range 40 { // 2.5 MiB of parts into 1 MiB
		now = t0.Add(time.Duration(i) * 100 * time.Millisecond)
		c.Put(now, core.MessageID{Origin: "big", Seq: uint64(i + 1)}, part)
	}
	c.Step(now)
	if err := c.Admit(); err != nil {
		t.Fatalf("parts overflowing their list refused a broadcast: %v", err)
	}
	if r := c.Retention(now); r >= cfg.MinRetention {
		t.Fatalf("retention %v with the parts' list evicting, want below %v", r, cfg.MinRetention)
	}
	small := core.StoredMessage{Payload: make([]byte, 64<<10)}
	for i := range 40 {
		c.Put(now, core.MessageID{Origin: "small", Seq: uint64(i + 1)}, small)
	}
	c.Step(now)
	if err := c.Admit(); err == nil {
		t.Fatal("ordinary messages overflowing their list: no refusal")
	}
}

// blockNewSched asks for block-new at every step.
type blockNewSched struct{}

func (blockNewSched) Next(time.Time, float64, time.Duration, uint64) (time.Duration, int, int) {
	return time.Second, 100, int(BackpressureBlockNew)
}
func (blockNewSched) Observe(time.Time, time.Duration, int) {}
