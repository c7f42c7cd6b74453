package node

import (
	"testing"
	"time"
)

// The pace of BroadcastLarge: a chunk every size/rate, the rate growing by
// largeRateStep per chunk and halving (at most once per largeCutEvery, not
// below largeMinRate) when the node is asked for pulls.
func TestPacer(t *testing.T) {
	t0 := time.Unix(1000, 0)
	p := pacer{rate: largeStartRate}
	if ok, _ := p.ready(t0); !ok {
		t.Fatal("the first part must go at once")
	}
	if p.observe(t0, 7) {
		t.Fatal("the first look only sets the baseline")
	}
	p.sent(t0, 1<<20) // 1 MiB at 16 MiB/s: the next part in 62.5 ms
	ok, wait := p.ready(t0.Add(10 * time.Millisecond))
	if ok || wait != 52500*time.Microsecond {
		t.Fatalf("ready 10 ms later: %v, wait %v", ok, wait)
	}
	if ok, _ := p.ready(t0.Add(62500 * time.Microsecond)); !ok {
		t.Fatal("not ready when due")
	}
	if p.rate != largeStartRate+largeRateStep {
		t.Fatalf("rate after one part: %v", p.rate)
	}
	// A pull: halve.
	r := p.rate
	if !p.observe(t0.Add(time.Second), 8) || p.rate != r/2 {
		t.Fatalf("after a pull: rate %v, want %v", p.rate, r/2)
	}
	// Another within largeCutEvery: no second cut.
	if p.observe(t0.Add(time.Second+largeCutEvery/2), 9) || p.rate != r/2 {
		t.Fatalf("second cut too soon: rate %v", p.rate)
	}
	// No new pull: no cut.
	if p.observe(t0.Add(10*time.Second), 9) {
		t.Fatal("cut without a pull")
	}
	// Many pulls: never below the floor.
	for k := range 100 {
		p.observe(t0.Add(time.Duration(20+k)*time.Second), uint64(10+k))
	}
	if p.rate != largeMinRate {
		t.Fatalf("rate after many cuts: %v, want the floor %v", p.rate, float64(largeMinRate))
	}
}

// large_send_rate's bucket on a fake clock: a sender that sends a part
// whenever the bucket lets it gets rate × T bytes out in T (within one part
// and the burst), never a burst after a pause, and nothing waits without a
// cap.
func TestRateBucket(t *testing.T) {
	const (
		rate  = 1 << 20 // bytes/s
		burst = 16 << 10
		part  = 16<<10 + 42
	)
	t0 := time.Unix(1000, 0)
	b := rateBucket{rate: rate, burst: burst}
	now, sent := t0, 0
	send := func(until time.Time) {
		for now.Before(until) {
			ok, wait := b.ready(now)
			if !ok {
				if wait <= 0 {
					t.Fatalf("not ready at %v and no wait", now.Sub(t0))
				}
				now = now.Add(wait)
				continue
			}
			b.take(now, part)
			sent += part
		}
	}
	send(t0.Add(10 * time.Second))
	if lo, hi := 10*rate-part, 10*rate+burst+part; sent < lo || sent > hi {
		t.Fatalf("%d bytes in 10 s at %d bytes/s, want %d–%d", sent, rate, lo, hi)
	}
	// A minute idle earns no more than the burst.
	now = now.Add(time.Minute)
	start := now
	sent = 0
	for {
		ok, _ := b.ready(now)
		if !ok {
			break
		}
		b.take(now, part)
		sent += part
	}
	if sent > burst+part {
		t.Fatalf("%d bytes at once after a pause, want at most %d", sent, burst+part)
	}
	// The next part waits for exactly the debt.
	if ok, wait := b.ready(start); ok || wait != time.Duration(float64(sent-burst)/rate*float64(time.Second)) {
		t.Fatalf("after the burst: ready %v, wait %v", ok, wait)
	}
	// No cap: always ready.
	free := rateBucket{burst: burst}
	for range 1000 {
		if ok, _ := free.ready(t0); !ok {
			t.Fatal("a bucket without a rate made a part wait")
		}
		free.take(t0, part)
	}
}

