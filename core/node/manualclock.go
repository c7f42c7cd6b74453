package node

import (
	"sync"
	"time"
)

// ManualClock is a Clock that only moves when Advance is called, for tests
// of code built on a Node (WithClock(NewManualClock(t0))): timers fire when
// the clock is advanced past their deadline, never on their own. It is safe
// for concurrent use.
type ManualClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*manualTimer
}

type manualTimer struct {
	clk    *ManualClock
	c      chan time.Time
	at     time.Time
	active bool
}

// NewManualClock returns a ManualClock reading start.
func NewManualClock(start time.Time) *ManualClock { return &ManualClock{now: start} }

// Now implements Clock.
func (m *ManualClock) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.now
}

// NewTimer implements Clock.
func (m *ManualClock) NewTimer(d time.Duration) Timer {
	t := &manualTimer{clk: m, c: make(chan time.Time, 1)}
	t.Reset(d)
	m.mu.Lock()
	m.timers = append(m.timers, t)
	m.mu.Unlock()
	return t
}

// Advance moves the clock by d and fires the timers that are due.
func (m *ManualClock) Advance(d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.now = m.now.Add(d)
	for _, t := range m.timers {
		if t.active && !t.at.After(m.now) {
			t.active = false
			select {
			case t.c <- m.now:
			default:
			}
		}
	}
}

// Armed reports whether some timer is armed, and its deadline.
func (m *ManualClock) Armed() (time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, t := range m.timers {
		if t.active {
			return t.at, true
		}
	}
	return time.Time{}, false
}

func (t *manualTimer) C() <-chan time.Time { return t.c }

func (t *manualTimer) Reset(d time.Duration) bool {
	t.clk.mu.Lock()
	defer t.clk.mu.Unlock()
	was := t.active
	select {
	case <-t.c:
	default:
	}
	t.at = t.clk.now.Add(d)
	t.active = true
	if d <= 0 {
		t.active = false
		t.c <- t.clk.now
	}
	return was
}

func (t *manualTimer) Stop() bool {
	t.clk.mu.Lock()
	defer t.clk.mu.Unlock()
	was := t.active
	t.active = false
	select {
	case <-t.c:
	default:
	}
	return was
}
