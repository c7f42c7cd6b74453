package memnet_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/core/node"
	"github.com/plumtree-go/plumtree/core/node/memnet"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newNet(t *testing.T, cfg memnet.Config, ids ...core.PeerID) (*memnet.Network, map[core.PeerID]*memnet.Transport) {
	t.Helper()
	n := memnet.New(cfg)
	t.Cleanup(func() { n.Close() })
	trs := map[core.PeerID]*memnet.Transport{}
	for _, id := range ids {
		tr, err := n.Join(id)
		if err != nil {
			t.Fatal(err)
		}
		trs[id] = tr
	}
	return n, trs
}

func frame(i int) []byte { return fmt.Appendf(nil, "frame-%04d", i) }

// recvN receives n frames or fails after timeout.
func recvN(t *testing.T, tr *memnet.Transport, n int, timeout time.Duration) []node.Frame {
	t.Helper()
	var got []node.Frame
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for len(got) < n {
		select {
		case f, ok := <-tr.Receive():
			if !ok {
				t.Fatalf("receive channel closed after %d frames", len(got))
			}
			got = append(got, f)
		case <-deadline.C:
			t.Fatalf("received %d frames of %d", len(got), n)
		}
	}
	return got
}

// waitStats polls the network's stats until cond holds.
func waitStats(t *testing.T, n *memnet.Network, what string, cond func(memnet.Stats) bool) memnet.Stats {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		s := n.Stats()
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %+v", what, s)
		}
		<-tick.C
	}
}

func TestPerfectLinkInOrder(t *testing.T) {
	_, trs := newNet(t, memnet.Config{Seed: 1}, "a", "b")
	for i := range 100 {
		if err := trs["a"].Send("b", frame(i)); err != nil {
			t.Fatal(err)
		}
	}
	for i, f := range recvN(t, trs["b"], 100, 5*time.Second) {
		if f.From != "a" || string(f.Data) != string(frame(i)) {
			t.Fatalf("frame %d: from %s data %q", i, f.From, f.Data)
		}
	}
}

