package membership

import (
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

// sharedPortAddrs binds n distinct loopback IPs (127.0.23.1, .2, ...) on one
// port that is free on all of them, and returns the "ip:port" addresses
// (the sockets are closed again for the nodes to bind).
func sharedPortAddrs(t *testing.T, n int) []string {
	t.Helper()
	for range 20 {
		probe, err := net.Listen("tcp", "127.0.23.1:0")
		if err != nil {
			t.Skipf("no 127.0.23.1 on this machine: %v", err)
		}
		port := probe.Addr().(*net.TCPAddr).Port
		_ = probe.Close()
		var addrs []string
		ok := true
		for i := 1; i <= n; i++ {
			a := net.JoinHostPort(fmt.Sprintf("127.0.23.%d", i), strconv.Itoa(port))
			ln, err1 := net.Listen("tcp", a)
			pc, err2 := net.ListenPacket("udp", a)
			if ln != nil {
				_ = ln.Close()
			}
			if pc != nil {
				_ = pc.Close()
			}
			if err1 != nil || err2 != nil {
				ok = false
				break
			}
			addrs = append(addrs, a)
		}
		if ok {
			return addrs
		}
	}
	t.Fatal("no port free on all the loopback IPs")
	return nil
}

func TestIsLocalByAddressNotByPort(t *testing.T) {
	addrs := sharedPortAddrs(t, 2)
	b := startMember(t, "b", WithBindAddr(addrs[1]))
	_, port, _ := net.SplitHostPort(addrs[1])
	for addr, want := range map[string]bool{
		addrs[1]:                    true,  // itself
		addrs[0]:                    false, // another node, same port
		"127.0.0.1:" + port:         false, // loopback but not its address
		"127.0.23.2:1":              false,
		b.m.AdvertiseAddr():         true,
		"[::1]:" + port:             false,
		"not an address":            false,
		net.JoinHostPort("::", "1"): false,
	} {
		if got := b.m.isLocal(addr); got != want {
			t.Errorf("isLocal(%q) = %v, want %v", addr, got, want)
		}
	}
}

// TestSeedsOnSamePortRejoinAfterPartition: four nodes on distinct loopback
// IPs and the same port, every node with all four as seeds, are cut into
// two halves until each half declared the other dead, then the cut heals:
// the halves rejoin through their seeds.
func TestSeedsOnSamePortRejoinAfterPartition(t *testing.T) {
	addrs := sharedPortAddrs(t, 4)
	short := func(c *memberlist.Config) {
		fastTimings(c)
		// Never gossip to the other half once it is declared dead, so that
		// only the seed rejoin can bring it back. (300 ms of gossip to the
		// dead let a cut that healed within 300 ms of the last declaration
		// merge the halves by a node refuting its own death.)
		c.GossipToTheDeadTime = 0
		c.PushPullInterval = 500 * time.Millisecond
	}
	var members []*testMember
	live := map[string]bool{}
	for i, a := range addrs {
		name := fmt.Sprintf("s%d", i)
		members = append(members, startMember(t, name, WithBindAddr(a), WithSeeds(addrs...),
			WithSeedRejoin(true, 100*time.Millisecond), WithMemberlistConfig(short)))
		live[name] = true
	}
	eventually(t, settle, func() string { return expectPeers(members, live) })

	// Cut: {s0, s1} | {s2, s3}.
	half := func(addr string) int {
		host, _, _ := net.SplitHostPort(addr)
		for i, a := range addrs {
			if h, _, _ := net.SplitHostPort(a); h == host {
				return i / 2
			}
		}
		return -1
	}
	for i, tm := range members {
		mine := i / 2
		f := func(addr string) bool { h := half(addr); return h >= 0 && h != mine }
		tm.m.tr.cut.Store(&f)
	}
	before := make([]uint64, len(members))
	rejoinsBefore := make([]uint64, len(members))
	eventually(t, settle, func() string {
		for i, tm := range members {
			if n := len(tm.peers.names()); n != 1 {
				return fmt.Sprintf("%s still has %d peers", tm.m.self, n)
			}
			if ms := tm.m.Stats().Members; ms != 2 {
				return fmt.Sprintf("%s still sees %d members", tm.m.self, ms)
			}
			before[i] = tm.m.Stats().SeedRejoinAttempts
			rejoinsBefore[i] = tm.m.Stats().SeedRejoins
		}
		return ""
	})
	// Each half keeps trying the other half's seeds (the old isLocal took
	// every seed on its own port for itself and never tried).
	eventually(t, settle, func() string {
		for i, tm := range members {
			if tm.m.Stats().SeedRejoinAttempts <= before[i] {
				return fmt.Sprintf("%s does not retry the missing seeds", tm.m.self)
			}
		}
		return ""
	})

	// Heal.
	for _, tm := range members {
		tm.m.tr.cut.Store(nil)
	}
	eventually(t, settle, func() string { return expectPeers(members, live) })
	for _, tm := range members {
		if tm.peers.dupAdd != 0 || tm.peers.badRm != 0 {
			t.Fatalf("%s: duplicate adds %d, bad removes %d", tm.m.self, tm.peers.dupAdd, tm.peers.badRm)
		}
	}
	// Which path merged the halves is not asserted here: usually a seed
	// rejoin, but memberlist can also do it itself when, at the heal, a node
	// still holds a member of the other half as alive or suspect (a member
	// it forgot once declared dead can come back from its own half's stale
	// state). TestSeedsOnSamePortJoinClustersThatNeverMet proves the rejoin
	// path where it is the only one.
	var rejoins uint64
	for i, tm := range members {
		rejoins += tm.m.Stats().SeedRejoins - rejoinsBefore[i]
	}
	t.Logf("seed rejoins after the heal: %d", rejoins)
}

// TestSeedsOnSamePortJoinClustersThatNeverMet: two nodes on 127.0.23.1–2
// list all four addresses (one port) as seeds; the other two start later as
// a cluster of their own that knows nothing of the first. Nothing but the
// first pair's seed rejoins can merge them: no member of either side has
// ever heard of a member of the other, and the second pair's seeds are its
// own. With an isLocal that took every seed on its own port for itself,
// no seed was tried and the clusters stayed apart.
func TestSeedsOnSamePortJoinClustersThatNeverMet(t *testing.T) {
	addrs := sharedPortAddrs(t, 4)
	short := func(c *memberlist.Config) {
		fastTimings(c)
		c.PushPullInterval = 500 * time.Millisecond
	}
	start := func(i int, seeds ...string) *testMember {
		return startMember(t, fmt.Sprintf("s%d", i), WithBindAddr(addrs[i]), WithSeeds(seeds...),
			WithSeedRejoin(true, 100*time.Millisecond), WithMemberlistConfig(short))
	}
	a := []*testMember{start(0, addrs...), start(1, addrs...)}
	eventually(t, settle, func() string { return expectPeers(a, map[string]bool{"s0": true, "s1": true}) })
	attempts := []uint64{a[0].m.Stats().SeedRejoinAttempts, a[1].m.Stats().SeedRejoinAttempts}
	eventually(t, settle, func() string {
		for i, tm := range a {
			if tm.m.Stats().SeedRejoinAttempts <= attempts[i] {
				return fmt.Sprintf("%s does not try the seeds that are not up", tm.m.self)
			}
		}
		return ""
	})
	// A rejoin of each other (the one that started first may have joined
	// the other by rejoin) is counted before this.
	var before uint64
	for _, tm := range a {
		before += tm.m.Stats().SeedRejoins
	}

	b := []*testMember{start(2, addrs[2:]...), start(3, addrs[2:]...)}
	all := append(a, b...)
	live := map[string]bool{"s0": true, "s1": true, "s2": true, "s3": true}
	eventually(t, settle, func() string { return expectPeers(all, live) })
	// A rejoin is counted when its Join returns, which may be just after the
	// members saw each other.
	eventually(t, settle, func() string {
		var rejoins uint64
		for _, tm := range a {
			rejoins += tm.m.Stats().SeedRejoins
		}
		if rejoins == before {
			return "the clusters merged without a seed rejoin from the first"
		}
		return ""
	})
}
