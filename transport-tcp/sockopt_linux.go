package tcp

import (
	"net"
	"syscall"
	"unsafe"
)

// setPriority sets the socket priority (SO_PRIORITY) of nc.
func setPriority(nc net.Conn, prio int) error {
	return control(nc, func(fd uintptr) error {
		return syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_PRIORITY, prio)
	})
}

// setTOS sets the type-of-service byte of nc: IP_TOS, or IPV6_TCLASS on an
// IPv6 socket.
func setTOS(nc net.Conn, tos int) error {
	v6 := false
	if a, ok := nc.LocalAddr().(*net.TCPAddr); ok && a.IP.To4() == nil {
		v6 = true
	}
	return control(nc, func(fd uintptr) error {
		if v6 {
			return syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IPV6, syscall.IPV6_TCLASS, tos)
		}
		return syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, syscall.IP_TOS, tos)
	})
}

// unacked returns the bytes written to nc that the peer has not
// acknowledged yet (SIOCOUTQ, which is TIOCOUTQ: unsent and in flight).
func unacked(nc net.Conn) (int, error) {
	var n int32
	err := control(nc, func(fd uintptr) error {
		if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCOUTQ, uintptr(unsafe.Pointer(&n))); e != 0 {
			return e
		}
		return nil
	})
	return int(n), err
}

func control(nc net.Conn, f func(fd uintptr) error) error {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return errNoSocket
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = f(fd) }); err != nil {
		return err
	}
	return ferr
}
