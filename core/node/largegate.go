package node

import (
	"context"
	"sync"
)

// largeGate lets a node's BroadcastLarge calls run together while their
// sizes add up to at most max: a receiver assembles at most twice
// max_large_message_size of one origin at a time (originShare: the second
// half for messages it is still completing) and evicts the older transfer
// to make room for a newer one, so an origin that sent more at once would
// lose messages at every receiver. A call that does not fit
// waits, in arrival order (a small call does not overtake a large one that
// waits). It is golang.org/x/sync/semaphore's Weighted in 40 lines: core
// depends on nothing but its test libraries.
type largeGate struct {
	mu      sync.Mutex
	max     int64
	used    int64
	waiters []*gateWaiter // in arrival order
}

type gateWaiter struct {
	n     int64
	ready chan struct{} // closed when the waiter holds its n
}

// acquire takes n (at most max) or returns ctx's error; it waits while
// earlier callers wait or n does not fit.
func (g *largeGate) acquire(ctx context.Context, n int64) error {
	g.mu.Lock()
	if len(g.waiters) == 0 && g.used+n <= g.max {
		g.used += n
		g.mu.Unlock()
		return nil
	}
	w := &gateWaiter{n: n, ready: make(chan struct{})}
	g.waiters = append(g.waiters, w)
	g.mu.Unlock()
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
		g.mu.Lock()
		defer g.mu.Unlock()
		select {
		case <-w.ready: // granted meanwhile: give it back
			g.used -= n
		default:
			for i, x := range g.waiters {
				if x == w {
					g.waiters = append(g.waiters[:i], g.waiters[i+1:]...)
					break
				}
			}
		}
		g.grant() // a waiter behind this one may fit now
		return ctx.Err()
	}
}

// release gives back n taken by acquire.
func (g *largeGate) release(n int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.used -= n
	g.grant()
}

// grant hands room to the waiters at the front that fit, in order.
func (g *largeGate) grant() {
	for len(g.waiters) > 0 && g.used+g.waiters[0].n <= g.max {
		w := g.waiters[0]
		g.waiters = g.waiters[1:]
		g.used += w.n
		close(w.ready)
	}
}
