package main

import (
	"bufio"
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestDuplicateNameExitsNonZero: a node started with the name of a live
// member refuses to join and run returns exit code 1, naming the conflict.
func TestDuplicateNameExitsNonZero(t *testing.T) {
	args := func(extra ...string) []string {
		return append([]string{"-name", "dup", "-bind", "127.0.0.1:0", "-preset", "local", "-admin-addr", "off",
			"-metrics-addr", "off", "-leave-timeout", "1s", "-log-level", "warn"}, extra...)
	}
	getenv := func(string) string { return "" }

	ctx1, stop1 := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	code1 := make(chan int, 1)
	go func() {
		code1 <- run(ctx1, args(), getenv, pw, io.Discard)
		pw.Close()
	}()
	defer func() {
		stop1()
		if c := <-code1; c != 0 {
			t.Errorf("first node exited %d", c)
		}
	}()
	addrCh := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if m := startLine.FindStringSubmatch(sc.Text()); m != nil {
				addrCh <- m[2]
			}
		}
	}()
	var addr string
	select {
	case addr = <-addrCh:
	case <-time.After(60 * time.Second):
		t.Fatal("first node not ready")
	}

	// The second one gives up by itself; the context only bounds a test
	// that would otherwise hang.
	ctx2, stop2 := context.WithTimeout(context.Background(), 120*time.Second)
	defer stop2()
	stderr := &syncWriter{b: &strings.Builder{}}
	code := run(ctx2, args("-join", addr), getenv, io.Discard, stderr)
	if ctx2.Err() != nil {
		t.Fatal("the second node did not give up")
	}
	if code != 1 {
		t.Fatalf("exit code %d, want 1\n%s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "node name taken by a live member") {
		t.Fatalf("no conflict in the log:\n%s", stderr.String())
	}
}

type syncWriter struct {
	mu sync.Mutex
	b  *strings.Builder
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}
