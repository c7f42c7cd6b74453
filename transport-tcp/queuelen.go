package tcp

import "github.com/plumtree-go/plumtree/core"

// SendQueueLen returns the number of frames queued for peer to and not yet
// written (0 for an unknown peer). It takes no lock. The node's
// BroadcastLarge uses it to keep at most a window of its chunks queued per
// peer (node.SendQueueLener).
func (t *Transport) SendQueueLen(to core.PeerID) int {
	p := (*t.snap.Load())[to]
	if p == nil {
		return 0
	}
	return len(p.queue)
}
