//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package release

import (
	"os"
	"syscall"
)

// lockFile takes an exclusive lock on the open file f, waiting for it; the
// lock goes with the file's close.
func lockFile(f *os.File) error { return syscall.Flock(int(f.Fd()), syscall.LOCK_EX) }

const canLockFiles = true
