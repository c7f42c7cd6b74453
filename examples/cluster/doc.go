// Command cluster starts a Plumtree cluster on 127.0.0.1 in one process,
// broadcasts from random nodes while showing live progress, and prints a
// summary. It exits 0 only if every message reached every live node exactly
// once.
//
//	go run ./examples/cluster                       # 5 nodes, 50 msg/s of 1 KiB for 10 s
//	go run ./examples/cluster -nodes 32 -rate 200
//	go run ./examples/cluster -kill 0.3             # kill 30 % of the nodes half-way, show the healing
//	go run ./examples/cluster -rate 2000 -duration 3m -cache-ttl 1s -max-heap-growth 0.25   # soak
//
// It samples the Go heap every second; the summary shows the live heap
// after the warm-up and its growth, and -max-heap-growth fails the run when
// it grows more than that fraction (see the examples README).
//
// Each node is a full stack: memberlist membership and the TCP transport on
// one port chosen by the OS, the runtime, and the cache module as payload
// store.
package main
