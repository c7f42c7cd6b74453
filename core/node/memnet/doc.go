// Package memnet is an in-memory network of node.Transports with fault
// injection, for tests of code built on core/node: per-link loss, delay and
// jitter, reordering, duplication, partitions between sets of peers, crash
// and restart of a peer's transport, and heal.
//
// It runs on real goroutines and timers (one scheduler goroutine per Network
// delivers delayed frames), so it exercises the runtime as a real network
// would. Every random choice comes from one math/rand/v2 generator seeded
// by Config.Seed: the same seed gives the same sequence of choices, but the
// interleaving of goroutines, and so the exact outcome of a test, can still
// vary between runs. Tests should therefore assert on outcomes that hold for
// every interleaving (every live node delivers every message exactly once)
// and wait for them with deadlines.
//
//	network := memnet.New(memnet.Config{Seed: 1, Link: memnet.Link{Drop: 0.05, Jitter: time.Millisecond}})
//	defer network.Close()
//	ta, tb := network.MustJoin("a"), network.MustJoin("b")
//	network.Partition([]core.PeerID{"a"}, []core.PeerID{"b"})
//	network.Heal()
//	network.Crash("b")
//	tb, _ = network.Restart("b")
//
// A frame given to Send is lost (and counted in Stats) when the link drops
// it, a partition cuts the link, or the receiver crashed; it is dropped
// when the receiver's queue (Config.QueueSize) is full, like a real
// transport under load. Send never blocks.
package memnet
