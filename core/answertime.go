package core

import "time"

// graftAsk is one Graft sent for a pending message: to whom and when.
type graftAsk struct {
	peer PeerID
	at   time.Time
}

// answerTime estimates how long a Graft waits for its answer, the way TCP
// estimates a round trip (RFC 6298: smoothed time and mean deviation, gains
// 1/8 and 1/4; the timeout is the smoothed time plus 4 deviations). A
// sample is the time from a Graft to a first copy from the peer it went to,
// whichever of the Grafts for that message it answers: counting only the
// answer to the latest Graft would miss every answer slower than a retry,
// and the estimate could then never rise above the retry's wait. Answers
// that come after the tree's copy are not seen (the message is no longer
// pending), so the estimate leans short, never long.
//
// Samples older than answerHorizon are forgotten: the answer times of a
// busy spell do not hold back the retries of a quiet cluster for longer.
type answerTime struct {
	srtt, rttvar time.Duration
	at           time.Time // the last sample; zero: none
}

// answerHorizon is how long an answer-time sample counts.
const answerHorizon = 30 * time.Second

func (a *answerTime) add(now time.Time, d time.Duration) {
	if a.at.IsZero() || now.Sub(a.at) > answerHorizon {
		a.srtt, a.rttvar = d, d/2
	} else {
		e := a.srtt - d
		if e < 0 {
			e = -e
		}
		a.rttvar += (e - a.rttvar) / 4
		a.srtt += (d - a.srtt) / 8
	}
	a.at = now
}

// timeout is how long to wait for an answer before asking again (0 without
// a recent sample).
func (a *answerTime) timeout(now time.Time) time.Duration {
	if a.at.IsZero() || now.Sub(a.at) > answerHorizon {
		return 0
	}
	return a.srtt + 4*a.rttvar
}
