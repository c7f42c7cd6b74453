package tcp

import (
	"bufio"
	"encoding/binary"
	"time"
)

// writer is the state of one peer's writer goroutine.
type writer struct {
	t        *Transport
	p        *peer
	cur      *conn
	bw       *bufio.Writer
	hdr      [4]byte
	sealed   []byte // the last frame sealed (with a keyring)
	joined   []byte // the last two-part frame joined for sealing
	failures int    // failed dials in a row
	// held is a bulk frame taken from the bulk lane and not written yet:
	// it goes before every later bulk frame, after every urgent one.
	held    outFrame
	hasHeld bool
	// bulkOnly: the writer of p's bulk lane over a bulk connection
	// (bulkWriteLoop), not p's writer.
	bulkOnly bool
	// fallBack: connectBulk found that p refuses bulk connections.
	fallBack bool
	// dlConn's write deadline is dl (deadline).
	dlConn *conn
	dl     time.Time
}

// deadline gives the batch about to be written to c at now a write
// deadline between the write timeout and one and a half times it from now.
// The deadline is moved only when less than the timeout is left: setting
// one arms a runtime timer under the descriptor's lock, which cost as much
// as a tenth of a small batch's write when it was done for every batch. c
// has no other writer, and nothing else sets its write deadline while it
// is written (the handshake's ends before; endWrite comes after the last
// batch).
func (w *writer) deadline(c *conn, now time.Time) {
	to := w.t.opts.writeTimeout
	if w.dlConn == c && w.dl.Sub(now) >= to {
		return
	}
	w.dlConn, w.dl = c, now.Add(to+to/2)
	c.nc.SetWriteDeadline(w.dl)
}

// takesBulk reports whether this writer takes frames from p's bulk lane:
// the bulk writer does, and p's writer while the lane has no writer of its
// own.
func (w *writer) takesBulk() bool { return w.bulkOnly || !w.p.bulkOwn.Load() }

// writeLoop is the one goroutine that writes to p: it takes frames from p's
// lanes, the urgent one first, dials when needed and writes batches of
// queued frames with one flush.
func (t *Transport) writeLoop(p *peer) {
	defer t.wg.Done()
	w := &writer{t: t, p: p} // bw is made with the first connection
	defer func() {
		if w.cur != nil {
			w.cur.close() // p was removed or the Transport closed
		}
		if w.hasHeld {
			t.st.drops.Add(1)
		}
		if w.bw != nil {
			freeWriter(w.bw)
		}
	}()
	for {
		select {
		case <-p.ctx.Done():
			return
		default:
		}
		f, bulk, ok := w.next()
		if !ok {
			if w.cur == nil && w.current() == nil && w.exit() {
				return
			}
			// Send signals ready after queueing a frame in a lane this
			// writer takes (peer.wake, Transport.wakeBulk).
			select {
			case <-p.ctx.Done():
				return
			case <-p.changed:
				w.current()
				continue
			case <-p.ready:
				continue
			}
		}
		if !w.send(f, bulk) {
			return
		}
	}
}

// exit ends the writer (p's, or its bulk lane's), idle and without a
// connection, unless a frame came meanwhile (false: the writer goes on).
// Send starts a writer again after queueing its next frame (startWriter,
// startBulkWriter), so a peer sent nothing since its connection ended (the
// idle timeout, a failed write) costs no goroutine: over time a node sends
// anti-entropy digests to nearly every member. A writer holding a
// connection stays: p's writer owes it its half-close when it stops being
// p's (current), the bulk writer closes it after the idle timeout.
//
// Send queues and then reads the running flag; exit clears the flag and
// then reads the lanes: with every access atomic, one of the two sees the
// other, so a queued frame never waits without a writer.
func (w *writer) exit() bool {
	running := w.p.runningFlag(w.bulkOnly)
	running.Store(false)
	if !w.queued() {
		return true
	}
	// A frame came: go on, unless its Send started another writer.
	return !running.CompareAndSwap(false, true)
}

// queued reports whether a lane this writer takes holds a frame (for p's
// writer: or the bulk writer handed it one).
func (w *writer) queued() bool {
	p := w.p
	if w.bulkOnly {
		return p.bulk.len() > 0
	}
	return p.queue.len() > 0 || (w.takesBulk() && p.bulk.len() > 0) || p.handoff.Load() != nil
}

// next returns the frame to write next without waiting: an urgent one if
// any is queued, else the held bulk frame, else a bulk one. ok is false
// when both lanes are empty.
func (w *writer) next() (f outFrame, bulk, ok bool) {
	if !w.bulkOnly {
		if f, ok := w.p.queue.pop(); ok {
			return f, false, true
		}
	}
	if w.hasHeld {
		f, w.held, w.hasHeld = w.held, outFrame{}, false
		return f, true, true
	}
	if !w.bulkOnly && !w.p.bulkOwn.Load() {
		if h := w.p.handoff.Swap(nil); h != nil {
			return *h, true, true
		}
	}
	if w.takesBulk() {
		if f, ok := w.p.bulk.pop(); ok {
			return f, true, true
		}
	}
	return outFrame{}, false, false
}

