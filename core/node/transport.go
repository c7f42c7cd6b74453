package node

import "github.com/plumtree-go/plumtree/core"

// Frame is one protocol frame received from a peer.
type Frame struct {
	// From is the sending peer, as authenticated by the transport (a TLS
	// transport can bind it to the peer's certificate).
	From core.PeerID
	// Data is the encoded frame (see package core/wire). It belongs to the
	// receiver: the transport must not reuse or modify it after handing it
	// over, because the decoded payload aliases it.
	Data []byte
}

// Transport carries protocol frames between peers. The node calls Send from
// its protocol goroutine only, reads Receive from that goroutine only, and
// calls Close once, from Shutdown.
type Transport interface {
	// Send queues frame for the peer to. It must not block: a full queue, an
	// unknown peer or a closed transport is an error, which the node counts
	// (Stats().Runtime.SendErrors) and otherwise ignores — Plumtree repairs
	// lost messages. frame is read-only and shared: the node passes the
	// same frame to every peer that gets the same Gossip, so Send must
	// neither modify it nor reuse its memory (no pooling), and may keep it
	// as long as it needs to (the node never touches it again).
	Send(to core.PeerID, frame []byte) error
	// Receive returns the channel of inbound frames. It is closed when the
	// transport closes.
	Receive() <-chan Frame
	// Close stops the transport and closes the Receive channel.
	Close() error
}
