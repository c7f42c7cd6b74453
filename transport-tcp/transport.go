package tcp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/core/node"
)

// Errors returned by Send and New.
var (
	// ErrQueueFull: the peer's send queue is full (a slow, stalled or
	// unreachable peer). The frame is dropped and counted.
	ErrQueueFull = errors.New("tcp: send queue full")
	// ErrUnknownPeer: no address was set for the peer and it has no live
	// connection to this node.
	ErrUnknownPeer = errors.New("tcp: unknown peer")
	// ErrFrameTooLarge: the frame is longer than the maximum frame size.
	ErrFrameTooLarge = errors.New("tcp: frame too large")
	// ErrClosed: the Transport is closed.
	ErrClosed = errors.New("tcp: transport closed")
	// ErrInvalidOption: New was given an invalid option or peer id.
	ErrInvalidOption = errors.New("tcp: invalid option")
)

// Transport carries Plumtree frames over persistent TCP (optionally TLS)
// connections. It implements node.Transport.
//
// There is at most one connection per pair of peers, used in both
// directions; when both peers dial each other at once, both keep the
// connection dialed by the peer with the lower id. Bulk frames (SendBulk)
// go over a second connection per peer and direction by default
// (WithBulkConnection). Every peer has its own bounded send queue and
// writer goroutine (while it has frames or a connection), so a slow or dead
// peer never delays the others. All methods are safe for concurrent use.
type Transport struct {
	self core.PeerID
	inc  uint64 // incarnation: tells a restarted peer from a second connection
	opts options
	log  *slog.Logger
	ln   net.Listener

	serverTLS *tls.Config
	clientTLS *tls.Config

	recv chan node.Frame
	// inBytes counts the bytes of the frames every connection's queue
	// holds (conn.inBytes over all connections), for WithReceiveBytes;
	// room gets a token whenever a forwarder hands one of them over.
	inBytes atomic.Int64
	room    chan struct{}
	ctx     context.Context // canceled by Close
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	mu     sync.Mutex
	closed bool
	peers  map[core.PeerID]*peer // guarded by mu
	conns  map[net.Conn]*conn    // every open raw connection; value nil while handshaking
	// streams counts the connections handed to the stream handler and
	// not closed yet (they count against maxConns).
	streams int
	// evicting counts the connections in conns closed for being idle
	// (takeIdleLocked: after the idle timeout, or to make room in track)
	// and still draining: they no longer count against maxConns.
	evicting int
	// live holds peers as well (core.PeerID → *peer), for Send and the
	// queue lengths to read without the lock. Written under mu. A map
	// copied on every change cost a joining node O(members²): 8.7 s and
	// 2.2 GB of garbage for 10,000 SetPeerAddr calls.
	live sync.Map
	// kept holds the peers whose connections are never closed for being
	// idle (KeepPeers). Guarded by mu.
	kept map[core.PeerID]bool

	st counters
}

type peerMap = map[core.PeerID]*peer

// peer is the send side of one remote peer.
type peer struct {
	id    core.PeerID
	queue lane // the urgent lane (Send)
	// bulk is the low-priority lane (SendBulk): the writer takes from it
	// only while queue is empty.
	bulk lane
	// bulkLen counts the bulk frames sent and not yet written into the
	// connection's buffer: those in bulk and the one the writer may hold.
	bulkLen atomic.Int64
	// written counts the frames written to p's connections (SentTo).
	written atomic.Uint64
	// bulkOwn: the bulk lane has a writer and a connection of its own
	// (WithBulkConnection): p's writer leaves the lane alone. Set once,
	// before the lane is made; cleared for good if the peer refuses bulk
	// connections (the writer then takes bulk frames as without them).
	bulkOwn  atomic.Bool
	bulkOnce sync.Once
	// bulkRunning: p's bulk writer runs (startBulkWriter starts it, an
	// idle one without a connection ends: writer.exit).
	bulkRunning atomic.Bool
	// running: p's writer runs (startWriter starts it, an idle writer
	// without a connection ends: writer.exit).
	running atomic.Bool
	// handoff is the frame the bulk writer had in hand when p refused bulk
	// connections: p's writer writes it before the rest of the lane.
	handoff atomic.Pointer[outFrame]
	// bulkConn is the bulk writer's current connection (nil if none).
	// bulkGen is odd while the bulk writer writes a batch and grows by one
	// at its start and at its end; bulkFlushed is the last even bulkGen at
	// which the kernel had none of the connection's bytes unacknowledged
	// (BulkQueueLen).
	bulkConn    atomic.Pointer[conn]
	bulkGen     atomic.Uint64
	bulkFlushed atomic.Uint64
	changed     chan struct{} // capacity 1: the connection or the address changed
	ready       chan struct{} // capacity 1: a frame for p's writer (wake)
	bulkReady   chan struct{} // capacity 1: a frame for p's bulk writer (wakeBulk)
	ctx         context.Context
	cancel      context.CancelFunc
	dialing     atomic.Bool // the writer is dialing p

	// guarded by Transport.mu
	addr      string
	conn      *conn // the connection frames are written to; nil if none
	removed   bool
	implicit  bool // created by an accepted hello, not by SetPeerAddr
	connected bool // has had a connection (for Stats.Reconnects)
	// closedByPeer: the last connection ended with a clean close by the
	// peer; the writer waits a backoff step before dialing again.
	closedByPeer bool
}

