//go:build unix

package main

import "syscall"

// detached puts a node in a process group of its own, so that a Ctrl-C
// meant for nodecost does not reach it before nodecost stops it.
func detached() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
