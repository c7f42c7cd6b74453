package tcp

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	"net"
	"syscall"
	"testing"
	"time"
)

// Both lanes arrive whole and each in order when the bulk lane has a
// connection of its own, with and without a keyring and TLS; the bulk
// connection is dialed once and carries frames one way.
func TestBulkLaneHasItsOwnConnection(t *testing.T) {
	ca := newCA(t, "ca")
	k := newKeyring(testKey(1, 32))
	for _, tc := range []struct {
		name string
		opts func(id string) []Option
	}{
		{"plain", func(string) []Option { return nil }},
		{"keyring", func(string) []Option { return []Option{WithKeyring(k)} }},
		{"keyring and tls", func(id string) []Option {
			return []Option{WithKeyring(k), mtls(ca, ca.issue(t, id)), WithPeerIDFromCert(certCN)}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newTransport(t, "a", tc.opts("a")...)
			b := newTransport(t, "b", tc.opts("b")...)
			a.SetPeerAddr("b", b.Addr().String())
			b.SetPeerAddr("a", a.Addr().String())
			connect(t, a, b)

			const n = 300
			for i := range n {
				retrySend(t, a.SendBulk, "b", testFrame(uint64(1000+i), 2000), 10*time.Second)
				if i%3 == 0 {
					sendRetry(t, a, "b", testFrame(uint64(1+i), 100), 10*time.Second)
				}
			}
			urgent, bulk := uint64(1), uint64(1000)
			for _, f := range recvN(t, b, n+n/3, 30*time.Second) {
				if f.From != "a" {
					t.Fatalf("frame from %q", f.From)
				}
				switch seq := frameSeq(f.Data); {
				case seq >= 1000:
					if seq != bulk {
						t.Fatalf("bulk frame %d after %d", seq, bulk-1)
					}
					bulk++
				default:
					if seq != urgent {
						t.Fatalf("urgent frame %d after %d", seq, urgent-3)
					}
					urgent += 3
				}
			}
			// The counters follow the writes.
			eventually(t, 30*time.Second, "a to count its frames", func() bool { return a.Stats().BulkFramesOut == n })
			sa, sb := a.Stats(), b.Stats()
			if sa.BulkDials != 1 || sa.BulkFallbacks != 0 || sa.BulkFramesOut != n {
				t.Errorf("a: %d bulk dials, %d fallbacks, %d bulk frames out; want 1, 0, %d", sa.BulkDials, sa.BulkFallbacks, sa.BulkFramesOut, n)
			}
			if sb.Conns != 2 || sb.BadFrames != 0 || sb.HandshakeFailures != 0 {
				t.Errorf("b: %d connections, %d bad frames, %d handshake failures; want 2, 0, 0", sb.Conns, sb.BadFrames, sb.HandshakeFailures)
			}
			// b answers over its own connection to a, not the bulk one.
			sendRetry(t, b, "a", testFrame(7, 100), 10*time.Second)
			if f := recvN(t, a, 1, 30*time.Second)[0]; frameSeq(f.Data) != 7 {
				t.Fatalf("a received seq %d", frameSeq(f.Data))
			}
			if s := b.Stats(); s.Dials != 0 {
				t.Errorf("b dialed %d times; the connection a dialed carries b's frames", s.Dials)
			}
		})
	}
}

// fakePeer is a hand-driven peer "b" that accepts a transport's
// connections: its own (main) connection is read into frames; a bulk
// connection is held unread until readBulk, or refused if refuseBulk.
type fakePeer struct {
	ln         net.Listener
	refuseBulk bool
	writeBulk  bool        // writes a byte on bulk connections after its hello
	frames     chan []byte // from the main connection
	bulkFrames chan []byte // from bulk connections, once read
	readBulk   chan struct{}
	bulkConns  chan net.Conn
}

// listenRcvbuf listens on 127.0.0.1 with the receive buffer of accepted
// connections set to n bytes (SO_RCVBUF; Linux doubles it).
func listenRcvbuf(t *testing.T, n int) net.Listener {
	t.Helper()
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, n)
		}); err != nil {
			return err
		}
		return serr
	}}
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// newFakePeer listens with small receive buffers (rcvbuf bytes), so that
// an unread connection stalls its writer soon; refuseBulk and writeBulk
// set the fields of the same names.
func newFakePeer(t *testing.T, rcvbuf int, refuseBulk, writeBulk bool) *fakePeer {
	t.Helper()
	ln := listenRcvbuf(t, rcvbuf)
	fp := &fakePeer{ln: ln, refuseBulk: refuseBulk, writeBulk: writeBulk, frames: make(chan []byte, 4096),
		bulkFrames: make(chan []byte, 4096), readBulk: make(chan struct{}), bulkConns: make(chan net.Conn, 16)}
	holdConns(t, ln, fp.serve)
	return fp
}

