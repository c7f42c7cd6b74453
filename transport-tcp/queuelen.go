package tcp

import "github.com/plumtree-go/plumtree/core"

// SendQueueLen returns the number of frames queued for peer to and not yet
// written, in both lanes (0 for an unknown peer). It takes no lock. The node's
// BroadcastLarge uses it to keep at most a window of its chunks queued per
// peer (node.SendQueueLener).
func (t *Transport) SendQueueLen(to core.PeerID) int {
	p := (*t.snap.Load())[to]
	if p == nil {
		return 0
	}
	return len(p.queue.get()) + len(p.bulk.get())
}

// BulkQueueLen returns the number of frames sent to peer to with SendBulk
// and not yet written into its connection's buffer (0 for an unknown peer):
// while it is 0, a frame sent with Send goes after every bulk frame sent
// before it. It takes no lock. The node uses it to keep one origin's messages in one
// lane while that origin's large-message parts may still be queued
// (node.BulkSender).
func (t *Transport) BulkQueueLen(to core.PeerID) int {
	p := (*t.snap.Load())[to]
	if p == nil {
		return 0
	}
	return int(p.bulkLen.Load())
}

// SentTo returns the number of frames written to peer to's connections
// since it became known (0 for an unknown peer). It takes no lock. The
// node's BroadcastLarge uses it to tell a peer whose queue drains while
// other traffic refills it from a stalled one (node.SendProgresser).
func (t *Transport) SentTo(to core.PeerID) uint64 {
	p := (*t.snap.Load())[to]
	if p == nil {
		return 0
	}
	return p.written.Load()
}
