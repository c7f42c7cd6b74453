package tcp

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/core/node"
	"github.com/plumtree-go/plumtree/core/wire"
)

// conn is one established Plumtree connection.
type conn struct {
	t        *Transport
	raw      net.Conn      // the TCP connection (key of Transport.conns)
	nc       net.Conn      // what frames are written to: raw, a prefixConn or a *tls.Conn
	br       *bufio.Reader // what frames are read from (over nc)
	outbound bool          // dialed by this node
	// bulk: a bulk connection (WithBulkConnection), carrying frames from
	// its dialer only; never a peer's connection (peer.conn). Fixed.
	bulk      bool
	remoteInc uint64
	remote    string
	peer      *peer // set on attach, then fixed
	// proven: the peer proved the id in its hello (keyring or certificate
	// binding).
	proven bool
	tx     *sealer // with a keyring: seals frames (owned by the writer)
	rx     *opener // with a keyring: opens frames (owned by the reader)

	retireAt atomic.Int64 // unix nanoseconds; 0 while not retired
	// lastUsed is when a frame was last read from or written to c (unix
	// nanoseconds; set when c is attached).
	lastUsed atomic.Int64
	// evicting is guarded by Transport.mu: c was closed for being idle,
	// after the idle timeout or to make room at the connection bound (see
	// Transport.takeIdleLocked).
	evicting bool
	peerEOF  atomic.Bool // the peer ended its side cleanly
	// adopted is guarded by Transport.mu: the peer's writer has taken c as
	// its connection, and so half-closes it when c stops being current.
	// Whoever makes a connection that was never adopted stop being current
	// half-closes it instead.
	adopted bool
	// in holds received frames waiting for the Receive channel; the reader
	// makes it (and starts the forwarder) the first time that is full.
	in chan []byte
	// queued counts the frames in `in` plus the one the forwarder holds:
	// while it is 0 every frame read so far is in the Receive channel, and
	// the reader hands the next one over itself (no forwarder hand-off).
	queued atomic.Int64
	// inBytes counts the bytes of the frames counted by queued; room gets
	// a signal from the forwarder each time it hands a frame over.
	inBytes atomic.Int64
	room    chan struct{}
	// Owned by the reader.
	shedding bool        // in stayed full for the receive wait: drop
	wait     *time.Timer // the receive wait

	closeOnce, readOnce, writeOnce sync.Once
	halves                         atomic.Int32 // directions finished
	dead                           atomic.Bool  // closed
}

// errNoSocket: the connection has no socket to set an option on.
var errNoSocket = errors.New("tcp: not a socket")

// close closes the connection in both directions and forgets it.
func (c *conn) close() {
	c.closeOnce.Do(func() {
		c.dead.Store(true)
		c.raw.Close()
		c.t.untrack(c.raw)
	})
}

// endWrite half-closes the connection: the peer reads what was sent, then
// EOF, and may go on sending until it has seen that. The connection is
// closed when both directions have ended.
func (c *conn) endWrite() {
	c.writeOnce.Do(func() {
		c.nc.SetWriteDeadline(time.Now().Add(c.t.opts.writeTimeout))
		if cw, ok := c.nc.(interface{ CloseWrite() error }); !ok || cw.CloseWrite() != nil {
			c.close()
		}
		c.halfDone()
	})
}

// endRead records that the peer finished sending (EOF).
func (c *conn) endRead() { c.readOnce.Do(c.halfDone) }

func (c *conn) halfDone() {
	if c.halves.Add(1) == 2 {
		c.close()
	}
}

// retire marks a connection that lost to another one for the same peer: it
// is read until the peer closes it or for at most the read timeout.
func (c *conn) retire() {
	at := time.Now().Add(c.t.opts.readTimeout)
	c.retireAt.Store(at.UnixNano())
	c.nc.SetReadDeadline(at)
}

// idleDeadline is the read deadline between frames.
func (c *conn) idleDeadline() time.Time {
	if at := c.retireAt.Load(); at != 0 {
		return time.Unix(0, at)
	}
	return time.Time{}
}

// badInput is why a connection was closed for what the peer sent.
type badInput struct{ reason string }