func (fp *fakePeer) serve(nc net.Conn) {
	br := bufio.NewReader(nc)
	h, err := readHello(br)
	if err != nil {
		return
	}
	if h.bulk && fp.refuseBulk {
		nc.Close() // as a version without bulk connections does
		return
	}
	if _, err := nc.Write(appendHello(nil, 1, "b")); err != nil {
		return
	}
	if h.bulk && fp.writeBulk {
		nc.Write([]byte{0})
	}
	out := fp.frames
	if h.bulk {
		fp.bulkConns <- nc
		<-fp.readBulk
		out = fp.bulkFrames
	}
	var hdr [4]byte
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return
		}
		f := make([]byte, binary.BigEndian.Uint32(hdr[:]))
		if _, err := io.ReadFull(br, f); err != nil {
			return
		}
		out <- f
	}
}

func (fp *fakePeer) next(t *testing.T, ch chan []byte) []byte {
	t.Helper()
	select {
	case f := <-ch:
		return f
	case <-time.After(30 * time.Second):
		t.Fatal("no frame within 30 s")
		return nil
	}
}

// A bulk connection that does not move (a peer that stopped reading it,
// a link full of a large message) delays no frame of the urgent lane: they
// go on the peer's own connection. And BulkQueueLen counts what the
// kernel holds unacknowledged on the bulk connection, so that the node
// keeps an origin's copies in the bulk lane while its parts are still on
// their way.
func TestStalledBulkConnectionDelaysNoUrgentFrame(t *testing.T) {
	fp := newFakePeer(t, 64<<10, false, false)
	a := newTransport(t, "a", WithSocketBuffer(256<<10))
	a.SetPeerAddr("b", fp.ln.Addr().String())

	if err := a.Send("b", testFrame(1, 100)); err != nil {
		t.Fatal(err)
	}
	if f := fp.next(t, fp.frames); frameSeq(f) != 1 {
		t.Fatalf("seq %d", frameSeq(f))
	}
	// Bulk frames fill the bulk connection's buffers and then its lane.
	const bulk, size = 200, 32 << 10
	for i := range bulk {
		if err := a.SendBulk("b", testFrame(uint64(100+i), size)); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-fp.bulkConns: // accepted, and not read
	case <-time.After(30 * time.Second):
		t.Fatal("no bulk connection within 30 s")
	}
	p := a.lookup("b")
	eventually(t, 30*time.Second, "the bulk connection to stall", func() bool {
		q := a.BulkQueueLen("b")
		return q > 0 && q < bulk-8 // the writer took frames, the rest waits
	})
	for i := range 50 {
		if err := a.Send("b", testFrame(uint64(2+i), 100)); err != nil {
			t.Fatal(err)
		}
		if f := fp.next(t, fp.frames); frameSeq(f) != uint64(2+i) {
			t.Fatalf("urgent frame %d arrived as %d", 2+i, frameSeq(f))
		}
	}
	if q := a.BulkQueueLen("b"); q == 0 {
		t.Fatal("BulkQueueLen 0 while the bulk connection is stalled")
	}
	// The peer reads the bulk connection again: every bulk frame arrives,
	// in order, and only then is the lane empty.
	close(fp.readBulk)
	for i := range bulk {
		if f := fp.next(t, fp.bulkFrames); frameSeq(f) != uint64(100+i) {
			t.Fatalf("bulk frame %d arrived as %d", 100+i, frameSeq(f))
		}
	}
	eventually(t, 30*time.Second, "the bulk lane to be empty", func() bool { return a.BulkQueueLen("b") == 0 })
	if p.bulkLen.Load() != 0 {
		t.Fatalf("bulkLen %d after every frame arrived", p.bulkLen.Load())
	}
}

// Frames written into the kernel but not acknowledged by the peer still
// count in BulkQueueLen: with one connection per peer they were ahead of
// any urgent frame in the byte stream; with a bulk connection, an urgent
// frame overtakes them.
func TestBulkQueueLenCountsUnacknowledgedBytes(t *testing.T) {
	fp := newFakePeer(t, 64<<10, false, false)
	// a's send buffer holds at least 416 KiB (twice net.core.wmem_max's
	// smallest default); b's receive buffer 128 KiB.
	a := newTransport(t, "a", WithSocketBuffer(1<<20))
	a.SetPeerAddr("b", fp.ln.Addr().String())
	const bulk, size = 8, 32 << 10
	for i := range bulk {
		if err := a.SendBulk("b", testFrame(uint64(100+i), size)); err != nil {
			t.Fatal(err)
		}
	}
	p := a.lookup("b")
	eventually(t, 30*time.Second, "every bulk frame to be written into the kernel", func() bool {
		return p.bulkLen.Load() == 0 && p.bulkGen.Load()%2 == 0 && p.bulkGen.Load() > 0
	})
	if q := a.BulkQueueLen("b"); q != 1 {
		t.Fatalf("BulkQueueLen %d with unacknowledged bytes on the bulk connection; want 1", q)
	}
	close(fp.readBulk)
	for range bulk {
		fp.next(t, fp.bulkFrames)
	}
	eventually(t, 30*time.Second, "the peer to acknowledge every byte", func() bool { return a.BulkQueueLen("b") == 0 })
}

