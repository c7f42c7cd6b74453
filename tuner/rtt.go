package tuner

import (
	"slices"
	"time"
)

// RTTConfig configures an RTTEstimator. Names in Validate errors are the
// snake_case names given on each field.
type RTTConfig struct {
	// InitialTimeout (initial_timeout) is the graft timeout for a peer
	// without samples (and overall, before any sample). Default 500 ms,
	// the protocol's default graft_timeout.
	InitialTimeout time.Duration
	// MinTimeout (min_timeout) and MaxTimeout (max_timeout) bound every
	// graft timeout. Defaults 50 ms and 8 s.
	MinTimeout time.Duration
	MaxTimeout time.Duration
	// Granularity (granularity) is RFC 6298's clock granularity G: the
	// variance term is at least G. Default 1 ms.
	Granularity time.Duration
	// MaxSample (max_sample) rejects larger samples as bogus. Default 1 min.
	MaxSample time.Duration
	// MaxPeers (max_peers) bounds the peers tracked; when full, the peer
	// sampled least recently is forgotten. Default 4096.
	MaxPeers int
}

// DefaultRTTConfig returns the defaults.
func DefaultRTTConfig() RTTConfig {
	return RTTConfig{
		InitialTimeout: 500 * time.Millisecond,
		MinTimeout:     50 * time.Millisecond,
		MaxTimeout:     8 * time.Second,
		Granularity:    time.Millisecond,
		MaxSample:      time.Minute,
		MaxPeers:       4096,
	}
}

// Validate reports the first field out of bounds, naming it and the bound.
func (c *RTTConfig) Validate() error {
	switch {
	case c.MinTimeout <= 0:
		return fieldErr("min_timeout", "is %v, must be positive", c.MinTimeout)
	case c.MaxTimeout < c.MinTimeout || c.MaxTimeout > 24*time.Hour:
		return fieldErr("max_timeout", "is %v, must be in [min_timeout, 24h] = [%v, 24h]", c.MaxTimeout, c.MinTimeout)
	case c.InitialTimeout < c.MinTimeout || c.InitialTimeout > c.MaxTimeout:
		return fieldErr("initial_timeout", "is %v, must be in [min_timeout, max_timeout] = [%v, %v]", c.InitialTimeout, c.MinTimeout, c.MaxTimeout)
	case c.Granularity < 0:
		return fieldErr("granularity", "is %v, must not be negative", c.Granularity)
	case c.MaxSample <= 0 || c.MaxSample > 24*time.Hour:
		return fieldErr("max_sample", "is %v, must be in (0, 24h]", c.MaxSample)
	case c.MaxPeers < 1 || c.MaxPeers > 1<<20:
		return fieldErr("max_peers", "is %d, must be in [1, %d]", c.MaxPeers, 1<<20)
	}
	return nil
}

// RTTEstimate is the smoothed round-trip state of one peer (or of all peers
// together).
type RTTEstimate struct {
	SRTT    time.Duration // smoothed round-trip time
	RTTVar  time.Duration // smoothed mean deviation
	Samples uint64        // samples taken
	Updated time.Time     // time of the last sample
}

// rto is RFC 6298's retransmission timeout: SRTT + max(G, 4·RTTVAR).
func (e RTTEstimate) rto(g time.Duration) time.Duration {
	return e.SRTT + max(g, 4*e.RTTVar)
}

// add applies one sample as RFC 6298 section 2 does (alpha 1/8, beta 1/4).
func (e *RTTEstimate) add(now time.Time, r time.Duration) {
	if e.Samples == 0 {
		e.SRTT, e.RTTVar = r, r/2
	} else {
		d := e.SRTT - r
		if d < 0 {
			d = -d
		}
		e.RTTVar = (3*e.RTTVar + d) / 4
		e.SRTT = (7*e.SRTT + r) / 8
	}
	e.Samples++
	e.Updated = now
}

// RTTEstimator keeps a smoothed RTT and RTT variance per peer, as TCP does
// (RFC 6298), derives the graft timeout from them (SRTT + 4·RTTVAR, clamped
// to [MinTimeout, MaxTimeout]) and ranks peers by expected latency for the
// eager set. K is the peer identifier (core.PeerID in a node).
//
// Feed it samples where the round trip is unambiguous (Karn's rule): a
// Graft answered by the peer it was sent to, a memberlist ping. It is not
// safe for concurrent use: the protocol goroutine owns it.
type RTTEstimator[K comparable] struct {
	cfg     RTTConfig
	peers   map[K]*RTTEstimate
	overall RTTEstimate
}