func (e *badInput) Error() string { return e.reason }

func badf(format string, args ...any) error { return &badInput{fmt.Sprintf(format, args...)} }

// setKeepAlive applies the keepalive option to an accepted connection.
func (t *Transport) setKeepAlive(nc net.Conn) {
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetKeepAliveConfig(t.keepAliveConfig())
	}
}

// setSocketBuffers applies the socket buffer option to a connection.
func (t *Transport) setSocketBuffers(nc net.Conn) {
	n := t.opts.socketBuffer
	if n <= 0 {
		return
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetReadBuffer(n)
		tc.SetWriteBuffer(n)
	}
}

func (t *Transport) keepAliveConfig() net.KeepAliveConfig {
	ka := t.opts.keepAlive
	if ka <= 0 {
		return net.KeepAliveConfig{Enable: false}
	}
	return net.KeepAliveConfig{Enable: true, Idle: ka, Interval: ka, Count: 3}
}

// logBad logs a connection closed for bad input.
func (t *Transport) logBad(peer core.PeerID, remote, reason string) {
	t.log.Warn("tcp: closing bad connection", "peer", string(peer), "remote", remote, "reason", reason)
}

// handshakeFailed closes a connection that failed its set-up.
func (t *Transport) handshakeFailed(raw net.Conn, peer core.PeerID, remote, reason string) {
	if t.ctx.Err() == nil { // else closing: not the peer's fault
		// Logged before counted: whoever sees the count finds the line.
		t.logBad(peer, remote, reason)
		t.st.handshakeFailures.Add(1)
	}
	raw.Close()
	t.untrack(raw)
}

// checkCert checks the certificate binding of a hello's id.
func (t *Transport) checkCert(nc net.Conn, id core.PeerID) error {
	if t.opts.peerIDFromCert == nil {
		return nil
	}
	tc, ok := nc.(*tls.Conn)
	if !ok {
		return errors.New("certificate binding: not a TLS connection")
	}
	certs := tc.ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return errors.New("certificate binding: the peer presented no certificate")
	}
	if got := t.opts.peerIDFromCert(certs[0]); got != id {
		return fmt.Errorf("certificate binding: hello says peer %q but its certificate says %q", id, got)
	}
	return nil
}

