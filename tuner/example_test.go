package tuner_test

import (
	"fmt"
	"time"

	"github.com/plumtree-go/plumtree/tuner"
)

func ExampleCleanupTuner() {
	t, err := tuner.NewCleanupTuner(tuner.DefaultCleanupConfig())
	if err != nil {
		panic(err)
	}
	now := time.Unix(0, 0)
	ttl := time.Minute

	// Half full, no history: the base interval (30 s) would exceed
	// TTL/ttl_divisor (15 s), so the TTL bound wins.
	interval, batch, level := t.Next(now, 0.5, ttl, 0)
	fmt.Println(interval, batch, tuner.Level(level))

	// The sweep removed 100 expired entries in 2 ms: 50 ms fit 2,500, so the
	// smoothed batch grows (capped at 500). Then the cache fills up at
	// 2,000 messages per second: sweep as often as allowed, twice the
	// batch, and shed entries (drop-most).
	t.Observe(now, 2*time.Millisecond, 100)
	now = now.Add(interval)
	interval, batch, level = t.Next(now, 0.97, ttl, 30000)
	fmt.Println(interval, batch, tuner.Level(level))
	// Output:
	// 15s 100 none
	// 5s 440 drop-most
}

func ExampleRTTEstimator() {
	e, err := tuner.NewRTTEstimator[string](tuner.DefaultRTTConfig())
	if err != nil {
		panic(err)
	}
	now := time.Unix(0, 0)
	for _, ms := range []int{100, 120, 80, 100} {
		e.Observe(now, "far", time.Duration(ms)*time.Millisecond)
		e.Observe(now, "near", time.Duration(ms/10)*time.Millisecond)
	}
	fmt.Println(e.GraftTimeout("far").Round(time.Millisecond), e.GraftTimeout("near"))
	fmt.Println(e.Rank([]string{"new", "far", "near"}))
	// Output:
	// 213ms 50ms
	// [near far new]
}

func ExampleIHaveTuner() {
	t, err := tuner.NewIHaveTuner(tuner.DefaultIHaveConfig())
	if err != nil {
		panic(err)
	}
	now := time.Unix(0, 0)
	var delivered uint64
	t.Update(now, 0, 0, 0)
	for i := 0; i < 30; i++ { // a healthy tree delivering 500 messages/s
		now = now.Add(time.Second)
		delivered += 500
		t.Update(now, delivered, 0, 0)
	}
	batch, interval := t.Update(now.Add(time.Second), delivered+500, 0, 0)
	fmt.Println(batch, interval)
	// Output:
	// 256 800ms
}
