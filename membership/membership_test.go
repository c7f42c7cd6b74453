package membership

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/plumtree-go/plumtree/core"
	"go.uber.org/goleak"
)

// TestMain checks that no goroutine outlives the tests. memberlist's probe
// goroutines end on their own timers (up to TCPTimeout) after Shutdown; on
// a loaded machine that can exceed goleak's own retries, so the check is
// repeated for a while before a leftover counts as a leak.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		deadline := time.Now().Add(30 * time.Second)
		err := goleak.Find()
		for err != nil && time.Now().Before(deadline) {
			time.Sleep(200 * time.Millisecond)
			err = goleak.Find()
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func TestClusterFormsAndLeaves(t *testing.T) {
	a := startMember(t, "a")
	b := startMember(t, "b", WithSeeds(a.m.AdvertiseAddr()))
	c := startMember(t, "c", WithSeeds(a.m.AdvertiseAddr()))
	all := []*testMember{a, b, c}
	live := map[string]bool{"a": true, "b": true, "c": true}
	eventually(t, settle, func() string { return expectPeers(all, live) })

	// The transport address comes from the metadata: one port per node.
	if got, _ := a.book.get("b"); got != b.m.AdvertiseAddr() || got != b.m.TransportAddr() {
		t.Fatalf("a maps b to %q, want %q", got, b.m.AdvertiseAddr())
	}
	if st := a.m.Stats(); st.Members != 3 || st.Alive != 2 || st.Ignored != 0 {
		t.Fatalf("stats %+v", st)
	}

	// A graceful leave removes the peer quickly (no failure detection).
	if err := c.m.Leave(2 * time.Second); err != nil {
		t.Fatal(err)
	}
	c.kill()
	delete(live, "c")
	eventually(t, settle, func() string { return expectPeers(all, live) })
	if _, ok := a.book.get("c"); ok {
		t.Fatal("c still has a transport address at a")
	}
	for _, tm := range all {
		if tm.peers.dupAdd != 0 || tm.peers.badRm != 0 {
			t.Fatalf("%s: duplicate adds %d, bad removes %d", tm.m.self, tm.peers.dupAdd, tm.peers.badRm)
		}
	}
}

// TestNoGhostPeers joins and kills many nodes quickly, with joins and
// failures overlapping, and checks that every survivor ends with exactly the
// live nodes as peers: no membership event was lost.
func TestNoGhostPeers(t *testing.T) {
	n := 16
	if testing.Short() {
		n = 10
	}
	seed := startMember(t, "n00")
	members := []*testMember{seed}
	live := map[string]bool{"n00": true}
	for i := 1; i < n; i++ {
		name := fmt.Sprintf("n%02d", i)
		members = append(members, startMember(t, name, WithSeeds(seed.m.AdvertiseAddr())))
		live[name] = true
		// Kill every third node as soon as the next one started: failures
		// and joins overlap.
		if i%3 == 0 {
			members[i-1].kill()
			delete(live, string(members[i-1].m.self))
		}
	}
	// And a burst of hard kills at the end.
	for _, tm := range members[n-4 : n-1] {
		tm.kill()
		delete(live, string(tm.m.self))
	}
	eventually(t, settle, func() string {
		if err := expectPeers(members, live); err != "" {
			return fmt.Sprintf("%s (n00: %+v)", err, seed.m.Stats())
		}
		return ""
	})
	var processed, coalesced uint64
	for _, tm := range members {
		if !live[string(tm.m.self)] {
			continue
		}
		st := tm.m.Stats()
		processed += st.EventsProcessed
		coalesced += st.EventsCoalesced
		if st.QueueLen != 0 {
			t.Fatalf("%s: queue not empty: %d", tm.m.self, st.QueueLen)
		}
		if tm.peers.dupAdd != 0 || tm.peers.badRm != 0 {
			t.Fatalf("%s: duplicate adds %d, bad removes %d", tm.m.self, tm.peers.dupAdd, tm.peers.badRm)
		}
	}
	t.Logf("%d nodes, %d live: %d member states applied, %d coalesced", n, len(live), processed, coalesced)
}

// TestPlainMemberlistNodeIgnored: a memberlist node without Plumtree
// metadata joins; it is counted as ignored and never becomes a peer.
// The "local" preset is memberlist's DefaultLocalConfig with LAN's gossip
// interval, retransmissions and push/pull interval and no compression;
// "lan" and "wan" are memberlist's own.
func TestPresets(t *testing.T) {
	got, err := presetConfig("local")
	if err != nil {
		t.Fatal(err)
	}
	lan := memberlist.DefaultLANConfig()
	if got.GossipInterval != lan.GossipInterval || got.PushPullInterval != lan.PushPullInterval ||
		got.RetransmitMult != lan.RetransmitMult || got.EnableCompression {
		t.Errorf("local: gossip interval %v, push/pull interval %v, retransmit mult %d, compression %v; want %v, %v, %d, false",
			got.GossipInterval, got.PushPullInterval, got.RetransmitMult, got.EnableCompression,
			lan.GossipInterval, lan.PushPullInterval, lan.RetransmitMult)
	}
	// Everything else, failure detection included, is memberlist's local
	// preset.
	want := memberlist.DefaultLocalConfig()
	if got.ProbeInterval != want.ProbeInterval || got.ProbeTimeout != want.ProbeTimeout ||
		got.SuspicionMult != want.SuspicionMult ||
		got.IndirectChecks != want.IndirectChecks ||
		got.TCPTimeout != want.TCPTimeout || got.GossipNodes != want.GossipNodes ||
		got.GossipToTheDeadTime != want.GossipToTheDeadTime {
		t.Errorf("local differs from memberlist's local preset beyond gossip interval, retransmissions, push/pull interval and compression:\n got %+v\nwant %+v", got, want)
	}
	for name, want := range map[string]*memberlist.Config{"lan": memberlist.DefaultLANConfig(), "": memberlist.DefaultLANConfig(), "wan": memberlist.DefaultWANConfig()} {
		c, err := presetConfig(name)
		if err != nil {
			t.Fatal(err)
		}
		if c.GossipInterval != want.GossipInterval || c.ProbeTimeout != want.ProbeTimeout || c.EnableCompression != want.EnableCompression {
			t.Errorf("%q is not memberlist's preset: %+v", name, c)
		}
	}
	if _, err := presetConfig("moon"); err == nil {
		t.Error("unknown preset accepted")
	}
}

func TestPlainMemberlistNodeIgnored(t *testing.T) {
	a := startMember(t, "a")
	b := startMember(t, "b", WithSeeds(a.m.AdvertiseAddr()))

	// memberlist's own local preset compresses; ours (a and b) does not:
	// the join below also shows that the two interoperate.
	conf := memberlist.DefaultLocalConfig()
	conf.Name = "plain"
	conf.BindAddr = "127.0.0.1"
	conf.BindPort = 0
	conf.AdvertisePort = 0
	conf.LogOutput = nopWriter{}
	fastTimings(conf)
	plain, err := memberlist.Create(conf)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Shutdown()
	if _, err := plain.Join([]string{a.m.AdvertiseAddr()}); err != nil {
		t.Fatal(err)
	}
	eventually(t, settle, func() string {
		for _, tm := range []*testMember{a, b} {
			if st := tm.m.Stats(); st.Ignored != 1 || st.Members != 3 || st.Alive != 1 {
				return fmt.Sprintf("%s: %+v", tm.m.self, st)
			}
		}
		return ""
	})
	if got := a.peers.names(); strings.Join(got, ",") != "b" {
		t.Fatalf("a peers %v", got)
	}
	var found bool
	for _, mb := range a.m.Members() {
		if mb.Name == "plain" {
			found = true
			if mb.Plumtree {
				t.Fatal("plain member reported as a plumtree member")
			}
		}
	}
	if !found {
		t.Fatal("plain member not listed")
	}
	// It leaves: the ignored gauge drops, the total stays.
	_ = plain.Leave(time.Second)
	_ = plain.Shutdown()
	eventually(t, settle, func() string {
		if st := a.m.Stats(); st.Ignored != 0 || st.IgnoredTotal != 1 {
			return fmt.Sprintf("%+v", st)
		}
		return ""
	})
}

type nopWriter struct{}

func (nopWriter) Write(p []byte) (int, error) { return len(p), nil }

func TestWrongKeyCannotJoin(t *testing.T) {
	key := []byte("0123456789abcdef")
	a := startMember(t, "a", WithSecretKey(key))
	b := startMember(t, "b", WithSecretKey(key), WithSeeds(a.m.AdvertiseAddr()))
	eventually(t, settle, func() string { return expectPeers([]*testMember{a, b}, map[string]bool{"a": true, "b": true}) })

	evil := startMember(t, "evil", WithSecretKey([]byte("fedcba9876543210")), WithJoinRetries(0, time.Millisecond))
	n, err := evil.m.Join(context.Background(), a.m.AdvertiseAddr())
	if err == nil || n != 0 {
		t.Fatalf("join with the wrong key: n=%d err=%v, want failure", n, err)
	}
	plain := startMember(t, "plain", WithJoinRetries(0, time.Millisecond))
	if n, err := plain.m.Join(context.Background(), a.m.AdvertiseAddr()); err == nil || n != 0 {
		t.Fatalf("join without a key: n=%d err=%v, want failure", n, err)
	}
	if st := a.m.Stats(); st.Members != 2 || st.Alive != 1 {
		t.Fatalf("a: %+v", st)
	}
	// The stream guard opened b's streams with the key and refused evil's.
	if st := a.m.Stats(); st.StreamsAccepted == 0 || st.StreamsRefusedDecrypt == 0 {
		t.Fatalf("a's stream guard: %+v", st)
	}
	if got := a.peers.names(); strings.Join(got, ",") != "b" {
		t.Fatalf("a peers %v", got)
	}
}

func TestSeedRejoin(t *testing.T) {
	seed := startMember(t, "seed")
	addr := seed.m.AdvertiseAddr()
	// b does not gossip to dead nodes, so only the seed rejoin can bring the
	// restarted seed back (memberlist would otherwise tell it about b).
	noDeadGossip := func(c *memberlist.Config) { fastTimings(c); c.GossipToTheDeadTime = 0 }
	b := startMember(t, "b", WithSeeds(addr), WithSeedRejoin(true, 100*time.Millisecond), WithMemberlistConfig(noDeadGossip))
	eventually(t, settle, func() string {
		return expectPeers([]*testMember{seed, b}, map[string]bool{"seed": true, "b": true})
	})
	// The seed dies and restarts alone on the same address, knowing nobody.
	seed.kill()
	eventually(t, settle, func() string {
		if len(b.peers.names()) != 0 {
			return "b still has the dead seed"
		}
		return ""
	})
	seed2 := startMember(t, "seed", WithBindAddr(addr))
	eventually(t, settle, func() string {
		return expectPeers([]*testMember{seed2, b}, map[string]bool{"seed": true, "b": true})
	})
	// The join that brought the seed back is counted once it returns, which
	// may be just after the members saw each other.
	eventually(t, settle, func() string {
		if st := b.m.Stats(); st.SeedRejoins == 0 || st.SeedRejoinAttempts < st.SeedRejoins {
			return fmt.Sprintf("b: %+v", st)
		}
		return ""
	})
}

func TestPartitionSuspicion(t *testing.T) {
	h := &recordingHandler{}
	a := startMember(t, "a", WithLogger(slog.New(h)), WithPartitionDetection(30*time.Second, 0.5, 2))
	var others []*testMember
	for i := range 4 {
		others = append(others, startMember(t, fmt.Sprintf("p%d", i), WithSeeds(a.m.AdvertiseAddr())))
	}
	live := map[string]bool{"a": true, "p0": true, "p1": true, "p2": true, "p3": true}
	eventually(t, settle, func() string { return expectPeers(append(others, a), live) })
	// Three of four peers fail at once.
	for _, tm := range others[1:] {
		tm.kill()
	}
	eventually(t, settle, func() string {
		if a.m.Stats().PartitionSuspicions == 0 {
			return "no suspicion"
		}
		return ""
	})
	r, ok := h.find(slog.LevelWarn, "Possible partition detected - cannot reach peers: ")
	if !ok {
		t.Fatal("no partition warning logged")
	}
	var peers []string
	r.Attrs(func(at slog.Attr) bool {
		if at.Key == "peers" {
			peers, _ = at.Value.Any().([]string)
		}
		return true
	})
	if len(peers) < 2 || r.Message != "Possible partition detected - cannot reach peers: "+strings.Join(peers, ", ") {
		t.Fatalf("message %q, peers %v", r.Message, peers)
	}
}

func TestObserverPartitionedMessages(t *testing.T) {
	a := startMember(t, "a")
	a.m.Observe([]core.Event{{Kind: core.EventGraftFailed}, {Kind: core.EventMessagePartitioned}, {Kind: core.EventDelivered}})
	if st := a.m.Stats(); st.GraftFailures != 1 || st.PartitionedMessages != 1 {
		t.Fatalf("%+v", st)
	}
}

func TestRTTFeed(t *testing.T) {
	a := startMember(t, "a")
	b := startMember(t, "b", WithSeeds(a.m.AdvertiseAddr()))
	eventually(t, settle, func() string {
		if a.m.Stats().RTTSamples == 0 || b.m.Stats().RTTSamples == 0 {
			return "no rtt samples yet"
		}
		return ""
	})
}

func TestPeerPersistence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "peers.json")
	a := startMember(t, "a")
	b := startMember(t, "b", WithSeeds(a.m.AdvertiseAddr()), WithPeerFile(file, 50*time.Millisecond))
	eventually(t, settle, func() string {
		return expectPeers([]*testMember{a, b}, map[string]bool{"a": true, "b": true})
	})
	eventually(t, settle, func() string {
		if b.m.Stats().PersistSaves == 0 {
			return "not saved"
		}
		return ""
	})
	known, err := LoadPeerFile(file, 10)
	if err != nil || len(known) != 1 || known[0].Name != "a" || known[0].Addr != a.m.AdvertiseAddr() {
		t.Fatalf("peer file: %v %v", known, err)
	}
	// No temporary files are left behind (a save in progress has one for
	// a moment: wait for the directory to settle).
	eventually(t, settle, func() string {
		if entries, _ := os.ReadDir(dir); len(entries) != 1 {
			return fmt.Sprintf("dir holds %d entries", len(entries))
		}
		return ""
	})
	// b restarts without seeds: the peer file brings it back.
	b.kill()
	b2 := startMember(t, "b", WithPeerFile(file, 0))
	eventually(t, settle, func() string {
		return expectPeers([]*testMember{a, b2}, map[string]bool{"a": true, "b": true})
	})
}

