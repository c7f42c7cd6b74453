package stack

import (
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/cache"
	"github.com/plumtree-go/plumtree/core"
)

// storeRun drives the stack's store (the cache and its CleanupTuner, as Start
// builds them) in virtual time: Puts of 1 KiB at rate messages per second
// for d, and Step whenever the interval it returned has passed, as the
// cache's Run does. It returns the Steps after which Admit refused, out of
// all Steps.
type storeRun struct {
	c    *cache.Cache
	now  time.Time
	next time.Time
	seq  uint64
}

func (r *storeRun) run(rate int, d time.Duration) (refused, steps int) {
	end := r.now.Add(d)
	every := time.Second / time.Duration(rate)
	m := core.StoredMessage{Payload: make([]byte, 1024)}
	for r.now.Before(end) {
		for !r.next.After(r.now) {
			r.next = r.next.Add(r.c.Step(r.next))
			steps++
			if r.c.Admit() != nil {
				refused++
			}
		}
		r.seq++
		r.c.Put(r.now, core.MessageID{Origin: "o", Seq: r.seq}, m)
		r.now = r.now.Add(every)
	}
	return refused, steps
}

// TestStoreAtSustainedRates runs the store of a node with the default
// configuration (65,536 messages, 64 MiB, TTL 10 min) at sustained rates
// above what it holds for a TTL (109 msg/s of 1 KiB). At 800 msg/s it holds
// about 80 s: it neither sheds nor refuses broadcasts. At 4,000 msg/s it
// holds about 16 s, under the cache's 30 s min_retention, and refuses. Before
// the cache's backpressure followed retention, 800 msg/s made every node
// shed to 60 % and refuse broadcasts in bursts (measured with processes:
// 3,986 and 3,962 refusals in 3.5 minutes).
func TestStoreAtSustainedRates(t *testing.T) {
	for _, tc := range []struct {
		rate       int
		refuses    bool
		retainedGE time.Duration // at the end
		retainedLE time.Duration
	}{
		{800, false, 81 * time.Second, 82 * time.Second},
		{4000, true, 16 * time.Second, 17 * time.Second},
	} {
		t.Run(fmt.Sprint(tc.rate), func(t *testing.T) {
			t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			r := &storeRun{now: t0, next: t0}
			c, _, err := newStore(core.DefaultConfig(), slog.New(slog.NewTextHandler(io.Discard, nil)), cache.WithClock(func() time.Time { return r.now }))
			if err != nil {
				t.Fatal(err)
			}
			r.c = c
			r.run(tc.rate, 5*time.Minute) // fills after 82 s or 16 s
			refused, steps := r.run(tc.rate, 5*time.Minute)
			st := c.Stats()
			t.Logf("%d msg/s: refused after %d of %d steps; retention %v, level %v, evictions %+v",
				tc.rate, refused, steps, st.Retention, st.Backpressure, st.Evictions)
			if st.Evictions.Backpressure != 0 {
				t.Errorf("shed %d entries; the defaults shed nothing", st.Evictions.Backpressure)
			}
			if st.Evictions.Capacity == 0 {
				t.Errorf("the cache never reached its bounds: %+v", st)
			}
			if st.Retention < tc.retainedGE || st.Retention > tc.retainedLE {
				t.Errorf("retention %v, want %v to %v (65,536 messages at %d msg/s)", st.Retention, tc.retainedGE, tc.retainedLE, tc.rate)
			}
			if tc.refuses && refused != steps {
				t.Errorf("refused after %d of %d steps; want every step (retention under 30 s)", refused, steps)
			}
			if !tc.refuses && refused != 0 {
				t.Errorf("refused after %d of %d steps; want none (retention above 30 s)", refused, steps)
			}
		})
	}
}
