// Command node runs one deployable Plumtree node: memberlist membership and
// Plumtree frames on one port (default 7946, UDP and TCP), Prometheus
// metrics (default :9090) and an admin HTTP API (default 127.0.0.1:7947).
// It starts with no flags, alone, and waits to be joined; every flag has an
// environment variable (see -help). SIGINT or SIGTERM leave the cluster,
// then stop the node.
//
//	go run ./examples/node
//	go run ./examples/node -name b -port 7956 -admin-addr 127.0.0.1:7957 -metrics-addr off -join 127.0.0.1:7946
package main
