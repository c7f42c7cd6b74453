package membership

import (
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/core/node"
)

// newQueueOnly returns a Membership with only its event queue, for driving
// enqueue and drainOnce by hand.
func newQueueOnly(self string) (*Membership, *fakePeers, *fakeBook) {
	p, b := newFakePeers(), newFakeBook()
	m := &Membership{
		self:  core.PeerID(self),
		log:   slog.New(slog.DiscardHandler),
		peers: p,
		book:  b,
		part:  partitionDetector{window: DefaultPartitionWindow, fraction: 0.5, minPeers: 2},
	}
	m.initQueue()
	return m, p, b
}

func mlNode(t testing.TB, name string, port int, state memberlist.NodeStateType, meta []byte) *memberlist.Node {
	return &memberlist.Node{Name: name, Addr: net.IPv4(127, 0, 0, 1), Port: uint16(port), State: state, Meta: meta}
}

func metaFor(t testing.TB, port int) []byte {
	b, err := Meta{Version: ProtocolVersion, Addr: fmt.Sprintf("127.0.0.1:%d", port)}.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestQueueCoalescing(t *testing.T) {
	type ev struct {
		name  string
		alive bool
		dead  bool
		meta  bool
		port  int
	}
	tests := []struct {
		name        string
		before      []ev // applied before the burst
		burst       []ev // queued, then drained at once
		wantPeers   string
		wantAdds    int
		wantRemoves int
		wantIgnored int64
		wantAddr    string // address of x in the book
	}{
		{"join", nil, []ev{{"x", true, false, true, 1}}, "x", 1, 0, 0, "127.0.0.1:1"},
		{"join leave", nil, []ev{{"x", true, false, true, 1}, {"x", false, true, false, 1}}, "", 0, 0, 0, ""},
		{"leave join bounces", []ev{{"x", true, false, true, 1}}, []ev{{"x", false, true, false, 1}, {"x", true, false, true, 1}}, "x", 1, 1, 0, "127.0.0.1:1"},
		{"update address", []ev{{"x", true, false, true, 1}}, []ev{{"x", true, false, true, 2}}, "x", 0, 0, 0, "127.0.0.1:2"},
		{"plain member", nil, []ev{{"x", true, false, false, 1}}, "", 0, 0, 1, ""},
		{"plain then valid", []ev{{"x", true, false, false, 1}}, []ev{{"x", true, false, true, 1}}, "x", 1, 0, 0, "127.0.0.1:1"},
		{"valid then plain", []ev{{"x", true, false, true, 1}}, []ev{{"x", true, false, false, 1}}, "", 0, 1, 1, ""},
		{"self ignored", nil, []ev{{"self", true, false, true, 1}}, "", 0, 0, 0, ""},
		{"many", nil, []ev{{"x", true, false, true, 1}, {"y", true, false, true, 2}, {"x", false, true, false, 1}, {"z", true, false, true, 3}, {"y", true, false, true, 4}}, "y,z", 2, 0, 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, p, b := newQueueOnly("self")
			var buf drainBuffers
			buf.pend, buf.rtt = make(map[string]*pendingMember), make(map[string]time.Duration)
			push := func(evs []ev) {
				for _, e := range evs {
					var meta []byte
					if e.meta {
						meta = metaFor(t, e.port)
					}
					st := memberlist.StateAlive
					if !e.alive {
						st = memberlist.StateLeft
						if e.dead {
							st = memberlist.StateDead
						}
					}
					m.enqueue(mlNode(t, e.name, e.port, st, meta), e.alive)
				}
			}
			push(tc.before)
			m.drainOnce(&buf)
			p.adds, p.removes = 0, 0
			push(tc.burst)
			if len(m.order) > 3 {
				t.Fatalf("queue holds %d entries for at most 3 members", len(m.order))
			}
			m.drainOnce(&buf)
			if got := strings.Join(p.names(), ","); got != tc.wantPeers {
				t.Fatalf("peers %q, want %q", got, tc.wantPeers)
			}
			if p.adds != tc.wantAdds || p.removes != tc.wantRemoves {
				t.Fatalf("adds %d removes %d, want %d %d", p.adds, p.removes, tc.wantAdds, tc.wantRemoves)
			}
			if p.dupAdd != 0 || p.badRm != 0 {
				t.Fatalf("dup adds %d bad removes %d", p.dupAdd, p.badRm)
			}
			if got := m.ignored.Load(); got != tc.wantIgnored {
				t.Fatalf("ignored %d, want %d", got, tc.wantIgnored)
			}
			if tc.wantAddr != "" {
				if a, _ := b.get("x"); a != tc.wantAddr {
					t.Fatalf("addr %q, want %q", a, tc.wantAddr)
				}
			}
			if int(m.alive.Load()) != len(p.names()) {
				t.Fatalf("alive gauge %d, peers %d", m.alive.Load(), len(p.names()))
			}
		})
	}
}

