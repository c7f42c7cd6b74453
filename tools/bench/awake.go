package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
)

// keepAwakeCmd is the hidden first argument that makes the binary spin on
// every processor at the lowest priority until it is killed (-keep-awake).
const keepAwakeCmd = "__keep-awake"

// keepAwakeMain is the -keep-awake process: one busy loop per processor, each
// on its own thread in the idle scheduling class (lowerPriority), so the
// processors never halt while a benchmark runs and any other thread that
// wants one takes it at once. On a virtual machine a halted processor is
// handed back to the host, and waking it again can wait for the host's
// scheduler (tools/bench/README.md, "Halted processors"). It prints
// "ready" once every loop runs at the lowest priority, or an error.
func keepAwakeMain(stdout io.Writer) int {
	n := runtime.NumCPU()
	runtime.GOMAXPROCS(n + 1) // a processor for this goroutine besides the loops
	errs := make(chan error, n)
	for range n {
		go func() {
			runtime.LockOSThread() // the class belongs to this thread, which nothing else may use
			errs <- lowerPriority()
			for { // until the process is killed
			}
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			fmt.Fprintln(stdout, "error:", err)
			return 1
		}
	}
	fmt.Fprintln(stdout, "ready")
	select {}
}

// startKeepAwake starts the -keep-awake process and returns once its loops
// run, with its pid; stop kills it. It dies with the parent (withParent).
func startKeepAwake(ctx context.Context, self string) (pid int, stop func(), err error) {
	cmd := exec.CommandContext(ctx, self, keepAwakeCmd)
	cmd.SysProcAttr = withParent()
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return 0, nil, fmt.Errorf("-keep-awake: %w", err)
	}
	stop = func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if line = strings.TrimSpace(line); line != "ready" {
		stop()
		if line == "" && err != nil {
			line = err.Error()
		}
		return 0, nil, errors.New("-keep-awake: " + line)
	}
	return cmd.Process.Pid, stop, nil
}
