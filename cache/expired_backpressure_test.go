package cache

import (
	"fmt"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
)

// tunerLikeSched schedules like tuner.DefaultCleanupConfig under a backlog
// of expired entries: every sweep at most 500, MinInterval 5 s (bounded by
// TTL/4 unless fixed is set), and the guide's backpressure thresholds
// 0.93 / 0.96 / 0.98 on the utilization it is given.
type tunerLikeSched struct {
	fixed  bool
	levels [4]int
}

func (s *tunerLikeSched) Next(_ time.Time, u float64, ttl time.Duration, _ uint64) (time.Duration, int, int) {
	level := 0
	switch {
	case u >= 0.98:
		level = 3
	case u >= 0.96:
		level = 2
	case u >= 0.93:
		level = 1
	}
	s.levels[level]++
	if s.fixed {
		return 5 * time.Second, 500, level
	}
	return min(5*time.Second, ttl/4), 500, level
}

func (*tunerLikeSched) Observe(time.Time, time.Duration, int) {}

// TestExpiredEntriesDoNotCauseBackpressure stores messages at a steady rate
// in a cache of 10,000 for ten TTLs, so that under half the capacity is ever
// live but the rate is above the 100 expired entries per second that batches
// of 500 every 5 s remove. Before the fix the expired entries filled the
// cache within a few TTLs and the level, from entries/capacity, rose: with
// 240/s and a 20 s TTL to drop-most (shedding 21,201 entries), with 400/s,
// a 12 s TTL and a fixed 5 s interval to block-new, where Admit refused
// broadcasts although nothing live needed the room.
func TestExpiredEntriesDoNotCauseBackpressure(t *testing.T) {
	for _, tc := range []struct {
		rate  int // messages per second
		ttl   time.Duration
		fixed bool // interval 5 s even above TTL/4
	}{
		{240, 20 * time.Second, false},
		{400, 12 * time.Second, true},
	} {
		t.Run(fmt.Sprintf("%d-per-s-ttl-%v", tc.rate, tc.ttl), func(t *testing.T) {
			testExpiredBacklog(t, tc.rate, tc.ttl, tc.fixed)
		})
	}
}

func testExpiredBacklog(t *testing.T, rate int, ttl time.Duration, fixed bool) {
	const capacity = 10000
	duration := 10 * ttl
	cfg := DefaultConfig()
	cfg.MaxEntries, cfg.MaxBytes, cfg.TTL = capacity, 64<<20, ttl
	sch := &tunerLikeSched{fixed: fixed}
	c := newCache(t, cfg, WithScheduler(sch))
	m := core.StoredMessage{Payload: make([]byte, 512)}
	every := time.Second / time.Duration(rate)
	next := t0 // the next Step, in virtual time
	steps, maxLen := 0, 0
	for i := 0; time.Duration(i)*every < duration; i++ {
		now := t0.Add(time.Duration(i) * every)
		for !next.After(now) {
			next = next.Add(c.Step(next))
			steps++
			if err := c.Admit(); err != nil {
				t.Fatalf("at %v: Admit refused (%v) with %d entries, live utilization %.2f, levels %v",
					next.Sub(t0), err, c.Len(), c.LiveUtilization(now), sch.levels)
			}
		}
		c.Put(now, core.MessageID{Origin: "p", Seq: uint64(i)}, m)
		maxLen = max(maxLen, c.Len())
		if maxLen > capacity {
			t.Fatalf("at %v: %d entries, capacity %d", now.Sub(t0), maxLen, capacity)
		}
	}
	st := c.Stats()
	t.Logf("%d steps, max %d entries, end %d entries, levels %v, evictions %+v", steps, maxLen, st.Size, sch.levels, st.Evictions)
	if sch.levels != [4]int{steps, 0, 0, 0} || st.Rejected != 0 || st.Evictions.Backpressure != 0 || st.Evictions.Capacity != 0 {
		t.Fatalf("backpressure: levels %v, stats %+v", sch.levels, st)
	}
	// The sweeper keeps up (backlog batches follow 1 ms apart): what is
	// stored is at most a TTL plus one 5 s interval of messages.
	if want := rate * int((ttl+5*time.Second)/time.Second); maxLen > want+1 {
		t.Fatalf("up to %d entries, want at most %d", maxLen, want+1)
	}
}
