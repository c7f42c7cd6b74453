package tcp

import (
	"bufio"
	"net"
	"testing"
	"time"
)

// A peer that takes the connection and then stops reading makes its
// writes time out: the connection is closed, the frames of the failed
// batch are counted as dropped, and the next frame dials again. The
// deadline is not set per batch (writer.deadline), so this also checks
// that the first batch has one, and not one shorter than the timeout.
func TestStalledPeerWriteTimesOut(t *testing.T) {
	const timeout = 300 * time.Millisecond
	ln := listenRcvbuf(t, 64<<10)
	holdConns(t, ln, func(nc net.Conn) {
		// The hello both ways, then nothing is read.
		if _, err := readHello(bufio.NewReader(nc)); err == nil {
			nc.Write(appendHello(nil, 1, "b"))
		}
	})
	a := newTransport(t, "a", WithWriteTimeout(timeout), WithSocketBuffer(64<<10), WithBulkConnection(false), WithSendQueue(256))
	a.SetPeerAddr("b", ln.Addr().String())
	start := time.Now()
	// 4 MiB: far more than both sockets' buffers hold.
	for i := range 256 {
		if err := a.Send("b", testFrame(uint64(i), 16<<10)); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 60*time.Second, "a write to time out", func() bool { return a.Stats().Drops > 0 })
	if took := time.Since(start); took < timeout {
		t.Fatalf("the write failed %v after the first frame, before the write timeout (%v)", took, timeout)
	}
	// The next frame goes out on a new connection.
	if err := a.Send("b", testFrame(1000, 64)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "a second dial", func() bool { return a.Stats().Dials >= 2 })
}
