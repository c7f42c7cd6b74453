// Package stack assembles a full Plumtree node from the project's modules:
// memberlist membership, the TCP transport sharing the node's single port,
// the runtime, and the cache module as payload store swept on the tuner's
// schedule. The examples and their tests build every node through it.
package stack
