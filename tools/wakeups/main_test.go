package main

import (
	"bytes"
	"runtime/trace"
	"strings"
	"testing"
)

// waitLoop receives from ch until it is closed.
func waitLoop(ch <-chan int, done chan<- int) {
	n := 0
	for range ch {
		n++
	}
	done <- n
}

// Two goroutines exchanging 200 values over an unbuffered channel: each
// exchange finds one of them waiting and wakes it, so the wake-ups at the
// two blocking sites (the receiver's loop, the sender's send) add up to
// 200, each site named with its reason; the report has a header line and
// the number of sites asked for.
func TestCountAttributesWakeups(t *testing.T) {
	var buf bytes.Buffer
	if err := trace.Start(&buf); err != nil {
		t.Skipf("tracing is not available: %v", err)
	}
	ch, done := make(chan int), make(chan int)
	go waitLoop(ch, done)
	const k = 200
	for i := range k {
		ch <- i
	}
	close(ch)
	got := <-done
	trace.Stop()
	if got != k {
		t.Fatalf("received %d", got)
	}
	rep, err := count(&buf, 2)
	if err != nil {
		t.Fatal(err)
	}
	recv, send := 0, 0
	for s, n := range rep.sites {
		switch {
		case strings.Contains(s, ".waitLoop") && strings.HasSuffix(s, "[chan receive]"):
			recv += n
		case strings.Contains(s, ".TestCountAttributesWakeups") && strings.HasSuffix(s, "[chan send]"):
			send += n
		}
	}
	if recv+send < k-1 || recv+send > k+1 {
		t.Errorf("receiver woken %d times, sender %d: want %d in all (sites %v)", recv, send, k, rep.sites)
	}
	var out bytes.Buffer
	rep.print(&out, 2)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.Contains(out.String(), "wake-ups") {
		t.Errorf("report:\n%s", out.String())
	}
}

func TestCountRefusesOtherInput(t *testing.T) {
	if _, err := count(strings.NewReader("not a trace"), 2); err == nil {
		t.Fatal("accepted")
	}
}

func TestStd(t *testing.T) {
	for fn, want := range map[string]bool{
		"runtime.gopark":           true,
		"net/http.(*conn).serve":   true,
		"internal/poll.(*FD).Read": true,
		"main.waitLoop":            false,
		"github.com/hashicorp/memberlist.(*Memberlist).probe": false,
		"golang.org/x/exp/trace.NewReader":                    false,
	} {
		if got := std(fn); got != want {
			t.Errorf("std(%q) = %v, want %v", fn, got, want)
		}
	}
}
