//go:build unix

package tcp

import (
	"net"
	"syscall"
)

// rawConnOf returns the raw connection of a TCP connection, for writes
// that do not wait; nil for anything else.
func rawConnOf(nc net.Conn) syscall.RawConn {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// writeNonBlocking makes one write(2) of b to rc's socket without waiting
// for it to become writable: it returns how much the socket took (0 when
// it is full) or the error that broke or closed it.
func writeNonBlocking(rc syscall.RawConn, b []byte) (int, error) {
	var (
		n    int
		werr error
	)
	err := rc.Write(func(fd uintptr) bool {
		for {
			n, werr = syscall.Write(int(fd), b)
			if werr != syscall.EINTR {
				return true // done, whatever happened: never wait
			}
		}
	})
	switch {
	case err != nil:
		return 0, err
	case werr == syscall.EAGAIN:
		return 0, nil
	case werr != nil:
		return 0, werr
	case n < 0:
		return 0, nil
	}
	return n, nil
}