// serveConn runs an accepted connection: it tells what protocol it speaks,
// runs the handshake and then reads frames until the connection ends.
func (t *Transport) serveConn(raw net.Conn) {
	handedOff := false
	defer func() {
		if !handedOff {
			t.wg.Done()
		}
	}()
	t.setKeepAlive(raw)
	t.setSocketBuffers(raw)
	remote := raw.RemoteAddr().String()
	deadline := time.Now().Add(t.opts.handshakeTimeout)
	raw.SetDeadline(deadline)

	var first [1]byte
	if _, err := io.ReadFull(raw, first[:]); err != nil {
		t.handshakeFailed(raw, "", remote, helloReadError(err).Error())
		return
	}
	pc := &prefixConn{Conn: raw, first: first[0], hasFirst: true}
	var nc net.Conn = pc
	tlsOn := t.serverTLS != nil
	switch {
	case tlsOn && first[0] == tlsHandshakeRecord:
		tc := tls.Server(pc, t.serverTLS)
		ctx, cancel := context.WithDeadline(t.ctx, deadline)
		err := tc.HandshakeContext(ctx)
		cancel()
		if err != nil {
			t.handshakeFailed(raw, "", remote, "tls handshake: "+err.Error())
			return
		}
		nc = tc
	case !tlsOn && first[0] == wire.Magic:
	case first[0] != wire.Magic && t.opts.streamHandler != nil:
		// Another protocol sharing the port (memberlist streams). It
		// counts against maxConns until the handler closes it.
		raw.SetDeadline(time.Time{})
		t.mu.Lock()
		delete(t.conns, raw)
		t.streams++
		t.mu.Unlock()
		t.st.streamConns.Add(1)
		handedOff = true
		t.wg.Done() // Close does not wait for the handler
		t.opts.streamHandler(&streamConn{Conn: pc, t: t})
		return
	case tlsOn && first[0] == wire.Magic:
		t.handshakeFailed(raw, "", remote, "plaintext hello but TLS is required")
		return
	default:
		t.handshakeFailed(raw, "", remote, fmt.Sprintf("first byte 0x%02x is not a plumtree hello", first[0]))
		return
	}

	br := newReader(nc)
	h, err := readHello(br)
	if err != nil {
		t.handshakeFailed(raw, "", remote, err.Error())
		return
	}
	id := h.id
	kr := t.opts.keyring
	switch {
	case kr != nil && !h.keyed:
		t.st.authFailures.Add(1)
		t.handshakeFailed(raw, id, remote, "plain hello but this node requires a keyed hello (it has a keyring)")
		return
	case kr == nil && h.keyed:
		t.handshakeFailed(raw, id, remote, "keyed hello but this node has no keyring")
		return
	case id == t.self:
		t.handshakeFailed(raw, id, remote, "the peer claims this node's own id")
		return
	}
	if err := t.checkCert(nc, id); err != nil {
		t.handshakeFailed(raw, id, remote, err.Error())
		return
	}
	c := &conn{t: t, raw: raw, nc: nc, br: br, remoteInc: h.inc, remote: remote,
		proven: kr != nil || t.opts.peerIDFromCert != nil}
	if kr == nil {
		_, err = nc.Write(appendHello(make([]byte, 0, maxHelloLen), t.inc, t.self))
		if err != nil {
			err = fmt.Errorf("writing hello: %w", err)
		}
	} else {
		err = t.acceptKeyed(c, h)
	}
	if err != nil {
		t.handshakeFailed(raw, id, remote, err.Error())
		return
	}
	raw.SetDeadline(time.Time{})
	if h.bulk {
		t.attachBulkInbound(id, c)
		t.log.Debug("tcp: bulk connection accepted", "peer", string(id), "remote", remote)
		t.readLoop(c)
		return
	}
	if !t.attachInbound(id, c) {
		c.close()
		return
	}
	t.log.Debug("tcp: connection accepted", "peer", string(id), "remote", remote)
	t.readLoop(c)
}

