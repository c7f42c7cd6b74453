package main

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/examples/internal/leakcheck"
	"github.com/plumtree-go/plumtree/membership"
)

// memberlist's probe goroutines may outlive Shutdown by several seconds on
// a loaded machine (see leakcheck).
func TestMain(m *testing.M) { leakcheck.VerifyTestMain(m, time.Minute) }

// syncBuffer is an io.Writer whose content can be read concurrently.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type member struct {
	in   *io.PipeWriter
	out  *syncBuffer
	done chan error
}

func startMember(t *testing.T, name string, seeds ...string) *member {
	t.Helper()
	pr, pw := io.Pipe()
	m := &member{in: pw, out: &syncBuffer{}, done: make(chan error, 1)}
	go func() {
		m.done <- chat(context.Background(), chatConfig{Name: name, Bind: "127.0.0.1:0", Seeds: seeds, Preset: "local", MemberPoll: 50 * time.Millisecond}, pr, m.out)
	}()
	t.Cleanup(func() {
		pw.Close()
		<-m.done
	})
	return m
}

func (m *member) addr(t *testing.T) string {
	t.Helper()
	var addr string
	waitOutput(t, m, "listening on ")
	out := m.out.String()
	i := strings.Index(out, "listening on ") + len("listening on ")
	addr = out[i : i+strings.IndexByte(out[i:], ';')]
	return addr
}

func waitOutput(t *testing.T, m *member, want string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute) // a join or a line takes well under a second on a quiet machine
	for !strings.Contains(m.out.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in output:\n%s", want, m.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestThreeChat(t *testing.T) {
	alice := startMember(t, "alice")
	a := alice.addr(t)
	bob := startMember(t, "bob", a)
	carol := startMember(t, "carol", a)
	waitOutput(t, alice, "* carol joined")
	waitOutput(t, carol, "* bob joined")
	waitOutput(t, bob, "* carol joined")

	io.WriteString(alice.in, "hello from alice\n")
	io.WriteString(carol.in, "hi, carol here\n")
	waitOutput(t, bob, "<alice> hello from alice")
	waitOutput(t, bob, "<carol> hi, carol here")
	waitOutput(t, carol, "<alice> hello from alice")
	waitOutput(t, alice, "<carol> hi, carol here")
	io.WriteString(bob.in, "/who\n")
	waitOutput(t, bob, "* members: alice, bob, carol")

	io.WriteString(carol.in, "/quit\n")
	if err := <-carol.done; err != nil {
		t.Fatal(err)
	}
	carol.done <- nil // for the cleanup
	waitOutput(t, alice, "* carol left")
	if strings.Contains(alice.out.String(), "<alice>") {
		t.Fatal("own lines are echoed")
	}
}

// TestDuplicateNameRefused: a second chat named like a live member stops
// with membership.ErrNameConflict (the command exits non-zero) and the
// original keeps chatting.
func TestDuplicateNameRefused(t *testing.T) {
	alice := startMember(t, "alice")
	a := alice.addr(t)
	bob := startMember(t, "bob", a)
	waitOutput(t, alice, "* bob joined")

	imp := startMember(t, "alice", bob.addr(t))
	var err error
	select {
	case err = <-imp.done:
	case <-time.After(60 * time.Second):
		t.Fatal("the second alice did not stop")
	}
	imp.done <- nil // for the cleanup
	if !errors.Is(err, membership.ErrNameConflict) {
		t.Fatalf("second alice: %v, want ErrNameConflict", err)
	}
	io.WriteString(alice.in, "still here\n")
	waitOutput(t, bob, "<alice> still here")
}

func TestDefaultNameUnique(t *testing.T) {
	seen := map[string]bool{}
	for range 20 {
		n := defaultName("alice")
		if !strings.HasPrefix(n, "alice-") || len(n) != len("alice-")+4 {
			t.Fatalf("default name %q", n)
		}
		seen[n] = true
	}
	if len(seen) < 15 {
		t.Fatalf("only %d distinct names in 20", len(seen))
	}
	if n := defaultName(""); !strings.HasPrefix(n, "anon-") {
		t.Fatalf("default name without USER: %q", n)
	}
}
