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
}

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
			// A lane is nil (never ready) until its first frame; the
			// Send that makes it signals changed, and the next round
			// waits on it too.
			select {
			case <-p.ctx.Done():
				return
			case <-p.changed:
				w.current()
				continue
			case f = <-p.queue.get():
			case f = <-p.bulk.get():
				// An urgent frame may have come at the same moment:
				// next takes it first.
				w.held, w.hasHeld = f, true
				continue
			}
		}
		if !w.send(f, bulk) {
			return
		}
	}
}

// next returns the frame to write next without waiting: an urgent one if
// any is queued, else the held bulk frame, else a bulk one. ok is false
// when both lanes are empty.
func (w *writer) next() (f outFrame, bulk, ok bool) {
	select {
	case f = <-w.p.queue.get():
		return f, false, true
	default:
	}
	if w.hasHeld {
		f, w.held, w.hasHeld = w.held, outFrame{}, false
		return f, true, true
	}
	select {
	case f = <-w.p.bulk.get():
		return f, true, true
	default:
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
	for {
		c := w.current()
		if c != nil {
			w.writeBatch(c, f, bulk)
			return true
		}
		if !w.connect() {
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
	c, err := t.dial(p, addr)
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
	if bulk && len(p.queue.get()) > 0 {
		// Urgent frames came while f waited (for a connection): they go
		// first.
		w.held, w.hasHeld = f, true
		f, bulk, _ = w.next()
	}
	now := time.Now()
	c.nc.SetWriteDeadline(now.Add(t.opts.writeTimeout))
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
		t.detach(c)
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
