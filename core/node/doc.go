// Package node is the runtime of a Plumtree node: it drives the pure state
// machine core.Protocol with goroutines and timers over a Transport.
//
// # Goroutines and ownership
//
// New starts one protocol goroutine, which alone owns the core.Protocol:
// every public method of Node sends its call to that goroutine through a
// channel and waits for the answer, so the protocol needs no locks. The
// protocol goroutine also reads inbound frames from Transport.Receive
// (decoded with a core/wire Decoder), and arms one timer at
// Protocol.NextDeadline (on the Clock given with WithClock). After every
// input (or batch of up to 64 inbound frames that were already waiting) it
// drains the protocol's Output: messages are encoded and handed to
// Transport.Send — a Gossip going to several peers is encoded once and the
// same read-only frame goes to each of them; deliveries and the delegate hooks derived from events
// (eager promotion, lazy demotion, graft sent, prune sent, graft failed) are
// queued to the delegate goroutine; events are queued to the observer
// goroutine. Neither the delegate nor the observers are ever called on the
// protocol goroutine, and the protocol goroutine never waits for them.
//
// Shutdown closes the protocol (its health then reads "Protocol is shutting
// down"), stops the protocol goroutine, closes the transport, lets the
// delegate finish what is queued if its context allows, and waits for every
// goroutine the node started.
//
// # Backpressure
//
// A delegate that cannot keep up shows up as Stats().Runtime counters and as
// ErrBackpressure from Broadcast, never as a stalled protocol or a silently
// dropped delivery. The exact rules are documented on Node.
//
// # Errors
//
// ErrMessageTooLarge, ErrClosed, ErrBackpressure and ErrInvalidPeer are the
// core package's sentinels (the same values): errors.Is works with either
// name.
//
// # Logs
//
// WithLogger takes a *slog.Logger (default: discard). The node writes the
// operations guide's lines with exactly its text and levels, with the values
// both in the text and as structured keys:
//
//	WARN  Graft failed for message {msg_id} after {retries} retries        keys msg_id, retries
//	DEBUG Demoting peer {peer} to lazy (optimization threshold reached)    key peer
//
// plus a WARN when the transport closes its Receive channel while the node
// runs and a DEBUG per rejected inbound frame.
//
// # Diagnostics
//
// AdminHandler serves the guide's diagnostics over HTTP: health (503 when
// Unhealthy), peers, stats, config, a full dump and a test broadcast.
//
// Package memnet provides an in-memory Transport network with fault
// injection, for tests.
package node