// A peer that refuses bulk connections (a version without them) gets its
// bulk frames over its own connection, none lost and in order.
func TestBulkFallsBackToThePeersConnection(t *testing.T) {
	fp := newFakePeer(t, 1<<20, true, false)
	a := newTransport(t, "a", WithBackoff(time.Millisecond, 10*time.Millisecond))
	a.SetPeerAddr("b", fp.ln.Addr().String())
	if err := a.Send("b", testFrame(1, 100)); err != nil {
		t.Fatal(err)
	}
	fp.next(t, fp.frames)
	const bulk = 50
	for i := range bulk {
		if err := a.SendBulk("b", testFrame(uint64(100+i), 1000)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range bulk {
		if f := fp.next(t, fp.frames); frameSeq(f) != uint64(100+i) {
			t.Fatalf("bulk frame %d arrived as %d", 100+i, frameSeq(f))
		}
	}
	s := a.Stats()
	if s.BulkFallbacks != 1 || s.Drops != 0 || s.BulkDials != 2 {
		t.Errorf("%d fallbacks, %d drops, %d bulk dials; want 1, 0, 2", s.BulkFallbacks, s.Drops, s.BulkDials)
	}
	if q := a.BulkQueueLen("b"); q != 0 {
		t.Errorf("BulkQueueLen %d after every frame was read", q)
	}
}

// An idle bulk connection is closed after the idle timeout (by its dialer)
// and dialed again by the next bulk frame; no frame is lost on the way.
func TestIdleBulkConnectionClosesAndReturns(t *testing.T) {
	a := newTransport(t, "a", WithIdleTimeout(50*time.Millisecond))
	b := newTransport(t, "b")
	a.SetPeerAddr("b", b.Addr().String())
	b.SetPeerAddr("a", a.Addr().String())
	for round := range 3 {
		for i := range 20 {
			retrySend(t, a.SendBulk, "b", testFrame(uint64(100*round+i), 1000), 10*time.Second)
		}
		for i, f := range recvN(t, b, 20, 30*time.Second) {
			if frameSeq(f.Data) != uint64(100*round+i) {
				t.Fatalf("round %d: frame %d arrived as %d", round, i, frameSeq(f.Data))
			}
		}
		eventually(t, 30*time.Second, "the idle bulk connection to close at both ends", func() bool {
			return a.Stats().Conns == 0 && b.Stats().Conns == 0
		})
	}
	if s := a.Stats(); s.BulkDials != 3 || s.Drops != 0 {
		t.Errorf("%d bulk dials, %d drops; want 3, 0", s.BulkDials, s.Drops)
	}
}

// Bulk connections are off with WithBulkConnection(false), and a bad
// priority or TOS byte is refused.
func TestBulkConnectionOptions(t *testing.T) {
	a := newTransport(t, "a", WithBulkConnection(false))
	b := newTransport(t, "b")
	a.SetPeerAddr("b", b.Addr().String())
	retrySend(t, a.SendBulk, "b", testFrame(1, 100), 10*time.Second)
	recvN(t, b, 1, 30*time.Second)
	if s := a.Stats(); s.BulkDials != 0 || s.Dials != 1 {
		t.Errorf("%d bulk dials, %d dials; want 0, 1", s.BulkDials, s.Dials)
	}
	for _, p := range []int{-2, 7} {
		if _, err := New("x", WithBulkPriority(p)); err == nil {
			t.Errorf("WithBulkPriority(%d) accepted", p)
		}
	}
	for _, v := range []int{-2, 256} {
		if _, err := New("x", WithBulkTOS(v)); err == nil {
			t.Errorf("WithBulkTOS(%d) accepted", v)
		}
	}
}

// A peer that writes on a bulk connection (only the dialer may) has it
// closed, logged and counted as a bad frame.
func TestPeerWritingOnABulkConnectionIsCut(t *testing.T) {
	fp := newFakePeer(t, 1<<20, false, true)
	close(fp.readBulk)
	var logs logBuffer
	a := newTransport(t, "a", WithLogger(newLogger(&logs)))
	a.SetPeerAddr("b", fp.ln.Addr().String())
	if err := a.SendBulk("b", testFrame(1, 100)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the bulk connection to be cut", func() bool {
		return a.Stats().BadFrames >= 1 && logs.contains("the peer wrote on a bulk connection")
	})
}
