// Package tuner holds the adaptive controllers of a Plumtree node: pure
// functions of explicit inputs (counters, measured durations, utilization
// and the current time), with no goroutines, no clock reads and no I/O, so
// the same inputs always give the same outputs and the simulator can drive
// them with virtual time.
//
//   - CleanupTuner schedules the message cache's sweeps (interval and batch
//     size) and sets its backpressure level from utilization, message rate
//     and how long sweeps take. It satisfies the cache's Scheduler interface
//     structurally: Next(now, utilization, ttl, puts) (interval, batch,
//     level) and Observe(now, took, removed), with builtin and time types
//     only, so the cache and the tuner do not import each other.
//   - IHaveTuner sets the IHave batch size and flush interval from the
//     message rate and the Grafts a node had to send, within a preset's
//     bounds and the wire limit.
//   - RTTEstimator keeps a smoothed RTT and variance per peer (RFC 6298),
//     derives the graft timeout and ranks peers for the eager set.
//
// Configuration follows the rest of the project: a plain struct per
// controller, presets built from one default, Validate naming the field and
// the bound (errors wrap ErrInvalidConfig), and the config copied on
// construction.
//
// Concurrency: CleanupTuner is safe for concurrent use (the cache's sweeper
// and a metrics scrape use it at once); IHaveTuner and RTTEstimator are
// owned by the protocol goroutine and are not.
//
// The package uses only the standard library.
package tuner
