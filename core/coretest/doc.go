// Package coretest is a deterministic in-memory network of core.Protocol
// nodes under a virtual clock, for testing protocol properties and
// applications built on package core (in the spirit of etcd's rafttest).
//
// A Network runs N Protocols with full membership (every node is introduced
// to every other one), per-link fixed delays, per-message jitter, seeded
// random drops, partitions, crashes with delayed failure detection, restarts
// with fresh state, and healing. Time advances only through Step, RunFor,
// RunUntil and RunUntilQuiescent; the same Config and the same calls give
// the same run, so a failing seed replays exactly.
//
// It counts what the paper measures: payload copies received per message
// (Received, for RMR), deliveries per node and incarnation (Delivered,
// CheckDelivery), and control messages. It is built on package core only and
// is not safe for concurrent use.
package coretest
