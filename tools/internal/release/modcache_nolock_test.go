//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package release

import "os"

func lockFile(*os.File) error { return nil }

// On these systems the consumer test uses a fresh module cache every run.
const canLockFiles = false
