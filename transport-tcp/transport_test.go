package tcp

import (
	"bufio"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/core/node"
)

func TestSendReceiveBothDirections(t *testing.T) {
	a := newTransport(t, "a")
	b := newTransport(t, "b")
	a.SetPeerAddr("b", b.Addr().String())
	// b does not know a's address: it answers over the connection a dialed.
	const n = 100
	for i := range n {
		sendRetry(t, a, "b", testFrame(uint64(i), 200+i), time.Second)
	}
	for i, f := range recvN(t, b, n, 30*time.Second) {
		if f.From != "a" || frameSeq(f.Data) != uint64(i) || len(f.Data) != 200+i {
			t.Fatalf("frame %d: from %s seq %d len %d", i, f.From, frameSeq(f.Data), len(f.Data))
		}
	}
	for i := range n {
		sendRetry(t, b, "a", testFrame(uint64(i), 100), time.Second)
	}
	for i, f := range recvN(t, a, n, 30*time.Second) {
		if f.From != "b" || frameSeq(f.Data) != uint64(i) {
			t.Fatalf("reply %d: from %s seq %d", i, f.From, frameSeq(f.Data))
		}
	}
	// Writers count a batch once it is flushed: poll.
	eventually(t, 30*time.Second, "the counters to settle", func() bool { return a.Stats().FramesOut == n && b.Stats().FramesOut == n })
	sa, sb := a.Stats(), b.Stats()
	if sa.FramesOut != n || sa.FramesIn != n || sb.FramesIn != n || sb.FramesOut != n {
		t.Errorf("frame counts: a out %d in %d, b out %d in %d", sa.FramesOut, sa.FramesIn, sb.FramesOut, sb.FramesIn)
	}
	if sa.BytesOut != sb.BytesIn || sb.BytesOut != sa.BytesIn {
		t.Errorf("byte counts: a out %d, b in %d; b out %d, a in %d", sa.BytesOut, sb.BytesIn, sb.BytesOut, sa.BytesIn)
	}
	if sa.Conns != 1 || sb.Conns != 1 || sa.Dials != 1 || sb.Dials != 0 {
		t.Errorf("want one connection dialed by a: a conns %d dials %d, b conns %d dials %d", sa.Conns, sa.Dials, sb.Conns, sb.Dials)
	}
}

func TestDialOnlyTransport(t *testing.T) {
	a, err := New("a") // no listener
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if a.Addr() != nil {
		t.Fatalf("Addr of a dial-only transport: %v", a.Addr())
	}
	b := newTransport(t, "b")
	a.SetPeerAddr("b", b.Addr().String())
	sendRetry(t, a, "b", testFrame(1, 64), time.Second)
	recvN(t, b, 1, 30*time.Second)
	sendRetry(t, b, "a", testFrame(2, 64), time.Second)
	if f := recvN(t, a, 1, 30*time.Second)[0]; f.From != "b" || frameSeq(f.Data) != 2 {
		t.Fatalf("got %s/%d", f.From, frameSeq(f.Data))
	}
}

// Both peers dial each other at once, repeatedly: every frame arrives and
// each pair ends with exactly one connection.
func TestSimultaneousDialKeepsOneConnection(t *testing.T) {
	for round := range 5 {
		a := newTransport(t, core.PeerID(fmt.Sprintf("a%d", round)))
		b := newTransport(t, core.PeerID(fmt.Sprintf("b%d", round)))
		a.SetPeerAddr(b.Self(), b.Addr().String())
		b.SetPeerAddr(a.Self(), a.Addr().String())
		const n = 300
		var wg sync.WaitGroup
		for _, pair := range [][2]*Transport{{a, b}, {b, a}} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range n {
					sendRetry(t, pair[0], pair[1].Self(), testFrame(uint64(i), 512), 30*time.Second)
				}
			}()
		}
		ra := recvN(t, a, n, 30*time.Second)
		rb := recvN(t, b, n, 30*time.Second)
		wg.Wait()
		for _, got := range [][]int{seqs(ra), seqs(rb)} {
			seen := map[int]bool{}
			for _, s := range got {
				seen[s] = true
			}
			if len(seen) != n {
				t.Fatalf("round %d: %d distinct frames of %d", round, len(seen), n)
			}
		}
		eventually(t, 30*time.Second, "one connection per side", func() bool {
			sa, sb := a.Stats(), b.Stats()
			return sa.Conns == 1 && sb.Conns == 1 && sa.Handshaking == 0 && sb.Handshaking == 0
		})
		a.Close()
		b.Close()
	}
}

