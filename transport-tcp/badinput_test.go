package tcp

import (
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core/wire"
)

// Short timeouts so that the stalling cases end quickly.
var badInputOpts = []Option{
	WithHandshakeTimeout(300 * time.Millisecond),
	WithReadTimeout(300 * time.Millisecond),
}

// badInputEnv is a node a under attack and a good peer b that keeps sending
// to it.
type badInputEnv struct {
	a, b *Transport
	logs *logBuffer
	seq  uint64
}

func newBadInputEnv(t *testing.T, aOpts, bOpts []Option) *badInputEnv {
	logs := &logBuffer{}
	a := newTransport(t, "a", append(append([]Option{WithLogger(newLogger(logs))}, badInputOpts...), aOpts...)...)
	b := newTransport(t, "b", bOpts...)
	b.SetPeerAddr("a", a.Addr().String())
	e := &badInputEnv{a: a, b: b, logs: logs}
	e.goodTraffic(t)
	return e
}

// goodTraffic sends frames from b to a and checks they all arrive in order.
func (e *badInputEnv) goodTraffic(t *testing.T) {
	t.Helper()
	const n = 20
	first := e.seq
	for range n {
		sendRetry(t, e.b, "a", testFrame(e.seq, 1024), time.Second)
		e.seq++
	}
	for i, f := range recvN(t, e.a, n, 30*time.Second) {
		if f.From != "b" || frameSeq(f.Data) != first+uint64(i) {
			t.Fatalf("good frame %d: from %s seq %d", i, f.From, frameSeq(f.Data))
		}
	}
}

// expectBad runs attack against a, checks that a closes the connection,
// counts it and logs why, that b keeps delivering meanwhile and afterwards,
// and that memory stays bounded.
func (e *badInputEnv) expectBad(t *testing.T, attack func(t *testing.T) (closed <-chan error), counter func(Stats) uint64, reason string) {
	t.Helper()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	closed := attack(t)
	e.goodTraffic(t) // while the attack is on
	select {
	case err := <-closed:
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("a did not close the bad connection: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("bad connection not closed")
	}
	eventually(t, 30*time.Second, "the bad connection to be counted", func() bool { return counter(e.a.Stats()) == 1 })
	deadline := time.Now().Add(30 * time.Second)
	for !(e.logs.contains("tcp: closing bad connection") && e.logs.contains(reason)) {
		if time.Now().After(deadline) {
			t.Fatalf("no log line with %q in:\n%s", reason, e.logs)
		}
		time.Sleep(5 * time.Millisecond)
	}
	e.goodTraffic(t)
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if grown := after.TotalAlloc - before.TotalAlloc; grown > 32<<20 {
		t.Errorf("allocated %d MiB during the attack", grown>>20)
	}
	eventually(t, 30*time.Second, "a to be left with b's connection only", func() bool {
		s := e.a.Stats()
		return s.Peers == 1 && s.Conns == 1 && s.Handshaking == 0
	})
}

// rawAttack dials a, sends hello and bytes (a's answer is not read), and reports
// how the connection ended. With silent the attacker then sends nothing
// more but keeps the connection open; otherwise it half-closes.
func rawAttack(addr string, hello, bytes []byte, silent bool) func(t *testing.T) <-chan error {
	return func(t *testing.T) <-chan error {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.Write(append(append([]byte(nil), hello...), bytes...))
		if !silent {
			c.(*net.TCPConn).CloseWrite()
		}
		closed := make(chan error, 1)
		go func() {
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, err := io.Copy(io.Discard, c)
			closed <- err
		}()
		return closed
	}
}

func handshakeFailures(s Stats) uint64 { return s.HandshakeFailures }
func badFrames(s Stats) uint64         { return s.BadFrames }

func TestBadInput(t *testing.T) {
	hello := appendHello(nil, 42, "mallory")
	frame := func(b ...byte) []byte { return lengthPrefixed(append(b, make([]byte, 20)...)) }
	wrongVersionHello := append([]byte(nil), hello...)
	wrongVersionHello[1] = wire.Version + 1
	truncated := lengthPrefixed(testFrame(1, 1000))[:500]
	for _, tc := range []struct {
		name    string
		hello   []byte
		bytes   []byte
		silent  bool
		counter func(Stats) uint64
		reason  string
	}{
		{"garbage bytes instead of a hello", nil, []byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), false,
			handshakeFailures, "first byte 0x47 is not a plumtree hello"},
		{"garbage bytes after the hello", hello, []byte("\xee\xee\xee\xee\xee\xee\xee\xee garbage"), false,
			badFrames, "exceeds the maximum frame size"},
		{"wrong version in the hello", wrongVersionHello, nil, false,
			handshakeFailures, fmt.Sprintf("unsupported version %d", wire.Version+1)},
		{"wrong magic", hello, frame(0x42, wire.Version, 1), false,
			badFrames, "bad magic"},
		{"wrong version", hello, frame(wire.Magic, 9, 1), false,
			badFrames, "unsupported version"},
		{"unknown message type", hello, frame(wire.Magic, wire.Version, 77), false,
			badFrames, "unknown message type"},
		{"oversized length prefix", hello, []byte{0xff, 0xff, 0xff, 0xf0, wire.Magic, wire.Version, 1}, true,
			badFrames, "length prefix 4294967280 exceeds the maximum frame size"},
		{"undersized length prefix", hello, []byte{0, 0, 0, 1, wire.Magic}, false,
			badFrames, "length prefix 1 is shorter than a frame header"},
		{"truncated frame, then close", hello, truncated, false,
			badFrames, "truncated frame: frame of 1000 bytes cut after 496, then the connection closed"},
		{"truncated frame, then silence", hello, truncated, true,
			badFrames, "then nothing within the read timeout"},
		{"truncated length prefix, then silence", hello, []byte{0, 0}, true,
			badFrames, "length prefix cut after 2 bytes"},
		{"connects and never sends", nil, nil, true,
			handshakeFailures, "hello: not received within the handshake timeout"},
		{"half a hello, then silence", hello[:5], nil, true,
			handshakeFailures, "hello: not received within the handshake timeout"},
		{"half a hello, then close", hello[:5], nil, false,
			handshakeFailures, "hello: connection closed before a complete hello"},
		{"hello with an empty id", appendHello(nil, 1, ""), nil, false,
			handshakeFailures, "hello: empty peer id"},
		{"hello claiming the node's own id", appendHello(nil, 1, "a"), nil, false,
			handshakeFailures, "the peer claims this node's own id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newBadInputEnv(t, nil, nil)
			e.expectBad(t, rawAttack(e.a.Addr().String(), tc.hello, tc.bytes, tc.silent), tc.counter, tc.reason)
		})
	}
}

