package memnet

import (
	"container/heap"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/core/node"
)

// Errors returned by the network and its transports.
var (
	// ErrClosed: the transport (or the whole network) is closed.
	ErrClosed = errors.New("memnet: closed")
	// ErrUnknownPeer: no transport ever joined under that id.
	ErrUnknownPeer = errors.New("memnet: unknown peer")
	// ErrExists: a live transport already uses that id.
	ErrExists = errors.New("memnet: peer already joined")
)

// DefaultQueueSize is the default inbound queue of a transport, in frames.
const DefaultQueueSize = 4096

// DefaultReorderWindow is the extra delay bound of a reordered frame when
// Link.ReorderWindow is zero.
const DefaultReorderWindow = 5 * time.Millisecond

// Link describes the faults of one direction of a link. The zero Link is a
// perfect link: no loss, no delay, in order.
type Link struct {
	// Drop is the probability that a frame is lost.
	Drop float64
	// Duplicate is the probability that a frame is delivered twice (the
	// second copy takes its own delay).
	Duplicate float64
	// Reorder is the probability that a frame is held back by an extra
	// delay, uniform in [0, ReorderWindow), so later frames overtake it.
	Reorder float64
	// ReorderWindow bounds the extra delay of a reordered frame; zero means
	// DefaultReorderWindow.
	ReorderWindow time.Duration
	// Delay is added to every frame.
	Delay time.Duration
	// Jitter adds a delay uniform in [0, Jitter) to every frame. Jitter
	// alone reorders frames too.
	Jitter time.Duration
}

// Config configures a Network.
type Config struct {
	// Seed seeds every random choice (drops, duplicates, delays). The same
	// seed gives the same sequence of choices; the interleaving of real
	// goroutines still varies from run to run.
	Seed uint64
	// QueueSize is each transport's inbound queue, in frames (default
	// DefaultQueueSize). A frame arriving at a full queue is dropped and
	// counted in Stats.QueueFull, like a real transport under load.
	QueueSize int
	// Link is the default for every link without its own (see SetLink).
	Link Link
}

// Stats counts what the network did with the frames it was given.
type Stats struct {
	Sent        uint64 // frames accepted by Send
	Delivered   uint64 // frames put in a receiver's queue (duplicates included)
	Dropped     uint64 // frames lost by a link's Drop rate
	Duplicated  uint64 // extra copies created by a link's Duplicate rate
	Reordered   uint64 // frames held back by a link's Reorder rate
	Partitioned uint64 // frames lost to a partition
	Unreachable uint64 // frames lost because the receiver crashed or closed
	QueueFull   uint64 // frames lost to a full receiver queue
}

// Network is a set of in-memory transports with fault injection. It runs one
// scheduler goroutine (for delayed frames) until Close. All methods are safe
// for concurrent use.
type Network struct {
	mu        sync.Mutex
	rng       *rand.Rand
	queueSize int
	def       Link
	links     map[pair]Link
	cuts      map[pair]struct{}
	peers     map[core.PeerID]*Transport
	known     map[core.PeerID]bool
	pending   pendingHeap
	seq       uint64
	stats     Stats
	closed    bool

	wake chan struct{}
	done chan struct{}
	wg   sync.WaitGroup
}

type pair struct{ from, to core.PeerID }

// New returns a network and starts its scheduler goroutine. Close stops it.
func New(cfg Config) *Network {
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	n := &Network{
		rng:       rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		queueSize: cfg.QueueSize,
		def:       cfg.Link,
		links:     make(map[pair]Link),
		cuts:      make(map[pair]struct{}),
		peers:     make(map[core.PeerID]*Transport),
		known:     make(map[core.PeerID]bool),
		wake:      make(chan struct{}, 1),
		done:      make(chan struct{}),
	}
	n.wg.Add(1)
	go n.schedule()
	return n
}

// Join creates the transport of peer id. A crashed or closed peer may join
// again (see Restart); a live one may not (ErrExists).
func (n *Network) Join(id core.PeerID) (*Transport, error) {
	if id == "" {
		return nil, fmt.Errorf("%w: empty peer id", ErrUnknownPeer)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, ErrClosed
	}
	if t, ok := n.peers[id]; ok && !t.closed {
		return nil, fmt.Errorf("%w: %s", ErrExists, id)
	}
	t := &Transport{net: n, id: id, inbox: make(chan node.Frame, n.queueSize)}
	n.peers[id] = t
	n.known[id] = true
	return t, nil
}

