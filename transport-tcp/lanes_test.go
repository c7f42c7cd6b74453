package tcp

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/plumtree-go/plumtree/core"
)

// stalledSender returns a Transport "a" that knows peer "b" only without an
// address, so its writer queues frames for b until b dials in (connect
// does that), and b's Transport.
func stalledSender(t *testing.T, aOpts ...Option) (a, b *Transport, connect func()) {
	t.Helper()
	a = newTransport(t, "a", aOpts...)
	b = newTransport(t, "b")
	a.SetPeerAddr("b", "")
	connect = func() {
		b.SetPeerAddr("a", a.Addr().String())
		// b's frame makes it dial a; a's writer then takes that
		// connection.
		sendRetry(t, b, "a", testFrame(1<<60, 32), 30*time.Second)
		f := recvN(t, a, 1, 30*time.Second)
		if frameSeq(f[0].Data) != 1<<60 {
			t.Fatalf("a received %d, want b's frame", frameSeq(f[0].Data))
		}
	}
	return a, b, connect
}

// An urgent frame sent after bulk frames is written before every one of
// them; each lane keeps its order.
func TestUrgentFrameOvertakesBulkFrames(t *testing.T) {
	a, b, connect := stalledSender(t)
	const bulk = 50
	for i := range bulk {
		if err := a.SendBulk("b", testFrame(uint64(100+i), 4<<10)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		if err := a.Send("b", testFrame(uint64(i), 64)); err != nil {
			t.Fatal(err)
		}
	}
	if got := a.BulkQueueLen("b"); got != bulk {
		t.Errorf("BulkQueueLen = %d, want %d", got, bulk)
	}
	if got := a.SendQueueLen("b"); got != bulk+3 && got != bulk+2 {
		// The writer may hold one frame it took while waiting for a
		// connection; SendQueueLen counts what is in the lanes.
		t.Errorf("SendQueueLen = %d, want %d (or %d with one taken by the writer)", got, bulk+3, bulk+2)
	}
	connect()
	got := seqs(recvN(t, b, bulk+3, 30*time.Second))
	want := []int{0, 1, 2}
	for i := range bulk {
		want = append(want, 100+i)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("b received %v, want %v", got, want)
		}
	}
	eventually(t, 30*time.Second, "the bulk lane to drain", func() bool { return a.BulkQueueLen("b") == 0 })
	// The writer counts a frame after its write returns, which can be
	// after b has read it: wait for the counts rather than read them once
	// (read once, they were 0 under -race on a loaded machine).
	eventually(t, 30*time.Second, fmt.Sprintf("stats to count %d bulk frames and at least %d in all", bulk, bulk+3), func() bool {
		s := a.Stats()
		return s.BulkFramesOut == bulk && s.FramesOut >= bulk+3
	})
}