// Too many connections: the ones over WithMaxConns are closed at once.
func TestMaxConns(t *testing.T) {
	e := newBadInputEnv(t, []Option{WithMaxConns(2), WithHandshakeTimeout(time.Minute)}, nil)
	// b holds one connection; one idle raw connection takes the second.
	idle, err := net.Dial("tcp", e.a.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	eventually(t, 30*time.Second, "the idle connection to be accepted", func() bool { return e.a.Stats().Handshaking == 1 })
	closed := rawAttack(e.a.Addr().String(), nil, nil, true)(t)
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		t.Fatal("connection over the bound not closed")
	}
	if s := e.a.Stats(); s.Rejected != 1 || !e.logs.contains("too many connections (max 2)") {
		t.Fatalf("rejected %d, log: %s", s.Rejected, e.logs)
	}
	e.goodTraffic(t)
	idle.Close()
	eventually(t, 30*time.Second, "the idle connection to go", func() bool { return e.a.Stats().Handshaking == 0 })
}

// The largest allowed frame passes; one byte more closes the connection.
func TestMaxFrameSizeBoundary(t *testing.T) {
	const max = 4096
	e := newBadInputEnv(t, []Option{WithMaxFrameSize(max)}, []Option{WithMaxFrameSize(max + 1)})
	sendRetry(t, e.b, "a", testFrame(e.seq, max), time.Second)
	e.seq++
	recvN(t, e.a, 1, 30*time.Second)
	// b allows one byte more than a: a closes the connection, b redials.
	sendRetry(t, e.b, "a", testFrame(e.seq, max+1), time.Second)
	eventually(t, 30*time.Second, "a to close the connection", func() bool { return e.a.Stats().BadFrames == 1 })
	eventually(t, 30*time.Second, "b to notice", func() bool { return e.b.Stats().ConnectedPeers == 0 })
	if !e.logs.contains("length prefix 4097 exceeds the maximum frame size 4096") {
		t.Errorf("log: %s", e.logs)
	}
	e.goodTraffic(t)
}

// Connections handed to the stream handler count against MaxConns until
// the handler closes them.
func TestMaxConnsCountsStreams(t *testing.T) {
	held := make(chan net.Conn, 4)
	a := newTransport(t, "a", WithMaxConns(2), WithStreamHandler(func(c net.Conn) { held <- c }))
	dial := func() net.Conn {
		c, err := net.Dial("tcp", a.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.Write([]byte{0x01})
		return c
	}
	var hs []net.Conn
	for range 2 {
		dial()
		hs = append(hs, <-held)
	}
	if s := a.Stats(); s.Streams != 2 || s.StreamConns != 2 {
		t.Fatalf("stats with two streams: %+v", s)
	}
	// A third connection, of either protocol, is over the bound.
	over := dial()
	over.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := over.Read(make([]byte, 1)); err == nil {
		t.Fatal("connection over the bound not closed")
	}
	if s := a.Stats(); s.Rejected != 1 {
		t.Fatalf("rejected %d", s.Rejected)
	}
	// Closing a stream (twice: counted once) frees its place.
	hs[0].Close()
	hs[0].Close()
	if s := a.Stats(); s.Streams != 1 {
		t.Fatalf("streams %d after a close", s.Streams)
	}
	dial()
	c := <-held
	c.Close()
	hs[1].Close()
	if s := a.Stats(); s.Streams != 0 || s.StreamConns != 3 || s.Rejected != 1 {
		t.Fatalf("after closing every stream: %+v", s)
	}
}
