package core

import "time"

// bucket is a token bucket refilled by the caller's time.
type bucket struct {
	tokens float64
	at     time.Time
	init   bool
}

// take refills the bucket for the time elapsed since the last call (never
// backwards) and takes one token if there is one.
func (b *bucket) take(now time.Time, rate float64, burst int) bool {
	switch {
	case !b.init:
		b.init, b.tokens, b.at = true, float64(burst), now
	case now.After(b.at):
		b.tokens += now.Sub(b.at).Seconds() * rate
		if b.tokens > float64(burst) {
			b.tokens = float64(burst)
		}
		b.at = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true
	}
	return false
}