// dial connects to p at addr and runs the dialer's side of the handshake,
// for a bulk connection (WithBulkConnection) if bulk.
func (t *Transport) dial(p *peer, addr string, bulk bool) (*conn, error) {
	d := net.Dialer{Timeout: t.opts.dialTimeout, KeepAliveConfig: t.keepAliveConfig()}
	if t.opts.keepAlive <= 0 {
		d.KeepAlive = -1
	}
	if t.opts.sourceIP != nil {
		d.LocalAddr = &net.TCPAddr{IP: t.opts.sourceIP}
	}
	raw, err := d.DialContext(p.ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	t.setSocketBuffers(raw)
	if bulk {
		t.markBulk(p, raw)
	}
	if !t.track(raw) {
		raw.Close()
		if t.ctx.Err() != nil {
			return nil, ErrClosed
		}
		return nil, fmt.Errorf("tcp: too many connections (max %d)", t.opts.maxConns)
	}
	remote := raw.RemoteAddr().String()
	fail := func(reason string) (*conn, error) {
		t.handshakeFailed(raw, p.id, remote, reason)
		if p.ctx.Err() != nil {
			return nil, ErrClosed
		}
		return nil, errors.New("tcp: " + reason)
	}
	deadline := time.Now().Add(t.opts.handshakeTimeout)
	raw.SetDeadline(deadline)
	var nc net.Conn = raw
	if t.clientTLS != nil {
		cfg := t.clientTLS
		if cfg.ServerName == "" && !cfg.InsecureSkipVerify {
			host, _, _ := net.SplitHostPort(addr)
			cfg = cfg.Clone()
			cfg.ServerName = host
		}
		tc := tls.Client(raw, cfg)
		ctx, cancel := context.WithDeadline(p.ctx, deadline)
		err := tc.HandshakeContext(ctx)
		cancel()
		if err != nil {
			return fail("tls handshake: " + err.Error())
		}
		nc = tc
	}
	kr := t.opts.keyring
	var mine []byte
	if kr == nil {
		mine = appendHello(make([]byte, 0, maxHelloLen), t.inc, t.self)
	} else {
		nonce := newNonce()
		mine = appendKeyedHello(make([]byte, 0, maxHelloLen), t.inc, t.self, &nonce)
	}
	if bulk {
		markBulk(mine)
	}
	if _, err := nc.Write(mine); err != nil {
		return fail("writing hello: " + err.Error())
	}
	br := newReader(nc)
	h, err := readHello(br)
	if err != nil {
		return fail(err.Error())
	}
	switch {
	case h.id != p.id:
		return fail(fmt.Sprintf("dialed peer %q at %s but it says it is %q", p.id, addr, h.id))
	case kr != nil && !h.keyed:
		t.st.authFailures.Add(1)
		return fail("the peer answered with a plain hello: it has no keyring")
	case kr == nil && h.keyed:
		return fail("the peer answered with a keyed hello but this node has no keyring")
	case h.bulk:
		return fail("the peer answered with a bulk hello")
	}
	if err := t.checkCert(nc, h.id); err != nil {
		return fail(err.Error())
	}
	c := &conn{t: t, raw: raw, nc: nc, br: br, outbound: true, bulk: bulk, remoteInc: h.inc, remote: remote,
		proven: kr != nil || t.opts.peerIDFromCert != nil}
	if kr != nil {
		if err := t.dialKeyed(c, mine, h); err != nil {
			return fail(err.Error())
		}
	}
	raw.SetDeadline(time.Time{})
	return c, nil
}

// acceptKeyed runs the acceptor's side of a keyed handshake after the
// dialer's hello h: it answers with its hello and proof and checks the
// dialer's proof.
func (t *Transport) acceptKeyed(c *conn, h hello) error {
	kr := t.opts.keyring
	key, err := primaryKey(kr)
	if err != nil {
		return err
	}
	nonce := newNonce()
	reply := appendKeyedHello(make([]byte, 0, maxHelloLen), t.inc, t.self, &nonce)
	th := transcript(h.raw, reply)
	reply = append(reply, keyedMAC(key, labelAcceptor, &th)...)
	if _, err := c.nc.Write(reply); err != nil {
		return fmt.Errorf("writing hello: %w", err)
	}
	proof, err := readProof(c.br)
	if err != nil {
		return err
	}
	if !verifyProof(kr.GetKeys(), labelDialer, &th, proof) {
		t.st.authFailures.Add(1)
		return errNotProven
	}
	c.tx = &sealer{kr: kr, label: labelA2D, th: th}
	c.rx = &opener{kr: kr, label: labelD2A, th: th}
	return nil
}

// dialKeyed runs the dialer's side of a keyed handshake after it sent mine
// and received the acceptor's hello h: it checks the acceptor's proof and
// sends its own.
func (t *Transport) dialKeyed(c *conn, mine []byte, h hello) error {
	kr := t.opts.keyring
	proof, err := readProof(c.br)
	if err != nil {
		return err
	}
	th := transcript(mine, h.raw)
	if !verifyProof(kr.GetKeys(), labelAcceptor, &th, proof) {
		t.st.authFailures.Add(1)
		return errNotProven
	}
	key, err := primaryKey(kr)
	if err != nil {
		return err
	}
	if _, err := c.nc.Write(keyedMAC(key, labelDialer, &th)); err != nil {
		return fmt.Errorf("writing key proof: %w", err)
	}
	c.tx = &sealer{kr: kr, label: labelD2A, th: th}
	c.rx = &opener{kr: kr, label: labelA2D, th: th}
	return nil
}

// retirement is what to do, outside the lock, with a connection that lost
// its place to another one for the same peer.
type retirement struct {
	c       *conn
	hard    bool // the peer restarted: close at once
	adopted bool // the writer half-closes it when it notices
	// refused: c itself claims a new incarnation without proof while the
	// peer has a connection; c is closed and the old one kept.
	refused bool
}

func (r retirement) run() {
	switch {
	case r.c == nil:
	case r.hard, r.refused:
		r.c.close()
	default:
		r.c.retire()
		if !r.adopted {
			r.c.endWrite()
		}
	}
}

// attachLocked makes c a connection of p and decides which connection p
// keeps when it already has one. t.mu is held.
//
// Rules, applied identically on both ends so that both keep the same
// connection: a connection from a new incarnation of the peer replaces the
// old one (the old one leads to a dead process) if its hello is proven
// (keyring or certificate binding) or this node dialed it; an unproven
// accepted hello with a new incarnation is refused while the peer has a
// connection, so a stranger claiming the peer's id cannot cut it off (a
// restarted peer's old connection ends with its process, and its next dial
// is accepted); otherwise the connection
// dialed by the lower peer id wins, and between two dialed by the same peer
// the newer wins (that peer gave up the older one). The loser is half-closed
// and read until the peer closes it too, so frames in flight on it are not
// lost.
func (t *Transport) attachLocked(p *peer, c *conn) retirement {
	c.peer = p
	c.lastUsed.Store(time.Now().UnixNano())
	t.conns[c.raw] = c
	cur := p.conn
	var r retirement
	switch {
	case cur == nil:
	case cur.remoteInc != c.remoteInc && !c.proven && !c.outbound:
		t.conns[c.raw] = nil // still handshaking; closed by the caller
		return retirement{c: c, refused: true}
	case cur.remoteInc != c.remoteInc:
		t.st.reconnects.Add(1)
		r = retirement{c: cur, hard: true}
	case !t.prefer(p, c, cur):
		return retirement{c: c}
	default:
		r = retirement{c: cur, adopted: cur.adopted}
	}
	p.conn = c
	p.connected = true
	p.closedByPeer = false
	p.signal()
	return r
}

// prefer reports whether the new connection c should replace cur.
func (t *Transport) prefer(p *peer, c, cur *conn) bool {
	lower := min(t.self, p.id)
	byLower := func(x *conn) bool {
		if x.outbound {
			return t.self == lower
		}
		return p.id == lower
	}
	if a, b := byLower(c), byLower(cur); a != b {
		return a
	}
	return true
}

// attachInbound attaches an accepted connection to the peer named in its
// hello, creating the peer if it is unknown. false if t is closed or c is
// refused (see attachLocked).
func (t *Transport) attachInbound(id core.PeerID, c *conn) bool {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return false
	}
	p := t.peers[id]
	if p == nil {
		p = t.addPeerLocked(id)
		p.implicit = true
	}
	r := t.attachLocked(p, c)
	t.mu.Unlock()
	if r.refused {
		t.st.handshakeFailures.Add(1)
		t.logBad(id, c.remote, "unproven hello with a new incarnation while the peer is connected: refused")
		return false
	}
	r.run()
	return true
}