// lane is a peer's bounded FIFO of frames for one lane (urgent or bulk).
// Its slots are a ring that grows with what is queued, up to the lane's
// bound, and is let go when the lane empties while it holds more than
// laneKeep slots: a node sends frames, over time, to nearly every member
// (anti-entropy digests go to random members), and an idle peer's lanes
// cost at most laneKeep slots each, not its bound. A channel of the bound
// stayed for good once made (8 KiB at the default bound, 48 KiB before
// that: 2026-12-05). The writer waits on its peer's ready channel, which
// Send signals after each push (peer.wake).
type lane struct {
	mu   sync.Mutex
	ring []outFrame   // nil until the first frame, and after emptying above laneKeep slots
	head int          // index of the oldest frame in ring
	n    atomic.Int32 // frames queued: written under mu, read without it (len, pop)
}

// laneKeep is the number of slots a lane keeps when it empties: enough for
// the frames a link in use queues between two writes.
const laneKeep = 16

// push queues f without waiting; false when the lane holds bound frames.
func (l *lane) push(f outFrame, bound int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := int(l.n.Load())
	if n >= bound {
		return false
	}
	if n == len(l.ring) {
		// Full ring: double it (to at most bound), oldest frame first.
		r := make([]outFrame, min(max(2*n, 4), bound))
		k := copy(r, l.ring[l.head:])
		copy(r[k:], l.ring[:l.head])
		l.ring, l.head = r, 0
	}
	l.ring[(l.head+n)%len(l.ring)] = f
	l.n.Store(int32(n + 1))
	return true
}

// pop takes the oldest frame; ok is false when the lane is empty. An empty
// lane is seen without the lock.
func (l *lane) pop() (f outFrame, ok bool) {
	if l.n.Load() == 0 {
		return outFrame{}, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	n := int(l.n.Load())
	if n == 0 {
		return outFrame{}, false
	}
	f = l.ring[l.head]
	l.ring[l.head] = outFrame{}
	l.head = (l.head + 1) % len(l.ring)
	l.n.Store(int32(n - 1))
	if n == 1 {
		l.head = 0
		if len(l.ring) > laneKeep {
			l.ring = nil
		}
	}
	return f, true
}

// len returns the number of frames queued; it takes no lock.
func (l *lane) len() int { return int(l.n.Load()) }

// slots returns the lane's slots (for tests: what it costs).
func (l *lane) slots() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.ring)
}

// wake tells p's writer that a lane it takes frames from has one.
func (p *peer) wake() {
	select {
	case p.ready <- struct{}{}:
	default:
	}
}

// wakeBulk tells the writer of p's bulk lane that it has a frame: the bulk
// writer while it owns the lane, else p's writer, which it starts if
// needed. (A bulk writer that hands the lane back clears bulkOwn before it
// starts and signals p's writer, which then takes the bulk lane until
// empty: a frame pushed before that is taken, one pushed after it finds
// bulkOwn cleared.)
func (t *Transport) wakeBulk(p *peer) {
	if p.bulkOwn.Load() {
		t.startBulkWriter(p)
		select {
		case p.bulkReady <- struct{}{}:
		default:
		}
		return
	}
	t.startWriter(p)
	p.wake()
}

func (p *peer) signal() {
	select {
	case p.changed <- struct{}{}:
	default:
	}
}

