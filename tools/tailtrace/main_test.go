package main

import (
	"bytes"
	"context"
	"runtime/trace"
	"strings"
	"testing"
	"time"
)

// spin runs for at least d of its own time, then signals done.
func spin(d time.Duration, done chan<- struct{}) {
	for end := time.Now().Add(d); time.Now().Before(end); {
	}
	done <- struct{}{}
}

// Two messages marked as tools/bench marks them: the first travels while a
// goroutine of the harness works for 20 ms, the second while nothing else
// runs, and a third is published but never completes. The first is
// reported as the slowest, the harness's work inside its window (not in the
// second's), and the third is left out.
func TestWindowsAttributeWork(t *testing.T) {
	var buf bytes.Buffer
	if err := trace.Start(&buf); err != nil {
		t.Skipf("tracing is not available: %v", err)
	}
	ctx := context.Background()
	done := make(chan struct{})
	trace.Log(ctx, "bench", "publish 0")
	go spin(20*time.Millisecond, done)
	<-done
	trace.Log(ctx, "bench", "deliver 0 1")
	trace.Log(ctx, "bench", "deliver 0 2")
	trace.Log(ctx, "bench", "publish 1")
	trace.Log(ctx, "bench", "deliver 1 2")
	trace.Log(ctx, "bench", "deliver 1 1")
	trace.Log(ctx, "bench", "publish 2")
	trace.Log(ctx, "bench", "deliver 2 1")
	trace.Log(ctx, "other", "publish 3")
	trace.Stop()

	tr, err := read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.msgs) != 3 {
		t.Fatalf("%d messages marked, want 3 (the other category ignored): %+v", len(tr.msgs), tr.msgs)
	}
	slow, fast := tr.window(tr.msgs[0]), tr.window(tr.msgs[1])
	if slow.lat < 20 || fast.lat >= slow.lat {
		t.Fatalf("latencies %.3f and %.3f ms, want the first at least 20 ms and the slower", slow.lat, fast.lat)
	}
	if h := slow.run["harness"]; h < 10 {
		t.Errorf("the harness ran %.3f ms within the first message, want at least half of its 20 ms (by kind: %v)", h, slow.run)
	}
	if h := fast.run["harness"]; h >= 10 {
		t.Errorf("the harness ran %.3f ms within the second message, which came after its work", h)
	}
	var out bytes.Buffer
	tr.report(&out, 1)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "2 complete messages (2 deliveries each)") || !strings.HasPrefix(lines[2], "#0 ") {
		t.Errorf("report:\n%s", out.String())
	}
}

func TestNotATrace(t *testing.T) {
	if _, err := read(strings.NewReader("not a trace")); err == nil || !strings.Contains(err.Error(), "not a Go execution trace") {
		t.Errorf("err = %v", err)
	}
}
