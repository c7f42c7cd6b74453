package explain

import (
	"sync"
	"time"

	"github.com/plumtree-go/plumtree/core"
)

// How a node obtained a message.
const (
	ViaOrigin = "origin" // the node published it
	ViaTree   = "tree"   // an eager push: the broadcast tree
	ViaGraft  = "graft"  // the node Grafted it after an announcement (lazy push or anti-entropy IHave)
)

// Record is one node's answer about one message: GET /explain/record?id=.
type Record struct {
	Node      string    `json:"node"`
	MsgID     string    `json:"msg_id"`
	Delivered bool      `json:"delivered"`
	From      string    `json:"from,omitempty"`
	Hops      uint16    `json:"hops"`
	Time      time.Time `json:"time,omitzero"` // delivery, on the node's clock
	Via       string    `json:"via,omitempty"`
	// Now is the node's clock when it answered: the gatherer estimates the
	// node's clock offset from it and the request's round trip.
	Now time.Time `json:"now"`
	// Held is the number of deliveries the node's record holds now, Bound
	// its capacity, Oldest the time of the oldest one: a message not found
	// while Held == Bound and Oldest is later than the publish may have been
	// evicted rather than never delivered.
	Held   int       `json:"held"`
	Bound  int       `json:"bound"`
	Oldest time.Time `json:"oldest,omitzero"`
}

// Delivery is what a node's delivery record holds about one message.
type Delivery struct {
	From string
	Hops uint16
	Time time.Time
}

// Lookup finds a message in a node's delivery record. held, bound and
// oldest describe the record (see Record).
type Lookup func(msgID string) (d Delivery, found bool, held, bound int, oldest time.Time)

// GraftLog remembers, in a bounded ring, the ids of the messages this node
// obtained by a successful Graft (core.EventGraftSuccess). It is a
// node.Observer: Observe is called from the node's observer goroutine.
// Memory: bound message ids, each in the ring and in a map (roughly 100
// bytes with a short origin name), so about 100 KiB for 1000 ids.
type GraftLog struct {
	mu    sync.Mutex
	ring  []core.MessageID
	next  int
	set   map[core.MessageID]struct{}
	bound int
}

// NewGraftLog returns a log that keeps the latest bound ids (at least 1).
func NewGraftLog(bound int) *GraftLog {
	bound = max(bound, 1)
	return &GraftLog{ring: make([]core.MessageID, 0, bound), set: make(map[core.MessageID]struct{}, bound), bound: bound}
}

// Observe implements node.Observer.
func (g *GraftLog) Observe(events []core.Event) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i := range events {
		e := &events[i]
		if e.Kind != core.EventGraftSuccess {
			continue
		}
		if _, ok := g.set[e.ID]; ok {
			continue
		}
		if len(g.ring) < g.bound {
			g.ring = append(g.ring, e.ID)
		} else {
			delete(g.set, g.ring[g.next])
			g.ring[g.next] = e.ID
		}
		g.next = (g.next + 1) % g.bound
		g.set[e.ID] = struct{}{}
	}
}

// Grafted reports whether id is among the remembered grafted messages.
func (g *GraftLog) Grafted(id core.MessageID) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	_, ok := g.set[id]
	return ok
}

// Len returns the number of ids held.
func (g *GraftLog) Len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.ring)
}

// ParseMsgID parses "origin/seq" (core.MessageID.String). The origin may
// itself contain '/'.
func ParseMsgID(s string) (core.MessageID, error) {
	return parseMsgID(s)
}