// New returns a Transport for the node self and starts accepting if a
// listener was configured. Close releases everything it starts.
func New(self core.PeerID, opts ...Option) (*Transport, error) {
	if self == "" || len(self) > core.MaxPeerIDLen {
		return nil, fmt.Errorf("%w: peer id must be 1..%d bytes, got %d", ErrInvalidOption, core.MaxPeerIDLen, len(self))
	}
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	if err := o.validate(); err != nil {
		if o.listener != nil {
			o.listener.Close()
		}
		return nil, err
	}
	t := &Transport{
		self:  self,
		inc:   rand.Uint64(),
		opts:  o,
		log:   o.logger,
		recv:  make(chan node.Frame, o.receiveQueue),
		room:  make(chan struct{}, 1),
		peers: make(peerMap),
		conns: make(map[net.Conn]*conn),
	}
	if o.serverTLS != nil {
		t.serverTLS = o.serverTLS.Clone()
		if t.serverTLS.MinVersion < tls.VersionTLS13 {
			t.serverTLS.MinVersion = tls.VersionTLS13
		}
		if t.serverTLS.ClientCAs != nil && t.serverTLS.ClientAuth == tls.NoClientCert {
			t.serverTLS.ClientAuth = tls.RequireAndVerifyClientCert
		}
		t.clientTLS = o.clientTLS.Clone()
		if t.clientTLS.MinVersion < tls.VersionTLS13 {
			t.clientTLS.MinVersion = tls.VersionTLS13
		}
	}
	t.ln = o.listener
	if t.ln == nil && o.listenAddr != "" {
		ln, err := net.Listen("tcp", o.listenAddr)
		if err != nil {
			return nil, fmt.Errorf("tcp: listen: %w", err)
		}
		t.ln = ln
	}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	if t.ln != nil {
		t.wg.Add(1)
		go t.acceptLoop()
	}
	if o.idleTimeout > 0 {
		t.wg.Add(1)
		go t.idleLoop()
	}
	return t, nil
}

// Self returns the local peer id.
func (t *Transport) Self() core.PeerID { return t.self }

// Addr returns the listening address, or nil if the Transport only dials.
func (t *Transport) Addr() net.Addr {
	if t.ln == nil {
		return nil
	}
	return t.ln.Addr()
}

// Receive returns the channel of inbound frames; it is closed by Close.
// Each Frame's Data belongs to the receiver.
func (t *Transport) Receive() <-chan node.Frame { return t.recv }

