package membership

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/plumtree-go/plumtree/core"
)

// fakePeers records the peer set the membership drives.
type fakePeers struct {
	mu      sync.Mutex
	set     map[core.PeerID]bool
	adds    int
	removes int
	rtts    int
	dupAdd  int // AddPeer of a peer already present (would be a bug)
	badRm   int // RemovePeer of an absent peer (would be a bug)
}

func newFakePeers() *fakePeers { return &fakePeers{set: make(map[core.PeerID]bool)} }

func (f *fakePeers) AddPeer(p core.PeerID) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.set[p] {
		f.dupAdd++
	}
	f.set[p] = true
	f.adds++
	return nil
}

func (f *fakePeers) RemovePeer(p core.PeerID) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.set[p] {
		f.badRm++
	}
	delete(f.set, p)
	f.removes++
	return nil
}

func (f *fakePeers) RecordRTT(p core.PeerID, rtt time.Duration) {
	f.mu.Lock()
	f.rtts++
	f.mu.Unlock()
}

func (f *fakePeers) names() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, 0, len(f.set))
	for p := range f.set {
		out = append(out, string(p))
	}
	sort.Strings(out)
	return out
}

// fakeBook records transport addresses.
type fakeBook struct {
	mu    sync.Mutex
	addrs map[core.PeerID]string
}

func newFakeBook() *fakeBook { return &fakeBook{addrs: make(map[core.PeerID]string)} }

func (b *fakeBook) SetPeerAddr(p core.PeerID, addr string) {
	b.mu.Lock()
	b.addrs[p] = addr
	b.mu.Unlock()
}

func (b *fakeBook) RemovePeer(p core.PeerID) {
	b.mu.Lock()
	delete(b.addrs, p)
	b.mu.Unlock()
}

func (b *fakeBook) get(p core.PeerID) (string, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	a, ok := b.addrs[p]
	return a, ok
}

// fastTimings makes failure detection take about a second on loopback
// while tolerating a loaded machine: probes wait long enough for a starved
// scheduler, a suspect has several probe rounds to refute, and a node
// declared dead keeps receiving gossip long enough to hear it and refute
// (memberlist's default is 30 s) — with shorter settings a node starved for
// a moment stays "dead" in a peer's view after it recovered.
func fastTimings(c *memberlist.Config) {
	c.ProbeInterval = 200 * time.Millisecond
	c.ProbeTimeout = 150 * time.Millisecond
	c.GossipInterval = 30 * time.Millisecond
	c.GossipToTheDeadTime = 10 * time.Second
	c.PushPullInterval = time.Second
	c.SuspicionMult = 4
	c.SuspicionMaxTimeoutMult = 2
	c.TCPTimeout = 5 * time.Second
	c.IndirectChecks = 3
	// A node restarted under its name on another address is admitted
	// once the old one has been dead this long.
	c.DeadNodeReclaimTime = time.Second
}

type testMember struct {
	m     *Membership
	peers *fakePeers
	book  *fakeBook
}

func startMember(t *testing.T, name string, opts ...Option) *testMember {
	t.Helper()
	all := append([]Option{
		WithBindAddr("127.0.0.1:0"),
		WithPreset("local"),
		WithMemberlistConfig(fastTimings),
		WithJoinRetries(3, 50*time.Millisecond),
	}, opts...)
	m, err := New(core.PeerID(name), all...)
	if err != nil {
		t.Fatalf("New(%s): %v", name, err)
	}
	tm := &testMember{m: m, peers: newFakePeers(), book: newFakeBook()}
	if err := m.Start(context.Background(), tm.peers, tm.book); err != nil {
		t.Fatalf("Start(%s): %v", name, err)
	}
	t.Cleanup(func() { tm.kill() })
	return tm
}

// kill stops the member without a leave: the others must detect the failure.
func (tm *testMember) kill() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = tm.m.Shutdown(ctx)
}

// settle bounds every wait for the cluster to reach a state. Conditions
// normally hold within a second or two; the bound only decides when a test
// that will never pass gives up, so it is generous enough for a machine
// many times slower than a quiet laptop.
const settle = 60 * time.Second

// eventually polls cond until it returns "" or the deadline passes.
func eventually(t *testing.T, d time.Duration, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(d)
	var last string
	for time.Now().Before(deadline) {
		if last = cond(); last == "" {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("condition not met after %v: %s", d, last)
}

// expectPeers returns "" when every member's peer set is exactly the other
// live members.
func expectPeers(members []*testMember, live map[string]bool) string {
	for _, tm := range members {
		if !live[string(tm.m.self)] {
			continue
		}
		var want []string
		for n := range live {
			if n != string(tm.m.self) {
				want = append(want, n)
			}
		}
		sort.Strings(want)
		got := tm.peers.names()
		if strings.Join(got, ",") != strings.Join(want, ",") {
			var ml []string
			for _, mb := range tm.m.Members() {
				ml = append(ml, mb.Name)
			}
			return fmt.Sprintf("%s has peers %v, want %v; memberlist members %v; %+v", tm.m.self, got, want, ml, tm.m.Stats())
		}
	}
	return ""
}

// recordingHandler captures log records.
type recordingHandler struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (h *recordingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.recs = append(h.recs, r.Clone())
	h.mu.Unlock()
	return nil
}
func (h *recordingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordingHandler) WithGroup(string) slog.Handler      { return h }

func (h *recordingHandler) find(level slog.Level, prefix string) (slog.Record, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range h.recs {
		if r.Level == level && strings.HasPrefix(r.Message, prefix) {
			return r, true
		}
	}
	return slog.Record{}, false
}