// NewRTTEstimator returns an estimator with a copy of cfg.
func NewRTTEstimator[K comparable](cfg RTTConfig) (*RTTEstimator[K], error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &RTTEstimator[K]{cfg: cfg, peers: make(map[K]*RTTEstimate)}, nil
}

// Config returns the estimator's configuration.
func (e *RTTEstimator[K]) Config() RTTConfig { return e.cfg }

// Observe records one round-trip sample of peer at time now. Samples that
// are not positive or exceed MaxSample are rejected (false). When MaxPeers
// peers are tracked, a new peer replaces the one sampled least recently.
func (e *RTTEstimator[K]) Observe(now time.Time, peer K, rtt time.Duration) bool {
	if rtt <= 0 || rtt > e.cfg.MaxSample {
		return false
	}
	st, ok := e.peers[peer]
	if !ok {
		if len(e.peers) >= e.cfg.MaxPeers {
			e.evictOldest()
		}
		st = new(RTTEstimate)
		e.peers[peer] = st
	}
	st.add(now, rtt)
	e.overall.add(now, rtt)
	return true
}

func (e *RTTEstimator[K]) evictOldest() {
	var (
		victim K
		oldest time.Time
		found  bool
	)
	for k, st := range e.peers {
		if !found || st.Updated.Before(oldest) {
			victim, oldest, found = k, st.Updated, true
		}
	}
	if found {
		delete(e.peers, victim)
	}
}

// Remove forgets peer (it left the cluster).
func (e *RTTEstimator[K]) Remove(peer K) { delete(e.peers, peer) }

// Len returns the number of peers tracked.
func (e *RTTEstimator[K]) Len() int { return len(e.peers) }

// Estimate returns peer's smoothed state, or false if it has no samples.
func (e *RTTEstimator[K]) Estimate(peer K) (RTTEstimate, bool) {
	st, ok := e.peers[peer]
	if !ok {
		return RTTEstimate{}, false
	}
	return *st, true
}

// Overall returns the smoothed state over every sample of every peer.
func (e *RTTEstimator[K]) Overall() RTTEstimate { return e.overall }

// GraftTimeout returns how long to wait for a message announced by peer
// before grafting: SRTT + max(G, 4·RTTVAR) of that peer, clamped to
// [MinTimeout, MaxTimeout]. A peer without samples gets OverallTimeout.
func (e *RTTEstimator[K]) GraftTimeout(peer K) time.Duration {
	st, ok := e.peers[peer]
	if !ok {
		return e.OverallTimeout()
	}
	return e.clamp(st.rto(e.cfg.Granularity))
}

// OverallTimeout returns the graft timeout from all samples together, or
// InitialTimeout before the first sample.
func (e *RTTEstimator[K]) OverallTimeout() time.Duration {
	if e.overall.Samples == 0 {
		return e.cfg.InitialTimeout
	}
	return e.clamp(e.overall.rto(e.cfg.Granularity))
}

func (e *RTTEstimator[K]) clamp(d time.Duration) time.Duration {
	return max(e.cfg.MinTimeout, min(e.cfg.MaxTimeout, d))
}

// Rank returns a copy of peers ordered by expected latency, best first: by
// SRTT, then by RTTVAR; peers without samples come last. Ties keep the input
// order, so the result is deterministic.
func (e *RTTEstimator[K]) Rank(peers []K) []K {
	out := slices.Clone(peers)
	slices.SortStableFunc(out, func(a, b K) int {
		sa, oka := e.peers[a]
		sb, okb := e.peers[b]
		switch {
		case !oka && !okb:
			return 0
		case !oka:
			return 1
		case !okb:
			return -1
		case sa.SRTT != sb.SRTT:
			return cmpDur(sa.SRTT, sb.SRTT)
		}
		return cmpDur(sa.RTTVar, sb.RTTVar)
	})
	return out
}

func cmpDur(a, b time.Duration) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
