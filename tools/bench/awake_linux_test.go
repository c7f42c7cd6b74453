package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// -keep-awake: a busy thread per processor, every one of them in the idle
// scheduling class (a busy loop at normal priority would take the
// processors from the benchmark), and nothing left once stopped.
func TestKeepAwake(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	pid, stop, err := startKeepAwake(context.Background(), self)
	if err != nil && (strings.Contains(err.Error(), "not permitted") || strings.Contains(err.Error(), "not implemented")) {
		t.Skipf("this machine refuses the idle scheduling class (a sandbox's system-call filter?): %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			stop()
		}
	}()
	idle := 0
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range tasks {
		if policy(t, f) == 5 { // SCHED_IDLE
			idle++
		}
	}
	if idle != runtime.NumCPU() {
		t.Errorf("%d threads in the idle class among %d, want one per processor (%d)", idle, len(tasks), runtime.NumCPU())
	}
	stop()
	stopped = true
	if _, err := os.Stat(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		t.Errorf("process %d still there after stop", pid)
	}
	c, err := parseFlags([]string{"-keep-awake"}, &strings.Builder{})
	if err != nil || !c.awake {
		t.Fatalf("-keep-awake: %+v %v", c, err)
	}
	if args := (&report{cfg: c}).args(); args[len(args)-1] != "-keep-awake" {
		t.Errorf("the report's command %v does not say -keep-awake", args)
	}
}

// policy reads a thread's scheduling policy from its /proc stat line
// (field 41, counted after the command's closing parenthesis).
func policy(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	p, err := strconv.Atoi(fields[41-3])
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return p
}