func seqs(fs []node.Frame) []int {
	out := make([]int, len(fs))
	for i, f := range fs {
		out[i] = int(frameSeq(f.Data))
	}
	return out
}

// A peer that stops reading fills its queue (Send then fails with
// ErrQueueFull, counted) but does not slow delivery to the others.
func TestStalledPeerDoesNotDelayOthers(t *testing.T) {
	a := newTransport(t, "a", WithSendQueue(64))
	b := newTransport(t, "b")
	// c is never read and its reader waits for room forever: TCP fills up.
	c := newTransport(t, "c", WithReceiveQueue(1), WithConnReceiveQueue(1), WithReceiveWait(time.Hour))
	a.SetPeerAddr("b", b.Addr().String())
	a.SetPeerAddr("c", c.Addr().String())

	// Stall c: push large frames until its queue stays full.
	big := 60 << 10
	eventually(t, 20*time.Second, "c's queue to fill up", func() bool {
		for range 64 {
			if err := a.Send("c", testFrame(0, big)); errors.Is(err, ErrQueueFull) {
				return true
			}
		}
		return false
	})

	// Now b gets a stream of frames while c stays stalled: 2000 more large
	// frames for c (120 MiB, far more than socket buffers hold) keep its
	// queue full.
	const n = 2000
	bigFrame := testFrame(0, big) // read-only: sharing it is fine
	start := time.Now()
	go func() {
		for i := range n {
			for a.Send("b", testFrame(uint64(i), 1024)) != nil {
				time.Sleep(100 * time.Microsecond)
			}
			a.Send("c", bigFrame) // fails once the socket buffers are full: c is stalled
		}
	}()
	got := recvN(t, b, n, 30*time.Second)
	elapsed := time.Since(start)
	for i, f := range got {
		if frameSeq(f.Data) != uint64(i) {
			t.Fatalf("frame %d has seq %d", i, frameSeq(f.Data))
		}
	}
	s := a.Stats()
	t.Logf("%d frames to b in %v while c is stalled; queue_full %d, c queue %d", n, elapsed, s.QueueFull, s.PeerQueueDepth["c"])
	if s.QueueFull < n/2 || s.PeerQueueDepth["c"] < 32 {
		t.Errorf("queue_full %d, depths %v", s.QueueFull, s.PeerQueueDepth)
	}
}

// A peer that restarts (same address, new process) is dialed again and
// receives the frames sent after it is back.
func TestRestartedPeerIsReconnected(t *testing.T) {
	a := newTransport(t, "a", WithBackoff(5*time.Millisecond, 50*time.Millisecond))
	b := newTransport(t, "b")
	addr := b.Addr().String()
	a.SetPeerAddr("b", addr)
	sendRetry(t, a, "b", testFrame(1, 100), time.Second)
	recvN(t, b, 1, 30*time.Second)

	b.Close()
	eventually(t, 30*time.Second, "a to notice b's restart", func() bool { return a.Stats().ConnectedPeers == 0 })
	// Frames sent while b is down go nowhere (dials fail) or wait in the queue.
	for i := range 5 {
		a.Send("b", testFrame(uint64(100+i), 100))
	}
	eventually(t, 30*time.Second, "a dial to fail", func() bool { return a.Stats().DialFailures >= 2 })

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s again: %v", addr, err)
	}
	b2 := newTransport(t, "b", WithListener(ln))
	// Send until the first frame arrives: the reconnection is done.
	eventually(t, 10*time.Second, "a frame to reach the restarted b", func() bool {
		a.Send("b", testFrame(999, 100))
		select {
		case <-b2.Receive():
			return true
		default:
			return false
		}
	})
	drain(b2)
	const n = 50
	for i := range n {
		sendRetry(t, a, "b", testFrame(uint64(1000+i), 100), time.Second)
	}
	got := recvAfter(t, b2, 1000, n, 30*time.Second)
	for i, s := range got {
		if s != 1000+i {
			t.Fatalf("frame %d after restart has seq %d", i, s)
		}
	}
	if s := a.Stats(); s.Reconnects < 1 || s.DialFailures < 1 {
		t.Errorf("reconnects %d, dial failures %d", s.Reconnects, s.DialFailures)
	}
}