// markBulk sets the TOS byte and the socket priority of a bulk connection
// (WithBulkTOS, WithBulkPriority), in that order: on Linux the TOS sets the
// priority too.
func (t *Transport) markBulk(p *peer, raw net.Conn) {
	if t.opts.bulkTOS >= 0 {
		if err := setTOS(raw, t.opts.bulkTOS); err != nil {
			t.log.Debug("tcp: cannot set the bulk connection's priority", "peer", string(p.id), "what", "tos", "err", err)
		}
	}
	if t.opts.bulkPriority >= 0 {
		if err := setPriority(raw, t.opts.bulkPriority); err != nil {
			t.log.Debug("tcp: cannot set the bulk connection's priority", "peer", string(p.id), "what", "so_priority", "err", err)
		}
	}
}

// attachBulkInbound registers an accepted bulk connection (its hello had
// the bulk flag) from peer id. It is read like any connection, its frames
// coming from id, but it is not the peer's connection: nothing is written
// to it, and it is never compared with the peer's other connections. A
// bulk connection from a peer this node does not know yet creates no peer
// (the peer's own connection does that).
func (t *Transport) attachBulkInbound(id core.PeerID, c *conn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.peers[id]
	if p == nil {
		p = &peer{id: id, removed: true} // a name for its frames and logs only
	}
	c.bulk = true
	c.peer = p
	c.lastUsed.Store(time.Now().UnixNano())
	if _, ok := t.conns[c.raw]; ok { // else Close has taken it already
		t.conns[c.raw] = c
	}
}

