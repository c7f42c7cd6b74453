package cache

import (
	"context"
	"time"
)

// minInterval is the shortest wait Run accepts from a Scheduler.
const minInterval = time.Millisecond

// backlogInterval is the wait Step returns when its sweep stopped at the
// batch limit with expired entries left (SweepResult.More), whatever the
// Scheduler asked for: the next batch follows almost at once, and Put and
// Get get the cache's mutex in between.
const backlogInterval = time.Millisecond

// Step runs one round of maintenance at time now and returns how long to
// wait before the next: it asks the Scheduler for the schedule (Next), sweeps
// at most the batch it got (Sweep), reports the sweep (Observe) and applies
// the backpressure level (SetBackpressure). Run calls Step on a timer; a
// simulator or a test can call it with virtual time instead. Concurrent
// calls are serialised. Intervals below 1 ms and batches below 1 are raised
// to those minimums.
//
// The utilization given to the Scheduler, from which it derives the
// backpressure level, is LiveUtilization: expired entries not yet swept do
// not count. Step applies the level the Scheduler returns, except that
// block-new is applied only while the ordinary messages' retention,
// measured after the sweep, is below min(MinRetention, TTL); otherwise
// drop-most is. That is Retention, but for the large messages' parts list
// (Config.MaxLargeBytes): refusing the node's broadcasts would not relieve
// that list, which concurrent transfers fill, so its retention shows in
// Retention (and the health report) without refusing anything. When the sweep
// stopped at its batch limit with expired entries left (SweepResult.More),
// Step returns 1 ms instead of the Scheduler's interval, so a backlog is
// worked off in batches soon after one another, each holding the mutex for
// one batch only.
func (c *Cache) Step(now time.Time) time.Duration {
	c.stepMu.Lock()
	defer c.stepMu.Unlock()
	c.mu.Lock()
	c.advanceExpired(c.offset(now))
	util, puts := c.liveUtilization(), c.puts
	c.mu.Unlock()
	interval, batch, level := c.sched.Next(now, util, c.cfg.TTL, puts)
	res := c.Sweep(now, max(batch, 1))
	c.sched.Observe(now, res.Duration, res.Removed)
	c.mu.Lock()
	ret := c.classRetention(classMessages, c.offset(now))
	c.mu.Unlock()
	applied := Backpressure(level)
	if applied >= BackpressureBlockNew && ret >= min(c.cfg.MinRetention, c.cfg.TTL) {
		applied = BackpressureDropMost
	}
	c.SetBackpressure(applied)
	if res.More {
		return backlogInterval
	}
	return max(interval, minInterval)
}

// Run sweeps the cache on the Scheduler's schedule until ctx is done, then
// returns nil. It calls Step at once and then whenever the interval Step
// returned has passed, reading the time from the clock (WithClock). It
// returns ErrRunning if the sweeper is already running.
func (c *Cache) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer c.running.Store(false)
	c.run(ctx)
	return nil
}

func (c *Cache) run(ctx context.Context) {
	t := time.NewTimer(c.Step(c.clock()))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			t.Reset(c.Step(c.clock()))
		}
	}
}

// Start runs the sweeper in a goroutine of its own until Stop. It returns
// ErrRunning if the sweeper is already running.
func (c *Cache) Start() error {
	c.runMu.Lock()
	defer c.runMu.Unlock()
	if !c.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	c.cancel, c.done = cancel, done
	go func() {
		defer close(done)
		defer c.running.Store(false)
		c.run(ctx)
	}()
	return nil
}

// Stop stops a sweeper started by Start and waits for its goroutine to
// return. It does nothing if Start was not called. The cache stays usable.
func (c *Cache) Stop() {
	c.runMu.Lock()
	cancel, done := c.cancel, c.done
	c.cancel, c.done = nil, nil
	c.runMu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}
