package tcp

import (
	"net"
	"sync"
	"testing"
	"time"
)

// recordingListener records the remote address of every accepted
// connection.
type recordingListener struct {
	net.Listener
	mu      sync.Mutex
	remotes []net.Addr
}

func (l *recordingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.mu.Lock()
		l.remotes = append(l.remotes, c.RemoteAddr())
		l.mu.Unlock()
	}
	return c, err
}

// With WithSourceIP a Transport's connections come from that address, not
// from the one the kernel would pick (127.0.0.1 on loopback).
func TestSourceIP(t *testing.T) {
	src := net.ParseIP("127.0.0.11")
	probe, err := net.Listen("tcp", "127.0.0.11:0")
	if err != nil {
		t.Skipf("no 127.0.0.11 on this machine: %v", err)
	}
	probe.Close()
	ln, err := net.Listen("tcp", "127.0.0.12:0")
	if err != nil {
		t.Skipf("no 127.0.0.12 on this machine: %v", err)
	}
	rl := &recordingListener{Listener: ln}
	b := newTransport(t, "b", WithListener(rl))
	a := newTransport(t, "a", WithListenAddr("127.0.0.11:0"), WithSourceIP(src))
	a.SetPeerAddr("b", b.Addr().String())
	sendRetry(t, a, "b", testFrame(1, 100), time.Second)
	if f := recvN(t, b, 1, 30*time.Second); f[0].From != "a" {
		t.Fatalf("frame from %s", f[0].From)
	}
	rl.mu.Lock()
	defer rl.mu.Unlock()
	if len(rl.remotes) != 1 || !rl.remotes[0].(*net.TCPAddr).IP.Equal(src) {
		t.Fatalf("b accepted connections from %v, want one from %v", rl.remotes, src)
	}
}
