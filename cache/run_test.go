package cache

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond) // polling, not synchronisation
	}
}

func TestRunSweepsOnSchedule(t *testing.T) {
	var fake atomic.Int64 // virtual time in ms, advanced by the test
	clock := func() time.Time { return t0.Add(time.Duration(fake.Load()) * time.Millisecond) }
	sch := &scriptSched{interval: time.Millisecond, batch: 2}
	cfg := DefaultConfig()
	cfg.TTL = time.Second
	c := newCache(t, cfg, WithScheduler(sch), WithClock(clock))
	for i := uint64(1); i <= 7; i++ {
		c.Put(t0, id(i), msg(1))
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	waitFor(t, "a sweep", func() bool { return c.Stats().Sweeps > 0 })
	if err := c.Run(ctx); !errors.Is(err, ErrRunning) {
		t.Fatalf("second Run: %v", err)
	}
	if err := c.Start(); !errors.Is(err, ErrRunning) {
		t.Fatalf("Start while running: %v", err)
	}
	fake.Store(2000) // everything expires; batches of 2 drain it
	waitFor(t, "the cache to drain", func() bool { return c.Len() == 0 })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run returned %v", err)
	}
	if st := c.Stats(); st.Evictions.TTL != 7 || st.Sweeps < 4 {
		t.Fatalf("stats %+v", st)
	}
}

func TestStartStop(t *testing.T) {
	sch := &scriptSched{interval: time.Millisecond, batch: 10}
	c := newCache(t, DefaultConfig(), WithScheduler(sch))
	c.Stop() // not started: no-op
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "sweeps", func() bool { return c.Stats().Sweeps >= 3 })
	c.Stop()
	n := c.Stats().Sweeps
	c.Stop()
	// Restartable; Run works after Stop.
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "more sweeps", func() bool { return c.Stats().Sweeps > n })
	c.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Run(ctx); err != nil {
		t.Fatal(err)
	}
}
