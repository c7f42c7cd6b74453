package membership

import (
	"bytes"
	"log/slog"
	"net"
	"strconv"
	"testing"
	"time"
)

// Each packet handed to memberlist owns a buffer of exactly its size: the
// reader's one receive buffer is never handed out, so a later packet does
// not overwrite an earlier one memberlist still holds.
func TestUDPPacketsOwnTheirBuffers(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	tr, err := listenShared("127.0.0.1", 0, log, newStreamGuard(StreamLimits{}, log))
	if err != nil {
		t.Fatal(err)
	}
	tr.start()
	defer tr.Shutdown()
	c, err := net.DialUDP("udp", nil, tr.udp.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sent := [][]byte{bytes.Repeat([]byte{'a'}, 300), bytes.Repeat([]byte{'b'}, 40), []byte("c")}
	for _, p := range sent {
		if _, err := c.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	// Loopback UDP does not reorder or drop three small packets into a
	// 2 MiB socket buffer; collect them all before checking any, so that a
	// shared buffer would have been overwritten by then.
	var got [][]byte
	for range sent {
		got = append(got, (<-tr.PacketCh()).Buf)
	}
	for i, b := range got {
		if !bytes.Equal(b, sent[i]) {
			t.Fatalf("packet %d: got %q, want %q", i, b, sent[i])
		}
		if cap(b) != len(b) {
			t.Fatalf("packet %d: cap %d for %d bytes (the receive buffer leaked out)", i, cap(b), len(b))
		}
	}
}

// Packets to a member's address (IP:port, as memberlist gives it) arrive,
// written without resolving the address and without an allocation.
func TestWriteToMemberAddressAllocatesNothing(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	tr, err := listenShared("127.0.0.1", 0, log, newStreamGuard(StreamLimits{}, log))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Shutdown()
	dst, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	port := dst.LocalAddr().(*net.UDPAddr).Port
	addr, p := net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), []byte("ping")
	if _, err := tr.WriteTo(p, addr); err != nil {
		t.Fatalf("WriteTo(%s): %v", addr, err)
	}
	buf := make([]byte, 64)
	if err := dst.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if n, _, err := dst.ReadFromUDP(buf); err != nil || string(buf[:n]) != "ping" {
		t.Fatalf("sent to %s: received %q, %v", addr, buf[:n], err)
	}
	if a := testing.AllocsPerRun(100, func() { tr.WriteTo(p, addr) }); a != 0 {
		t.Errorf("WriteTo(%s) allocates %.1f times per packet, want 0", addr, a)
	}
}
