package main

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// lowerPriority puts the calling thread in the idle scheduling class
// (SCHED_IDLE): it runs only when no other thread wants the processor.
func lowerPriority() error {
	return unix.SchedSetAttr(0, &unix.SchedAttr{Policy: unix.SCHED_IDLE}, 0)
}

// withParent makes the child die with the parent (a killed benchmark
// leaves no busy loops behind).
func withParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