// attachBulkOutbound registers a dialed bulk connection of p and starts
// the goroutine that reads it to its end (the acceptor writes nothing on
// it; its half-close, after its idle timeout, ends the connection). false
// if t is closed or p removed (c is closed).
func (t *Transport) attachBulkOutbound(p *peer, c *conn) bool {
	t.mu.Lock()
	if t.closed || p.removed {
		t.mu.Unlock()
		c.close()
		return false
	}
	c.peer = p
	c.lastUsed.Store(time.Now().UnixNano())
	t.conns[c.raw] = c
	t.wg.Add(1)
	t.mu.Unlock()
	// The acceptor writes nothing after its hello: the handshake's reader
	// holds nothing and goes back to the pool, and the goroutine below
	// waits on the connection itself (TLS buffers its own records) until
	// the acceptor ends it.
	wrote := c.br.Buffered() > 0
	freeReader(c.br)
	c.br = nil
	go func() {
		defer t.wg.Done()
		if !wrote {
			var b [1]byte
			_, err := c.nc.Read(b[:])
			wrote = err == nil
		}
		c.close()
		if wrote && t.ctx.Err() == nil {
			t.logBad(p.id, c.remote, "the peer wrote on a bulk connection")
			t.st.badFrames.Add(1)
		}
	}()
	return true
}

// attachOutbound attaches a dialed connection and starts its reader.
func (t *Transport) attachOutbound(p *peer, c *conn) {
	t.mu.Lock()
	if t.closed || p.removed {
		t.mu.Unlock()
		c.close()
		return
	}
	r := t.attachLocked(p, c) // never refused: c was dialed
	t.wg.Add(1)
	t.mu.Unlock()
	r.run()
	t.log.Debug("tcp: connected", "peer", string(p.id), "remote", c.remote)
	go func() {
		defer t.wg.Done()
		t.readLoop(c)
	}()
}

// detach makes c stop being its peer's connection, if it is, so that the
// writer dials again or waits for the peer. An implicit peer, known only
// through c, is forgotten and c closed; so is one whose connection c was
// until it was closed for being idle (takeIdleLocked), unless the peer has
// dialed in again since. The write side of c is half-closed here if the
// writer never took c, else by the writer when it notices.
func (t *Transport) detach(c *conn) {
	endWrite := false
	t.mu.Lock()
	p := c.peer
	switch {
	case p == nil || p.removed:
	case p.conn == c && p.implicit:
		t.removePeerLocked(p)
		t.mu.Unlock()
		c.close()
		return
	case p.conn == c:
		endWrite = t.unsetLocked(c)
	case p.conn == nil && p.implicit && c.evicting:
		t.removePeerLocked(p)
	}
	t.mu.Unlock()
	if endWrite {
		c.endWrite()
	}
}

// unsetLocked makes c, its peer's current connection, stop being it: the
// peer's writer dials again for its next frame (after a backoff step if the
// peer closed c cleanly) or takes the connection the peer dials. It reports
// whether the caller must half-close c (outside the lock): the writer never
// took it; else the writer does when it notices. t.mu is held.
func (t *Transport) unsetLocked(c *conn) (endWrite bool) {
	p := c.peer
	p.conn = nil
	p.closedByPeer = c.peerEOF.Load()
	p.signal()
	return !c.adopted
}

