package node

import "time"

// Clock is the node's source of time. The protocol goroutine reads Now before
// every input it hands to the protocol and arms one Timer at the protocol's
// next deadline. The default is the system clock; tests inject their own with
// WithClock.
//
// A Clock is used from the protocol goroutine only, but a Clock shared by
// several nodes must be safe for concurrent use.
type Clock interface {
	Now() time.Time
	// NewTimer returns a started timer that sends the current time on its
	// channel once d has elapsed.
	NewTimer(d time.Duration) Timer
}

// Timer is the part of *time.Timer the node uses. Reset and Stop follow the
// semantics of time.Timer since Go 1.23: after either returns, no stale value
// is received from C.
type Timer interface {
	C() <-chan time.Time
	Reset(d time.Duration) bool
	Stop() bool
}

// SystemClock is the default Clock: time.Now and time.NewTimer.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// NewTimer returns a time.Timer wrapped as a Timer.
func (SystemClock) NewTimer(d time.Duration) Timer { return sysTimer{time.NewTimer(d)} }

type sysTimer struct{ t *time.Timer }

func (s sysTimer) C() <-chan time.Time        { return s.t.C }
func (s sysTimer) Reset(d time.Duration) bool { return s.t.Reset(d) }
func (s sysTimer) Stop() bool                 { return s.t.Stop() }