// current returns p's connection, switching to it (and half-closing the one
// written to before) if it changed.
func (w *writer) current() *conn {
	t := w.t
	t.mu.Lock()
	c := w.p.conn
	if c != nil {
		c.adopted = true
	}
	t.mu.Unlock()
	if c != w.cur {
		if w.cur != nil {
			w.cur.endWrite()
		}
		w.cur = c
		if w.bw != nil {
			// The buffer goes back to the pool; the first write to c
			// takes one (writeBatch), so a writer without a connection,
			// or with one it never writes to, holds none.
			freeWriter(w.bw)
			w.bw = nil
		}
	}
	return c
}

// send writes f (from the bulk lane if bulk), and whatever is queued
// behind it, to p, dialing first if needed. false when p is removed or the
// Transport closed.
func (w *writer) send(f outFrame, bulk bool) bool {
	current, connect := w.current, w.connect
	if w.bulkOnly {
		current, connect = w.currentBulk, w.connectBulk
	}
	for {
		c := current()
		if c != nil {
			w.writeBatch(c, f, bulk)
			return true
		}
		if !connect() {
			if w.fallBack {
				// p's writer takes the lane from here, f first. (A copy:
				// taking f's address would put every f on the heap.)
				h := f
				w.p.handoff.Store(&h)
				w.p.bulkOwn.Store(false)
				w.t.startWriter(w.p)
				w.p.signal()
				return false
			}
			w.t.st.drops.Add(1)
			return false
		}
	}
}

// connect waits for a connection to p: it dials p's address (after the
// backoff delay if the last dial failed) or, without an address, waits for p
// to connect. false when p is removed or the Transport closed.
func (w *writer) connect() bool {
	t, p := w.t, w.p
	t.mu.Lock()
	addr, closedByPeer, redial := p.addr, p.closedByPeer, p.connected
	t.mu.Unlock()
	if addr == "" {
		select {
		case <-p.ctx.Done():
			return false
		case <-p.changed:
			return true
		}
	}
	if w.failures > 0 || closedByPeer {
		// After a clean close by the peer, wait one backoff step too: the
		// peer is restarting, or it keeps a duplicate connection that is
		// about to reach us.
		timer := time.NewTimer(t.backoff(max(w.failures, 1)))
		select {
		case <-p.ctx.Done():
			timer.Stop()
			return false
		case <-p.changed: // a new address or an accepted connection
			timer.Stop()
			return true
		case <-timer.C:
		}
	}
	t.st.dials.Add(1)
	p.dialing.Store(true)
	c, err := t.dial(p, addr, false)
	if err != nil {
		p.dialing.Store(false)
		if p.ctx.Err() != nil {
			return false
		}
		w.failures++
		t.st.dialFailures.Add(1)
		lvl := t.log.Debug
		if w.failures == 1 {
			lvl = t.log.Warn
		}
		lvl("tcp: cannot reach peer", "peer", string(p.id), "remote", addr, "err", err, "failures", w.failures)
		return true
	}
	w.failures = 0
	if redial {
		t.st.reconnects.Add(1)
	}
	t.attachOutbound(p, c)
	p.dialing.Store(false)
	return true
}

// writeBatch writes f and then every frame already queued (up to
// maxBatchBytes, and maxBulkBatchBytes of bulk frames), urgent ones first
// (see next), into the buffer and flushes once: a busy peer gets few, large
// writes; an idle one gets each frame at once. bulk tells f's lane.
func (w *writer) writeBatch(c *conn, f outFrame, bulk bool) {
	if w.bw == nil {
		w.bw = newWriter(c.nc)
	}
	t, p, bw := w.t, w.p, w.bw
	if w.bulkOnly {
		// Odd until the batch is in the kernel, from before the first
		// bulkLen decrement: BulkQueueLen must not take the lane for empty
		// and the connection for flushed while these frames go out.
		p.bulkGen.Add(1)
		defer p.bulkGen.Add(1)
	} else if bulk && p.queue.len() > 0 {
		// Urgent frames came while f waited (for a connection): they go
		// first.
		w.held, w.hasHeld = f, true
		f, bulk, _ = w.next()
	}
	now := time.Now()
	w.deadline(c, now)
	c.lastUsed.Store(now.UnixNano())
	frames, bulks, bytes, bulkBytes := 0, 0, 0, 0
	var err error
	for {
		out := f
		if bulk {
			p.bulkLen.Add(-1)
		}
		if c.tx != nil {
			plain := f.head
			if len(f.body) > 0 {
				// Sealing takes one slice: join the parts in a buffer
				// this writer reuses.
				w.joined = append(append(w.joined[:0], f.head...), f.body...)
				plain = w.joined
			}
			if w.sealed, err = c.tx.seal(w.sealed[:0], plain); err != nil {
				frames++ // lost with the connection
				break
			}
			out = outFrame{head: w.sealed}
		}
		binary.BigEndian.PutUint32(w.hdr[:], uint32(out.len()))
		bw.Write(w.hdr[:])
		bw.Write(out.head)
		bw.Write(out.body)
		frames++
		bytes += len(w.hdr) + out.len()
		if bulk {
			bulks++
			bulkBytes += len(w.hdr) + out.len()
		}
		if bytes >= maxBatchBytes || bulkBytes >= maxBulkBatchBytes || t.opts.flushEach {
			break
		}
		var ok bool
		if f, bulk, ok = w.next(); !ok {
			break
		}
	}
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		t.st.drops.Add(uint64(frames))
		w.cur = nil
		freeWriter(w.bw)
		w.bw = nil
		if c.bulk {
			p.bulkConn.Store(nil)
		} else {
			t.detach(c)
		}
		c.close()
		if t.ctx.Err() == nil && p.ctx.Err() == nil {
			t.log.Warn("tcp: write failed, closing connection", "peer", string(p.id), "remote", c.remote,
				"err", err, "lost_frames", frames)
		}
		return
	}
	w.failures = 0
	p.written.Add(uint64(frames))
	t.st.framesOut.Add(uint64(frames))
	t.st.bulkFramesOut.Add(uint64(bulks))
	t.st.bytesOut.Add(uint64(bytes))
}

