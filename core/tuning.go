package core

import (
	"fmt"
	"time"
)

// MaxGraftTimeoutFactor bounds the graft timeout a runtime tuner may set:
// at most this many times Config.GraftTimeout (see SetTuning).
const MaxGraftTimeoutFactor = 8

// Tuning holds the protocol timings a runtime tuner may change while the
// Protocol runs (see SetTuning). A zero field means "leave unchanged".
type Tuning struct {
	// GraftTimeout is the wait after the first IHave for a missing message
	// before the first Graft (retries still back off from
	// Config.GraftTimeout: they wait for a Graft's answer, not for the
	// tree). Bounds: [Config.GraftTimeout, MaxGraftTimeoutFactor ×
	// Config.GraftTimeout].
	GraftTimeout time.Duration
	// IHaveInterval is the flush interval of the IHave queues. Bounds:
	// [max(1 ms, Config.IHaveInterval/4), 4 × Config.IHaveInterval].
	IHaveInterval time.Duration
	// IHaveBatchSize is the number of queued announcements at which a lazy
	// peer's queue is flushed early (and the largest IHave sent). Bounds:
	// [Config.IHaveBatchSize, MaxIHaveBatch]: a tuner may let frames grow
	// under load, never flush more often than the configuration (a batch
	// of 2 sent an IHave frame every other message on every lazy link).
	IHaveBatchSize int
}

// tuningBounds returns the smallest and the largest Tuning cfg allows.
func tuningBounds(cfg *Config) (lo, hi Tuning) {
	lo = Tuning{
		GraftTimeout:   cfg.GraftTimeout,
		IHaveInterval:  max(time.Millisecond, cfg.IHaveInterval/4),
		IHaveBatchSize: cfg.IHaveBatchSize,
	}
	hi = Tuning{
		GraftTimeout:   MaxGraftTimeoutFactor * cfg.GraftTimeout,
		IHaveInterval:  4 * cfg.IHaveInterval,
		IHaveBatchSize: MaxIHaveBatch,
	}
	return lo, hi
}

// TuningBounds returns the bounds SetTuning clamps to for cfg.
func TuningBounds(cfg Config) (lo, hi Tuning) { return tuningBounds(&cfg) }

// Tuning returns the timings in effect (the Config's values until
// SetTuning changes them).
func (p *Protocol) Tuning() Tuning { return p.tun }

// SetTuning changes the graft timeout, the IHave flush interval and the
// IHave batch size from now on; it is the input of runtime tuners (the
// tuner module's NodeTuner, through core/node's WithTuner). Zero fields are
// left unchanged; values outside the bounds (see Tuning) are clamped to
// them. A negative field is an error (wrapping ErrInvalidConfig) and changes
// nothing. It returns the timings in effect afterwards.
//
// Effect: a new graft timeout applies to announcements that arrive from now
// on; a new interval to the next
// flush armed; a new batch size at once (a queue already above it is
// flushed at the next announcement or flush). Never panics.
func (p *Protocol) SetTuning(now time.Time, t Tuning) (Tuning, error) {
	if t.GraftTimeout < 0 || t.IHaveInterval < 0 || t.IHaveBatchSize < 0 {
		return p.tun, fmt.Errorf("%w: tuning %+v has a negative field", ErrInvalidConfig, t)
	}
	if p.closed {
		return p.tun, ErrClosed
	}
	p.advance(now)
	defer p.finish()
	lo, hi := tuningBounds(&p.cfg)
	if t.GraftTimeout > 0 {
		p.tun.GraftTimeout = max(lo.GraftTimeout, min(hi.GraftTimeout, t.GraftTimeout))
	}
	if t.IHaveInterval > 0 {
		p.tun.IHaveInterval = max(lo.IHaveInterval, min(hi.IHaveInterval, t.IHaveInterval))
	}
	if t.IHaveBatchSize > 0 {
		p.tun.IHaveBatchSize = max(lo.IHaveBatchSize, min(hi.IHaveBatchSize, t.IHaveBatchSize))
	}
	return p.tun, nil
}