// readLoop reads frames from c until it ends, then detaches it. After a
// clean EOF the connection is closed once its write side has ended too (the
// peer may still be reading what is in flight); after anything else at once.
//
// The reader hands a frame straight to the shared Receive channel when
// that has room and nothing of c waits before it; otherwise the frame goes
// into c's own bounded queue, and a forwarder moves the queue to the
// Receive channel in order, so no connection waits for another (and an
// idle node's frame costs no goroutine hand-off besides the node's own).
// The queue and its forwarder are made the first time they are needed: a
// connection whose frames always find room has neither (no goroutine and
// no queue memory for the garbage collector to scan). When the node stops
// reading (intake paused), c's queue fills; after the receive wait the
// frames that do not fit are dropped and counted (Stats.ReceiveDrops) while
// the connection keeps being read, so that the peer's writes never time out
// because this node is slow.
func (t *Transport) readLoop(c *conn) {
	err := t.readFrames(c)
	freeReader(c.br) // nothing reads c any more
	c.br = nil
	if c.in != nil {
		close(c.in)
	}
	if errors.Is(err, io.EOF) {
		c.peerEOF.Store(true)
	}
	switch {
	case c.bulk:
		c.close() // the peer's, one-way: nothing to detach or finish writing
	case errors.Is(err, io.EOF):
		t.detach(c)
		c.endRead()
	default:
		t.detach(c)
		c.close()
	}
	var bad *badInput
	switch {
	case t.ctx.Err() != nil:
	case errors.As(err, &bad):
		t.logBad(c.peer.id, c.remote, bad.reason) // before the count, as in handshakeFailed
		t.st.badFrames.Add(1)
	default:
		t.log.Debug("tcp: connection closed", "peer", string(c.peer.id), "remote", c.remote, "reason", describeEnd(err))
	}
}

func describeEnd(err error) string {
	switch {
	case err == nil, errors.Is(err, io.EOF):
		return "closed by the peer"
	case errors.Is(err, net.ErrClosed):
		return "closed locally"
	}
	return err.Error()
}

// readFrames reads length-prefixed frames from c and hands them to the
// Receive channel. It returns a *badInput for what the peer did wrong.
func (t *Transport) readFrames(c *conn) error {
	br := c.br
	maxN, minN := t.opts.maxFrameSize, wire.HeaderLen
	if c.rx != nil {
		maxN, minN = maxN+tagLen, minN+tagLen
	}
	const prefix = 4
	for {
		// Idle: wait for the next frame without a deadline (keepalive
		// finds dead peers), or until the retirement deadline.
		if _, err := br.Peek(1); err != nil {
			return err
		}
		// A frame has started: the rest must come within the read timeout.
		deadline := false
		if br.Buffered() < prefix+wire.HeaderLen {
			c.nc.SetReadDeadline(time.Now().Add(t.opts.readTimeout))
			deadline = true
		}
		hdr, err := br.Peek(prefix)
		if err != nil {
			return truncated(fmt.Sprintf("length prefix cut after %d bytes", len(hdr)), err)
		}
		n := binary.BigEndian.Uint32(hdr)
		if n > uint32(maxN) {
			return badf("length prefix %d exceeds the maximum frame size %d", n, maxN)
		}
		if n < uint32(minN) {
			return badf("length prefix %d is shorter than a frame header (%d)", n, minN)
		}
		if c.rx == nil {
			// Check magic, version and type before allocating the frame.
			head, err := br.Peek(prefix + wire.HeaderLen)
			if err != nil {
				return truncated(fmt.Sprintf("frame of %d bytes cut after %d", n, len(head)-prefix), err)
			}
			if err := wire.CheckHeader(head[prefix:]); err != nil {
				return badf("bad frame: %v", err)
			}
		}
		br.Discard(prefix)
		if !deadline && br.Buffered() < int(n) {
			c.nc.SetReadDeadline(time.Now().Add(t.opts.readTimeout))
			deadline = true
		}
		buf := make([]byte, n)
		if m, err := io.ReadFull(br, buf); err != nil {
			return truncated(fmt.Sprintf("frame of %d bytes cut after %d", n, m), err)
		}
		if deadline {
			c.nc.SetReadDeadline(c.idleDeadline())
		}
		if c.rx != nil {
			f, ok := c.rx.open(buf)
			if !ok {
				t.st.authFailures.Add(1)
				return badf("frame of %d bytes fails authentication: no key of the keyring opens it", n)
			}
			if err := wire.CheckHeader(f); err != nil {
				return badf("bad frame: %v", err)
			}
			buf = f
		}
		t.st.framesIn.Add(1)
		t.st.bytesIn.Add(uint64(n) + prefix)
		now := time.Now()
		c.lastUsed.Store(now.UnixNano())
		if err := t.enqueue(c, buf, now); err != nil {
			return err
		}
	}
}

