package cache_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/plumtree-go/plumtree/cache"
	"github.com/plumtree-go/plumtree/core"
)

func Example() {
	cfg := cache.ConfigFromCore(core.DefaultConfig()) // 65,536 messages, 10 min
	cfg.MaxBytes = 1 << 20
	c, err := cache.New(cfg)
	if err != nil {
		panic(err)
	}
	now := time.Unix(1700000000, 0)
	id := core.MessageID{Origin: "node-a", Seq: 1}
	c.Put(now, id, core.StoredMessage{Payload: []byte("hello"), Hops: 2})

	m, ok := c.Get(now.Add(30*time.Second), id)
	fmt.Println(string(m.Payload), m.Hops, ok)
	_, ok = c.Get(now.Add(10*time.Minute+time.Second), id) // older than the TTL
	fmt.Println(ok)

	c.Put(now, core.MessageID{Origin: "node-a", Seq: 2}, core.StoredMessage{Payload: []byte("world")})
	r := c.Sweep(now.Add(20*time.Minute), 500) // what the background sweeper does
	st := c.Stats()
	fmt.Println(r.Removed, st.Size, st.Hits, st.Misses, st.Evictions.TTL)
	// Output:
	// hello 2 true
	// false
	// 1 0 1 1 2
}

// A scheduler decides the sweeps and the backpressure level; in a node it is
// a *tuner.CleanupTuner. This one always asks for block-new.
type overloaded struct{}

func (overloaded) Next(time.Time, float64, time.Duration, uint64) (time.Duration, int, int) {
	return time.Second, 100, int(cache.BackpressureBlockNew)
}
func (overloaded) Observe(time.Time, time.Duration, int) {}

func ExampleCache_Admit() {
	cfg := cache.DefaultConfig() // min_retention 30 s
	cfg.MaxEntries = 1000
	c, err := cache.New(cfg, cache.WithScheduler(overloaded{}))
	if err != nil {
		panic(err)
	}
	now := time.Unix(1700000000, 0)
	put := func(n int, every time.Duration) { // n messages, one each every
		for range n {
			now = now.Add(every)
			c.Put(now, core.MessageID{Origin: "a", Seq: c.Stats().Puts + 1}, core.StoredMessage{Payload: []byte("m")})
		}
	}

	// Full, but holding the last 100 s: block-new is not applied.
	put(2000, 100*time.Millisecond) // 10 msg/s for 200 s
	c.Step(now)                     // Run does this on a timer
	fmt.Println(c.Retention(now), c.Backpressure(), c.Admit())

	// Holding only the last 2 s, less than min_retention: new broadcasts
	// are refused until the cache holds 30 s again.
	put(5000, 2*time.Millisecond) // 500 msg/s for 10 s
	c.Step(now)
	err = c.Admit()
	fmt.Println(c.Retention(now), c.Backpressure(), errors.Is(err, cache.ErrBackpressure))
	// Output:
	// 1m39.9s drop-most <nil>
	// 1.998s block-new true
}