// TestQueueNeverBlocks hammers enqueue from many goroutines while a drainer
// runs: callbacks never block and the final state is exact.
func TestQueueConcurrent(t *testing.T) {
	m, p, _ := newQueueOnly("self")
	m.stop = make(chan struct{})
	m.wg.Add(1)
	go m.drain()
	const members, rounds = 50, 200
	var wg sync.WaitGroup
	for i := range members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("m%d", i)
			meta := metaFor(t, 1000+i)
			for r := range rounds {
				alive := r%2 == 0 || r == rounds-1
				if i%5 == 0 && r == rounds-1 {
					alive = false // these end dead
				}
				st := memberlist.StateAlive
				if !alive {
					st = memberlist.StateDead
				}
				m.enqueue(mlNode(t, name, 1000+i, st, meta), alive)
				if r%17 == 0 {
					m.enqueueRTT(name, 1)
				}
			}
		}()
	}
	wg.Wait()
	m.signal()
	eventually(t, settle, func() string {
		m.qmu.Lock()
		n := len(m.order)
		m.qmu.Unlock()
		if n != 0 || len(p.names()) != members-members/5 {
			return fmt.Sprintf("queue %d, peers %d", n, len(p.names()))
		}
		return ""
	})
	close(m.stop)
	m.wg.Wait()
	for _, name := range p.names() {
		var i int
		fmt.Sscanf(name, "m%d", &i)
		if i%5 == 0 {
			t.Fatalf("dead member %s is a peer", name)
		}
	}
	if p.dupAdd != 0 || p.badRm != 0 {
		t.Fatalf("dup adds %d bad removes %d", p.dupAdd, p.badRm)
	}
}

// TestOtherVersionIgnored: a member advertising another protocol version is
// ignored and counted, like a plain memberlist node.
func TestOtherVersionIgnored(t *testing.T) {
	m, p, _ := newQueueOnly("self")
	var buf drainBuffers
	buf.pend, buf.rtt = make(map[string]*pendingMember), make(map[string]time.Duration)
	other, _ := Meta{Version: ProtocolVersion + 1, Addr: "127.0.0.1:9"}.MarshalBinary()
	good := metaFor(t, 10)
	m.enqueue(mlNode(t, "old", 9, memberlist.StateAlive, other), true)
	m.enqueue(mlNode(t, "plain", 11, memberlist.StateAlive, []byte("role=web")), true)
	m.enqueue(mlNode(t, "ok", 10, memberlist.StateAlive, good), true)
	m.drainOnce(&buf)
	if got := strings.Join(p.names(), ","); got != "ok" {
		t.Fatalf("peers %q", got)
	}
	if m.ignored.Load() != 2 || m.ignoredTotal.Load() != 2 {
		t.Fatalf("ignored %d total %d", m.ignored.Load(), m.ignoredTotal.Load())
	}
}

// An RTT sample does not wake the drainer: it waits (latest per member) for
// the next member event or for the RTT timer, whichever comes first, and
// then reaches Peers; a drain for an event takes the waiting samples and
// disarms the timer.
func TestRTTSamplesWaitForDrain(t *testing.T) {
	m, p, _ := newQueueOnly("self")
	m.rttTimer, m.rttDelay = stoppedTimer(), 100*time.Millisecond
	var buf drainBuffers
	buf.pend, buf.rtt = make(map[string]*pendingMember), make(map[string]time.Duration)
	m.enqueue(mlNode(t, "x", 1, memberlist.StateAlive, metaFor(t, 1)), true)
	m.enqueue(mlNode(t, "y", 2, memberlist.StateAlive, metaFor(t, 2)), true)
	m.drainOnce(&buf)
	<-m.wake // the events' signal

	rtts := func() int { p.mu.Lock(); defer p.mu.Unlock(); return p.rtts }
	// A member event comes before the timer: its drain takes the samples.
	m.rttDelay = time.Hour
	m.enqueueRTT("x", time.Millisecond)
	m.enqueueRTT("x", 2*time.Millisecond) // latest per member
	if len(m.wake) != 0 {
		t.Fatal("an RTT sample woke the drainer")
	}
	if !m.rttArmed {
		t.Fatal("no RTT timer armed for a waiting sample")
	}
	m.drainOnce(&buf)
	if got := rtts(); got != 1 {
		t.Fatalf("%d samples applied by the drain, want 1", got)
	}
	if m.rttArmed {
		t.Fatal("RTT timer still armed after the drain took the samples")
	}

	// No event: the timer wakes the drainer.
	m.rttDelay = 100 * time.Millisecond
	m.stop = make(chan struct{})
	m.wg.Add(1)
	go m.drain()
	t.Cleanup(func() { close(m.stop); m.wg.Wait() })
	m.enqueueRTT("y", time.Millisecond)
	if len(m.wake) != 0 {
		t.Fatal("an RTT sample woke the drainer")
	}
	eventually(t, settle, func() string {
		if got := rtts(); got != 2 {
			return fmt.Sprintf("%d samples applied, want 2", got)
		}
		return ""
	})
}

// The membership observes graft failures and partitioned messages only, and
// says so to the runtime (node.EventFilter), which then does not wake its
// observer goroutine for other events.
func TestObservesOnlyWhatItReads(t *testing.T) {
	var f node.EventFilter = &Membership{}
	for k := range 256 {
		kind := core.EventKind(k)
		want := kind == core.EventGraftFailed || kind == core.EventMessagePartitioned
		if f.Observes(kind) != want {
			t.Errorf("Observes(%v) = %v", kind, !want)
		}
	}
}