func TestPeerFileMissingOrCorrupt(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, content string
	}{
		{"missing", ""},
		{"corrupt", "{not json"},
		{"version", `{"version":99,"members":[]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(dir, tc.name+".json")
			if tc.content != "" {
				if err := os.WriteFile(file, []byte(tc.content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			h := &recordingHandler{}
			a := startMember(t, "a-"+tc.name, WithPeerFile(file, 0), WithLogger(slog.New(h)))
			if _, ok := h.find(slog.LevelWarn, "membership: "); !ok {
				t.Fatal("no warning logged")
			}
			if st := a.m.Stats(); st.Members != 1 {
				t.Fatalf("%+v", st)
			}
		})
	}
}

func TestSaveLoadPeerFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "p.json")
	in := []KnownMember{{"a", "127.0.0.1:1"}, {"b", "bad address"}, {"c", "[::1]:3"}, {"d", "127.0.0.1:4"}}
	if err := SavePeerFile(file, in, 3); err != nil {
		t.Fatal(err)
	}
	out, err := LoadPeerFile(file, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 || out[0] != in[0] || out[1] != in[2] {
		t.Fatalf("got %v", out)
	}
}

func TestLifecycleErrors(t *testing.T) {
	m, err := New("x", WithBindAddr("127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Leave(time.Second); err != ErrNotStarted {
		t.Fatalf("Leave before Start: %v", err)
	}
	if _, err := m.Join(context.Background(), "127.0.0.1:1"); err != ErrNotStarted {
		t.Fatalf("Join before Start: %v", err)
	}
	if err := m.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := m.Start(context.Background(), newFakePeers(), nil); err != ErrShutdown {
		t.Fatalf("Start after Shutdown: %v", err)
	}
	if err := m.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := New(""); err == nil {
		t.Fatal("empty name accepted")
	}
	for _, opt := range []Option{
		WithPreset("moon"), WithSecretKey([]byte("short")), WithBindAddr("1.2.3.4:99999"),
		WithAdvertiseAddr("host-name:1"), WithSeeds(":1"), WithJoinRetries(-1, time.Second),
		WithPartitionDetection(0, 0.5, 1), WithPeerFile("x", -1), WithTransportAddr("noport"),
	} {
		if _, err := New("y", opt); err == nil {
			t.Fatal("bad option accepted")
		}
	}
	// Leave after Shutdown must not panic (memberlist panics on that).
	tm := startMember(t, "z")
	tm.kill()
	if err := tm.m.Leave(time.Second); err != ErrShutdown {
		t.Fatalf("Leave after Shutdown: %v", err)
	}
}

func TestGracefulLeaveIsNotAPartition(t *testing.T) {
	a := startMember(t, "a", WithPartitionDetection(30*time.Second, 0.5, 2))
	all := []*testMember{a}
	live := map[string]bool{"a": true}
	for i := range 3 {
		tm := startMember(t, fmt.Sprintf("l%d", i), WithSeeds(a.m.AdvertiseAddr()))
		all = append(all, tm)
		live[string(tm.m.self)] = true
	}
	eventually(t, settle, func() string { return expectPeers(all, live) })
	for _, tm := range all[1:] {
		if err := tm.m.Leave(2 * time.Second); err != nil {
			t.Fatal(err)
		}
		tm.kill()
	}
	eventually(t, settle, func() string { return expectPeers(all, map[string]bool{"a": true}) })
	if st := a.m.Stats(); st.PartitionSuspicions != 0 {
		t.Fatalf("graceful leaves counted as a partition: %+v", st)
	}
}