// SetPeerAddr sets the address ("host:port") at which p is dialed and makes p
// known to Send. The connection is dialed when the first frame is sent. An
// empty addr makes p reachable only through a connection it dials itself.
// SetPeerAddr for the local id is ignored.
func (t *Transport) SetPeerAddr(p core.PeerID, addr string) {
	if p == t.self || p == "" || len(p) > core.MaxPeerIDLen {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	pr := t.peers[p]
	if pr == nil {
		pr = t.addPeerLocked(p)
	}
	pr.implicit = false
	if pr.addr != addr {
		pr.addr = addr
		pr.signal()
	}
}

// addPeerLocked creates a peer (its writer starts with its first frame:
// startWriter). t.mu is held and t is not closed.
func (t *Transport) addPeerLocked(id core.PeerID) *peer {
	ctx, cancel := context.WithCancel(t.ctx)
	p := &peer{
		id:        id,
		changed:   make(chan struct{}, 1),
		ready:     make(chan struct{}, 1),
		bulkReady: make(chan struct{}, 1),
		ctx:       ctx,
		cancel:    cancel,
	}
	t.peers[id] = p
	t.live.Store(id, p)
	return p
}

// startWriter starts p's writer unless it runs: Send calls it after
// queueing a frame. A peer never sent to (most members of a large cluster:
// a node's overlay links are a few, and its anti-entropy digests reach
// members one per round) costs no goroutine, and neither does one whose
// writer ended idle without a connection (writer.exit). Each writer's
// stack was 2.5 KB per peer, 25 MB for a node that joined 10,000 members.
func (t *Transport) startWriter(p *peer) { t.start(p, false) }

// startBulkWriter starts p's bulk writer unless it runs: wakeBulk calls it
// after a frame was queued in a bulk lane the bulk writer owns. An idle
// bulk writer without a connection ends too (writer.exit).
func (t *Transport) startBulkWriter(p *peer) { t.start(p, true) }

// start starts p's writer, or its bulk writer if bulk, unless it runs.
func (t *Transport) start(p *peer, bulk bool) {
	running := p.runningFlag(bulk)
	if running.Load() || !running.CompareAndSwap(false, true) {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed || p.removed {
		return // the flag stays set: p is gone for good
	}
	t.wg.Add(1)
	if bulk {
		go t.bulkWriteLoop(p)
	} else {
		go t.writeLoop(p)
	}
}

// runningFlag is the flag that tells whether p's writer (p's bulk writer if
// bulk) runs.
func (p *peer) runningFlag(bulk bool) *atomic.Bool {
	if bulk {
		return &p.bulkRunning
	}
	return &p.running
}

// lookup returns the peer with id to, or nil; it takes no lock.
func (t *Transport) lookup(to core.PeerID) *peer {
	if v, ok := t.live.Load(to); ok {
		return v.(*peer)
	}
	return nil
}

// RemovePeer forgets p: its writer stops, its connection is closed and its
// queued frames are dropped (counted in Stats.Drops). Sending to p fails
// with ErrUnknownPeer until SetPeerAddr is called again or p connects again.
func (t *Transport) RemovePeer(p core.PeerID) {
	t.mu.Lock()
	pr := t.peers[p]
	var c *conn
	if pr != nil {
		c = t.removePeerLocked(pr)
	}
	t.mu.Unlock()
	if c != nil {
		c.close()
	}
}

// removePeerLocked removes p and returns its connection for the caller to
// close outside the lock.
func (t *Transport) removePeerLocked(p *peer) *conn {
	delete(t.peers, p.id)
	t.live.Delete(p.id)
	p.removed = true
	p.cancel()
	c := p.conn
	p.conn = nil
	t.st.drops.Add(uint64(p.queue.len() + p.bulk.len()))
	if p.handoff.Load() != nil {
		t.st.drops.Add(1)
	}
	return c
}

// Send queues frame for to in its urgent lane and returns at once. It takes
// ownership of frame. Errors: ErrUnknownPeer, ErrQueueFull, ErrFrameTooLarge,
// ErrClosed; every refused frame is counted in Stats.Drops.
//
// Each peer has two lanes, written by one writer over one connection: the
// urgent lane (Send) and the bulk lane (SendBulk). The writer takes a bulk
// frame only while the urgent lane is empty, so a frame sent with Send is
// written before every bulk frame still queued when it was sent. Order is
// kept within each lane (frames of one lane are written in the order they
// were sent, as long as the connection lasts), not across lanes.
func (t *Transport) Send(to core.PeerID, frame []byte) error {
	return t.send(to, outFrame{head: frame}, false)
}

// SendParts is Send for the frame head‖body, given in two parts that are
// written one after the other, never joined in memory (the node sends a
// forwarded message's payload this way: the payload it received, not a new
// copy of it). Both parts are read-only and may be shared: SendParts neither
// modifies nor reuses them and keeps them until they are written. The size
// limit applies to the whole frame.
func (t *Transport) SendParts(to core.PeerID, head, body []byte) error {
	return t.send(to, outFrame{head: head, body: body}, false)
}

// SendBulkParts is SendBulk for the frame head‖body (see SendParts).
func (t *Transport) SendBulkParts(to core.PeerID, head, body []byte) error {
	return t.send(to, outFrame{head: head, body: body}, true)
}

// outFrame is a frame queued for writing: head followed by body (nil for
// frames handed over whole).
type outFrame struct {
	head, body []byte
}

func (f outFrame) len() int { return len(f.head) + len(f.body) }

// SendBulk queues frame for to in its bulk lane, behind every frame of the
// urgent lane (see Send), and returns at once. The node hands it the frames
// of large messages (node.BulkSender). It takes ownership of frame. Errors
// are Send's; ErrQueueFull means the bulk lane is full (WithBulkQueue): a
// full bulk lane never spills into the urgent one.
func (t *Transport) SendBulk(to core.PeerID, frame []byte) error {
	return t.send(to, outFrame{head: frame}, true)
}

func (t *Transport) send(to core.PeerID, frame outFrame, bulk bool) error {
	p := t.lookup(to)
	if p == nil {
		t.st.drops.Add(1)
		if t.ctx.Err() != nil {
			return ErrClosed
		}
		return ErrUnknownPeer
	}
	if frame.len() > t.opts.maxFrameSize {
		t.st.drops.Add(1)
		t.st.tooLarge.Add(1)
		return ErrFrameTooLarge
	}
	if !bulk {
		if p.queue.push(frame, t.opts.sendQueue) {
			t.startWriter(p) // after the push: see writer.exit
			p.wake()
			return nil
		}
	} else {
		t.startBulk(p)
		p.bulkLen.Add(1)
		if p.bulk.push(frame, t.opts.bulkQueue) {
			t.wakeBulk(p)
			return nil
		}
		p.bulkLen.Add(-1)
		t.st.bulkQueueFull.Add(1)
	}
	t.st.drops.Add(1)
	t.st.queueFull.Add(1)
	return ErrQueueFull
}

// startBulk decides, with the first SendBulk to p, who writes p's bulk
// lane: a bulk writer of its own over a bulk connection
// (WithBulkConnection, and p has an address to dial), or p's writer over
// p's connection.
func (t *Transport) startBulk(p *peer) {
	p.bulkOnce.Do(func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		if !t.opts.bulkConn || t.closed || p.removed || p.addr == "" {
			return
		}
		p.bulkOwn.Store(true)
	})
}

// Close stops accepting, closes every connection, stops every goroutine the
// Transport started, drops queued frames and closes the Receive channel. It
// returns when all of that is done; later calls return nil.
func (t *Transport) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	t.cancel() // stops the writers and dials; Send now returns ErrClosed
	for _, p := range t.peers {
		p.cancel()
		t.st.drops.Add(uint64(p.queue.len() + p.bulk.len()))
	}
	t.peers = make(peerMap)
	t.live.Clear()
	raws := make([]net.Conn, 0, len(t.conns))
	for nc := range t.conns {
		raws = append(raws, nc)
	}
	t.mu.Unlock()

	if t.ln != nil {
		t.ln.Close()
	}
	for _, nc := range raws {
		nc.Close()
	}
	t.wg.Wait()
	close(t.recv)
	return nil
}

