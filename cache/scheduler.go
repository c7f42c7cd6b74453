package cache

import (
	"fmt"
	"time"
)

// Scheduler decides when the cache is swept, how many expired entries one
// sweep may remove and the backpressure level. The cache's sweeper (Run, or
// Step when driven by hand) calls Next before each sweep and Observe after
// it, from one goroutine at a time.
//
// The signatures use builtin and time types only, so that
// *tuner.CleanupTuner (module github.com/plumtree-go/plumtree/tuner)
// satisfies the interface structurally and neither module imports the
// other. Keep the two in step: each module has a test that compares them.
type Scheduler interface {
	// Next is given the time, the cache's live utilization in [0, 1] (the
	// larger of entries/MaxEntries and bytes/MaxBytes, not counting expired
	// entries not yet removed; see Cache.LiveUtilization), its TTL and the cumulative
	// number of Puts. It returns how long to wait before the next sweep,
	// the most expired entries the sweep about to run may remove, and the
	// backpressure level as an int (0 none, 1 drop-some, 2 drop-most,
	// 3 block-new; see Backpressure).
	Next(now time.Time, utilization float64, ttl time.Duration, puts uint64) (interval time.Duration, batch int, level int)
	// Observe reports the sweep that followed the last Next: how long it
	// held the cache and how many expired entries it removed.
	Observe(now time.Time, took time.Duration, removed int)
}

// FixedScheduler is a Scheduler with a constant interval and batch size that
// never applies backpressure. It is the cache's default (interval TTL/4,
// batch MaxEntries).
type FixedScheduler struct {
	Interval time.Duration
	Batch    int
}

// Next implements Scheduler.
func (s FixedScheduler) Next(time.Time, float64, time.Duration, uint64) (time.Duration, int, int) {
	return s.Interval, s.Batch, int(BackpressureNone)
}

// Observe implements Scheduler.
func (FixedScheduler) Observe(time.Time, time.Duration, int) {}

// Backpressure is the cache's backpressure level, set by the Scheduler. Each
// level includes the ones below it.
type Backpressure int

// Backpressure levels. The values are the ints Scheduler.Next returns.
const (
	// BackpressureNone: normal operation.
	BackpressureNone Backpressure = iota
	// BackpressureDropSome: after each sweep, shed least recently used
	// entries down to Config.ShedSomeTo (by default 1: none).
	BackpressureDropSome
	// BackpressureDropMost: after each sweep, shed least recently used
	// entries down to Config.ShedMostTo (by default 1: none).
	BackpressureDropMost
	// BackpressureBlockNew: shed as at BackpressureDropMost, and Admit
	// refuses new local broadcasts with ErrBackpressure. Step applies it
	// only while the ordinary messages' retention (Retention, but for the
	// large messages' parts list) is below Config.MinRetention (drop-most
	// otherwise); SetBackpressure applies it as given.
	BackpressureBlockNew
)

// String returns "none", "drop-some", "drop-most" or "block-new".
func (b Backpressure) String() string {
	switch b {
	case BackpressureNone:
		return "none"
	case BackpressureDropSome:
		return "drop-some"
	case BackpressureDropMost:
		return "drop-most"
	case BackpressureBlockNew:
		return "block-new"
	}
	return fmt.Sprintf("backpressure(%d)", int(b))
}

// MarshalText encodes the level as its name (for JSON stats).
func (b Backpressure) MarshalText() ([]byte, error) { return []byte(b.String()), nil }

// UnmarshalText decodes a level name.
func (b *Backpressure) UnmarshalText(text []byte) error {
	for l := BackpressureNone; l <= BackpressureBlockNew; l++ {
		if l.String() == string(text) {
			*b = l
			return nil
		}
	}
	return fmt.Errorf("cache: unknown backpressure level %q", text)
}