// bulkWriteLoop is the writer of p's bulk lane when it has a connection of
// its own (WithBulkConnection): it dials the bulk connection with the first
// frame, writes batches of bulk frames to it, closes it after the idle
// timeout without frames and then ends (the next bulk frame starts it
// again: startBulkWriter). If p refuses bulk connections it hands the lane
// back to p's writer (peer.bulkOwn) and ends.
func (t *Transport) bulkWriteLoop(p *peer) {
	defer t.wg.Done()
	w := &writer{t: t, p: p, bulkOnly: true}
	defer w.dropConn()
	var idle *time.Timer
	var idleC <-chan time.Time
	for p.bulkOwn.Load() {
		f, _, ok := w.next()
		if !ok {
			if w.cur == nil && w.exit() {
				return
			}
			if w.cur != nil && t.opts.idleTimeout > 0 && idleC == nil {
				if idle == nil {
					idle = time.NewTimer(t.opts.idleTimeout)
				} else {
					idle.Reset(t.opts.idleTimeout)
				}
				idleC = idle.C
			}
			select {
			case <-p.ctx.Done():
				return
			case <-p.bulkReady:
				continue
			case <-idleC:
				idleC = nil
				if w.cur != nil {
					t.st.evicted.Add(1)
					t.log.Debug("tcp: closing an idle bulk connection", "peer", string(p.id), "remote", w.cur.remote,
						"idle_timeout", t.opts.idleTimeout)
				}
				w.dropConn()
				continue
			}
		}
		if idleC != nil {
			idle.Stop() // no stale tick after Stop (Go 1.23 timers)
			idleC = nil
		}
		if !w.send(f, true) {
			if !w.fallBack && p.ctx.Err() == nil {
				p.bulkLen.Add(-1) // f was dropped; bulkLen counted it
			}
			return
		}
	}
}

// dropConn ends the bulk writer's connection, if any: the acceptor reads
// what was written, then the end.
func (w *writer) dropConn() {
	if w.cur != nil {
		w.cur.close()
		w.cur = nil
		w.p.bulkConn.Store(nil)
	}
	if w.bw != nil {
		freeWriter(w.bw)
		w.bw = nil
	}
}

// currentBulk returns the bulk writer's connection, nil if it has none or
// it ended (the acceptor closed it, after its idle timeout or for good).
func (w *writer) currentBulk() *conn {
	if w.cur != nil && w.cur.dead.Load() {
		w.dropConn()
	}
	return w.cur
}

// connectBulk dials p's bulk connection (after the backoff delay if the
// last dial failed). After two failures in a row while p's own connection
// is up, p is taken for a peer that refuses bulk connections: it sets
// fallBack and returns false, and send hands the lane, the frame in hand
// first, back to p's writer. false also when p is removed or the Transport
// closed.
func (w *writer) connectBulk() bool {
	t, p := w.t, w.p
	t.mu.Lock()
	addr, connected := p.addr, p.conn != nil
	t.mu.Unlock()
	if addr == "" || (w.failures >= 2 && connected) {
		w.fallBack = true // send hands the lane to p's writer
		t.st.bulkFallbacks.Add(1)
		t.log.Info("tcp: no bulk connection to the peer; its bulk frames share its connection",
			"peer", string(p.id), "remote", addr, "failures", w.failures)
		return false
	}
	if w.failures > 0 {
		timer := time.NewTimer(t.backoff(w.failures))
		select {
		case <-p.ctx.Done():
			timer.Stop()
			return false
		case <-timer.C:
		}
	}
	t.st.dials.Add(1)
	t.st.bulkDials.Add(1)
	c, err := t.dial(p, addr, true)
	if err != nil {
		if p.ctx.Err() != nil {
			return false
		}
		w.failures++
		t.st.dialFailures.Add(1)
		t.log.Debug("tcp: cannot open a bulk connection", "peer", string(p.id), "remote", addr, "err", err,
			"failures", w.failures)
		return true
	}
	if !t.attachBulkOutbound(p, c) {
		return false
	}
	w.failures = 0
	w.cur = c
	p.bulkConn.Store(c)
	return true
}