func TestLinkFaults(t *testing.T) {
	const total = 2000
	tests := []struct {
		name  string
		link  memnet.Link
		check func(t *testing.T, s memnet.Stats, got []node.Frame)
	}{
		{"drop 30%", memnet.Link{Drop: 0.3}, func(t *testing.T, s memnet.Stats, got []node.Frame) {
			if s.Dropped < total*25/100 || s.Dropped > total*35/100 || int(s.Delivered) != len(got) || s.Dropped+s.Delivered != total {
				t.Errorf("stats %+v, %d received", s, len(got))
			}
		}},
		{"duplicate all", memnet.Link{Duplicate: 1}, func(t *testing.T, s memnet.Stats, got []node.Frame) {
			if s.Duplicated != total || len(got) != 2*total {
				t.Errorf("stats %+v, %d received", s, len(got))
			}
			// The copies are independent buffers.
			got[0].Data[0] = 'X'
			if got[1].Data[0] == 'X' {
				t.Error("duplicate shares the buffer")
			}
		}},
		{"reorder 50%", memnet.Link{Reorder: 0.5, ReorderWindow: 2 * time.Millisecond}, func(t *testing.T, s memnet.Stats, got []node.Frame) {
			if len(got) != total || s.Reordered < total/3 {
				t.Errorf("stats %+v, %d received", s, len(got))
			}
			if inOrder(got) {
				t.Error("frames arrived in order")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, trs := newNet(t, memnet.Config{Seed: 7, Link: tt.link}, "a", "b")
			for i := range total {
				if err := trs["a"].Send("b", frame(i)); err != nil {
					t.Fatal(err)
				}
			}
			s := waitStats(t, n, "every frame to land", func(s memnet.Stats) bool {
				return s.Delivered+s.Dropped == total+s.Duplicated
			})
			got := recvN(t, trs["b"], int(s.Delivered), 5*time.Second)
			tt.check(t, s, got)
		})
	}
}

func inOrder(fs []node.Frame) bool {
	for i := 1; i < len(fs); i++ {
		if string(fs[i-1].Data) > string(fs[i].Data) {
			return false
		}
	}
	return true
}

func TestDelayAndJitter(t *testing.T) {
	const delay = 20 * time.Millisecond
	n, trs := newNet(t, memnet.Config{Seed: 3}, "a", "b")
	n.SetLink("a", "b", memnet.Link{Delay: delay, Jitter: 10 * time.Millisecond})
	start := time.Now()
	for i := range 50 {
		if err := trs["a"].Send("b", frame(i)); err != nil {
			t.Fatal(err)
		}
	}
	// The reverse direction has the default, perfect link.
	if err := trs["b"].Send("a", frame(0)); err != nil {
		t.Fatal(err)
	}
	recvN(t, trs["a"], 1, time.Second)
	got := recvN(t, trs["b"], 50, 5*time.Second)
	if el := time.Since(start); el < delay {
		t.Fatalf("50 frames in %v, before the link delay %v", el, delay)
	}
	if inOrder(got) {
		t.Log("jitter kept the order (possible, unlikely)")
	}
}

func TestPartitionAndHeal(t *testing.T) {
	n, trs := newNet(t, memnet.Config{Seed: 1}, "a", "b", "c", "d")
	n.Partition([]core.PeerID{"a", "b"}, []core.PeerID{"c"})
	send := func(from, to core.PeerID) {
		t.Helper()
		if err := trs[from].Send(to, []byte(string(from)+">"+string(to))); err != nil {
			t.Fatal(err)
		}
	}
	send("a", "c") // cut
	send("c", "b") // cut
	send("a", "b") // same side
	send("d", "c") // d is in no group
	recvN(t, trs["b"], 1, time.Second)
	recvN(t, trs["c"], 1, time.Second)
	if s := n.Stats(); s.Partitioned != 2 || s.Delivered != 2 {
		t.Fatalf("stats %+v", s)
	}
	n.Heal()
	send("a", "c")
	if f := recvN(t, trs["c"], 1, time.Second)[0]; string(f.Data) != "a>c" {
		t.Fatalf("after heal got %q", f.Data)
	}
	n.Isolate("d")
	send("d", "a")
	send("b", "d")
	if s := n.Stats(); s.Partitioned != 4 {
		t.Fatalf("isolate: stats %+v", s)
	}
}

func TestCrashAndRestart(t *testing.T) {
	n, trs := newNet(t, memnet.Config{Seed: 1}, "a", "b")
	n.SetLink("a", "b", memnet.Link{Delay: 50 * time.Millisecond})
	if err := trs["a"].Send("b", frame(0)); err != nil { // in flight at the crash
		t.Fatal(err)
	}
	if err := n.Crash("b"); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-trs["b"].Receive(); ok {
		t.Fatal("crashed transport still receives")
	}
	if err := trs["b"].Send("a", frame(1)); !errors.Is(err, memnet.ErrClosed) {
		t.Fatalf("send from crashed: %v", err)
	}
	if err := trs["a"].Send("b", frame(2)); err != nil {
		t.Fatalf("send to crashed: %v", err)
	}
	waitStats(t, n, "the frames to the crashed peer to be lost", func(s memnet.Stats) bool { return s.Unreachable == 2 })
	if got := n.Peers(); len(got) != 1 || got[0] != "a" {
		t.Fatalf("peers %v", got)
	}

	b2, err := n.Restart("b")
	if err != nil {
		t.Fatal(err)
	}
	n.SetLinks(memnet.Link{})
	if err := trs["a"].Send("b", frame(3)); err != nil {
		t.Fatal(err)
	}
	if f := recvN(t, b2, 1, time.Second)[0]; string(f.Data) != string(frame(3)) {
		t.Fatalf("restarted got %q", f.Data)
	}
	if _, err := n.Join("b"); !errors.Is(err, memnet.ErrExists) {
		t.Fatalf("join live peer: %v", err)
	}
	if _, err := n.Restart("zz"); !errors.Is(err, memnet.ErrUnknownPeer) {
		t.Fatalf("restart unknown: %v", err)
	}
	if err := n.Crash("zz"); !errors.Is(err, memnet.ErrUnknownPeer) {
		t.Fatalf("crash unknown: %v", err)
	}
}

func TestSendErrorsAndQueueFull(t *testing.T) {
	n, trs := newNet(t, memnet.Config{Seed: 1, QueueSize: 2}, "a", "b")
	if err := trs["a"].Send("nobody", frame(0)); !errors.Is(err, memnet.ErrUnknownPeer) {
		t.Fatalf("unknown peer: %v", err)
	}
	for i := range 5 {
		if err := trs["a"].Send("b", frame(i)); err != nil {
			t.Fatal(err)
		}
	}
	if s := n.Stats(); s.QueueFull != 3 || s.Delivered != 2 {
		t.Fatalf("stats %+v", s)
	}
	if err := trs["a"].Close(); err != nil {
		t.Fatal(err)
	}
	if err := trs["a"].Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	if err := trs["a"].Send("b", frame(9)); !errors.Is(err, memnet.ErrClosed) {
		t.Fatalf("send after close: %v", err)
	}
	n.Close()
	if err := trs["b"].Send("a", frame(9)); !errors.Is(err, memnet.ErrClosed) {
		t.Fatalf("send after network close: %v", err)
	}
	if _, err := n.Join("c"); !errors.Is(err, memnet.ErrClosed) {
		t.Fatalf("join after network close: %v", err)
	}
}

// The same seed and the same sends give the same faults.
func TestSeedDeterminism(t *testing.T) {
	pattern := func(seed uint64) string {
		_, trs := newNet(t, memnet.Config{Seed: seed, Link: memnet.Link{Drop: 0.5}}, "a", "b")
		for i := range 64 {
			if err := trs["a"].Send("b", []byte{byte(i)}); err != nil {
				t.Fatal(err)
			}
		}
		got := make([]byte, 64)
		for i := range got {
			got[i] = '.'
		}
		for {
			select {
			case f := <-trs["b"].Receive():
				got[f.Data[0]] = 'x'
				continue
			default:
			}
			break
		}
		return string(got)
	}
	if a, b := pattern(9), pattern(9); a != b {
		t.Fatalf("same seed, different drops:\n%s\n%s", a, b)
	}
	if a, b := pattern(9), pattern(10); a == b {
		t.Fatalf("different seeds, same drops: %s", a)
	}
}
