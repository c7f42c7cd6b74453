package node

import (
	"context"
	"errors"
	"runtime"
	"testing"
)

// waiting blocks until g has k waiters (a state, not a time).
func waiting(t *testing.T, g *largeGate, k int) {
	t.Helper()
	for {
		g.mu.Lock()
		n := len(g.waiters)
		g.mu.Unlock()
		if n == k {
			return
		}
		if n > k {
			t.Fatalf("%d waiters, want %d", n, k)
		}
		runtime.Gosched()
	}
}

func TestLargeGate(t *testing.T) {
	g := &largeGate{max: 10}
	ctx := context.Background()
	if err := g.acquire(ctx, 6); err != nil {
		t.Fatal(err)
	}
	// 6 more does not fit: it waits; 1 would fit but waits behind it.
	b, c := make(chan error), make(chan error)
	go func() { b <- g.acquire(ctx, 6) }()
	waiting(t, g, 1)
	go func() { c <- g.acquire(ctx, 1) }()
	waiting(t, g, 2)
	if g.used != 6 {
		t.Fatalf("used %d while both wait, want 6", g.used)
	}
	g.release(6)
	if err := <-b; err != nil {
		t.Fatal(err)
	}
	if err := <-c; err != nil {
		t.Fatal(err)
	}
	if g.used != 7 {
		t.Fatalf("used %d, want 7", g.used)
	}
	// A waiter that gives up leaves the queue, and one behind it that fits
	// is let in.
	dctx, cancel := context.WithCancel(ctx)
	d, e := make(chan error), make(chan error)
	go func() { d <- g.acquire(dctx, 4) }()
	waiting(t, g, 1)
	go func() { e <- g.acquire(ctx, 1) }()
	waiting(t, g, 2)
	cancel()
	if err := <-d; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled acquire: %v", err)
	}
	if err := <-e; err != nil {
		t.Fatal(err)
	}
	if g.used != 8 || len(g.waiters) != 0 {
		t.Fatalf("used %d with %d waiters, want 8 and none", g.used, len(g.waiters))
	}
	g.release(6)
	g.release(1)
	g.release(1)
	if g.used != 0 {
		t.Fatalf("used %d after every release", g.used)
	}
}
