package node

import (
	"time"

	"github.com/plumtree-go/plumtree/core"
)

// Frame is one protocol frame received from a peer.
type Frame struct {
	// From is the sending peer, as authenticated by the transport (a TLS
	// transport can bind it to the peer's certificate).
	From core.PeerID
	// Data is the encoded frame (see package core/wire). It belongs to the
	// receiver: the transport must not reuse or modify it after handing it
	// over, because the decoded payload aliases it.
	Data []byte
	// Received is when the transport read the frame (zero: not recorded).
	// The node compares it with the real time at which it takes the frame:
	// frames that waited more than half the graft timeout mean the node is
	// behind (a full queue or a starved CPU), and the protocol then pulls
	// nothing (core.Protocol.SetOverloaded).
	Received time.Time
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

// BulkSender is implemented by a Transport with a second, low-priority lane
// per peer (transport-tcp's Transport does). The node hands it the frames of
// large messages (docs/design.md, "Large messages"), so that ordinary
// messages and control frames, sent with Send, are not queued behind
// chunks: the transport writes a bulk frame only while no frame sent with
// Send waits for the same peer. Transports without it carry everything in
// Send's one lane.
//
// What the node sends with SendBulk, to a peer: every Gossip or Repair frame
// that carries a large-message part (chunk or manifest); every other Gossip
// or Repair frame of an origin whose parts it sent to that peer while
// BulkQueueLen(peer) has not yet been seen at 0, so that copies of one
// origin keep their order on a link (a core rule relies on it: a later copy
// of an origin arriving first means the earlier one was lost); and IHave
// and Prune frames while BulkQueueLen(peer) > 0, so that they do not
// overtake the copies queued before them. Everything else (ordinary copies,
// Grafts, digests, the link protocol) goes with Send.
type BulkSender interface {
	// SendBulk is Send into the bulk lane: the same contract (must not
	// block; a full lane is an error, counted like Send's), a bound of
	// its own, and frames of one lane written in the order sent.
	SendBulk(to core.PeerID, frame []byte) error
	// BulkQueueLen returns the number of frames queued for to in the bulk
	// lane and not yet taken for writing, and is more than 0 for as long
	// as a frame sent with Send may still overtake bulk frames sent before
	// it (a transport that writes the bulk lane over a connection of its
	// own counts those still on their way: transport-tcp counts the bytes
	// its peer has not acknowledged).
	BulkQueueLen(to core.PeerID) int
}

// PartsSender is implemented by a Transport that can write a frame given in
// two parts, head then body, without joining them (transport-tcp's
// Transport does). The node then sends a Gossip or Repair whose payload is
// at least PartsMinPayload bytes (any payload) as its frame head and the
// payload itself (wire.AppendFrameHead): a relay forwards the payload it
// received instead of copying it into a new frame, and the head, a few
// dozen bytes, is all it allocates. Frames without a payload go whole
// (Send).
//
// The contract is Send's (and SendBulk's for SendBulkParts, which the node
// calls only on transports that are also BulkSender): it must not block,
// both parts are read-only and shared — the body is the payload held by the
// message store and handed to the application, and the same two parts go to
// every peer that gets the same Gossip —, the transport must neither modify
// nor reuse them, and the frame is head‖body on the wire.
type PartsSender interface {
	SendParts(to core.PeerID, head, body []byte) error
	SendBulkParts(to core.PeerID, head, body []byte) error
}

// PartsMinPayload is the smallest payload the node sends as two parts to a
// PartsSender: every payload. (It was 4 KiB; a relay's copy of a 1 KiB
// payload into a new frame was 1.1 KB of garbage per forward, and
// transport-tcp's queue holds two slices per frame either way.)
const PartsMinPayload = 1

// LinkKeeper is implemented by a Transport that closes connections left
// idle (transport-tcp's Transport does, after WithIdleTimeout). The node
// tells it its overlay links, the eager and lazy peers: their connections
// are kept however long they stay quiet, so that the first broadcast after
// a quiet spell does not wait for a dial at every hop. The node calls
// KeepPeers from its protocol goroutine after an input that changed its
// links, and only then; ids is the whole set, sorted, and the transport
// may keep it.
type LinkKeeper interface {
	KeepPeers(ids []core.PeerID)
}

// linkKeeper returns tr as a LinkKeeper, or nil if it is not one.
func linkKeeper(tr Transport) LinkKeeper {
	k, _ := tr.(LinkKeeper)
	return k
}

// partsSender returns tr as a PartsSender, or nil if it is not one.
func partsSender(tr Transport) PartsSender {
	p, _ := tr.(PartsSender)
	return p
}
