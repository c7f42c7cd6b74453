// Package cluster runs a cluster of full Plumtree nodes (memberlist, TCP,
// cache store) in one process on 127.0.0.1, tracks every delivery, and
// implements the examples/cluster job (Run). The examples' integration tests
// drive it too.
package cluster
