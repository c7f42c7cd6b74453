//go:build !linux

package main

import (
	"errors"
	"syscall"
)

func lowerPriority() error {
	return errors.New("needs Linux's idle scheduling class")
}

func withParent() *syscall.SysProcAttr { return nil }
