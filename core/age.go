package core

import "time"

// The age rule. A message's age is measured from its origin time (the
// origin's clock when it broadcast it, carried on every hop), never from
// when a node received it, so relaying a message late never makes it young
// again. With retention R = MessageCacheTTL and skew allowance S =
// ClockSkew, a node refuses to deliver, store, announce, graft or send any
// message whose origin time is more than R + S in the past or more than S
// in the future. Stream summaries keep every gap for R + S (ageHorizon), so
// every copy of a message either falls under its stream's summary (and is
// never delivered twice) or is refused by age.

// ageHorizon is R + S: how long after its origin time a message may still
// be accepted, and how long stream gaps are kept.
func (c *Config) ageHorizon() time.Duration { return c.MessageCacheTTL + c.ClockSkew }

// ageOK reports whether origin time t is within the age window at p.now.
func (p *Protocol) ageOK(t time.Time) bool {
	if t.IsZero() {
		return false
	}
	if d := p.now.Sub(t); d > p.cfg.ageHorizon() || -d > p.cfg.ClockSkew {
		return false
	}
	return true
}

// refuseAge counts a copy refused by the age rule.
func (p *Protocol) refuseAge(from PeerID, id MessageID) {
	p.counters.AgeRefused++
	p.emit(Event{Kind: EventAgeRefused, Peer: from, ID: id})
}

// originNow returns the origin time stamped on a local broadcast: the
// protocol clock with the millisecond precision the wire carries.
func (p *Protocol) originNow() time.Time {
	return time.UnixMilli(p.now.UnixMilli()).In(p.now.Location())
}
