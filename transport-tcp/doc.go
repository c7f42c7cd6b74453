// Package tcp carries Plumtree protocol frames between hosts over
// persistent TCP connections, optionally TLS 1.3 with mutual
// authentication. A *Transport implements node.Transport of package
// core/node.
//
// # Connections
//
// A Transport keeps at most one connection per peer pair and uses it in both
// directions. A peer is dialed at the address given by SetPeerAddr when the
// first frame is sent to it; a peer that dials in is reachable over its
// connection even without an address. When both peers dial each other at
// once, both keep the connection dialed by the lower peer id; the other is
// half-closed and read to its end, so no frame in flight is lost. A
// connection from a restarted peer (a new random incarnation in its hello)
// replaces the one to its previous life at once.
//
// Every connection opens with a hello from the dialer, answered by the
// acceptor (inside TLS when TLS is on):
//
//	0xB7 (wire.Magic) | wire.Version | 0 (hello) | incarnation (8 bytes) | id length (1) | id
//
// after which each frame is a 4-byte big-endian length followed by the
// frame, which starts with wire.Magic and wire.Version. A reader checks the
// length against the maximum frame size and the frame header with
// wire.CheckHeader before it allocates anything, and closes the connection on
// the first violation.
//
// # Sending
//
// Send never blocks. Every peer has a bounded queue and its own writer
// goroutine, which dials (with a timeout, then capped exponential backoff
// with jitter while dials fail), and writes whatever is queued in one
// buffered batch with one flush, under a write deadline. A slow, stalled or
// unreachable peer fills its own queue (Send returns ErrQueueFull, counted)
// and delays nobody else.
//
// # Sharing a port
//
// WithStreamHandler lets another stream protocol share the listener: an
// accepted connection whose first byte is neither wire.Magic nor (with TLS)
// a TLS handshake record is handed to the handler with that byte still
// readable. hashicorp/memberlist streams start with a small message type and
// so can share the Plumtree port.
//
// # Bad input
//
// A connection that sends garbage, a wrong magic, version or message type,
// a length prefix above the maximum frame size, a frame cut short, no hello
// within the handshake timeout, or (with TLS) no certificate from the
// configured CA, or a hello whose id does not match its certificate
// (WithPeerIDFromCert), is closed, counted in Stats (HandshakeFailures or
// BadFrames) and logged at Warn as "tcp: closing bad connection" with the
// keys peer, remote and reason. Other connections are not affected.
//
// # Memory bounds
//
// Per peer: a queue of WithSendQueue frames and a 32 KiB write buffer. Per
// connection: a 32 KiB read buffer and at most one frame of at most
// WithMaxFrameSize bytes being read. The Receive channel holds at most
// WithReceiveQueue frames; when it is full the readers wait and TCP flow
// control slows the senders. Connections are bounded by WithMaxConns; peers
// that dial in without an address are forgotten with their connection.
//
// # Concurrency
//
// All methods are safe for concurrent use. Send takes ownership of the frame
// (the Transport only reads it); each received Frame's Data belongs to the
// receiver. Close stops every goroutine the Transport started and closes the
// Receive channel.
package tcp