// drain discards the frames already received.
func drain(tr *Transport) {
	for {
		select {
		case <-tr.Receive():
		default:
			return
		}
	}
}

// recvAfter receives frames until n with seq >= from arrived, ignoring older
// ones, and returns their seqs.
func recvAfter(t *testing.T, tr *Transport, from uint64, n int, timeout time.Duration) []int {
	t.Helper()
	var out []int
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for len(out) < n {
		select {
		case f := <-tr.Receive():
			if s := frameSeq(f.Data); s >= from {
				out = append(out, int(s))
			}
		case <-timer.C:
			t.Fatalf("got %d of %d frames", len(out), n)
		}
	}
	return out
}

// A peer removed mid-stream is dropped cleanly: Send fails, its connection
// closes on both ends, the others keep receiving.
func TestRemovePeerMidStream(t *testing.T) {
	a := newTransport(t, "a")
	b := newTransport(t, "b")
	c := newTransport(t, "c")
	a.SetPeerAddr("b", b.Addr().String())
	a.SetPeerAddr("c", c.Addr().String())

	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // b's consumer
		defer close(done)
		for {
			select {
			case <-b.Receive():
			case <-stop:
				return
			}
		}
	}()
	for i := range 200 {
		sendRetry(t, a, "c", testFrame(uint64(i), 1024), time.Second)
		a.Send("b", testFrame(uint64(i), 1024))
		if i == 100 {
			a.RemovePeer("b")
		}
	}
	recvN(t, c, 200, 30*time.Second)
	close(stop)
	<-done

	if err := a.Send("b", testFrame(0, 10)); !errors.Is(err, ErrUnknownPeer) {
		t.Fatalf("Send to a removed peer: %v", err)
	}
	eventually(t, 30*time.Second, "the connection to b to close on both ends", func() bool {
		sa, sb := a.Stats(), b.Stats()
		return sa.Peers == 1 && sa.Conns == 1 && sb.Peers == 0 && sb.Conns == 0
	})
	// c still gets frames.
	sendRetry(t, a, "c", testFrame(7, 10), time.Second)
	recvN(t, c, 1, 30*time.Second)
}

