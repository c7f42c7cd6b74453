// Command cluster starts a Plumtree cluster on 127.0.0.1 in one process,
// broadcasts from random nodes while showing live progress, and prints a
// summary. It exits 0 only if every message reached every live node exactly
// once.
//
//	go run ./examples/cluster                       # 5 nodes, 50 msg/s of 1 KiB for 10 s
//	go run ./examples/cluster -nodes 32 -rate 200
//	go run ./examples/cluster -kill 0.3             # kill 30 % of the nodes half-way, show the healing
//
// Each node is a full stack: memberlist membership and the TCP transport on
// one port chosen by the OS, the runtime, and the cache module as payload
// store.
package main
