// Package core is the Plumtree protocol (Leitão, Pereira, Rodrigues,
// "Epidemic Broadcast Trees", SRDS 2007) as a deterministic state machine,
// with its configuration, message types, payload store interface, observer
// events, statistics and health report.
//
// A Protocol does no I/O, starts no goroutines, reads no clock, uses no
// global randomness and does no logging. Every input is a method call that
// carries the current time:
//
//	Broadcast(now, payload, headers)   a local broadcast
//	Receive(now, from, msg)            a decoded message from a peer
//	AddPeer(now, p) / RemovePeer(now, p)  membership changes
//	RecordRTT(now, p, rtt)             a round-trip sample
//	Tick(now)                          timers (call at NextDeadline)
//	Close(now)                         shutdown
//
// and every effect is data returned by Drain: messages to send, payloads to
// deliver to the application, and observer events, to be acted on in that
// order (see Output). The same Config (including Seed), the same inputs and
// the same times give the same outputs.
//
// Concurrency and ownership: a Protocol is not safe for concurrent use; one
// goroutine owns it (package core/node does this). Receive takes ownership
// of the message's slices; Broadcast keeps the payload and headers it is
// given. The slices of an Output stay valid until the next Drain; payloads
// and headers in them are shared with the Store and must be treated as
// read-only.
//
// Every structure that grows with traffic or peers is bounded by a Config
// field; bad peer input is dropped, counted and reported as an
// EventInvalidMessage, never a panic.
//
// Package core/coretest is a deterministic simulated network of Protocols
// for tests; core/wire is the binary codec; core/node is the runtime.
package core