// BroadcastLarge's window waits for an eager peer while its queue is above
// the window and it makes progress: its queue shrinks, or frames are
// written to it, though other traffic keeps the queue as long (the normal
// case on a link that many transfers share). It stops waiting for a peer
// only after largeStall without either, once.
func TestSendWindowWaits(t *testing.T) {
	t0 := time.Unix(1000, 0)
	w := newSendWindow(4)
	if wait, stalled := w.waits("p", 4, 0, t0); wait || stalled {
		t.Fatal("waited with the queue within the window")
	}
	// Over the window, the same length for ten stalls' time, but frames
	// keep being written: waits, never stalls.
	var sent uint64
	now := t0
	for range 100 {
		now = now.Add(largeStall / 10)
		sent += 3
		if wait, stalled := w.waits("p", 9, sent, now); !wait || stalled {
			t.Fatalf("at +%v: wait %v stalled %v for a peer that drains", now.Sub(t0), wait, stalled)
		}
	}
	// A shrinking queue without the count (a transport without
	// SendProgresser) is progress too.
	for l := 50; l > 9; l-- {
		now = now.Add(largeStall / 2)
		if wait, stalled := w.waits("q", l, 0, now); !wait || stalled {
			t.Fatalf("queue %d: wait %v stalled %v", l, wait, stalled)
		}
	}
	// Nothing moves: waited for up to largeStall, then skipped, once.
	start := now
	sent++
	if wait, _ := w.waits("p", 9, sent, now); !wait {
		t.Fatal("no wait right after progress")
	}
	if wait, stalled := w.waits("p", 9, sent, start.Add(largeStall)); !wait || stalled {
		t.Fatalf("at largeStall: wait %v stalled %v", wait, stalled)
	}
	if wait, stalled := w.waits("p", 9, sent, start.Add(largeStall+time.Millisecond)); wait || !stalled {
		t.Fatalf("after largeStall: wait %v stalled %v, want a stall", wait, stalled)
	}
	if wait, stalled := w.waits("p", 50, sent, start.Add(10*largeStall)); wait || stalled {
		t.Fatalf("a skipped peer: wait %v stalled %v", wait, stalled)
	}
}

// A busy period of the bucket starts at the phase drawn for it: its first
// part waits phase × 2 part times less the burst (none for a phase up to
// one half), and so does the first part after a pause; parts sent back to
// back in between wait for the rate alone.
func TestRateBucketStartsAtARandomPhase(t *testing.T) {
	const (
		rate  = 1 << 20 // bytes/s
		burst = 16 << 10
	)
	t0 := time.Unix(1000, 0)
	draws := []float64{0.75, 0.25, 0.9}
	b := rateBucket{rate: rate, burst: burst, phase: func() float64 {
		p := draws[0]
		draws = draws[1:]
		return p
	}}
	partTime := time.Duration(float64(burst) / rate * float64(time.Second))
	// 0.75: credit −burst/2, half a part time to wait.
	if ok, wait := b.ready(t0); ok || wait != partTime/2 {
		t.Fatalf("first part: ready %v, wait %v; want a wait of %v", ok, wait, partTime/2)
	}
	now := t0.Add(partTime / 2)
	if ok, _ := b.ready(now); !ok {
		t.Fatal("first part not ready after its wait")
	}
	b.take(now, burst)
	// Back to back: the next part waits one part time, no new phase.
	if ok, wait := b.ready(now); ok || wait != partTime {
		t.Fatalf("second part: ready %v, wait %v; want %v", ok, wait, partTime)
	}
	if len(draws) != 2 {
		t.Fatalf("%d phases drawn while busy, want 1", 3-len(draws))
	}
	// After a pause the bucket is full: a new phase (0.25: credit +burst/2,
	// the part goes at once).
	now = now.Add(time.Minute)
	if ok, _ := b.ready(now); !ok {
		t.Fatal("after a pause with phase 0.25: not ready")
	}
	if len(draws) != 1 {
		t.Fatalf("no new phase after a pause")
	}
}
