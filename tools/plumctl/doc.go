// Command plumctl is the operator CLI of a Plumtree node: it reads the
// node's admin HTTP API (core/node.AdminHandler, as served by examples/node)
// and prints the diagnostics of the operations guide.
//
//	plumctl health                         # the guide's Health Report; exit 0/1/2/3
//	plumctl peers                          # Peer State: eager, lazy, protected, total
//	plumctl stats                          # counters and gauges by topic
//	plumctl config                         # the configuration, one field a line
//	plumctl dump > escalation.json         # everything, for the development team
//	plumctl broadcast hello world          # prints the message id
//	plumctl broadcast -file payload.bin
//	plumctl topology                       # eager/lazy links and memberlist's view
//	plumctl members                        # members with their Plumtree and admin addresses
//	plumctl test-delivery                  # every member that advertises its admin address
//	plumctl test-delivery -addrs a:7947,b:7947,c:7947
//	plumctl watch -interval 5s             # one line per sample until Ctrl-C
//
// The node is chosen with -addr (default $PLUMTREE_ADMIN_ADDR, else
// 127.0.0.1:7947): host:port, a bare host (port 7947), ":7947" (this host),
// or a URL such as https://host/plumtree for a handler mounted under a
// prefix. -timeout bounds each request (default 5s); -json prints the JSON
// answer instead of the report. These three flags go before or after the
// command name.
//
// test-delivery is the guide's "Test Message Delivery". Without -addrs it
// finds the nodes in the -addr node's GET /topology (each member's admin
// address is in its metadata when the node advertises it, examples/node
// -advertise-admin), reports members without one as unchecked, and fails
// when it could check only one node of several. It subscribes to
// GET /deliveries on every node (falling back to polling GET
// /deliveries/recent), broadcasts a diagnostic payload on the first node,
// and reports per node whether, after how many hops and how long after the
// origin (by the nodes' clocks) it delivered the message. Those routes are
// examples/node's; a bare AdminHandler without them is reported as
// unsupported.
//
// Exit codes: 0 success or Healthy; 1 a failed command, Degraded, or a node
// that missed the test message; 2 Unhealthy; 3 the node could not be reached
// or did not answer like an admin API; 64 a usage error. The health codes
// are those of monitoring plugins (OK, WARNING, CRITICAL, UNKNOWN).
//
// plumctl uses the standard library only and keeps no state.
package main
