package tcp

import (
	"syscall"
	"testing"
	"time"
)

// A bulk connection carries the configured TOS byte and socket priority;
// the peer's own connection carries neither.
func TestBulkConnectionMarks(t *testing.T) {
	for _, tc := range []struct {
		name           string
		opts           []Option
		wantTOS, wantP int
	}{
		{"default", nil, 0, DefaultBulkPriority},
		{"tos CS1", []Option{WithBulkTOS(0x20)}, 0x20, DefaultBulkPriority},
		{"left alone", []Option{WithBulkPriority(-1)}, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newTransport(t, "a", tc.opts...)
			b := newTransport(t, "b")
			a.SetPeerAddr("b", b.Addr().String())
			sendRetry(t, a, "b", testFrame(1, 100), 10*time.Second)
			retrySend(t, a.SendBulk, "b", testFrame(2, 100), 10*time.Second)
			recvN(t, b, 2, 30*time.Second)
			p := a.lookup("b")
			a.mu.Lock()
			main := p.conn
			a.mu.Unlock()
			bulk := p.bulkConn.Load()
			if main == nil || bulk == nil {
				t.Fatalf("connections: main %v, bulk %v", main != nil, bulk != nil)
			}
			read := func(c *conn, level, opt int) int {
				var v int
				var gerr error
				if err := control(c.raw, func(fd uintptr) error {
					v, gerr = syscall.GetsockoptInt(int(fd), level, opt)
					return gerr
				}); err != nil {
					t.Fatal(err)
				}
				return v
			}
			if got := read(bulk, syscall.IPPROTO_IP, syscall.IP_TOS); got != tc.wantTOS {
				t.Errorf("bulk connection's TOS 0x%x, want 0x%x", got, tc.wantTOS)
			}
			if got := read(bulk, syscall.SOL_SOCKET, syscall.SO_PRIORITY); got != tc.wantP {
				t.Errorf("bulk connection's priority %d, want %d", got, tc.wantP)
			}
			if got := read(main, syscall.IPPROTO_IP, syscall.IP_TOS); got != 0 {
				t.Errorf("the peer's connection has TOS 0x%x", got)
			}
			if got := read(main, syscall.SOL_SOCKET, syscall.SO_PRIORITY); got != 0 {
				t.Errorf("the peer's connection has priority %d", got)
			}
		})
	}
}
