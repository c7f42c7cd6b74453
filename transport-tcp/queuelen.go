package tcp

import "github.com/plumtree-go/plumtree/core"

// SendQueueLen returns the number of frames queued for peer to and not yet
// written, in both lanes (0 for an unknown peer). It takes no lock. The node's
// BroadcastLarge uses it to keep at most a window of its chunks queued per
// peer (node.SendQueueLener).
func (t *Transport) SendQueueLen(to core.PeerID) int {
	p := t.lookup(to)
	if p == nil {
		return 0
	}
	return p.queue.len() + p.bulk.len()
}

// BulkQueueLen returns the number of frames sent to peer to with SendBulk
// and not yet written into its connection's buffer (0 for an unknown peer),
// plus one while a bulk connection (WithBulkConnection) still has bytes the
// peer has not acknowledged: while it is 0, a frame sent with Send goes
// after every bulk frame sent before it. It takes no lock; with a bulk
// connection it asks the kernel (one system call) when no frame is queued
// and the connection has been written to since the kernel last reported it
// flushed. The node uses it to keep one origin's messages in one lane while
// that origin's large-message parts may still be on their way
// (node.BulkSender).
//
// Acknowledged is not read: the peer may still hold bulk frames in its
// socket buffer when a frame sent with Send overtakes them on the other
// connection; that lasts as long as the peer is behind in reading.
func (t *Transport) BulkQueueLen(to core.PeerID) int {
	p := t.lookup(to)
	if p == nil {
		return 0
	}
	g := p.bulkGen.Load()
	n := int(p.bulkLen.Load())
	switch {
	case n > 0 || !p.bulkOwn.Load():
		return n
	case g%2 == 1:
		return 1 // a batch is on its way into the kernel
	case p.bulkFlushed.Load() == g:
		return 0
	}
	c := p.bulkConn.Load()
	if c == nil {
		return 0 // closed: what it carried was acknowledged or is lost
	}
	if left, err := unacked(c.raw); err == nil && left > 0 {
		return 1
	}
	if p.bulkGen.Load() == g { // no batch began since g: flushed at g
		p.bulkFlushed.Store(g)
	}
	return 0
}

// SentTo returns the number of frames written to peer to's connections
// since it became known (0 for an unknown peer). It takes no lock. The
// node's BroadcastLarge uses it to tell a peer whose queue drains while
// other traffic refills it from a stalled one (node.SendProgresser).
func (t *Transport) SentTo(to core.PeerID) uint64 {
	p := t.lookup(to)
	if p == nil {
		return 0
	}
	return p.written.Load()
}
