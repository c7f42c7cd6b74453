//go:build !unix

package tcp

import (
	"errors"
	"net"
	"syscall"
)

// rawConnOf returns nil: Send leaves every write to the writer here.
func rawConnOf(net.Conn) syscall.RawConn { return nil }

func writeNonBlocking(syscall.RawConn, []byte) (int, error) { return 0, errors.ErrUnsupported }