// track registers a new raw connection; false if the Transport is closed or
// at its connection bound with no connection idle long enough to make room
// (see evictLocked).
func (t *Transport) track(nc net.Conn) bool {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return false
	}
	var ev idleEnd
	if len(t.conns)-t.evicting+t.streams >= t.opts.maxConns {
		v := t.evictLocked()
		if v == nil {
			t.mu.Unlock()
			return false
		}
		ev = t.takeIdleLocked(v)
	}
	t.conns[nc] = nil
	t.mu.Unlock()
	if ev.c != nil {
		t.log.Debug("tcp: closing an idle connection to make room", append(ev.attrs(), "max_conns", t.opts.maxConns)...)
		ev.end(t)
	}
	return true
}

// KeepPeers sets the peers whose connections are never closed for being
// idle (WithIdleTimeout) nor to make room at the connection bound
// (WithEvictIdle), replacing the last set. The node calls it with its
// overlay links (node.LinkKeeper): they may be quiet for minutes and then
// carry the next broadcast.
func (t *Transport) KeepPeers(ids []core.PeerID) {
	kept := make(map[core.PeerID]bool, len(ids))
	for _, id := range ids {
		kept[id] = true
	}
	t.mu.Lock()
	t.kept = kept
	t.mu.Unlock()
}

// idleLoop closes idle connections (WithIdleTimeout), checking four times
// per idle timeout (at most once a millisecond): a connection ends between 1
// and 1.25 idle timeouts after its last frame.
func (t *Transport) idleLoop() {
	defer t.wg.Done()
	tick := time.NewTicker(max(t.opts.idleTimeout/4, time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-t.ctx.Done():
			return
		case now := <-tick.C:
			t.closeIdle(now)
		}
	}
}

// closeIdle ends every connection idle since before now − idle timeout
// whose peer is not kept.
func (t *Transport) closeIdle(now time.Time) {
	cutoff := now.Add(-t.opts.idleTimeout).UnixNano()
	var idle []idleEnd
	t.mu.Lock()
	for _, c := range t.conns {
		if !t.closableLocked(c) {
			continue
		}
		used := c.lastUsed.Load()
		if c.bulk {
			used += int64(t.opts.idleTimeout)
		}
		if used <= cutoff {
			idle = append(idle, t.takeIdleLocked(c))
		}
	}
	t.mu.Unlock()
	for _, e := range idle {
		t.log.Debug("tcp: closing an idle connection", append(e.attrs(), "idle_timeout", t.opts.idleTimeout)...)
		e.end(t)
	}
}

