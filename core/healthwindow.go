package core

import "time"

// graftWindow counts graft outcomes over a sliding window of 30 buckets so
// that the health report's failure rate forgets old trouble.
type graftWindow struct {
	start   time.Time
	width   time.Duration
	buckets [30]struct {
		slot     int64
		ok, fail uint64
	}
}

func (w *graftWindow) init(window time.Duration, now time.Time) {
	w.start = now
	w.width = window / time.Duration(len(w.buckets))
	if w.width <= 0 {
		w.width = time.Second
	}
	for i := range w.buckets {
		w.buckets[i].slot = -1
	}
}

func (w *graftWindow) slot(now time.Time) int64 {
	d := now.Sub(w.start)
	if d < 0 {
		d = 0
	}
	return int64(d / w.width)
}

func (w *graftWindow) record(now time.Time, ok bool) {
	s := w.slot(now)
	b := &w.buckets[s%int64(len(w.buckets))]
	if b.slot != s {
		b.slot, b.ok, b.fail = s, 0, 0
	}
	if ok {
		b.ok++
	} else {
		b.fail++
	}
}

// sum returns the outcomes of the last len(buckets) slots up to now.
func (w *graftWindow) sum(now time.Time) (ok, fail uint64) {
	s := w.slot(now)
	for i := range w.buckets {
		b := &w.buckets[i]
		if b.slot >= 0 && b.slot <= s && b.slot > s-int64(len(w.buckets)) {
			ok += b.ok
			fail += b.fail
		}
	}
	return ok, fail
}
