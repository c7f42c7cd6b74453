//go:build linux

package tcp

import (
	"net"
	"syscall"
	"testing"
	"time"
)

// WithSocketBuffer sets SO_SNDBUF and SO_RCVBUF on both ends of a
// connection (Linux reports twice the value set).
func TestSocketBuffer(t *testing.T) {
	const n = 96 << 10
	a := newTransport(t, "a", WithSocketBuffer(n))
	b := newTransport(t, "b", WithSocketBuffer(n))
	a.SetPeerAddr("b", b.Addr().String())
	sendRetry(t, a, "b", testFrame(1, 64), 30*time.Second)
	recvN(t, b, 1, 30*time.Second)
	for _, tr := range []*Transport{a, b} {
		var c *conn
		eventually(t, 30*time.Second, "a connection", func() bool {
			tr.mu.Lock()
			defer tr.mu.Unlock()
			for _, x := range tr.conns {
				if x != nil {
					c = x
				}
			}
			return c != nil
		})
		rc, err := c.raw.(*net.TCPConn).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var snd, rcv int
		var gerr error
		rc.Control(func(fd uintptr) {
			snd, gerr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF)
			if gerr == nil {
				rcv, gerr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF)
			}
		})
		if gerr != nil {
			t.Fatal(gerr)
		}
		if snd != 2*n || rcv != 2*n {
			t.Errorf("%s: SO_SNDBUF %d, SO_RCVBUF %d; want %d each", tr.Self(), snd, rcv, 2*n)
		}
	}
}