// enqueue puts a received frame into c's queue. When the queue is full it
// waits for room up to the receive wait, then drops (and counts) frames
// without waiting while the queue stays more than half full: a node that
// merely lags behind slows its peers down through TCP flow control and
// loses nothing, while a node that stops reading (intake paused) keeps its
// connections read, so that no peer's write times out.
func (t *Transport) enqueue(c *conn, buf []byte, read time.Time) error {
	if c.queued.Load() == 0 {
		// Nothing of c is queued or being forwarded: every earlier frame
		// is in the Receive channel already, so this one may follow it
		// directly (order kept).
		select {
		case t.recv <- node.Frame{From: c.peer.id, Data: buf, Received: read}:
			return nil
		default:
		}
	}
	if c.in == nil {
		// The first time the Receive channel is full: c's queue and its
		// forwarder start now (most connections never need them).
		c.in = make(chan []byte, t.opts.connReceiveQueue)
		c.room = make(chan struct{}, 1)
		t.st.forwarders.Add(1)
		t.wg.Add(1)
		go t.forward(c)
	}
	limit, total := int64(t.opts.connReceiveBytes), int64(t.opts.receiveBytes)
	if c.shedding && len(c.in) <= cap(c.in)/2 && c.inBytes.Load() <= limit/2 && t.inBytes.Load() <= total/2 {
		c.shedding = false
	}
	// fits: room for buf in c's queue, by count and by bytes, its own and
	// all connections' (a queue that holds nothing takes any frame). Only
	// this reader adds to c's queue, so what fits c's bounds stays fitting
	// while the forwarder takes frames out; other readers may take the
	// room under the transport's bound first (then this one waits again).
	n := int64(len(buf))
	fits := func() bool {
		return len(c.in) < cap(c.in) &&
			(c.queued.Load() == 0 || c.inBytes.Load()+n <= limit && t.inBytes.Load()+n <= total)
	}
	put := func() {
		c.queued.Add(1)
		c.inBytes.Add(n)
		t.inBytes.Add(n)
		c.in <- buf
	}
	if fits() {
		put()
		return nil
	}
	if !c.shedding {
		if c.wait == nil {
			c.wait = time.NewTimer(t.opts.receiveWait)
		} else {
			c.wait.Reset(t.opts.receiveWait)
		}
		for !c.shedding {
			select {
			case <-c.room:
			case <-t.room:
			case <-c.wait.C:
				c.shedding = true
				continue
			case <-t.ctx.Done():
				c.wait.Stop()
				return net.ErrClosed
			}
			if fits() {
				c.wait.Stop()
				put()
				return nil
			}
		}
	}
	t.st.receiveDrops.Add(1)
	return nil
}

// forward moves c's received frames, in order, to the Receive channel. It
// ends when c's reader has ended and every frame it queued is handed over,
// or when the Transport closes.
func (t *Transport) forward(c *conn) {
	defer t.wg.Done()
	from := c.peer.id
	for f := range c.in {
		select {
		case t.recv <- node.Frame{From: from, Data: f, Received: time.Now()}:
			c.inBytes.Add(-int64(len(f)))
			t.inBytes.Add(-int64(len(f)))
			c.queued.Add(-1)
			select {
			case c.room <- struct{}{}:
			default:
			}
			select {
			case t.room <- struct{}{}:
			default:
			}
		case <-t.ctx.Done():
			return
		}
	}
}

// truncated classifies a read error inside a frame: the peer closing or
// stalling mid-frame is bad input; a local close or reset is not.
func truncated(what string, err error) error {
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return badf("truncated frame: %s, then the connection closed", what)
	case errors.As(err, &ne) && ne.Timeout():
		return badf("truncated frame: %s, then nothing within the read timeout", what)
	}
	return err
}

// streamConn is a connection handed to the stream handler: it counts
// against maxConns until it is closed.
type streamConn struct {
	net.Conn
	t    *Transport
	once sync.Once
}

func (c *streamConn) Close() error {
	c.once.Do(func() {
		c.t.mu.Lock()
		c.t.streams--
		c.t.mu.Unlock()
	})
	return c.Conn.Close()
}

// CloseWrite half-closes the connection if it can.
func (c *streamConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}