// Each lane has its own bound: a full bulk lane refuses bulk frames
// (counted) and never blocks or refuses urgent ones, and the other way
// round; what was accepted is delivered, nothing is lost.
func TestLaneBounds(t *testing.T) {
	const urgentCap, bulkCap = 8, 5
	a, b, connect := stalledSender(t, WithSendQueue(urgentCap), WithBulkQueue(bulkCap))
	// The writer takes the first frame and waits with it for a
	// connection: after that, each lane holds exactly its capacity.
	if err := a.SendBulk("b", testFrame(1000, 256)); err != nil {
		t.Fatal(err)
	}
	p := a.lookup("b")
	eventually(t, 30*time.Second, "the writer to take the first frame", func() bool { return p.bulk.len() == 0 })
	fill := func(send func(core.PeerID, []byte) error, base uint64, capacity int) {
		t.Helper()
		for i := range capacity {
			if err := send("b", testFrame(base+uint64(i), 256)); err != nil {
				t.Fatalf("frame %d of %d: %v", i, capacity, err)
			}
		}
		if err := send("b", testFrame(base+uint64(capacity), 256)); !errors.Is(err, ErrQueueFull) {
			t.Fatalf("frame %d to a lane of %d: %v, want ErrQueueFull", capacity, capacity, err)
		}
	}
	fill(a.SendBulk, 1001, bulkCap)
	if s := a.Stats(); s.BulkQueueFull != 1 || s.QueueFull != 1 || s.Drops != 1 {
		t.Errorf("after filling the bulk lane: BulkQueueFull %d, QueueFull %d, Drops %d; want 1, 1, 1", s.BulkQueueFull, s.QueueFull, s.Drops)
	}
	fill(a.Send, 0, urgentCap) // a full bulk lane does not matter
	if err := a.SendBulk("b", testFrame(999, 256)); !errors.Is(err, ErrQueueFull) {
		t.Errorf("SendBulk to a full bulk lane: %v, want ErrQueueFull", err)
	}
	s := a.Stats()
	if s.QueueFull != 3 || s.BulkQueueFull != 2 || s.Drops != 3 {
		t.Errorf("QueueFull %d, BulkQueueFull %d, Drops %d; want 3, 2, 3", s.QueueFull, s.BulkQueueFull, s.Drops)
	}
	if s.BulkQueueDepth != bulkCap || s.QueueDepth != bulkCap+urgentCap {
		t.Errorf("BulkQueueDepth %d, QueueDepth %d; want %d, %d", s.BulkQueueDepth, s.QueueDepth, bulkCap, bulkCap+urgentCap)
	}
	if got := a.BulkQueueLen("b"); got != bulkCap+1 {
		t.Errorf("BulkQueueLen %d, want %d (the lane and the frame the writer holds)", got, bulkCap+1)
	}
	connect()
	got := seqs(recvN(t, b, bulkCap+1+urgentCap, 30*time.Second))
	// Every urgent frame first (the writer puts back the bulk frame it
	// held), then the bulk frames; each lane in order.
	for i, s := range got {
		want := i
		if i >= urgentCap {
			want = 1000 + i - urgentCap
		}
		if s != want {
			t.Fatalf("b received %v: position %d is %d, want %d", got, i, s, want)
		}
	}
	eventually(t, 30*time.Second, "the bulk lane to drain", func() bool { return a.BulkQueueLen("b") == 0 })
}

// Property: whatever the interleaving of Send and SendBulk on a live
// connection, each lane's frames arrive complete and in the order sent.
func TestLanesKeepOrderProperty(t *testing.T) {
	a := newTransport(t, "a")
	b := newTransport(t, "b")
	a.SetPeerAddr("b", b.Addr().String())
	next := uint64(0)
	rapid.Check(t, func(rt *rapid.T) {
		ops := rapid.SliceOfN(rapid.Bool(), 1, 200).Draw(rt, "bulk")
		sizes := rapid.SliceOfN(rapid.IntRange(16, 70<<10), len(ops), len(ops)).Draw(rt, "sizes")
		base := next
		for i, bulk := range ops {
			f := testFrame(base+uint64(i), sizes[i])
			if bulk {
				f[2] = 9 // marks the lane for the check below (a repair)
				retrySend(t, a.SendBulk, "b", f, 30*time.Second)
				continue
			}
			sendRetry(t, a, "b", f, 30*time.Second)
		}
		next += uint64(len(ops))
		frames := recvN(t, b, len(ops), 30*time.Second)
		last := map[bool]int64{false: -1, true: -1}
		for _, f := range frames {
			s, bulk := int64(frameSeq(f.Data)-base), f.Data[2] == 9
			if s < 0 || s >= int64(len(ops)) || ops[s] != bulk {
				rt.Fatalf("unexpected frame %d (bulk %v)", s, bulk)
			}
			if s <= last[bulk] {
				rt.Fatalf("lane (bulk %v) out of order: %d after %d", bulk, s, last[bulk])
			}
			last[bulk] = s
		}
	})
}