// MustJoin is Join for tests: it panics on error.
func (n *Network) MustJoin(id core.PeerID) *Transport {
	t, err := n.Join(id)
	if err != nil {
		panic(err)
	}
	return t
}

// Crash closes the transport of id abruptly, as if its process died: its
// Receive channel closes, its Sends fail, and frames in flight to it are
// lost. Peers sending to it see no error (the frames are counted as
// Unreachable), as with a dead host.
func (n *Network) Crash(id core.PeerID) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	t, ok := n.peers[id]
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownPeer, id)
	}
	t.closeLocked()
	return nil
}

// Restart gives a crashed (or closed) peer a new transport under the same
// id, as a restarted process would get. Frames sent to the old transport
// before the crash are not delivered to the new one.
func (n *Network) Restart(id core.PeerID) (*Transport, error) {
	n.mu.Lock()
	_, ok := n.known[id]
	n.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrUnknownPeer, id)
	}
	return n.Join(id)
}

// SetLink sets the faults of the direction from → to.
func (n *Network) SetLink(from, to core.PeerID, l Link) {
	n.mu.Lock()
	n.links[pair{from, to}] = l
	n.mu.Unlock()
}

// SetLinks sets the faults of every link: the default, and every link set
// with SetLink is reset to it.
func (n *Network) SetLinks(l Link) {
	n.mu.Lock()
	n.def = l
	clear(n.links)
	n.mu.Unlock()
}

// Partition cuts every link between peers of different groups, in both
// directions; links within a group and links of peers in no group are kept.
// Partitions accumulate until Heal.
func (n *Network) Partition(groups ...[]core.PeerID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for i, g := range groups {
		for j, h := range groups {
			if i == j {
				continue
			}
			for _, a := range g {
				for _, b := range h {
					if a != b {
						n.cuts[pair{a, b}] = struct{}{}
					}
				}
			}
		}
	}
}

// Isolate cuts every link of id, in both directions (until Heal).
func (n *Network) Isolate(id core.PeerID) {
	n.mu.Lock()
	others := make([]core.PeerID, 0, len(n.known))
	for p := range n.known {
		if p != id {
			others = append(others, p)
		}
	}
	n.mu.Unlock()
	n.Partition([]core.PeerID{id}, others)
}

// Heal removes every partition. Link faults stay.
func (n *Network) Heal() {
	n.mu.Lock()
	clear(n.cuts)
	n.mu.Unlock()
}

// Peers returns the ids of the live transports, sorted.
func (n *Network) Peers() []core.PeerID {
	n.mu.Lock()
	defer n.mu.Unlock()
	var r []core.PeerID
	for id, t := range n.peers {
		if !t.closed {
			r = append(r, id)
		}
	}
	slices.Sort(r)
	return r
}

// Stats returns the network's counters.
func (n *Network) Stats() Stats {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stats
}

// Close closes every transport, discards the frames in flight and stops the
// scheduler goroutine. It is idempotent.
func (n *Network) Close() error {
	n.mu.Lock()
	if !n.closed {
		n.closed = true
		for _, t := range n.peers {
			t.closeLocked()
		}
		n.pending = nil
		close(n.done)
	}
	n.mu.Unlock()
	n.wg.Wait()
	return nil
}

