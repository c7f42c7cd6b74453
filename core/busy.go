package core

import "time"

// maxQuietRate is the delivery rate (messages per second) above which a
// node makes no link change of its own accord (busy): no tree-shaping swap
// — its overlap costs a duplicate per message, and under a burst the
// copies in flight between the two links lag by a queue, more than the
// overlap covers (each pulled, a chance for a new link) — and no link from
// late copies (noteLate), which a burst's queues make late.
const maxQuietRate = 100

// rateRound runs at each maintenance round: it decides from the
// deliveries since the last round whether the node is busy until the next.
func (p *Protocol) rateRound() {
	d := p.counters.MessagesDelivered - p.rateMark
	p.rateMark = p.counters.MessagesDelivered
	interval := p.now.Sub(p.rateRoundAt)
	p.rateRoundAt = p.now
	p.rateBusy = interval <= 0 || float64(d) > maxQuietRate*interval.Seconds()
}

// busy reports whether this node delivers more than maxQuietRate
// messages per second: over the last maintenance round, or
// since it began (counted over at least 100 ms, so that a burst is seen
// within its first messages).
func (p *Protocol) busy() bool {
	if p.rateBusy {
		return true
	}
	d := p.counters.MessagesDelivered - p.rateMark
	elapsed := max(p.now.Sub(p.rateRoundAt), 100*time.Millisecond)
	return float64(d) > maxQuietRate*elapsed.Seconds()
}

// quiet reports whether the node is neither overloaded nor busy: delays
// are then the tree's or a repair's, not a queue's (see lateMeansCutOff and
// the Repaired mark in onGossip).
func (p *Protocol) quiet() bool { return !p.overloaded && !p.busy() }
