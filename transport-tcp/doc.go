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
// half-closed and read to its end, so no frame in flight is lost (frames
// are in order per connection; the first frames of a pair that dialed each
// other at once may arrive out of order). A connection from a restarted peer
// (a new random incarnation in its hello) replaces the one to its previous
// life at once if its hello is proven (WithKeyring, or WithPeerIDFromCert) or
// this node dialed it; an unproven hello never replaces a live connection,
// so that nobody can cut two peers apart by claiming one's id.
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
// # Authentication
//
// With WithKeyring (for example memberlist's gossip keyring) the hellos are
// keyed (type 1, with a random 32-byte nonce) and each side proves that it
// holds a key of the keyring with an HMAC-SHA256 over both hellos; a peer id
// is trusted only once proven. Every frame is then sealed with AES-256-GCM
// under a key derived from the sender's primary key and the handshake, with
// a counter as nonce. The receiver accepts every key of its keyring, so keys
// rotate without downtime (see WithKeyring). A Transport without a keyring
// or TLS accepts anyone who reaches its port.
//
// # Sending
//
// Send never blocks. Every peer has a bounded queue and its own writer
// goroutine (started by a frame sent to the peer, ended once it is idle
// without a connection, for example after the idle timeout), which dials
// (with a timeout, then capped exponential backoff with jitter while dials
// fail), and writes whatever is queued in one buffered batch with one
// flush, under a write deadline. A slow, stalled or
// unreachable peer fills its own queue (Send returns ErrQueueFull, counted)
// and delays nobody else.
//
// Each peer has two lanes: Send queues into the urgent lane, SendBulk into
// the bulk lane (core/node sends large-message chunks there, see
// node.BulkSender). The writer takes a bulk frame only while the urgent lane
// is empty, so an urgent frame never waits behind queued bulk frames, only
// behind the batch being written. Frames keep their order within a lane,
// not across lanes. Each lane has its own bound (WithSendQueue,
// WithBulkQueue); a full lane refuses (ErrQueueFull) and never spills into
// or blocks the other. The wire format does not change: a receiver reads
// each connection in order. A lane takes slots as frames are queued and
// gives most of them back when it empties, so that peers never sent to,
// or not lately, cost almost no queue memory.
//
// SendParts and SendBulkParts take a frame in two parts, head and body
// (node.PartsSender), and write them one after the other without joining
// them (except to seal a frame with a keyring, into a buffer the writer
// reuses): core/node forwards large payloads that way, without a copy.
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
// Per peer: WithSendQueue plus WithBulkQueue queued frames, one frame the
// writer holds, and while it writes to a connection a 32 KiB write buffer. Per
// connection: a 32 KiB read buffer, at most one frame of at most
// WithMaxFrameSize bytes being read and a queue of WithConnReceiveQueue
// received frames. The Receive channel holds at most WithReceiveQueue
// frames; a reader hands its frame to it directly while nothing of its
// connection waits. When it is full, each connection's frames wait in that
// connection's queue; a reader whose queue stays full for WithReceiveWait
// drops frames (Stats.ReceiveDrops) and keeps reading, so a node that stops
// reading slows its peers through TCP flow control only briefly and never
// makes their writes time out, and no connection waits for another.
// Connections, including those handed to the stream handler until it closes
// them, are bounded by WithMaxConns; at the bound a new connection closes
// the one idle longest, if it has carried no frame for WithEvictIdle (the
// peer is dialed again for its next frame), so a node of a cluster larger
// than the bound keeps working; peers that dial in without an address are
// forgotten with their connection, and theirs are closed for being idle
// like any other (they dial in again when they have a frame to send), so
// silent connections cannot hold the slots. Below the bound, a connection that
// carries no frame for WithIdleTimeout (1 minute) is closed too, unless its
// peer is kept (KeepPeers: the node keeps its overlay links), so a node
// holds connections to its links and to the members it talked to lately,
// not to every member its anti-entropy rounds ever reached.
//
// # Concurrency
//
// All methods are safe for concurrent use. Send takes ownership of the frame
// (the Transport only reads it); each received Frame's Data belongs to the
// receiver. Close stops every goroutine the Transport started and closes the
// Receive channel.
package tcp
