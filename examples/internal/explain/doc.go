// Package explain answers "how did this broadcast travel?" for a cluster of
// example nodes, and gathers the live cluster view the web UI draws.
//
// Every node keeps a bounded record of its recent deliveries (message id,
// the peer the first copy came from, its hop count and the local time; the
// example node reuses the ring behind GET /deliveries/recent) and serves the
// entry of one message at GET /explain/record. A Gatherer asks every node it
// knows (a list of admin addresses) for that entry, estimates each node's
// clock offset from the round trip of the same request, and Build turns the
// answers into a Report: the propagation tree (parent, hop, depth, time since
// the origin's publish, as the origin's own delivery, for every node that
// delivered), the slowest edge, the nodes that obtained the payload by a
// Graft instead of an eager push, and the nodes that have not delivered it.
//
// The package depends on core only for its message id syntax; core does not
// depend on it.
package explain