// closableLocked tells whether c may be closed for being idle: it is its
// peer's current connection and the peer is not kept. A peer known only
// through its connection (it dialed in, no address) qualifies too: it is
// forgotten once the connection has ended (detach) and dials again when it
// has a frame for this node; else whoever completes a hello could hold
// connection slots for ever by staying silent. t.mu is held.
//
// An accepted bulk connection qualifies whatever its peer: its dialer
// closes it after its own idle timeout and dials again when it has bulk
// frames (closeIdle gives it twice the time, so the dialer normally goes
// first).
func (t *Transport) closableLocked(c *conn) bool {
	if c != nil && c.bulk {
		return !c.outbound && !c.evicting && c.peer != nil
	}
	return c != nil && !c.evicting && c.peer != nil && c.peer.conn == c && !c.peer.removed &&
		!t.kept[c.peer.id]
}

// idleEnd is an idle connection taken from its peer (takeIdleLocked), to be
// ended outside the lock.
type idleEnd struct {
	c        *conn
	endWrite bool // the writer never took c: end its write side here
}

// takeIdleLocked makes c, closable (closableLocked), stop being its peer's
// connection and counts it as evicting: it no longer counts against the
// connection bound while it drains. t.mu is held.
func (t *Transport) takeIdleLocked(c *conn) idleEnd {
	c.evicting = true
	t.evicting++
	if c.bulk {
		// Not a peer's connection: half-close it, so that its dialer stops
		// writing to it and closes it.
		return idleEnd{c: c, endWrite: true}
	}
	return idleEnd{c: c, endWrite: t.unsetLocked(c)}
}

// attrs are the log attributes of the connection: peer, address and idle
// time.
func (e idleEnd) attrs() []any {
	return []any{"peer", string(e.c.peer.id), "remote", e.c.remote,
		"idle", time.Since(time.Unix(0, e.c.lastUsed.Load())).Round(time.Millisecond)}
}

// end ends the connection as a duplicate one ends (retire, and endWrite
// unless the writer took it) and counts it in Stats.Evicted.
func (e idleEnd) end(t *Transport) {
	t.st.evicted.Add(1)
	e.c.retire()
	if e.endWrite {
		e.c.endWrite()
	}
}

// maxEvicting bounds the evicted connections still draining, which the
// connection bound does not count: at most this many more connections than
// the bound are open at once.
func (t *Transport) maxEvicting() int { return max(1, t.opts.maxConns/8) }

// evictLocked picks the connection to close to make room at the connection
// bound: of the closable connections (closableLocked), the one idle longest
// (no frame read or written), if that is at least the evict-idle time. The
// caller takes it (takeIdleLocked) and ends it outside the lock. nil if
// none qualifies. t.mu is held.
func (t *Transport) evictLocked() *conn {
	if t.opts.evictIdle <= 0 || t.evicting >= t.maxEvicting() {
		return nil
	}
	cutoff := time.Now().Add(-t.opts.evictIdle).UnixNano()
	var v *conn
	for _, c := range t.conns {
		if !t.closableLocked(c) {
			continue
		}
		if u := c.lastUsed.Load(); u <= cutoff && (v == nil || u < v.lastUsed.Load()) {
			v = c
		}
	}
	return v
}

func (t *Transport) untrack(nc net.Conn) {
	t.mu.Lock()
	if c := t.conns[nc]; c != nil && c.evicting {
		t.evicting--
	}
	delete(t.conns, nc)
	t.mu.Unlock()
}

// backoff returns the wait before the next dial after n failures in a row:
// a random duration in [d/2, d], d = min·2^(n-1) capped at max.
func (t *Transport) backoff(n int) time.Duration {
	d := t.opts.backoffMin
	for i := 1; i < n && d < t.opts.backoffMax; i++ {
		d *= 2
	}
	d = min(d, t.opts.backoffMax)
	return d/2 + rand.N(d/2+1)
}

func (t *Transport) acceptLoop() {
	defer t.wg.Done()
	var delay time.Duration
	for {
		nc, err := t.ln.Accept()
		if err != nil {
			if t.ctx.Err() != nil {
				return
			}
			if errors.Is(err, net.ErrClosed) {
				t.log.Error("tcp: listener closed, no longer accepting", "err", err)
				return
			}
			// Out of file descriptors, aborted handshakes: wait and retry.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			t.log.Warn("tcp: accept failed, retrying", "err", err, "delay", delay)
			select {
			case <-time.After(delay):
				continue
			case <-t.ctx.Done():
				return
			}
		}
		delay = 0
		if !t.track(nc) {
			if t.ctx.Err() == nil {
				t.logBad("", nc.RemoteAddr().String(), fmt.Sprintf("too many connections (max %d)", t.opts.maxConns))
				t.st.rejected.Add(1)
			}
			nc.Close()
			continue
		}
		t.wg.Add(1)
		go t.serveConn(nc)
	}
}