// One port: connections that do not start with the plumtree magic (or,
// with TLS, a TLS record) go to the stream handler, first byte included.
func TestStreamHandlerSharesThePort(t *testing.T) {
	ca := newCA(t, "ca")
	for _, tc := range []struct {
		name  string
		aOpts []Option
		bOpts []Option
	}{
		{"plain", nil, nil},
		{"tls", []Option{mtls(ca, ca.issue(t, "a"))}, []Option{mtls(ca, ca.issue(t, "b"))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := make(chan []byte, 1)
			var handlers sync.WaitGroup
			defer handlers.Wait()
			a := newTransport(t, "a", append(tc.aOpts, WithStreamHandler(func(c net.Conn) {
				handlers.Add(1)
				go func() {
					defer handlers.Done()
					defer c.Close()
					b, _ := io.ReadAll(c)
					got <- b
				}()
			}))...)
			b := newTransport(t, "b", tc.bOpts...)
			b.SetPeerAddr("a", a.Addr().String())

			raw, err := net.Dial("tcp", a.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			msg := []byte{0x01, 'p', 'i', 'n', 'g'} // a memberlist-like message: type byte 1 first
			raw.Write(msg)
			raw.(*net.TCPConn).CloseWrite()
			select {
			case b := <-got:
				if string(b) != string(msg) {
					t.Fatalf("handler read %q, want %q", b, msg)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("stream handler not called")
			}
			// Plumtree traffic on the same port.
			sendRetry(t, b, "a", testFrame(3, 100), time.Second)
			if f := recvN(t, a, 1, 30*time.Second)[0]; f.From != "b" {
				t.Fatalf("from %s", f.From)
			}
			if s := a.Stats(); s.StreamConns != 1 || s.HandshakeFailures != 0 {
				t.Errorf("stream conns %d, handshake failures %d", s.StreamConns, s.HandshakeFailures)
			}
		})
	}
}

func TestSendErrors(t *testing.T) {
	a := newTransport(t, "a", WithMaxFrameSize(1000))
	b := newTransport(t, "b")
	a.SetPeerAddr("b", b.Addr().String())
	if err := a.Send("nobody", testFrame(1, 10)); !errors.Is(err, ErrUnknownPeer) {
		t.Errorf("unknown peer: %v", err)
	}
	if err := a.Send("b", testFrame(1, 1001)); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("too large: %v", err)
	}
	if err := a.Send("b", testFrame(1, 1000)); err != nil {
		t.Errorf("max size: %v", err)
	}
	recvN(t, b, 1, 30*time.Second)
	a.SetPeerAddr("a", "127.0.0.1:1") // self: ignored
	if err := a.Send("a", testFrame(1, 10)); !errors.Is(err, ErrUnknownPeer) {
		t.Errorf("self: %v", err)
	}
	a.Close()
	if err := a.Send("b", testFrame(1, 10)); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
	if _, ok := <-a.Receive(); ok {
		t.Error("Receive not closed")
	}
	if err := a.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if s := a.Stats(); s.Drops != 4 || s.TooLarge != 1 {
		t.Errorf("drops %d, too large %d", s.Drops, s.TooLarge)
	}
}

func TestOptionValidation(t *testing.T) {
	ca := newCA(t, "ca")
	cert := ca.issue(t, "x")
	for _, tc := range []struct {
		name string
		id   core.PeerID
		opts []Option
	}{
		{"empty id", "", nil},
		{"long id", core.PeerID(make([]byte, core.MaxPeerIDLen+1)), nil},
		{"send queue", "x", []Option{WithSendQueue(0)}},
		{"bulk queue", "x", []Option{WithBulkQueue(0)}},
		{"socket buffer", "x", []Option{WithSocketBuffer(-1)}},
		{"receive queue", "x", []Option{WithReceiveQueue(-1)}},
		{"max conns", "x", []Option{WithMaxConns(0)}},
		{"frame size", "x", []Option{WithMaxFrameSize(2)}},
		{"dial timeout", "x", []Option{WithDialTimeout(0)}},
		{"handshake timeout", "x", []Option{WithHandshakeTimeout(-1)}},
		{"read timeout", "x", []Option{WithReadTimeout(0)}},
		{"write timeout", "x", []Option{WithWriteTimeout(0)}},
		{"backoff", "x", []Option{WithBackoff(time.Second, time.Millisecond)}},
		{"two listeners", "x", []Option{WithListenAddr("127.0.0.1:0"), WithListener(&net.TCPListener{})}},
		{"half tls", "x", []Option{WithTLS(nil, &tls.Config{})}},
		{"cert binding without tls", "x", []Option{WithPeerIDFromCert(certCN)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := New(tc.id, tc.opts...)
			if !errors.Is(err, ErrInvalidOption) {
				if tr != nil {
					tr.Close()
				}
				t.Fatalf("New: %v, want ErrInvalidOption", err)
			}
		})
	}
	tr, err := New("x", WithListenAddr("127.0.0.1:0"), mtls(ca, cert), WithPeerIDFromCert(certCN))
	if err != nil {
		t.Fatal(err)
	}
	tr.Close()
}

// rawPeer is a hand-driven peer connection to a transport.
type rawPeer struct {
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, addr string, id core.PeerID, inc uint64) *rawPeer {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write(appendHello(nil, inc, id))
	r := &rawPeer{c: c, br: bufio.NewReader(c)}
	if _, err := readHello(r.br); err != nil {
		t.Fatalf("hello from the transport: %v", err)
	}
	return r
}

// readFrame reads one length-prefixed frame; io.EOF when the transport
// closed its side.
func (r *rawPeer) readFrame() ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r.br, hdr[:]); err != nil {
		return nil, err
	}
	f := make([]byte, binary.BigEndian.Uint32(hdr[:]))
	_, err := io.ReadFull(r.br, f)
	return f, err
}

