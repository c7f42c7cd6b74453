package node

import "github.com/plumtree-go/plumtree/core"

// Delegate is the application's side of a node: the deliveries and the five
// peer and graft hooks the operations guide names. All methods are called
// from one delegate goroutine, never from the protocol goroutine, in the order
// the protocol produced them (within one protocol step: deliveries first,
// then the hooks). A slow delegate never stalls the protocol: see Node for
// what happens when it falls behind.
type Delegate interface {
	// Deliver hands a payload to the application, exactly once per message
	// per node (including the node's own broadcasts). d.Payload and
	// d.Headers are shared with the message store: read-only, but they may
	// be kept.
	Deliver(d core.Delivery)
	// EagerPromotion: peer became eager (it now receives payloads).
	EagerPromotion(peer core.PeerID)
	// LazyDemotion: peer became lazy (it now receives announcements).
	LazyDemotion(peer core.PeerID)
	// GraftSent: a Graft asking for id was sent to peer (a zero id is a
	// Graft that only makes the link eager).
	GraftSent(peer core.PeerID, id core.MessageID)
	// PruneSent: a Prune was sent to peer.
	PruneSent(peer core.PeerID)
	// GraftFailed: id was given up after retries Grafts retries.
	GraftFailed(id core.MessageID, retries int)
}

// NopDelegate implements Delegate and ignores everything. Embed it to
// implement only some of the hooks.
type NopDelegate struct{}

// Deliver implements Delegate.
func (NopDelegate) Deliver(core.Delivery) {}

// EagerPromotion implements Delegate.
func (NopDelegate) EagerPromotion(core.PeerID) {}

// LazyDemotion implements Delegate.
func (NopDelegate) LazyDemotion(core.PeerID) {}

// GraftSent implements Delegate.
func (NopDelegate) GraftSent(core.PeerID, core.MessageID) {}

// PruneSent implements Delegate.
func (NopDelegate) PruneSent(core.PeerID) {}

// GraftFailed implements Delegate.
func (NopDelegate) GraftFailed(core.MessageID, int) {}

// DeliverFunc is a Delegate that only delivers; the hooks do nothing.
type DeliverFunc func(core.Delivery)

// Deliver calls f(d).
func (f DeliverFunc) Deliver(d core.Delivery) { f(d) }

// EagerPromotion implements Delegate.
func (DeliverFunc) EagerPromotion(core.PeerID) {}

// LazyDemotion implements Delegate.
func (DeliverFunc) LazyDemotion(core.PeerID) {}

// GraftSent implements Delegate.
func (DeliverFunc) GraftSent(core.PeerID, core.MessageID) {}

// PruneSent implements Delegate.
func (DeliverFunc) PruneSent(core.PeerID) {}

// GraftFailed implements Delegate.
func (DeliverFunc) GraftFailed(core.MessageID, int) {}

// Observer receives the protocol's events (see core.EventKind), for metrics
// and tracing. Observe is called from one observer goroutine, off the
// protocol goroutine, with the events of one protocol step; the slice is
// valid only during the call. The observer queue is bounded: when an observer
// falls behind, whole batches are dropped and counted
// (Stats().Runtime.ObserverDrops counts the events), the protocol never waits.
type Observer interface {
	Observe(events []core.Event)
}

// EventFilter is an optional interface of an Observer that looks at a few
// kinds of events only (the membership module's partition check reads two).
// The node asks Observes once per kind, in New. When every observer of a
// node implements it, the observers get only the events of the kinds one of
// them wants, and a protocol step with none of those (an idle node's
// maintenance round, say) queues nothing: the observer goroutine does not
// wake. An observer may still get kinds another observer wants. An observer
// without it gets every event.
type EventFilter interface {
	Observes(k core.EventKind) bool
}

// ObserverFunc adapts a function to Observer.
type ObserverFunc func(events []core.Event)

// Observe calls f(events).
func (f ObserverFunc) Observe(events []core.Event) { f(events) }

var (
	_ Delegate = NopDelegate{}
	_ Delegate = DeliverFunc(nil)
	_ Observer = ObserverFunc(nil)
)