// send applies the link's faults to one frame.
func (n *Network) send(from *Transport, to core.PeerID, frame []byte) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if from.closed || n.closed {
		return ErrClosed
	}
	dst, ok := n.peers[to]
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownPeer, to)
	}
	n.stats.Sent++
	if _, cut := n.cuts[pair{from.id, to}]; cut {
		n.stats.Partitioned++
		return nil
	}
	if dst.closed {
		n.stats.Unreachable++
		return nil
	}
	l, ok := n.links[pair{from.id, to}]
	if !ok {
		l = n.def
	}
	if l.Drop > 0 && n.rng.Float64() < l.Drop {
		n.stats.Dropped++
		return nil
	}
	copies := 1
	if l.Duplicate > 0 && n.rng.Float64() < l.Duplicate {
		copies = 2
		n.stats.Duplicated++
	}
	for range copies {
		// Every receiver gets its own bytes, as over a real network: the
		// sender may pass one frame to several peers (Send does not own
		// it), while a Frame's Data belongs to its receiver.
		data := slices.Clone(frame)
		d := l.Delay
		if l.Jitter > 0 {
			d += time.Duration(n.rng.Int64N(int64(l.Jitter)))
		}
		if l.Reorder > 0 && n.rng.Float64() < l.Reorder {
			w := l.ReorderWindow
			if w <= 0 {
				w = DefaultReorderWindow
			}
			d += time.Duration(n.rng.Int64N(int64(w)))
			n.stats.Reordered++
		}
		f := node.Frame{From: from.id, Data: data}
		if d <= 0 {
			n.deliverLocked(dst, f)
			continue
		}
		n.seq++
		it := &pendingFrame{at: time.Now().Add(d), seq: n.seq, to: dst, f: f}
		heap.Push(&n.pending, it)
		if n.pending[0] == it {
			select {
			case n.wake <- struct{}{}:
			default:
			}
		}
	}
	return nil
}

func (n *Network) deliverLocked(t *Transport, f node.Frame) {
	if t.closed {
		n.stats.Unreachable++
		return
	}
	f.Received = time.Now()
	select {
	case t.inbox <- f:
		n.stats.Delivered++
	default:
		n.stats.QueueFull++
	}
}

// schedule is the scheduler goroutine: it delivers delayed frames when due.
func (n *Network) schedule() {
	defer n.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		n.mu.Lock()
		now := time.Now()
		for len(n.pending) > 0 && !n.pending[0].at.After(now) {
			it := heap.Pop(&n.pending).(*pendingFrame)
			n.deliverLocked(it.to, it.f)
		}
		wait := time.Duration(-1)
		if len(n.pending) > 0 {
			wait = n.pending[0].at.Sub(now)
		}
		n.mu.Unlock()
		if wait >= 0 {
			timer.Reset(wait)
		} else {
			timer.Stop()
		}
		select {
		case <-timer.C:
		case <-n.wake:
		case <-n.done:
			return
		}
	}
}

type pendingFrame struct {
	at  time.Time
	seq uint64
	to  *Transport
	f   node.Frame
}

type pendingHeap []*pendingFrame

func (h pendingHeap) Len() int { return len(h) }
func (h pendingHeap) Less(i, j int) bool {
	if h[i].at.Equal(h[j].at) {
		return h[i].seq < h[j].seq
	}
	return h[i].at.Before(h[j].at)
}
func (h pendingHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *pendingHeap) Push(x any)   { *h = append(*h, x.(*pendingFrame)) }
func (h *pendingHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return it
}

// Transport is one peer's end of the network; it implements node.Transport.
type Transport struct {
	net    *Network
	id     core.PeerID
	inbox  chan node.Frame
	closed bool // guarded by net.mu
}

// ID returns the peer id of the transport.
func (t *Transport) ID() core.PeerID { return t.id }

// Send implements node.Transport: it never blocks. Errors: ErrClosed (this
// transport or the network is closed), ErrUnknownPeer (no peer ever joined
// under to). Frames lost to faults, partitions or a crashed receiver are
// not errors (see Stats).
func (t *Transport) Send(to core.PeerID, frame []byte) error {
	return t.net.send(t, to, frame)
}

// Receive implements node.Transport.
func (t *Transport) Receive() <-chan node.Frame { return t.inbox }

// Close implements node.Transport: no frame is delivered to it any more and
// its Receive channel is closed (frames already queued can still be read).
// It is idempotent.
func (t *Transport) Close() error {
	t.net.mu.Lock()
	t.closeLocked()
	t.net.mu.Unlock()
	return nil
}

func (t *Transport) closeLocked() {
	if t.closed {
		return
	}
	t.closed = true
	close(t.inbox)
}

var _ node.Transport = (*Transport)(nil)