// The rules that pick one connection per peer: an unproven hello with a new
// incarnation does not replace a live connection (a restarted peer's old
// connection ends with its process, and then the new incarnation is
// accepted; proven hellos replace at once, see TestKeyringStrangerCannotCloseLink
// and TestKeyringRestartedPeerReplacesConnection); between two connections
// of the same incarnation dialed by the same peer the newer wins, and the
// older is half-closed but still read.
func TestConnectionReplacementRules(t *testing.T) {
	a := newTransport(t, "a")
	addr := a.Addr().String()
	old := dialRaw(t, addr, "b", 1)
	eventually(t, 30*time.Second, "the first connection", func() bool { return a.Stats().ConnectedPeers == 1 })

	// A stranger claims b's id with a new incarnation: refused; b keeps its
	// connection.
	stranger := dialRaw(t, addr, "b", 99)
	if _, err := stranger.readFrame(); err == nil {
		t.Fatal("unproven new incarnation accepted")
	}
	sendRetry(t, a, "b", testFrame(0, 50), time.Second)
	if f, err := old.readFrame(); err != nil || frameSeq(f) != 0 {
		t.Fatalf("frame on b's connection after the stranger: %v", err)
	}
	if s := a.Stats(); s.HandshakeFailures != 1 || s.Reconnects != 0 || s.Conns != 1 {
		t.Errorf("after the stranger: %+v", s)
	}

	// b restarted: its old connection ended with its process, and the new
	// incarnation is accepted.
	old.c.Close()
	eventually(t, 30*time.Second, "the old connection to end", func() bool { return a.Stats().ConnectedPeers == 0 })
	cur := dialRaw(t, addr, "b", 2)
	eventually(t, 30*time.Second, "the new connection", func() bool { return a.Stats().ConnectedPeers == 1 })
	sendRetry(t, a, "b", testFrame(1, 50), time.Second)
	if f, err := cur.readFrame(); err != nil || frameSeq(f) != 1 {
		t.Fatalf("frame on the new connection: %v", err)
	}

	// Same incarnation, dialed again by b: the newer wins; the older gets
	// EOF but what b still sends on it arrives.
	newer := dialRaw(t, addr, "b", 2)
	if _, err := cur.readFrame(); err != io.EOF {
		t.Fatalf("older connection: %v, want EOF", err)
	}
	cur.c.Write(lengthPrefixed(testFrame(2, 50)))
	if f := recvN(t, a, 1, 30*time.Second)[0]; frameSeq(f.Data) != 2 || f.From != "b" {
		t.Fatalf("frame on the retired connection: %s/%d", f.From, frameSeq(f.Data))
	}
	cur.c.(*net.TCPConn).CloseWrite()
	sendRetry(t, a, "b", testFrame(3, 50), time.Second)
	if f, err := newer.readFrame(); err != nil || frameSeq(f) != 3 {
		t.Fatalf("frame on the newer connection: %v", err)
	}
	eventually(t, 30*time.Second, "the retired connection to close", func() bool {
		s := a.Stats()
		return s.Conns == 1 && s.ConnectedPeers == 1
	})
}
