package node

import (
	"time"

	"github.com/plumtree-go/plumtree/core"
)

// Tuner adapts the protocol's graft timeout and IHave batching to what the
// node measures (see WithTuner). It uses built-in and time types only, so
// that an implementation need not import this package: the tuner module's
// NodeTuner satisfies it structurally, as tuner.CleanupTuner satisfies the
// cache's Scheduler. Its methods are called on the protocol goroutine, one
// at a time: they must be fast and must not call the Node.
type Tuner interface {
	// ObserveDelay records one delay sample taken at now. graft false: a
	// message's first copy arrived d after its first announcement (IHave),
	// pushed by the tree: not the answer to a Graft of ours, not a copy
	// pulled or repaired before us (core.EventIHaveLag) — what the graft
	// timeout must cover. graft true: a Graft sent to peer
	// was answered by peer after d, without retry (core.EventGraftSuccess
	// with Retries 0; Karn's rule) — a round trip under the current load.
	ObserveDelay(now time.Time, peer string, d time.Duration, graft bool)
	// Tune is called on the node's tuning schedule (every
	// MaintenanceInterval/4) with the protocol's cumulative counters
	// (MessagesDelivered, GraftSuccess, GraftFailed) and returns the
	// timings to use from now on; zero values leave a timing unchanged.
	// The node hands them to core.Protocol.SetTuning, which clamps them to
	// core.TuningBounds.
	Tune(now time.Time, delivered, graftsOK, graftsFailed uint64) (graftTimeout, ihaveInterval time.Duration, ihaveBatch int)
}

// WithTuner makes the node feed t with the delay samples of every protocol
// step and apply what t.Tune returns every MaintenanceInterval/4 (see
// Tuner). Without it the configured GraftTimeout, IHaveInterval and
// IHaveBatchSize stay fixed. RTT samples from membership (RecordRTT) go to
// the protocol's own peer ranking, not to t.
func WithTuner(t Tuner) Option { return func(o *options) { o.tuner = t } }

// Tuning returns the timings the protocol runs with (the configured ones
// unless a Tuner changed them).
func (n *Node) Tuning() core.Tuning {
	var r core.Tuning
	if !n.call(func(time.Time) { r = n.proto.Tuning() }) {
		return n.final.tuning
	}
	return r
}

// SetTuning sets the protocol's timings (core.Protocol.SetTuning: zero
// fields unchanged, values clamped to core.TuningBounds) and returns those
// in effect. A Tuner given to WithTuner may override them at its next
// round. Errors: a negative field (wrapping core.ErrInvalidConfig),
// ErrClosed.
func (n *Node) SetTuning(t core.Tuning) (core.Tuning, error) {
	var (
		r   core.Tuning
		err error
	)
	if !n.call(func(now time.Time) { r, err = n.proto.SetTuning(now, t) }) {
		return n.final.tuning, ErrClosed
	}
	return r, err
}

// tunePeriod is how often the Tuner is asked for new timings.
func (n *Node) tunePeriod() time.Duration {
	return max(n.cfg.MaintenanceInterval/4, time.Millisecond)
}

// observeSamples feeds the Tuner with the delay samples among events.
func (n *Node) observeSamples(now time.Time, events []core.Event) {
	for i := range events {
		e := &events[i]
		switch {
		case e.Kind == core.EventIHaveLag:
			n.opts.tuner.ObserveDelay(now, string(e.Peer), e.Latency, false)
		case e.Kind == core.EventGraftSuccess && e.Retries == 0:
			n.opts.tuner.ObserveDelay(now, string(e.Peer), e.Latency, true)
		}
	}
}

// maybeTune asks the Tuner for timings when the tuning period has passed.
func (n *Node) maybeTune(now time.Time) {
	if n.opts.tuner == nil || now.Before(n.tuneAt) {
		return
	}
	n.tuneAt = now.Add(n.tunePeriod())
	st := n.proto.Stats()
	c := &st.Counters
	gt, iv, b := n.opts.tuner.Tune(now, c.MessagesDelivered, c.GraftSuccess, c.GraftFailed)
	if gt < 0 || iv < 0 || b < 0 {
		return
	}
	if _, err := n.proto.SetTuning(now, core.Tuning{GraftTimeout: gt, IHaveInterval: iv, IHaveBatchSize: b}); err != nil {
		n.log.Debug("tuning refused", "error", err)
	}
}
