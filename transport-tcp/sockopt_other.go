//go:build !linux

package tcp

import "net"

// setPriority: socket priorities are Linux's; elsewhere nothing is set.
func setPriority(net.Conn, int) error { return nil }

// setTOS: only set on Linux here (the options differ between systems).
func setTOS(net.Conn, int) error { return nil }

// unacked: elsewhere the kernel's unacknowledged bytes are not known; 0.
func unacked(net.Conn) (int, error) { return 0, errNoSocket }
